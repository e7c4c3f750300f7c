"""The router bundle: everything the online `Router` needs, in one directory that loads without Ray.

    bundle.json           format, version, models, expected cost per model, alpha, task_heads (route with the
                          task heads or the general heads only; absent = true), score_scale (the fused scores'
                          scale, quality or minmax; absent = minmax), threshold, tolerance,
                          encoder reference, network sizes, dev calibration, lineage
    weights.safetensors   classifier.{W,u,b}, estimator.* (adapter, model embeddings, general and task heads,
                          slot table; with an ensemble of N estimators, members 1..N-1 as estimator_<i>.*),
                          priors (stage-1 prior per task and model, by `prior`; last row = no task)
    tasks.parquet         the discovered tasks: task_id, size, summary, candidates, prior, ...
    encoder/              only with `stage2.encoder: finetune`: the fine-tuned sentence encoder (a
                          sentence-transformers directory); bundle.json's encoder entry then names it

`write_bundle(run_dir, out_dir)` builds one from a completed rebuild (stages train_classifier and train_router).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from finerouter.errors import DataError
from finerouter.stage2.models import member_name, member_prefix

if TYPE_CHECKING:
    from finerouter.stage2.config import PriorSettings

FORMAT = 1
META_FILE = "bundle.json"
WEIGHTS_FILE = "weights.safetensors"
TASKS_FILE = "tasks.parquet"
CLASSIFIER_WEIGHTS = "train_classifier/classifier.safetensors"
CLASSIFIER_META = "train_classifier/classifier.json"
ESTIMATOR_WEIGHTS = "train_router/estimator.safetensors"
ESTIMATOR_META = "train_router/estimator.json"
EXTRA_DIRS = ("encoder",)  # directories a bundle may carry, by name


def estimator_members(dims: dict[str, Any]) -> int:
    """Estimators in a bundle's ensemble (bundles from before ensembles have one)."""
    return int(dims.get("members", 1))


@dataclass
class BundleParts:
    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    tasks: pd.DataFrame
    extra_files: dict[str, Path] = field(default_factory=dict)  # name in the bundle (one of EXTRA_DIRS) -> source


