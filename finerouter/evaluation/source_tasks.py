"""Ablation: the coarse source label (benchmark) as the task instead of the discovered tasks.

Everything else is FineRouter's recipe on train and dev only: tasks with candidates and priors built by the same
code as the tasks stage, a classifier trained on the source labels (threshold tuned on dev's own source labels),
task heads trained on top of the bundle's frozen phase-1 weights, alpha calibrated on dev.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from finerouter.evaluation.data import EvalData, Split
from finerouter.evaluation.routers import Router


class SourceTaskRouter(Router):
    name = "finerouter-source-tasks"

    def __init__(
        self, run_dir: Path, delta: float | None = None, k_rrf: float | None = None, seed: int = 0,
        min_candidates: int = 1,
    ):  # fmt: skip
        from finerouter.discovery.discover import DiscoveryConfig

        defaults = DiscoveryConfig()
        self.run_dir, self.seed, self.min_candidates = Path(run_dir), seed, min_candidates
        self.delta = defaults.coverage_delta if delta is None else delta
        self.k_rrf = defaults.k_rrf if k_rrf is None else k_rrf

    def fit(self, data: EvalData) -> None:
        from finerouter.discovery.tasks import build_tasks
        from finerouter.evaluation.finerouter import BundleEmbeddings
        from finerouter.routing.bundle import BundleParts, estimator_members, read_bundle
        from finerouter.routing.calibrate import calibrate
        from finerouter.routing.router import Router as OnlineRouter
        from finerouter.stage2.data import load_tasks, tune_threshold
        from finerouter.stage2.models import TaskClassifier, member_prefix, member_seed, member_tensors, slot_table_for
        from finerouter.stage2.ray_runner import train_local
        from finerouter.stage2.training import build_estimator
        from finerouter.stages.artifacts import train_view

        bundle = read_bundle(self.run_dir / "bundle")
        if bundle.meta.get("encoder", {}).get("mode") == "finetune":  # the bundle's heads read its encoder's space
            from finerouter.stage2.data import load_stage2_run

            data = load_stage2_run(self.run_dir)[0]
        self.embeddings = BundleEmbeddings()
        view = train_view(self.run_dir)
        if list(view.prompt_ids) != list(data.train.prompts["prompt_id"]):
            raise ValueError("train prompts of the run and of the evaluation data differ")
        names, labels = np.unique(data.train.prompts["source"].fillna("(none)").to_numpy(), return_inverse=True)
        frame, vectors = build_tasks(
            labels, view.quality, view.prefs, view.ranks, view.embeddings, view.descriptions, view.models,
            self.delta, self.k_rrf, self.min_candidates,
        )  # fmt: skip
        frame = frame.assign(summary=[f"source: {names[t]}" for t in frame["task_id"]])
        tasks = load_tasks(frame, vectors, data.models, data.train.quality)
        lookup = {n: i for i, n in enumerate(names)}
        dev_labels = np.array([lookup.get(s, -1) for s in data.dev.prompts["source"].fillna("(none)")])
        cls_settings = {"epochs": 40, "batch_size": 256, "lr": 2e-3, "weight_decay": 1e-4, "patience": 5}
        cls_data = {
            "x": data.train.emb, "labels": labels, "x_dev": data.dev.emb, "labels_dev": dev_labels,
            "task_vectors": tasks.vectors,
        }  # fmt: skip
        cls_state = train_local("classifier", cls_data, cls_settings, seed=self.seed)
        classifier = TaskClassifier(tasks.vectors, input_dim=data.train.emb.shape[1])
        classifier.load_state_dict(cls_state["model"])
        with torch.no_grad():
            probs = torch.sigmoid(classifier(torch.as_tensor(data.dev.emb, dtype=torch.float32))).numpy()
        threshold, self.classifier_dev = tune_threshold(probs, dev_labels, [round(0.05 * i, 2) for i in range(1, 20)])

        def assign(emb: np.ndarray) -> np.ndarray:
            return classifier.assign(torch.as_tensor(emb, dtype=torch.float32), threshold)[0].numpy()

        dims = bundle.meta["estimator"]
        slots = slot_table_for(tasks.candidates, len(data.models))
        fresh = build_estimator(dims, slots).state_dict()
        est_settings = {
            **{k: dims[k] for k in ("adapter_dim", "model_dim", "hidden", "dropout")},
            "epochs": 60, "batch_size": 256, "lr": 1e-3, "task_lr": 1e-3, "weight_decay": 1e-4, "patience": 5,
        }  # fmt: skip
        est_data = {
            "x": data.train.emb, "quality": data.train.quality, "task": assign(data.train.emb), "x_dev": data.dev.emb,
            "quality_dev": data.dev.quality, "task_dev": assign(data.dev.emb), "slot_table": slots,
        }  # fmt: skip
        tensors = {f"classifier.{k}": v for k, v in classifier.state_dict().items()}
        for member in range(estimator_members(dims)):  # each member's shared part, new task heads on the labels
            shared = {k: v for k, v in member_tensors(bundle.tensors, member).items() if "task_heads" not in k}
            start = {**fresh, **{k: v for k, v in shared.items() if k != "slot_table"}}
            resume = {"completed": ["general"], "phase": None, "progress": None, "model": start}
            seed = member_seed(self.seed, member)
            est_state = train_local("estimator", est_data, est_settings, seed=seed, resume_state=resume)
            tensors |= {f"{member_prefix(member)}{k}": v for k, v in est_state["model"].items()}
        tensors["priors"] = torch.as_tensor(tasks.priors, dtype=torch.float32)
        meta = {**bundle.meta, "task_ids": tasks.task_ids.tolist(), "threshold": threshold, "version": "source-tasks"}
        parts = BundleParts(meta, tensors, tasks.frame, bundle.extra_files)
        objective = bundle.meta.get("calibration", {}).get("alpha_objective", "quality")  # as the bundle chose
        # (bundles made before the objective was recorded chose by quality)
        cal = calibrate(
            parts, data.dev, data.model_cost, alpha="auto", tolerance=0.0, target_cost=None, alpha_objective=objective
        )
        parts.meta["alpha"] = cal["alpha"]
        self.router = OnlineRouter(parts)

    def scores(self, split: Split) -> np.ndarray:
        return self.router.fused_scores(self.embeddings(self.router, split))
