"""Checks that fail a deploy (app build, bundle swap) instead of the first request: key variables, the bundle's
pool against the upstreams, and Serve's own verdict on the deploy."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from finerouter.errors import ConfigError
from finerouter.routing.bundle import META_FILE
from serve_app.config import ServeAppArgs

DEPLOY_TIMEOUT_S = 60.0  # Ray's own wait in `deploy_apps(_blocking=True)`


def bundle_pool(bundle: Path) -> list[str] | None:
    """The pool in a FineRouter bundle's bundle.json; None when the directory is not one (a custom `router_class`
    reads its own format, and the Router deployment checks its pool when it loads it)."""
    meta_file = bundle / META_FILE
    if not meta_file.is_file():
        return None
    try:
        models = json.loads(meta_file.read_text()).get("models")
    except (ValueError, AttributeError) as exc:
        raise ConfigError(f"{meta_file} is not a bundle's JSON metadata: {exc}") from exc
    return list(models) if isinstance(models, list) else None


def check_bundle_serves(args: ServeAppArgs, bundle: Path) -> None:
    """Every model the upstreams and fallbacks name is in the bundle's pool."""
    pool = bundle_pool(bundle)
    if pool is None:
        return
    missing = sorted(args.referenced_models() - set(pool))
    if missing:
        raise ConfigError(
            f"cannot deploy bundle {bundle}: upstreams/fallbacks name models not in its pool: {missing}; pool: {pool}"
        )


def check_app(args: ServeAppArgs, where: str) -> None:
    """What `build_app` checks, in the process that builds the app (Serve's controller, for `serve deploy` and each
    bundle swap): key variables and files, and the bundle's pool."""
    args.check_deployable(os.environ, where)
    check_bundle_serves(args, args.bundle)


def app_statuses(client: Any) -> dict[str, tuple[str, str]]:
    """Application name -> (status, message), as Serve reports them now."""
    return {s.name: (str(s.app_status.status.value), s.app_status.message) for s in client.list_serve_statuses()}


def wait_deployed(
    client: Any, app_names: set[str], before: dict[str, tuple[str, str]], timeout_s: float = DEPLOY_TIMEOUT_S
) -> None:
    """Wait until the applications run; an application Serve could not deploy (its build raised, its replicas fail
    to start) raises ConfigError with Serve's message, which names the problem, instead of a timeout. `before`:
    `app_statuses` taken before the deploy (Serve updates a status a moment after the deploy, so a failure seen
    then is only taken once it differs from the one before)."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = {name: state for name, state in app_statuses(client).items() if name in app_names}
        failed = {n: msg for n, (st, msg) in now.items() if st == "DEPLOY_FAILED" and (st, msg) != before.get(n)}
        if failed:
            raise ConfigError("Serve could not deploy " + "; ".join(f"{n}: {m}" for n, m in sorted(failed.items())))
        if len(now) == len(app_names) and all(st == "RUNNING" for st, _ in now.values()):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"Serve application(s) not running after {timeout_s:g} s: {now}")
        time.sleep(0.2)
    client.wait_for_proxies_serving(wait_for_applications_running=True)
