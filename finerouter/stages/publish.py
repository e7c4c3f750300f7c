"""Stage `publish`: the evaluated router bundle copied to a versioned location, and optionally swapped into a
running Ray Serve application without downtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field, model_validator

from finerouter.config_model import ConfigModel
from finerouter.pipeline.stage import Stage, StageContext

if TYPE_CHECKING:
    from finerouter.config import RebuildConfig


SERVE_RUNNING_WAIT_S = 30.0  # an app still deploying (a replica restarting) gets this long before the swap fails


class PublishConfig(ConfigModel):
    model_config = ConfigDict(extra="forbid")

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


class PublishStage(Stage):
    name = "publish"
    inputs = ("bundle", "evaluate")  # only an evaluated bundle is published

    def __init__(self, config: RebuildConfig | None = None) -> None:
        self.needs_ray = bool(config and config.publish.serve_app)  # type: ignore[misc]

    def preflight(self, config: RebuildConfig) -> None:
        """When the rebuild starts, not after hours of work: the Serve app to swap runs and can be redeployed."""
        if config.publish.serve_app:
            from finerouter.pipeline.publish import check_serve_app

            check_serve_app(config.publish.serve_app)

    def config_key(self, config: RebuildConfig) -> Any:
        p = config.publish
        return {"root": p.root.resolve() if p.root else None, "serve_app": p.serve_app, "run": config.run}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        from finerouter.pipeline.publish import publish

        cfg = ctx.config.publish
        if cfg.root is None:
            ctx.log.info("publish.root is not set: the bundle stays at %s", ctx.input_dir("bundle"))
            return {"configured": False}
        target = publish(ctx.input_dir("bundle"), cfg.root.resolve(), ctx.config.run)
        bundle_version = json.loads((target / "bundle.json").read_text())["version"]
        stats: dict[str, Any] = {"configured": True, "published": str(target), "bundle_version": bundle_version}
        ctx.log.info("published bundle %s to %s (LATEST updated)", bundle_version, target)
        if cfg.serve_app:
            from finerouter.pipeline.publish import check_serve_app
            from serve_app.app import update_bundle

            check_serve_app(cfg.serve_app, wait_running_s=SERVE_RUNNING_WAIT_S)
            update_bundle(cfg.serve_app, target)
            stats["serve_app"] = cfg.serve_app
            ctx.log.info("Serve application %r now serves %s", cfg.serve_app, bundle_version)
        # Where it went names the run: a run record (`_*`), outside the output fingerprint.
        (ctx.out_dir / "_published.json").write_text(json.dumps(stats, indent=2) + "\n")
        return stats
