"""`assemble_bundle`: the one place a bundle's parts are put together (every builder of bundles goes through it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from finerouter.routing.bundle import BundleMeta, BundleParts, bundle_tensors


def assemble_bundle(
    meta: BundleMeta, classifier: dict[str, torch.Tensor], members: list[dict[str, torch.Tensor]],
    priors: np.ndarray | torch.Tensor, tasks: pd.DataFrame, extra_files: dict[str, Path] | None = None,
) -> BundleParts:  # fmt: skip
    """A bundle of the classifier's weights, each estimator member's weights (member 0 first), the stage-1 priors
    (tasks + 1 rows, the last for no task; one column per model) and the tasks table, checked against `meta`."""
    prior_tensor = torch.as_tensor(np.asarray(priors, dtype=np.float32)) if isinstance(priors, np.ndarray) else priors
    n_tasks, n_models = len(meta.task_ids), len(meta.models)
    problems = []
    if set(meta.model_cost) != set(meta.models):
        problems.append(f"model_cost names {sorted(meta.model_cost)}, the models are {meta.models}")
    if len(members) != meta.estimator.members:
        problems.append(f"{len(members)} estimator members, meta.estimator.members is {meta.estimator.members}")
    if meta.estimator.n_models != n_models:
        problems.append(f"estimator.n_models is {meta.estimator.n_models} for {n_models} models")
    if classifier["u"].shape[0] != n_tasks:
        problems.append(f"the classifier has {classifier['u'].shape[0]} task vectors for {n_tasks} task ids")
    if tuple(prior_tensor.shape) != (n_tasks + 1, n_models):
        problems.append(f"priors are {tuple(prior_tensor.shape)}, expected {(n_tasks + 1, n_models)}")
    for member, state in enumerate(members):
        if state["model_emb"].shape[0] != n_models:
            problems.append(f"estimator member {member} embeds {state['model_emb'].shape[0]} models, not {n_models}")
    missing = set(meta.task_ids) - {int(t) for t in tasks["task_id"]}
    if missing:
        problems.append(f"task ids {sorted(missing)} are not in the tasks table")
    if problems:
        raise ValueError("inconsistent bundle parts: " + "; ".join(problems))
    return BundleParts(meta, bundle_tensors(classifier, members, prior_tensor), tasks, dict(extra_files or {}))
