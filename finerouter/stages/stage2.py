"""Stages `train_classifier`, `train_router` (both on Ray Train) and `bundle` (the router bundle)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from finerouter.build.write import CLASSIFIER_META, CLASSIFIER_WEIGHTS, write_bundle
from finerouter.cluster import Demand
from finerouter.config import RebuildConfig
from finerouter.data.artifacts import stage2_encoder
from finerouter.pipeline.stage import Stage, StageContext, stage_key
from finerouter.routing.bundle import read_meta
from finerouter.stage2.data import propagate_labels, tune_threshold
from finerouter.stage2.models import TaskClassifier, member_name, member_seed, slot_table_for
from finerouter.stage2.ray_runner import train_on_ray
from finerouter.stage2.training import build_estimator
from finerouter.stages.demands import train_demand
from finerouter.stages.stage2_inputs import load_training_run, train_labels

STAGE2_INPUTS = ("import", "embed", "tasks", "finetune_encoder")


def ray_train(ctx: StageContext, stage: Stage, kind: str, data: dict, settings: dict) -> dict[str, Any]:
    cfg = ctx.config.stage2
    storage = Path(cfg.storage_path) if cfg.storage_path else ctx.run_dir / ".ray_train"
    # Same stage key (code, config, inputs) -> same run name: a restarted rebuild resumes that run's checkpoint.
    name = f"{stage.name}-{stage_key(stage, ctx.config, ctx.run_dir)[:12]}"
    return train_on_ray(
        kind, data, settings, seed=cfg.seed, scaling=cfg.scaling, storage_path=storage, name=name,
        fault_tolerance=ctx.config.ray.fault_tolerance,
    )  # fmt: skip


def _save(out_dir: Path, stem: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any] | None = None) -> None:
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, out_dir / f"{stem}.safetensors")
    if meta is not None:
        (out_dir / f"{stem}.json").write_text(json.dumps(meta, indent=2, default=float) + "\n")


class TrainClassifierStage(Stage):
    name = "train_classifier"
    inputs = STAGE2_INPUTS
    needs_ray = True

    def config_key(self, config: RebuildConfig) -> Any:
        s = config.stage2
        return {
            "classifier": s.classifier.model_dump(),
            "seed": s.seed,
            "encoder": s.encoder,
            "emb": config.embed.encoder,
        }

    def demands(self, config: RebuildConfig) -> list[Demand]:
        return [train_demand(self.name, config)]

    def run(self, ctx: StageContext) -> dict[str, Any]:
        settings = ctx.config.stage2.classifier
        data, tasks = load_training_run(ctx.run_dir)
        labels = train_labels(ctx.run_dir, data, tasks)
        dev_labels = propagate_labels(data.train.emb, labels, data.dev.emb, settings.dev_label_k)
        arrays = {
            "x": data.train.emb, "labels": labels, "x_dev": data.dev.emb, "labels_dev": dev_labels,
            "task_vectors": tasks.vectors,
        }  # fmt: skip
        state = ray_train(ctx, self, "classifier", arrays, settings.model_dump())
        model = TaskClassifier(tasks.vectors, input_dim=data.train.emb.shape[1])
        model.load_state_dict(state["model"])
        with torch.no_grad():
            probs_dev = torch.sigmoid(model(torch.as_tensor(data.dev.emb, dtype=torch.float32))).numpy()
            probs_train = torch.sigmoid(model(torch.as_tensor(data.train.emb, dtype=torch.float32))).numpy()
        if tasks.n_tasks:
            threshold, dev_metrics = tune_threshold(probs_dev, dev_labels, settings.thresholds)
            _, train_metrics = tune_threshold(probs_train, labels, [threshold])
        else:
            threshold = 1.0
            dev_metrics = {"accuracy": float((dev_labels == -1).mean()), "no_task_rate": 1.0}
            train_metrics = {"accuracy": float((labels == -1).mean()), "no_task_rate": 1.0}
        dev_metrics["labelled_others_rate"] = float((dev_labels == -1).mean())
        meta = {
            "threshold": threshold,
            "tasks": tasks.n_tasks,
            "task_ids": tasks.task_ids.tolist(),
            "encoder": _encoder_reference(stage2_encoder(ctx.run_dir), ctx.config, int(data.train.emb.shape[1])),
            "dev": dev_metrics,
            "dev_labels": f"majority task of the {settings.dev_label_k} nearest train prompts",
            "train": train_metrics,
            "best_dev_loss": state.get("best_dev_loss", {}),
            "history": state.get("history", []),
        }
        _save(ctx.out_dir, "classifier", dict(model.state_dict()), meta)
        ctx.log.info("classifier: %d tasks, threshold %.2f, dev %s", tasks.n_tasks, threshold, dev_metrics)
        return {"tasks": tasks.n_tasks, "threshold": threshold, "dev": dev_metrics, "train": train_metrics}


def _encoder_reference(used: dict[str, Any], config: RebuildConfig, dim: int) -> dict[str, Any]:
    """The bundle's encoder entry: the embed stage's encoder by name, or the fine-tuned copy the bundle carries."""
    if used["mode"] == "finetune":
        return {"mode": "finetune", "name": used["name"], "base": used["base"], "dim": dim}
    return {"mode": "frozen", "name": config.embed.encoder, "dim": dim}


def relabel(run_dir: Path, emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Task index (-1 none) and confidence of every row of `emb` by the trained classifier."""
    model = TaskClassifier.from_state_dict(load_file(run_dir / CLASSIFIER_WEIGHTS))
    meta = json.loads((run_dir / CLASSIFIER_META).read_text())
    task, conf = model.assign(torch.as_tensor(np.asarray(emb, dtype=np.float32)), meta["threshold"])
    return task.numpy(), conf.numpy()


