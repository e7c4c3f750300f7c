"""Stage `publish`: the evaluated router bundle copied to a versioned location, and optionally swapped into a
running Ray Serve application without downtime (by the swap the job passes in: serve_app.app.update_bundle)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finerouter.config import RebuildConfig
from finerouter.errors import ConfigError
from finerouter.pipeline.publish import check_serve_app, publish
from finerouter.pipeline.stage import Stage, StageContext

SERVE_RUNNING_WAIT_S = 30.0  # an app still deploying (a replica restarting) gets this long before the swap fails

# Points the running Serve application (its name) at a published bundle directory.
BundleSwap = Callable[[str, Path], None]


class PublishStage(Stage):
    name = "publish"
    inputs = ("bundle", "evaluate")  # only an evaluated bundle is published

    def __init__(self, config: RebuildConfig | None = None, swap_bundle: BundleSwap | None = None) -> None:
        self.needs_ray = bool(config and config.publish.serve_app)  # type: ignore[misc]
        self.swap_bundle = swap_bundle

    def preflight(self, config: RebuildConfig) -> None:
        """When the rebuild starts, not after hours of work: the Serve app to swap runs and can be redeployed."""
        if config.publish.serve_app:
            self._swap(config.publish.serve_app)
            check_serve_app(config.publish.serve_app)

    def config_key(self, config: RebuildConfig) -> Any:
        p = config.publish
        return {"root": p.root.resolve() if p.root else None, "serve_app": p.serve_app, "run": config.run}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        cfg = ctx.config.publish
        if cfg.root is None:
            ctx.log.info("publish.root is not set: the bundle stays at %s", ctx.input_dir("bundle"))
            return {"configured": False}
        target = publish(ctx.input_dir("bundle"), cfg.root.resolve(), ctx.config.run)
        bundle_version = json.loads((target / "bundle.json").read_text())["version"]
        stats: dict[str, Any] = {"configured": True, "published": str(target), "bundle_version": bundle_version}
        ctx.log.info("published bundle %s to %s (LATEST updated)", bundle_version, target)
        if cfg.serve_app:
            swap = self._swap(cfg.serve_app)
            check_serve_app(cfg.serve_app, wait_running_s=SERVE_RUNNING_WAIT_S)
            swap(cfg.serve_app, target)
            stats["serve_app"] = cfg.serve_app
            ctx.log.info("Serve application %r now serves %s", cfg.serve_app, bundle_version)
        # Where it went names the run: a run record (`_*`), outside the output fingerprint.
        (ctx.out_dir / "_published.json").write_text(json.dumps(stats, indent=2) + "\n")
        return stats

    def _swap(self, app_name: str) -> BundleSwap:
        if self.swap_bundle is None:
            raise ConfigError(
                f"publish.serve_app {app_name!r} is set, but this rebuild was started without a Serve bundle swap: "
                "run it with `python -m jobs.rebuild` (or `finerouter rebuild`)"
            )
        return self.swap_bundle
