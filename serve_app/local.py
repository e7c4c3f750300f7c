"""`finerouter serve`: run the app on a local (or given) Ray cluster until interrupted."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from finerouter.cluster import PreflightMode
from finerouter.errors import ConfigError, FineRouterError
from serve_app.config import ServeAppArgs
from serve_app.fast_path import with_fitting_replicas
from serve_app.preflight import preflight_serve

APP_NAME = "finerouter"


def load_args(bundle: Path | None, config: Path | None, overrides: dict[str, Any]) -> ServeAppArgs:
    """App args from a YAML file (the `args:` mapping of a Serve config, or that mapping alone) plus CLI flags."""
    raw = {} if config is None else read_args_file(config)
    if bundle is not None:
        raw["bundle"] = str(bundle)
    for dotted, value in overrides.items():
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    try:
        return ServeAppArgs.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"invalid serve arguments: {exc}") from exc


def read_args_file(config: Path) -> dict[str, Any]:
    """The app args mapping of a `--config` file; a missing, unreadable or wrongly shaped file is a ConfigError."""
    name = f"serve --config file {str(config)!r}"
    if not config.is_file():
        raise ConfigError(f"{name} not found")
    try:
        loaded = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{name} is not valid YAML (UTF-8): {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{name} must hold a mapping (app args or a Serve config), not {type(loaded).__name__}")
    if "applications" in loaded:
        apps = loaded["applications"]
        if not isinstance(apps, list) or not apps or not all(isinstance(a, dict) for a in apps):
            raise ConfigError(f"{name}: 'applications' must be a list of applications (mappings with name, args)")
        app = next((a for a in apps if a.get("name") == APP_NAME), apps[0])
        loaded = app.get("args") or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{name}: the args of application {app.get('name')!r} must be a mapping")
    return dict(loaded)


def direct_ingress_env(port: int) -> dict[str, str]:
    """Environment of a Ray cluster running Serve's throughput-optimized mode (Ray >= 2.56): the ingress replica
    serves HTTP itself on `port` (more replicas on the next ports), so requests skip the HTTP proxy actor, and
    deployments call each other over gRPC. User code keeps its own thread: the Router deployment blocks its loop
    while it routes a batch (serve_app/router_deployment.py). Ray reads these when it starts."""
    return {
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
        "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "1",
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(port),
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(port + 100),
    }


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_local(
    args: ServeAppArgs,
    host: str = "127.0.0.1",
    port: int = 8000,
    address: str | None = None,
    num_cpus: int | None = None,
    access_log: bool = False,
    direct_ingress: bool = False,
    preflight: PreflightMode = "fail",
) -> None:
    proxy_port = port
    if direct_ingress:
        if address is not None:
            raise ConfigError(
                "--direct-ingress configures the local Ray this command starts; on an existing cluster start Ray "
                f"with these variables instead: {direct_ingress_env(port)}"
            )
        os.environ.update(direct_ingress_env(port))  # before Ray starts: its processes inherit them
        proxy_port = port + 1

    import ray
    from ray import serve

    from serve_app.app import deploy_config, serve_config

    if address is None:
        os.environ.pop("RAY_ADDRESS", None)
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False)  # never a `ray start` cluster
    else:
        ray.init(address=address)
    if address is None:
        args, fitted = with_fitting_replicas(args, ray.cluster_resources().get("CPU", 0.0))
        if fitted:
            print(fitted, flush=True)
    try:
        preflight_serve(args, preflight)  # replicas that cannot start would leave this command waiting silently
    except FineRouterError:
        ray.shutdown()
        raise
    # After ray.init, which installs its own SIGTERM handler: `kill` / a supervisor's stop, even while the app is
    # still deploying, shuts Serve and Ray down cleanly.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        serve.start(http_options={"host": host, "port": proxy_port})
        # Declaratively, as `serve deploy` does, so that a rebuild's `publish` stage can swap the bundle in place.
        deploy_config(serve_config(args, access_log=access_log))
        print(f"FineRouter serving bundle {args.bundle} at http://{host}:{port} (OpenAPI: /docs); Ctrl-C stops it")
        if direct_ingress:
            print(f"direct ingress: the ingress replica answers on :{port}; Serve's HTTP proxy is on :{proxy_port}")
        sys.stdout.flush()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
        ray.shutdown()
