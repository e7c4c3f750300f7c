"""The rebuild's stages, in pipeline order."""

from __future__ import annotations

from finerouter.config import RebuildConfig
from finerouter.pipeline.stage import Stage
from finerouter.stages.describe import DescribeStage
from finerouter.stages.discovery import CommunitiesStage, GraphStage, KnnStage, PreferencesStage
from finerouter.stages.embed import EmbedStage
from finerouter.stages.evaluate import EvaluateStage
from finerouter.stages.finetune import FinetuneEncoderStage
from finerouter.stages.generate import GenerateStage, ScoreStage
from finerouter.stages.ingest import ImportStage
from finerouter.stages.publish import BundleSwap, PublishStage
from finerouter.stages.stage2 import BundleStage, TrainClassifierStage, TrainRouterStage
from finerouter.stages.stats import StatsStage
from finerouter.stages.tasks import TaskReportStage, TasksStage


def default_stages(config: RebuildConfig | None = None, swap_bundle: BundleSwap | None = None) -> list[Stage]:
    """The rebuild's stages; `swap_bundle` points a running Serve app at the published bundle (publish.serve_app)."""
    return [
        GenerateStage(config),
        ScoreStage(),
        ImportStage(config),
        StatsStage(),
        DescribeStage(config),
        EmbedStage(),
        PreferencesStage(),
        KnnStage(),
        GraphStage(),
        CommunitiesStage(),
        TasksStage(),
        TaskReportStage(),
        FinetuneEncoderStage(config),
        TrainClassifierStage(),
        TrainRouterStage(),
        BundleStage(),
        EvaluateStage(),
        PublishStage(config, swap_bundle),
    ]


STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in default_stages())
