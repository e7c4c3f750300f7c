"""The rebuild's stages, in pipeline order."""

from __future__ import annotations

from finerouter.pipeline.stage import Stage
from finerouter.stages.ingest import ImportStage
from finerouter.stages.stats import StatsStage


def default_stages() -> list[Stage]:
    return [ImportStage(), StatsStage()]


STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in default_stages())
