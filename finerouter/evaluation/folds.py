"""K-fold cross-validation of a table by rebuilds: each fold's run name, its split overrides and the rebuild
command, and the t interval of per-fold differences (benchmarks/cross_validation.py, learning_curve.py)."""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path
from typing import Any

# The routers' rows of the fold and seed tables, in this order (those a run did not evaluate are left out).
ROUTER_ROWS = (
    "finerouter", "finerouter-stage2", "finerouter-general", "finerouter-prior", "finerouter-source-tasks", "knn",
    "mlp", "matrix-factorisation", "ipr-style",
)  # fmt: skip

T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def fold_dir(config: dict[str, Any], folds: int, fold: int, hold_out: bool, tag: str = "") -> Path:
    """<artifacts>/<run>-cv<K>-<f>[-tag], or -devcv<K>- for the folds that hold the shipped test split out."""
    kind = "devcv" if hold_out else "cv"
    tail = f"-{tag}" if tag else ""
    return Path(config.get("artifacts_dir", "artifacts")) / f"{config['run']}-{kind}{folds}-{fold}{tail}"


def split_overrides(folds: int, fold: int, dev: float, hold_out: bool) -> list[str]:
    """Fold `fold` of K: every prompt hashed (or the shipped test held out), the hash rotated by f/K, test 1/K."""
    test = 1.0 / folds
    mode = "exclude_test" if hold_out else "ignore"
    return [
        f"data.split.experimental.source_splits={mode}", f"data.split.experimental.rotate={fold / folds!r}",
        f"data.split.test={test!r}", f"data.split.dev={dev!r}", f"data.split.train={1.0 - test - dev!r}",
    ]  # fmt: skip


def rebuild_command(config_path: Path, run_name: str, overrides: list[str]) -> list[str]:
    """`python -m jobs.rebuild` for one fold's run, the overrides in order and the run name last."""
    cmd = [sys.executable, "-m", "jobs.rebuild", "--config", str(config_path)]
    for item in [*overrides, f"run={run_name}"]:
        cmd += ["--set", item]
    return cmd


def across_folds(diffs: list[float]) -> str:
    """Mean of paired per-fold differences with a t 95% interval (training and test noise both)."""
    mean = statistics.mean(diffs)
    if len(diffs) < 2:
        return f"{mean:+.4f}"
    half = T_975.get(len(diffs) - 1, 1.96) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    return f"{mean:+.4f} [{mean - half:+.4f}, {mean + half:+.4f}]"
