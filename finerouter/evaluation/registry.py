"""Routing-policy names for `finerouter eval --routers` and the evaluate stage."""

from __future__ import annotations

from pathlib import Path

from finerouter.errors import ConfigError
from finerouter.evaluation.finerouter import BundleRouter
from finerouter.evaluation.neural import NeuralRouter
from finerouter.evaluation.routers import KnnRouter, RandomRouter, RoutingPolicy, Stage1Router

BASELINES = ("random", "knn", "mlp", "mf", "ipr")
NEEDS_STAGE1 = ("finerouter-stage1",)
NEURAL_LABELS = {"mlp": "mlp", "mf": "matrix-factorisation", "ipr": "ipr-style"}  # name -> the router's label
NEEDS_BUNDLE = ("finerouter", "finerouter-stage2", "finerouter-general", "finerouter-prior")


def build_routers(names: list[str], run_dir: Path | None, seed: int = 0) -> list[RoutingPolicy]:
    routers: list[RoutingPolicy] = []
    for name in names:
        if name == "random":
            routers.append(RandomRouter(seed))
        elif name == "knn":
            routers.append(KnnRouter())
        elif name in NEURAL_LABELS:
            routers.append(NeuralRouter(NEURAL_LABELS[name], name, seed=seed))
        elif name == "finerouter-stage1":
            if run_dir is None:
                raise ConfigError("router 'finerouter-stage1' needs a rebuild's artifacts (--run DIR)")
            routers.append(Stage1Router(run_dir))
        elif name in NEEDS_BUNDLE:
            routers.append(_bundle_router(name, run_dir))
        else:
            valid = ", ".join((*BASELINES, *NEEDS_STAGE1, *NEEDS_BUNDLE))
            raise ConfigError(f"unknown router {name!r}; valid routers: {valid}")
    return routers


def _bundle_router(name: str, run_dir: Path | None) -> RoutingPolicy:
    """FineRouter and its ablations that switch parts of the bundle off read the bundle of a rebuild (the
    source-label ablation trains a bundle of its own: finerouter.build.source_tasks, built by the evaluate stage)."""
    if run_dir is None or not (run_dir / "bundle" / "bundle.json").is_file():
        raise ConfigError(f"router {name!r} needs a rebuild's stage-2 bundle (--run DIR with a completed bundle stage)")
    return BundleRouter.variant(run_dir / "bundle", name)