def save_bundle(parts: BundleParts, out_dir: str | Path) -> Path:
    """Write a bundle; its version is its name, revision and a hash of its content (same content, same version)."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    scratch = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    # clone: ensemble members share one slot table in memory, and safetensors refuses shared storage
    tensors = {k: v.detach().cpu().clone().contiguous() for k, v in parts.tensors.items()}
    save_file(tensors, scratch / WEIGHTS_FILE)
    parts.tasks.to_parquet(scratch / TASKS_FILE, index=False)
    meta = {k: v for k, v in parts.meta.items() if k not in ("version", "created")}
    digest = hashlib.sha256((scratch / WEIGHTS_FILE).read_bytes())
    digest.update((scratch / TASKS_FILE).read_bytes())
    for name, source in sorted(parts.extra_files.items()):
        if name not in EXTRA_DIRS:
            raise ValueError(f"a bundle carries only {', '.join(EXTRA_DIRS)}, not {name!r}")
        shutil.copytree(source, scratch / name)
        for file in sorted(p for p in (scratch / name).rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(scratch)).encode())
            digest.update(file.read_bytes())
    content = {k: v for k, v in meta.items() if k != "source_run"}  # where it was built is recorded, not hashed
    digest.update(json.dumps(content, sort_keys=True, default=str).encode())
    meta = {
        "format": FORMAT,
        "version": f"{meta.get('name', 'finerouter')}-r{meta.get('revision', 1)}-{digest.hexdigest()[:10]}",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **meta,
    }
    (scratch / META_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    scratch.rename(out)
    return out


def read_bundle(path: str | Path) -> BundleParts:
    from safetensors.torch import load_file

    root = Path(path)
    missing = [f for f in (META_FILE, WEIGHTS_FILE, TASKS_FILE) if not (root / f).is_file()]
    if missing:
        raise DataError(f"{str(root)!r} is not a router bundle: missing {', '.join(missing)}")
    meta = json.loads((root / META_FILE).read_text())
    if meta.get("format") != FORMAT:
        raise DataError(
            f"bundle {str(root)!r} has format {meta.get('format')!r}; this FineRouter reads format {FORMAT}"
        )
    extra = {name: root / name for name in EXTRA_DIRS if (root / name).is_dir()}
    encoder = meta.get("encoder", {})
    if encoder.get("mode") == "finetune" and encoder.get("name") not in extra:
        raise DataError(f"bundle {str(root)!r} routes with a fine-tuned encoder but has no {encoder.get('name')}/")
    return BundleParts(meta, load_file(root / WEIGHTS_FILE), pd.read_parquet(root / TASKS_FILE), extra)


def write_bundle(
    run_dir: str | Path, out_dir: str | Path, *, alpha: float | str | None = None, tolerance: float | None = None,
    target_cost: float | None = None, name: str | None = None, prior: PriorSettings | None = None,
    routing_threshold: float | str | None = None, alpha_objective: str | None = None,
    task_heads: bool | str | None = None, score_scale: str | None = None,
) -> Path:  # fmt: skip
    """A bundle from a completed rebuild (stages train_classifier and train_router). alpha / tolerance /
    target_cost / name / prior / routing_threshold / alpha_objective / task_heads / score_scale default to the
    `stage2` config defaults; alpha 'auto', task_heads 'auto' and target_cost are calibrated on the dev split (never
    on test)."""
    from safetensors.torch import load_file

    from finerouter.routing.calibrate import calibrate
    from finerouter.stage2.config import Stage2Config
    from finerouter.stage2.data import FINETUNED_ENCODER, load_stage2_run, stage1_priors

    run = Path(run_dir)
    for needed in (CLASSIFIER_WEIGHTS, CLASSIFIER_META, ESTIMATOR_WEIGHTS, ESTIMATOR_META):
        if not (run / needed).is_file():
            raise DataError(f"{run / needed} not found: run the rebuild's train_classifier and train_router stages")
    cls_meta = json.loads((run / CLASSIFIER_META).read_text())
    est_meta = json.loads((run / ESTIMATOR_META).read_text())
    defaults = Stage2Config()
    data, tasks = load_stage2_run(run)
    tensors = {f"classifier.{k}": v for k, v in load_file(run / CLASSIFIER_WEIGHTS).items()}
    members = estimator_members(est_meta["dims"])
    for member in range(members):
        path = run / "train_router" / f"{member_name(member)}.safetensors"
        if not path.is_file():
            raise DataError(f"{path} not found: train_router's estimator ensemble has {members} members")
        tensors |= {f"{member_prefix(member)}{k}": v for k, v in load_file(path).items()}
    prior = defaults.prior if prior is None else prior
    routing = defaults.routing_threshold if routing_threshold is None else routing_threshold
    priors = stage1_priors(tasks, data.train.quality, prior.statistic, prior.shrinkage)
    tensors["priors"] = torch.as_tensor(priors, dtype=torch.float32)
    meta = {
        "name": name or defaults.bundle_name,
        "revision": 1,
        "parent_version": None,
        "source_run": str(run.resolve()),
        "models": data.models,
        "model_cost": {
            m: None if np.isnan(c) else float(f"{c:.10g}") for m, c in zip(data.models, data.model_cost, strict=True)
        },
        "cost_unit": data.cost_unit,
        "task_ids": [int(t) for t in tasks.task_ids],
        "threshold": cls_meta["threshold"] if routing == "classifier" else float(routing),
        "classifier_threshold": cls_meta["threshold"],
        "encoder": cls_meta["encoder"],
        "estimator": est_meta["dims"],
        "alpha": 0.5,
        "score_scale": defaults.score_scale if score_scale is None else score_scale,
        "tolerance": 0.0,
        "prior": prior.model_dump(),
        "classifier_dev": cls_meta["dev"],
        "added_models": [],
    }
    extra = {"encoder": run / FINETUNED_ENCODER} if meta["encoder"].get("mode") == "finetune" else {}
    parts = BundleParts(meta, tensors, tasks.frame, extra)
    meta["calibration"] = calibrate(
        parts, data.dev, data.model_cost,
        alpha=defaults.alpha if alpha is None else alpha,
        tolerance=defaults.cost.tolerance if tolerance is None else tolerance,
        target_cost=defaults.cost.target_cost if target_cost is None else target_cost,
        alpha_objective=alpha_objective or defaults.alpha_objective,
        task_heads=defaults.task_heads if task_heads is None else task_heads,
    )  # fmt: skip
    meta["alpha"] = meta["calibration"]["alpha"]
    meta["task_heads"] = meta["calibration"]["task_heads"]
    meta["tolerance"] = meta["calibration"]["tolerance"]
    return save_bundle(parts, out_dir)
