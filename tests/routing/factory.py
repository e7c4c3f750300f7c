"""A small real router bundle for tests, built in seconds from the simulated benchmark (no rebuild needed).

Prompts get family-structured stand-in embeddings of the encoder's width (384), the planted families stand in for
discovered tasks, and the classifier and estimator are trained for a few epochs by the real training loops.
For a bundle from a real rebuild use `finerouter.build.write.write_bundle(run_dir, out_dir)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from finerouter.build.assemble import assemble_bundle
from finerouter.data.synthetic import SyntheticConfig, generate_synthetic
from finerouter.data.table import RoutingTable
from finerouter.evaluation.data import EvalData, load_eval_data
from finerouter.routing.bundle import BundleMeta, save_bundle
from finerouter.stage2.data import load_tasks, tune_threshold
from finerouter.stage2.models import TaskClassifier, slot_table_for
from finerouter.stage2.ray_runner import train_local

FAST = {"epochs": 6, "batch_size": 128, "lr": 3e-3, "task_lr": 3e-3, "weight_decay": 1e-4, "patience": 3}
EST = {**FAST, "adapter_dim": 32, "model_dim": 8, "hidden": 16, "dropout": 0.1, "min_task_prompts": 3}


@dataclass
class SyntheticRun:
    table: RoutingTable
    emb: np.ndarray  # aligned with table.prompts
    data: EvalData
    families: np.ndarray  # family index per prompt of table.prompts


def synthetic_run(n_prompts: int = 700, n_models: int = 5, n_families: int = 5, dim: int = 384) -> SyntheticRun:
    cfg = SyntheticConfig(n_prompts=n_prompts, n_families=n_families, n_models=n_models, quality="binary")
    table = RoutingTable.build(generate_synthetic(cfg))
    rng = np.random.default_rng(0)
    _, families = np.unique(table.prompts["source"], return_inverse=True)
    emb = rng.normal(size=(families.max() + 1, dim))[families] + 0.4 * rng.normal(size=(len(families), dim))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    data = load_eval_data(table, emb, table.prompts["prompt_id"].to_numpy())
    return SyntheticRun(table, emb, data, families)


def _subset(data: EvalData, cols: list[int]) -> EvalData:
    def cut(split):
        return type(split)(split.prompts, split.quality[:, cols], split.cost[:, cols], split.emb)

    models = [data.models[j] for j in cols]
    return EvalData(models, data.model_cost[cols], data.cost_unit, cut(data.train), cut(data.dev), cut(data.test))


def make_bundle(out_dir: Path, run: SyntheticRun, models: list[str] | None = None, members: int = 1) -> Path:
    """Train and save a bundle over `models` (default: all) of the synthetic run, with `members` estimators."""
    data = run.data if models is None else _subset(run.data, [run.data.models.index(m) for m in models])
    ids = run.table.prompts["prompt_id"]
    family_of = pd.Series(run.families, index=ids)
    train_fam = family_of.loc[data.train.prompts["prompt_id"]].to_numpy()
    dev_fam = family_of.loc[data.dev.prompts["prompt_id"]].to_numpy()
    n_tasks = int(run.families.max()) + 1
    rows, vectors = [], []
    for t in range(n_tasks):
        in_task = train_fam == t
        with np.errstate(all="ignore"):
            mean_q = np.nanmean(data.train.quality[in_task], axis=0)
            prior = np.nanmedian(data.train.quality[in_task], axis=0)
        top = [data.models[j] for j in np.argsort(-mean_q, kind="stable")[:2]]
        rows.append({"task_id": t, "size": int(in_task.sum()), "summary": f"family {t}", "candidates": top,
                     "fused_ranking": [data.models[j] for j in np.argsort(-mean_q, kind="stable")],
                     "prior": prior.tolist(), "mean_quality": mean_q.tolist()})  # fmt: skip
        centre = data.train.emb[in_task].mean(axis=0)
        vectors.append(centre / np.linalg.norm(centre))
    tasks = load_tasks(pd.DataFrame(rows), np.asarray(vectors, np.float32), data.models, data.train.quality)
    cls_data = {"x": data.train.emb, "labels": train_fam, "x_dev": data.dev.emb, "labels_dev": dev_fam,
                "task_vectors": tasks.vectors}  # fmt: skip
    classifier = TaskClassifier(tasks.vectors)
    classifier.load_state_dict(train_local("classifier", cls_data, FAST)["model"])
    with torch.no_grad():
        probs = torch.sigmoid(classifier(torch.as_tensor(data.dev.emb))).numpy()
    threshold, dev_metrics = tune_threshold(probs, dev_fam, [0.2, 0.5, 0.8])

    def assign(emb: np.ndarray) -> np.ndarray:
        return classifier.assign(torch.as_tensor(emb), threshold)[0].numpy()

    slots = slot_table_for(tasks.candidates, len(data.models))
    est_data = {"x": data.train.emb, "quality": data.train.quality, "task": assign(data.train.emb),
                "x_dev": data.dev.emb, "quality_dev": data.dev.quality, "task_dev": assign(data.dev.emb),
                "slot_table": slots}  # fmt: skip
    states = train_local("estimators", est_data, {**EST, "members": members})["members"]
    dims = states[0]["dims"] if members == 1 else {**states[0]["dims"], "members": members}
    meta = BundleMeta(
        name="test", revision=1, parent_version=None, source_run="synthetic", models=data.models,
        model_cost={m: float(c) for m, c in zip(data.models, data.model_cost, strict=True)},
        cost_unit=data.cost_unit, task_ids=tasks.task_ids.tolist(), routing_threshold=threshold,
        encoder={"mode": "frozen", "name": "minilm", "dim": int(data.train.emb.shape[1])},
        estimator=dims, alpha=0.7, task_heads=True, score_scale="minmax", tolerance=0.0, prior={},
        classifier_dev=dev_metrics, added_models=[],
    )  # fmt: skip
    parts = assemble_bundle(meta, classifier.state_dict(), [s["model"] for s in states], tasks.priors, tasks.frame)
    return save_bundle(parts, out_dir)
