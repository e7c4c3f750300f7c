"""Router names for `finerouter eval --routers` and the evaluate stage."""

from __future__ import annotations

from pathlib import Path

from finerouter.errors import ConfigError
from finerouter.evaluation.routers import KnnRouter, RandomRouter, Router, Stage1Router

BASELINES = ("random", "knn", "mlp", "mf", "ipr")
NEEDS_STAGE1 = ("finerouter-stage1",)


def build_routers(names: list[str], run_dir: Path | None, seed: int = 0) -> list[Router]:
    from finerouter.evaluation.neural import NeuralRouter

    routers: list[Router] = []
    for name in names:
        if name == "random":
            routers.append(RandomRouter(seed))
        elif name == "knn":
            routers.append(KnnRouter())
        elif name in ("mlp", "mf", "ipr"):
            label = {"mlp": "mlp", "mf": "matrix-factorisation", "ipr": "ipr-style"}[name]
            routers.append(NeuralRouter(label, name, seed=seed))
        elif name == "finerouter-stage1":
            if run_dir is None:
                raise ConfigError("router 'finerouter-stage1' needs a rebuild's artifacts (--run DIR)")
            routers.append(Stage1Router(run_dir))
        else:
            valid = ", ".join((*BASELINES, *NEEDS_STAGE1))
            raise ConfigError(f"unknown router {name!r}; valid routers: {valid}")
    return routers
