"""Publishing a completed stage output (the router bundle) to a versioned location.

`<root>/<version>/` holds an immutable copy; `<root>/LATEST` names the newest version. The version is
`<run>-<content hash>`, so publishing the same bundle twice is a no-op and two different bundles never share a
directory. Readers (the Serve app) load `<root>/<LATEST>`; the copy is renamed into place and LATEST replaced
atomically, so a reader never sees half a bundle.

The rebuild's last stage, `publish` (finerouter/stages/publish.py), calls `publish(run_dir / "bundle", root, run)`
and, with `publish.serve_app`, has the job swap the bundle into the running Serve app (jobs/rebuild.py passes the
swap in), which `check_serve_app` checks when the rebuild starts and again before the swap.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from finerouter.config_model import ConfigModel
from finerouter.errors import ConfigError, FineRouterError, ResourceShortfallError
from finerouter.pipeline.stage import MARKER_FILE, read_marker

LATEST = "LATEST"


class PublishConfig(ConfigModel):
    root: Path | None = Field(
        None,
        description="publish the bundle to <root>/<run>-<hash>/ and point <root>/LATEST at it (a directory every "
        "reader can see, e.g. the cluster's shared storage); None: do not publish",
    )
    serve_app: str | None = Field(
        None,
        description="name of a running Ray Serve application of serve_app (deployed with `serve deploy` or "
        "`finerouter serve`) to switch to the published bundle in place; None: leave Serve alone",
    )

    @model_validator(mode="after")
    def _serve_needs_root(self) -> PublishConfig:
        if self.serve_app is not None and self.root is None:
            raise ValueError("publish.serve_app needs publish.root: Serve loads the bundle from its published copy")
        return self


def bundle_version(stage_dir: Path, run: str) -> str:
    marker = read_marker(stage_dir)
    if marker is None:
        raise FineRouterError(f"{str(stage_dir)!r} is not a completed stage output (no readable {MARKER_FILE})")
    return f"{run}-{marker['output_fingerprint'][:12]}"


def publish(stage_dir: Path, root: Path, run: str) -> Path:
    """Copy `stage_dir` to `root/<version>/` (unless already there) and point `root/LATEST` at it."""
    version = bundle_version(stage_dir, run)
    target = root / version
    root.mkdir(parents=True, exist_ok=True)
    if not target.is_dir():
        scratch = root / f".{version}.tmp-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(stage_dir, scratch)
        scratch.rename(target)
    pointer = root / f".{LATEST}.tmp-{os.getpid()}"
    pointer.write_text(version + "\n")
    os.replace(pointer, root / LATEST)
    return target


def latest(root: Path) -> Path:
    """The directory of the newest published version under `root`."""
    pointer = root / LATEST
    if not pointer.is_file():
        raise FineRouterError(f"nothing published under {str(root)!r} (no {LATEST} file)")
    target = root / pointer.read_text().strip()
    if not target.is_dir():
        raise FineRouterError(f"{str(pointer)!r} names {target.name!r}, which is not under {str(root)!r}")
    return target


def check_serve_app(app_name: str, wait_running_s: float = 0.0) -> dict[str, Any]:
    """Preflight of a bundle swap into the running Serve application `app_name`: Serve runs on this Ray cluster,
    the app exists and was deployed declaratively (its config can be redeployed), and, when `wait_running_s` > 0,
    it is RUNNING within that time: an app whose replicas wait for resources would make the swap wait with them.
    Returns the app's details from Serve."""
    from ray.serve.context import _get_global_client
    from ray.serve.exceptions import RayServeException

    try:
        client = _get_global_client()
    except RayServeException as exc:
        raise ConfigError(
            f"publish.serve_app {app_name!r}: no Ray Serve instance runs on this Ray cluster ({exc})"
        ) from exc
    deadline = time.monotonic() + wait_running_s
    while True:
        apps = client.get_serve_details().get("applications", {})
        if app_name not in apps:
            raise ConfigError(
                f"publish.serve_app {app_name!r} is not running on this Ray cluster; running: {sorted(apps) or 'none'}"
            )
        app = apps[app_name]
        if app.get("deployed_app_config") is None:
            raise ConfigError(
                f"publish.serve_app {app_name!r} was deployed with serve.run, so its config cannot be redeployed; "
                "deploy FineRouter with `serve deploy` or `finerouter serve` to allow bundle updates"
            )
        if wait_running_s <= 0 or app.get("status") == "RUNNING" or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    if wait_running_s > 0 and app.get("status") != "RUNNING":
        problems = [
            f"{name}: {d.get('status')} {d.get('message') or ''}".strip()
            for name, d in app.get("deployments", {}).items()
            if d.get("status") != "HEALTHY"
        ]
        raise ResourceShortfallError(
            f"publish.serve_app {app_name!r} is {app.get('status')}, not RUNNING, after {wait_running_s:g} s, so a "
            f"bundle swap would wait on it; {'; '.join(problems) or app.get('message') or 'no message from Serve'}. "
            "Replicas waiting for resources: give the app fewer or smaller replicas (`finerouter serve "
            "--replica-cpus 0.4 --max-replicas 2`) or the cluster more CPUs (docs/operations.md)"
        )
    return app
