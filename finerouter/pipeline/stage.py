"""The stage contract of the rebuild job.

A stage names the stages whose outputs it reads, the part of the configuration that determines its
result, and any external files it reads. It writes only below its own output directory. The runner
keys a completion marker on all of that, so a rerun skips a stage whose key is unchanged.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from finerouter.cluster import Demand
from finerouter.fingerprint import fingerprint_tree, fingerprint_value
from finerouter.pipeline.config import PipelineConfig

# The configuration a pipeline's stages read: PipelineConfig or an extension of it (the rebuild's RebuildConfig).
ConfigT = TypeVar("ConfigT", bound=PipelineConfig)

MARKER_FILE = "_COMPLETE.json"


def read_marker(stage_dir: Path) -> dict[str, Any] | None:
    """A stage's completion marker, or None when it has not completed (or the marker is unreadable)."""
    marker = stage_dir / MARKER_FILE
    if not marker.exists():
        return None
    try:
        return json.loads(marker.read_text())
    except json.JSONDecodeError:
        return None


@dataclass
class StageContext(Generic[ConfigT]):
    config: ConfigT
    run_dir: Path
    out_dir: Path
    log: logging.Logger

    def input_dir(self, stage: str) -> Path:
        """The output directory of an upstream stage (only ones listed in `inputs`)."""
        return self.run_dir / stage

    def input_stats(self, stage: str) -> dict[str, Any]:
        """The stats an upstream stage recorded in its completion marker."""
        marker = read_marker(self.input_dir(stage))
        if marker is None:
            raise RuntimeError(f"stage {stage!r} has not completed; its outputs are needed here")
        return marker.get("stats", {})


class Stage(ABC, Generic[ConfigT]):
    name: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]] = ()
    needs_ray: ClassVar[bool] = False
    # Bump when a code change alters the stage's outputs, so completed runs are redone.
    version: ClassVar[int] = 1
    # Top-level fields of the output's JSON files that record when or where it was made (a creation stamp, the
    # source run), left out of the output fingerprint like the RECORD_PREFIX files: {file name: (field, ...)}.
    recorded_fields: ClassVar[dict[str, tuple[str, ...]]] = {}

    @abstractmethod
    def config_key(self, config: ConfigT) -> Any:
        """The configuration values this stage's output depends on (and nothing else)."""

    def external_inputs(self, config: ConfigT) -> list[Path]:
        """Files or directories outside the artifacts that the stage reads."""
        return []

    def demands(self, config: ConfigT) -> list[Demand]:
        """What the stage asks Ray for when it runs under `config` (a worker group, an actor pool), checked against
        the cluster when the rebuild starts and again just before the stage; none by default."""
        return []

    def preflight(self, config: ConfigT) -> None:
        """Checks the rebuild runs when it starts, if this stage will run and needs Ray (Ray is connected): a
        problem found here fails the rebuild in seconds instead of after the stages before this one."""

    @abstractmethod
    def run(self, ctx: StageContext[ConfigT]) -> dict[str, Any]:
        """Do the work, write outputs under ctx.out_dir, return JSON-able stats for the summary."""


def stage_key(stage: Stage[ConfigT], config: ConfigT, run_dir: Path) -> str:
    """What decides whether `stage` must rerun: its name, code version, configuration, inputs' and external files'
    fingerprints."""
    upstream = {}
    for dep in stage.inputs:
        marker = read_marker(run_dir / dep)
        if marker is None:
            raise RuntimeError(f"stage {stage.name!r} needs {dep!r}, which has not completed")
        upstream[dep] = marker["output_fingerprint"]
    external = {
        str(p): fingerprint_tree(p, content=False) if p.exists() else "missing" for p in stage.external_inputs(config)
    }
    return fingerprint_value(
        {
            "stage": stage.name,
            "version": stage.version,
            "config": stage.config_key(config),
            "inputs": upstream,
            "external": external,
        }
    )
