"""Adding a model to a trained router bundle without retraining it.

Only the new model's parameters are trained, from its own outcomes: its model-id embedding and general head (on
all its train prompts, the shared adapter frozen), then a task head for every task it joins as a candidate; in an
ensemble bundle, once per estimator member, under that member's adapter. They
are appended to the stacked tensors, so every existing weight (classifier, adapter, other models' heads, existing
task-head slots) stays bit-identical. The result is written as a new bundle revision.

A model joins a task as a candidate when the classifier assigns the task at least `min_task_prompts` of its train
prompts and its mean quality on them is at least the lowest mean quality among the task's current candidates.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from finerouter.build.assemble import assemble_bundle
from finerouter.data.table import RoutingTable
from finerouter.errors import DataError, InvalidRequestError
from finerouter.routing.bundle import BundleParts, PriorRecord, read_bundle, save_bundle
from finerouter.routing.router import Router
from finerouter.stage2.config import EstimatorSettings
from finerouter.stage2.models import member_seed, slot_table_for
from finerouter.stage2.ray_runner import train_local

log = logging.getLogger("finerouter.add_model")
COST_UNITS = {"call": "USD per prompt", "price": "USD per 1M tokens (blended model price)"}


def _split_rows(prompts: pd.DataFrame, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Train and dev rows with an outcome; without a dev split, a fixed 10% of train (by prompt id hash)."""
    split = prompts["split"].fillna("train").to_numpy()
    train, dev = np.flatnonzero(seen & (split == "train")), np.flatnonzero(seen & (split == "dev"))
    if len(dev) == 0:
        hashed = pd.util.hash_array(prompts["prompt_id"].to_numpy(dtype=object)) % 10 == 0
        dev, train = train[hashed[train]], train[~hashed[train]]
    if len(train) == 0 or len(dev) == 0:
        raise DataError(
            f"too few train/dev prompts with outcomes to train a model ({len(train)} train, {len(dev)} dev)"
        )
    return train, dev


def add_model(
    bundle_dir: str | Path, data_dir: str | Path, model: str, out_dir: str | Path | None = None, *,
    settings: EstimatorSettings | None = None, embeddings: tuple[np.ndarray, np.ndarray] | None = None, seed: int = 0,
) -> Path:  # fmt: skip
    """embeddings: optional (vectors, prompt_ids) already computed with the bundle's encoder (else encoded here)."""
    settings = settings or EstimatorSettings()
    parts = read_bundle(bundle_dir)
    router = Router(parts)
    if model in router.models:
        raise InvalidRequestError(f"model {model!r} is already in bundle {router.version}")
    table = RoutingTable.load(data_dir)
    if model not in table.model_names:
        raise InvalidRequestError(f"model {model!r} has no outcomes in {data_dir}; models there: {table.model_names}")
    unit = COST_UNITS.get(table.cost_basis, "n/a")
    if unit != router.cost_unit:
        raise DataError(f"{data_dir} costs are in {unit!r}, the bundle's in {router.cost_unit!r}")
    column = table.model_names.index(model)
    quality, cost = table.quality_matrix()[:, column], table.cost_matrix()[:, column]
    train, dev = _split_rows(table.prompts, ~np.isnan(quality))
    x = _embed(router, table.prompts, embeddings)
    task, _ = router.classifier.assign(torch.as_tensor(x), router.routing_threshold)
    task = task.numpy()
    joined = _joined_tasks(parts.tasks, router, task[train], quality[train], settings.min_task_prompts)
    solo_slots = slot_table_for([[0] if j else [] for j in joined], 1)
    dims = parts.meta.estimator
    data = {
        "x": x[train], "quality": quality[train, None], "task": task[train], "x_dev": x[dev],
        "quality_dev": quality[dev, None], "task_dev": task[dev], "slot_table": solo_slots,
    }  # fmt: skip
    sizes = dims.model_dump(include={"adapter_dim", "model_dim", "hidden", "dropout"})
    run_settings = {**settings.model_dump(), **sizes}
    solos = []  # one new head set per ensemble member, on that member's frozen adapter
    for member, weights in enumerate(parts.member_states()):
        adapter = {k[len("adapter.") :]: v for k, v in weights.items() if k.startswith("adapter.")}
        solos.append(
            train_local("estimator", data, run_settings, seed=member_seed(seed, member), frozen_adapter=adapter)
        )
    added = {
        "model": model, "train_prompts": len(train), "dev_prompts": len(dev), "joined_tasks": _ids(router, joined),
        "best_dev_loss": solos[0].get("best_dev_loss", {}),
    }  # fmt: skip
    merged = _merge(parts, [s["model"] for s in solos], solo_slots, model, quality[train], task[train], cost[train],
                    added)  # fmt: skip
    out = Path(out_dir) if out_dir else Path(bundle_dir).with_name(f"{Path(bundle_dir).name}-r{merged.meta.revision}")
    path = save_bundle(merged, out)
    log.info("added %s: %d train prompts, joined tasks %s -> %s", model, len(train), _ids(router, joined), path)
    return path


