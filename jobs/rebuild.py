"""Full rebuild: `python -m jobs.rebuild --config configs/demo.yaml` (locally or via `ray job submit`)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import finerouter
from finerouter.config import RebuildConfig, load_config
from finerouter.errors import FineRouterError
from finerouter.pipeline.progress import format_seconds
from finerouter.pipeline.ray_runtime import submission_id, warn_if_artifacts_are_ephemeral
from finerouter.pipeline.runner import StageOutcome, run_stages
from finerouter.stages import STAGE_NAMES, default_stages

log = logging.getLogger("finerouter.rebuild")


def main(config: RebuildConfig, force: list[str] | None = None, until: list[str] | None = None) -> list[StageOutcome]:
    job = submission_id()
    log.info(
        "rebuild of run %r -> %s (%sdriver pid %d, code in %s)",
        config.run,
        config.run_dir.resolve(),
        f"Ray job {job}, " if job else "",
        os.getpid(),
        Path(finerouter.__file__).parent,
    )
    warn_if_artifacts_are_ephemeral(config.artifacts_dir)
    stages = default_stages(config, swap_bundle=swap_serve_bundle)
    for name in [*(force or []), *(until or [])]:
        if name not in STAGE_NAMES:
            raise FineRouterError(f"unknown stage {name!r}; stages are: {', '.join(STAGE_NAMES)}")
    if until:
        last = max(STAGE_NAMES.index(n) for n in until)
        stages = stages[: last + 1]
    outcomes = run_stages(config, stages, force=frozenset(force or []))
    log_summary(config.run_dir / "summary.json")
    return outcomes


def swap_serve_bundle(app_name: str, bundle: Path) -> None:
    """The publish stage's swap of the running Serve app `app_name` to the published `bundle` (publish.serve_app)."""
    from serve_app.app import update_bundle  # Ray Serve, imported only by a rebuild that swaps a served bundle

    update_bundle(app_name, bundle)


def log_summary(path: Path) -> None:
    """The final summary in the job log: per-stage status, time and rows, then the reports and the bundle."""
    summary = json.loads(path.read_text())
    log.info("rebuild %s %s in %s", summary["run"], summary["status"], format_seconds(summary["seconds"]))
    log.info("  %-16s %-8s %10s %10s", "stage", "status", "seconds", "rows")
    for s in summary["stages"]:
        rows = f"{s['rows']:,}" if s["rows"] is not None else "-"
        log.info("  %-16s %-8s %10.1f %10s", s["name"], s["status"], s["seconds"], rows)
    for report in summary["reports"]:
        log.info("report: %s", report)
    if summary["bundle"]:
        log.info("router bundle: %s", summary["bundle"])
    log.info("summary: %s", path.resolve())


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="python -m jobs.rebuild", description=__doc__)
    parser.add_argument("--config", required=True, help="YAML config (see configs/)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set data.split.salt=x (repeatable)",
    )
    parser.add_argument(
        "--force", action="append", default=[], metavar="STAGE", help="rerun this stage even if up to date"
    )
    parser.add_argument("--until", action="append", default=[], metavar="STAGE", help="stop after this stage")
    return parser


def configure_logging() -> None:
    """The job log: INFO lines of FineRouter and the libraries, minus expected probing noise."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # faiss's loader tries its AVX512-SPR, AVX512 and AVX2 builds in turn and logs each missing one with its
    # ModuleNotFoundError at INFO before it loads the build the wheel has: expected, not an error.
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)


def run_from_args(args: argparse.Namespace) -> int:
    configure_logging()
    try:
        main(load_config(args.config, args.overrides), force=args.force, until=args.until)
    except FineRouterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run_from_args(build_parser().parse_args()))
