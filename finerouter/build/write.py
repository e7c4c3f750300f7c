"""`write_bundle`: the router bundle of a completed rebuild (stages train_classifier and train_router), calibrated on
the dev split (never on test)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from finerouter.build.assemble import assemble_bundle
from finerouter.build.calibrate import calibrate
from finerouter.data.artifacts import FINETUNED_ENCODER
from finerouter.errors import DataError
from finerouter.evaluation.data import load_stage2_run
from finerouter.routing.bundle import BundleMeta, save_bundle
from finerouter.stage2.config import PriorSettings, Stage2Config
from finerouter.stage2.data import stage1_priors
from finerouter.stage2.models import member_name

CLASSIFIER_WEIGHTS = "train_classifier/classifier.safetensors"
CLASSIFIER_META = "train_classifier/classifier.json"
ESTIMATOR_WEIGHTS = "train_router/estimator.safetensors"
ESTIMATOR_META = "train_router/estimator.json"


def write_bundle(
    run_dir: str | Path, out_dir: str | Path, *, alpha: float | str | None = None, tolerance: float | None = None,
    target_cost: float | None = None, name: str | None = None, prior: PriorSettings | None = None,
    routing_threshold: float | str | None = None, alpha_objective: str | None = None,
    task_heads: bool | str | None = None, score_scale: str | None = None,
) -> Path:  # fmt: skip
    """A bundle from a completed rebuild. alpha / tolerance / target_cost / name / prior / routing_threshold /
    alpha_objective / task_heads / score_scale default to the `stage2` config defaults; alpha 'auto', task_heads
    'auto' and target_cost are calibrated on the dev split (never on test)."""
    from safetensors.torch import load_file

    run = Path(run_dir)
    for needed in (CLASSIFIER_WEIGHTS, CLASSIFIER_META, ESTIMATOR_WEIGHTS, ESTIMATOR_META):
        if not (run / needed).is_file():
            raise DataError(f"{run / needed} not found: run the rebuild's train_classifier and train_router stages")
    cls_meta = json.loads((run / CLASSIFIER_META).read_text())
    est_meta = json.loads((run / ESTIMATOR_META).read_text())
    defaults = Stage2Config()
    data, tasks = load_stage2_run(run)
    n_members = int(est_meta["dims"].get("members", 1))
    members = []
    for member in range(n_members):
        path = run / "train_router" / f"{member_name(member)}.safetensors"
        if not path.is_file():
            raise DataError(f"{path} not found: train_router's estimator ensemble has {n_members} members")
        members.append(load_file(path))
    prior = defaults.prior if prior is None else prior
    routing = defaults.routing_threshold if routing_threshold is None else routing_threshold
    meta = BundleMeta(
        name=name or defaults.bundle_name,
        revision=1,
        parent_version=None,
        source_run=str(run.resolve()),
        models=data.models,
        model_cost=_model_cost(data.models, data.model_cost),
        cost_unit=data.cost_unit,
        task_ids=[int(t) for t in tasks.task_ids],
        routing_threshold=cls_meta["threshold"] if routing == "classifier" else float(routing),
        classifier_threshold=cls_meta["threshold"],
        encoder=cls_meta["encoder"],
        estimator=est_meta["dims"],
        alpha=0.5,  # provisional: calibration passes its own alpha, task heads and tolerance
        task_heads=True,
        score_scale=defaults.score_scale if score_scale is None else score_scale,
        tolerance=0.0,
        prior=prior.model_dump(),
        classifier_dev=cls_meta["dev"],
        added_models=[],
    )
    priors = stage1_priors(tasks, data.train.quality, prior.statistic, prior.shrinkage)
    extra = {"encoder": run / FINETUNED_ENCODER} if meta.encoder.mode == "finetune" else {}
    parts = assemble_bundle(meta, load_file(run / CLASSIFIER_WEIGHTS), members, priors, tasks.frame, extra)
    cal = calibrate(
        parts, data.dev, data.model_cost,
        alpha=defaults.alpha if alpha is None else alpha,
        tolerance=defaults.cost.tolerance if tolerance is None else tolerance,
        target_cost=defaults.cost.target_cost if target_cost is None else target_cost,
        alpha_objective=alpha_objective or defaults.alpha_objective,
        task_heads=defaults.task_heads if task_heads is None else task_heads,
    )  # fmt: skip
    parts.meta = meta.with_updates(
        calibration=cal, alpha=cal["alpha"], task_heads=cal["task_heads"], tolerance=cal["tolerance"]
    )
    return save_bundle(parts, out_dir)


def _model_cost(models: list[str], cost: np.ndarray) -> dict[str, Any]:
    return {m: None if np.isnan(c) else float(f"{c:.10g}") for m, c in zip(models, cost, strict=True)}