def _ids(router: Router, joined: list[bool]) -> list[int]:
    return [int(router.task_ids[t]) for t, j in enumerate(joined) if j]


def _embed(router: Router, prompts: pd.DataFrame, embeddings: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    if embeddings is None:
        return router.embed(list(prompts["prompt"]))
    vectors, ids = embeddings
    rows = pd.Series(np.arange(len(ids)), index=pd.Index(ids)).reindex(prompts["prompt_id"])
    if rows.isna().any():
        raise DataError(f"{int(rows.isna().sum())} prompts have no precomputed embedding")
    return np.asarray(vectors[rows.to_numpy(dtype=int)], dtype=np.float32)


def _joined_tasks(
    tasks: pd.DataFrame, router: Router, task: np.ndarray, quality: np.ndarray, min_prompts: int
) -> list[bool]:
    rows = tasks.set_index("task_id")
    joined = []
    for t, task_id in enumerate(router.task_ids):
        members = task == t
        if members.sum() < min_prompts:
            joined.append(False)
            continue
        row = rows.loc[int(task_id)]
        means = dict(zip(router.models, row["mean_quality"], strict=True))
        bar = min((means[m] for m in row["candidates"] if means[m] is not None), default=0.0)
        joined.append(bool(quality[members].mean() >= bar))
    return joined


def _new_prior_column(quality: np.ndarray, task: np.ndarray, n_tasks: int, settings: PriorRecord) -> list[float]:
    """The new model's prior per task (last: no task), by the bundle's prior settings."""
    statistic = np.median if settings.statistic == "median" else np.mean
    k = float(settings.shrinkage)
    overall = float(statistic(quality[~np.isnan(quality)])) if (~np.isnan(quality)).any() else 0.0
    column = []
    for members in [task == i for i in range(n_tasks)] + [task < 0]:
        n = int(members.sum())
        value = float(statistic(quality[members])) if n else overall
        column.append((n * value + k * overall) / (n + k) if n + k > 0 else overall)
    return column


def _merge(
    parts: BundleParts, solos: list[dict[str, torch.Tensor]], solo_slots: np.ndarray, model: str, quality: np.ndarray,
    task: np.ndarray, cost: np.ndarray, added: dict,
) -> BundleParts:  # fmt: skip
    """`solos[i]`: the new model's weights trained under ensemble member i (its slot layout is the same in all)."""
    members = parts.member_states()
    old_slots = members[0]["slot_table"]
    offset = int(members[0]["task_heads.w1"].shape[0])
    new_column = torch.as_tensor(np.where(solo_slots[:, 0] >= 0, solo_slots[:, 0] + offset, -1)).to(old_slots.dtype)
    grown = []
    for state, solo in zip(members, solos, strict=True):
        state = dict(state)
        state["model_emb"] = torch.cat([state["model_emb"], solo["model_emb"]])
        for head in ("general", "task_heads"):
            for name in ("w1", "b1", "w2", "b2"):
                key = f"{head}.{name}"
                state[key] = torch.cat([state[key], solo[key]])
        state["slot_table"] = torch.cat([old_slots, new_column[:, None]], dim=1)
        grown.append(state)
    prior = _new_prior_column(quality, task, len(old_slots), parts.meta.prior)
    old_priors = parts.tensors["priors"]
    priors = torch.cat([old_priors, torch.tensor(prior, dtype=old_priors.dtype)[:, None]], dim=1)
    tasks = parts.tasks.copy()
    ids = [int(i) for i in parts.meta.task_ids]
    joined_ids = {ids[i] for i in range(len(ids)) if solo_slots[i, 0] >= 0}
    real_prior = {tid: prior[i] for i, tid in enumerate(ids)}
    tasks["candidates"] = [
        [*c, model] if tid in joined_ids else list(c)
        for tid, c in zip(tasks["task_id"], tasks["candidates"], strict=True)
    ]
    tasks["fused_ranking"] = [[*r, model] for r in tasks["fused_ranking"]]
    tasks["prior"] = [
        [*p, real_prior.get(int(tid), prior[-1])] for tid, p in zip(tasks["task_id"], tasks["prior"], strict=True)
    ]
    means = [
        float(np.mean(quality[task == ids.index(int(tid))])) if int(tid) in ids and (task == ids.index(int(tid))).any()
        else None
        for tid in tasks["task_id"]
    ]  # fmt: skip
    tasks["mean_quality"] = [[*m, v] for m, v in zip(tasks["mean_quality"], means, strict=True)]
    meta = parts.meta
    mean_cost = float(np.nanmean(cost)) if np.isfinite(cost).any() else None
    meta = meta.with_updates(
        models=[*meta.models, model],
        model_cost={**meta.model_cost, model: mean_cost},
        estimator={**meta.estimator.model_dump(exclude_unset=True), "n_models": meta.estimator.n_models + 1},
        revision=meta.revision + 1,
        parent_version=meta.version,
        added_models=[*meta.added_models, added],
    )
    return assemble_bundle(meta, parts.classifier_state(), grown, priors, tasks, parts.extra_files)
