"""The build side of the router bundle: assembling and writing bundles, calibrating them on dev, adding a model."""
