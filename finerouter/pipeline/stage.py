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
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from finerouter.config import RebuildConfig

MARKER_FILE = "_COMPLETE.json"
# Top-level files of a stage's output named `_*` record how the output was made (the completion marker, timings),
# not what it is: the output fingerprint leaves them out, so identical runs give identical fingerprints.
RECORD_PREFIX = "_"
TIMINGS_FILE = "_timings.json"


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
class StageContext:
    config: RebuildConfig
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


class Stage(ABC):
    name: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]] = ()
    needs_ray: ClassVar[bool] = False
    # Bump when a code change alters the stage's outputs, so completed runs are redone.
    version: ClassVar[int] = 1
    # Top-level fields of the output's JSON files that record when or where it was made (a creation stamp, the
    # source run), left out of the output fingerprint like the RECORD_PREFIX files: {file name: (field, ...)}.
    recorded_fields: ClassVar[dict[str, tuple[str, ...]]] = {}

    @abstractmethod
    def config_key(self, config: RebuildConfig) -> Any:
        """The configuration values this stage's output depends on (and nothing else)."""

    def external_inputs(self, config: RebuildConfig) -> list[Path]:
        """Files or directories outside the artifacts that the stage reads."""
        return []

    def preflight(self, config: RebuildConfig) -> None:  # noqa: B027 - optional hook
        """Checks the rebuild runs when it starts, if this stage will run and needs Ray (Ray is connected): a
        problem found here fails the rebuild in seconds instead of after the stages before this one."""

    @abstractmethod
    def run(self, ctx: StageContext) -> dict[str, Any]:
        """Do the work, write outputs under ctx.out_dir, return JSON-able stats for the summary."""
