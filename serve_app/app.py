"""The application builder: `serve run serve_app.config.yaml`, `serve run serve_app.app:build_app bundle=DIR`,
or `finerouter serve --bundle DIR`."""

# No `from __future__ import annotations`: Serve validates the args against the builder's real annotation.
from pathlib import Path

from ray.serve import Application

from finerouter.errors import ConfigError
from serve_app.config import ServeAppArgs
from serve_app.deploy_checks import app_statuses, check_app, check_bundle_serves, wait_deployed
from serve_app.ingress import Ingress
from serve_app.router_deployment import RouterDeployment

APP_NAME = "finerouter"


def build_app(args: ServeAppArgs) -> Application:
    """Ingress (FastAPI) -> Router deployment (batched, autoscaled). The bundle goes in the router's `user_config`,
    so deploying the same app with a new `bundle` swaps it in place without restarting replicas. Serve runs this
    in its controller when the app's code version (import path + args) is new: a missing key variable fails the
    deploy with its name. (A bundle swap keeps the code version and restarts no ingress replica, each of which
    checked its own variables when it started; `serve_config` checks the new bundle's pool.)"""
    check_app(args, "building the Serve app")
    router_args = args.router
    router = RouterDeployment.options(
        autoscaling_config=router_args.autoscaling.to_serve(),
        max_ongoing_requests=router_args.max_ongoing_requests,
        ray_actor_options={"num_cpus": router_args.num_cpus},
        graceful_shutdown_timeout_s=router_args.graceful_shutdown_timeout_s,
        health_check_period_s=router_args.health_check_period_s,
        health_check_timeout_s=router_args.health_check_timeout_s,
        user_config={"bundle": str(args.bundle)},
    ).bind(
        args.router_class,
        sorted(args.referenced_models()),
        router_args.max_batch_size,
        router_args.batch_wait_timeout_s,
        router_args.encoder_dtype,
        router_args.encoder_runtime,
    )
    ingress = Ingress.options(
        num_replicas=args.ingress.num_replicas,
        max_ongoing_requests=args.ingress.max_ongoing_requests,
        ray_actor_options={"num_cpus": args.ingress.num_cpus},
    )
    return ingress.bind(args.service().model_dump(mode="json"), router, args.ingress_batching().model_dump(mode="json"))


def serve_config(args: ServeAppArgs, new_bundle: str | Path | None = None, access_log: bool = False) -> dict:
    """The declarative Serve config of the app (what `serve deploy` sends). With `new_bundle`, the Router's
    `user_config` is overridden: the application code version (import path + args) is unchanged, so Serve applies it
    to the running replicas through `reconfigure`, without restarting any (a zero-downtime bundle update)."""
    app: dict = {
        "name": APP_NAME,
        "route_prefix": "/",
        "import_path": "serve_app.app:build_app",
        "args": args.model_dump(mode="json"),
        "logging_config": {"enable_access_log": access_log},
    }
    if new_bundle is not None:
        bundle = Path(new_bundle).expanduser().resolve()
        if not bundle.is_dir():
            raise ConfigError(f"bundle directory {bundle} does not exist")
        check_bundle_serves(args, bundle)
        app["deployments"] = [{"name": "Router", "user_config": {"bundle": str(bundle)}}]
    return {"applications": [app]}


def deploy_config(config: dict, blocking: bool = True) -> None:
    """Apply a declarative config to the running Serve instance, as `serve deploy` does (no dashboard needed). With
    `blocking`, wait until its applications run; one that Serve could not deploy raises ConfigError with Serve's
    message (e.g. build_app's: the unset key variable), where Ray's own wait times out after 60 s saying nothing."""
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeDeploySchema

    client = _get_global_client()
    before = app_statuses(client)
    client.deploy_apps(ServeDeploySchema.model_validate(config), _blocking=False)
    if blocking:
        wait_deployed(client, {app["name"] for app in config["applications"]}, before)


def update_bundle(app_name: str, bundle: str | Path) -> None:
    """Point the running application `app_name` at `bundle`, in place and without downtime: its deployed config is
    redeployed with only the Router's `user_config` changed (the other applications are redeployed unchanged)."""
    from ray.serve.context import _get_global_client
    from ray.serve.exceptions import RayServeException

    try:
        client = _get_global_client()
    except RayServeException as exc:
        raise ConfigError(f"no Ray Serve instance runs on this Ray cluster to update app {app_name!r}: {exc}") from exc
    apps = client.get_serve_details().get("applications", {})
    if app_name not in apps:
        raise ConfigError(f"no Serve application {app_name!r} is running; running: {sorted(apps) or 'none'}")
    configs = {name: app.get("deployed_app_config") for name, app in apps.items()}
    imperative = sorted(name for name, cfg in configs.items() if cfg is None)
    if imperative:
        raise ConfigError(
            f"Serve application(s) {imperative} were deployed with serve.run, so their config cannot be redeployed; "
            "deploy FineRouter with `serve deploy` or `finerouter serve` to allow bundle updates"
        )
    swap = serve_config(ServeAppArgs.model_validate(configs[app_name]["args"]), new_bundle=bundle)["applications"][0]
    configs[app_name]["deployments"] = [
        *(d for d in configs[app_name].get("deployments", []) if d.get("name") != "Router"),
        *swap["deployments"],
    ]
    deploy_config({"applications": list(configs.values())})
