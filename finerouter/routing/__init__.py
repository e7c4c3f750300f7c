"""Online routing: the router bundle and the `Router` that the CLI, the Serve app and users' code share."""