def estimator_arrays(run_dir: Path, min_task_prompts: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """What train_router trains the estimator on: train and dev embeddings, qualities and classifier-relabelled
    tasks, and the slot table of the tasks that get heads (>= `min_task_prompts` relabelled train prompts); with
    the number of relabelled train prompts per task."""
    data, tasks = load_training_run(run_dir)
    task, _ = relabel(run_dir, data.train.emb)
    task_dev, _ = relabel(run_dir, data.dev.emb)
    counts = np.bincount(task[task >= 0], minlength=tasks.n_tasks)
    trained = [bool(c >= min_task_prompts) for c in counts]
    arrays = {
        "x": data.train.emb, "quality": data.train.quality, "task": task, "x_dev": data.dev.emb,
        "quality_dev": data.dev.quality, "task_dev": task_dev,
        "slot_table": slot_table_for(tasks.candidates, len(data.models), trained),
    }  # fmt: skip
    return arrays, counts


class TrainRouterStage(Stage):
    name = "train_router"
    inputs = (*STAGE2_INPUTS, "train_classifier")
    needs_ray = True

    def config_key(self, config: RebuildConfig) -> Any:
        s = config.stage2
        return {"estimator": s.estimator.model_dump(), "seed": s.seed, "encoder": s.encoder}

    def demands(self, config: RebuildConfig) -> list[Demand]:
        return [train_demand(self.name, config)]

    def run(self, ctx: StageContext) -> dict[str, Any]:
        cfg = ctx.config.stage2
        settings = cfg.estimator
        arrays, counts = estimator_arrays(ctx.run_dir, settings.min_task_prompts)
        task, slots = arrays["task"], arrays["slot_table"]
        ensemble = ray_train(ctx, self, "estimators", arrays, settings.model_dump())
        members = ensemble["members"]
        models = []
        for state in members:
            models.append(build_estimator(state["dims"], slots))
            models[-1].load_state_dict(state["model"])
        first = members[0]
        # A single estimator's files stay exactly as before ensembles existed (the bundle's version hash too).
        dims = first["dims"] if len(members) == 1 else {**first["dims"], "members": len(members)}
        meta = {
            "dims": dims,
            "task_heads": int(models[0].task_heads.n_heads),
            "tasks_with_heads": int((counts >= settings.min_task_prompts).sum()),
            "relabelled_train_per_task": counts.tolist(),
            "relabelled_train_no_task": int((task < 0).sum()),
            "best_dev_loss": first.get("best_dev_loss", {}),
            "history": first.get("history", []),
        }  # fmt: skip
        if len(members) > 1:
            meta["members"] = [
                {"seed": member_seed(cfg.seed, i), "best_dev_loss": m.get("best_dev_loss", {}), "history": m["history"]}
                for i, m in enumerate(members)
            ]
        for index, model in enumerate(models):
            _save(ctx.out_dir, member_name(index), dict(model.state_dict()), meta if index == 0 else None)
        stats = {k: meta[k] for k in ("task_heads", "tasks_with_heads", "relabelled_train_no_task", "best_dev_loss")}
        if len(members) > 1:
            stats["members_best_dev_loss"] = [m["best_dev_loss"] for m in meta["members"]]
        ctx.log.info("estimator: %s", stats)
        return stats


class BundleStage(Stage):
    name = "bundle"
    inputs = (*STAGE2_INPUTS, "train_classifier", "train_router")
    # 2: stage2.prior and stage2.routing_threshold, recorded in bundle.json; 3: dev AIQ per alpha; 4: bundle.json's
    # format_version 2 (routing_threshold)
    version = 4
    # When and from which run the bundle was made; its version hashes everything else in bundle.json.
    recorded_fields: ClassVar[dict[str, tuple[str, ...]]] = {"bundle.json": ("created", "source_run")}

    def config_key(self, config: RebuildConfig) -> Any:
        s = config.stage2
        return {
            "alpha": s.alpha, "cost": s.cost.model_dump(), "name": s.bundle_name, "prior": s.prior.model_dump(),
            "routing_threshold": s.routing_threshold, "alpha_objective": s.alpha_objective,
            "task_heads": s.task_heads, "score_scale": s.score_scale,
        }  # fmt: skip

    def run(self, ctx: StageContext) -> dict[str, Any]:
        # The bundle is the stage's directory itself: <run>/bundle/ loads with Router.load.
        s = ctx.config.stage2
        write_bundle(
            ctx.run_dir, ctx.out_dir / "_b", alpha=s.alpha, tolerance=s.cost.tolerance, target_cost=s.cost.target_cost,
            name=s.bundle_name, prior=s.prior, routing_threshold=s.routing_threshold,
            alpha_objective=s.alpha_objective, task_heads=s.task_heads, score_scale=s.score_scale,
        )  # fmt: skip
        for item in (ctx.out_dir / "_b").iterdir():
            item.rename(ctx.out_dir / item.name)
        (ctx.out_dir / "_b").rmdir()
        meta = read_meta(ctx.out_dir)
        cal = meta.calibration or {}
        return {
            "version": meta.version, "alpha": meta.alpha, "task_heads": meta.task_heads,
            "score_scale": meta.score_scale, "tolerance": meta.tolerance, "prior": meta.prior.model_dump(),
            "routing_threshold": meta.routing_threshold,
            "dev_quality": round(cal["dev_quality"], 4), "dev_cost": round(cal["dev_cost"], 4),
        }  # fmt: skip
