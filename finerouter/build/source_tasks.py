"""Ablation: the coarse source label (benchmark) as the task instead of the discovered tasks.

Everything else is FineRouter's recipe, with the rebuild's own `stage2` settings, on train and dev only: tasks with
candidates and priors built by the same code as the tasks stage, a classifier trained on the source labels
(threshold tuned on dev's own source labels), task heads trained on top of the bundle's frozen phase-1 weights
for the tasks with enough prompts, alpha (and the heads) calibrated on dev.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from finerouter.build.assemble import assemble_bundle
from finerouter.build.calibrate import calibrate
from finerouter.discovery.discover import DiscoveryConfig
from finerouter.discovery.tasks import build_tasks
from finerouter.discovery.train_view import train_view
from finerouter.evaluation.data import EvalData, Split, load_stage2_run
from finerouter.evaluation.finerouter import BundleEmbeddings
from finerouter.evaluation.routers import RoutingPolicy
from finerouter.routing.bundle import BundleParts, read_bundle
from finerouter.routing.router import Router
from finerouter.stage2.config import Stage2Config
from finerouter.stage2.data import TaskSet, load_tasks, stage1_priors, tune_threshold
from finerouter.stage2.models import MoEQualityEstimator, TaskClassifier, member_seed, slot_table_for
from finerouter.stage2.ray_runner import train_local

SOURCE_TASKS = "finerouter-source-tasks"


class SourceTaskRouter(RoutingPolicy):
    """`stage2`: the rebuild's stage-2 settings (the bundle's recipe); `delta` and `k_rrf`: its discovery's
    candidate rule (default: the discovery defaults)."""

    name = SOURCE_TASKS

    def __init__(
        self, run_dir: Path, stage2: Stage2Config, delta: float | None = None, k_rrf: float | None = None
    ) -> None:
        defaults = DiscoveryConfig()
        self.run_dir, self.stage2 = Path(run_dir), stage2
        self.delta = defaults.coverage_delta if delta is None else delta
        self.k_rrf = defaults.k_rrf if k_rrf is None else k_rrf

    def fit(self, data: EvalData) -> None:
        bundle = read_bundle(self.run_dir / "bundle")
        if bundle.meta.encoder.mode == "finetune":  # the bundle's heads read its encoder's space
            data = load_stage2_run(self.run_dir)[0]
        self.embeddings = BundleEmbeddings()
        view = train_view(self.run_dir)
        if list(view.prompt_ids) != list(data.train.prompts["prompt_id"]):
            raise ValueError("train prompts of the run and of the evaluation data differ")
        names, labels = np.unique(data.train.prompts["source"].fillna("(none)").to_numpy(), return_inverse=True)
        frame, vectors = build_tasks(
            labels, view.quality, view.prefs, view.ranks, view.embeddings, view.descriptions, view.models,
            self.delta, self.k_rrf,
        )  # fmt: skip
        frame = frame.assign(summary=[f"source: {names[t]}" for t in frame["task_id"]])
        tasks = load_tasks(frame, vectors, data.models, data.train.quality)
        lookup = {n: i for i, n in enumerate(names)}
        dev_labels = np.array([lookup.get(s, -1) for s in data.dev.prompts["source"].fillna("(none)")])
        parts = self._build(bundle, data, tasks, labels, dev_labels)
        self.router = Router(parts)

    def _build(
        self, bundle: BundleParts, data: EvalData, tasks: TaskSet, labels: np.ndarray, dev_labels: np.ndarray
    ) -> BundleParts:
        s2 = self.stage2
        cls_data = {
            "x": data.train.emb, "labels": labels, "x_dev": data.dev.emb, "labels_dev": dev_labels,
            "task_vectors": tasks.vectors,
        }  # fmt: skip
        classifier = TaskClassifier.from_state_dict(
            train_local("classifier", cls_data, s2.classifier.model_dump(), seed=s2.seed)["model"]
        )
        with torch.no_grad():
            probs = torch.sigmoid(classifier(torch.as_tensor(data.dev.emb, dtype=torch.float32))).numpy()
        threshold, self.classifier_dev = tune_threshold(probs, dev_labels, s2.classifier.thresholds)
        routing = threshold if s2.routing_threshold == "classifier" else float(s2.routing_threshold)

        def assign(emb: np.ndarray) -> np.ndarray:
            return classifier.assign(torch.as_tensor(emb, dtype=torch.float32), routing)[0].numpy()

        dims = bundle.meta.estimator.model_dump()
        task = assign(data.train.emb)
        counts = np.bincount(task[task >= 0], minlength=tasks.n_tasks)
        trained = [bool(c >= s2.estimator.min_task_prompts) for c in counts]
        slots = slot_table_for(tasks.candidates, len(data.models), trained)
        fresh = MoEQualityEstimator.from_dims(dims, slots).state_dict()
        sizes = {k: dims[k] for k in ("adapter_dim", "model_dim", "hidden", "dropout")}
        est_settings = {**s2.estimator.model_dump(), **sizes}
        est_data = {
            "x": data.train.emb, "quality": data.train.quality, "task": task, "x_dev": data.dev.emb,
            "quality_dev": data.dev.quality, "task_dev": assign(data.dev.emb), "slot_table": slots,
        }  # fmt: skip
        members = []
        for member, weights in enumerate(bundle.member_states()):  # each member's shared part, new task heads
            shared = {k: v for k, v in weights.items() if "task_heads" not in k and k != "slot_table"}
            resume = {"completed": ["general"], "phase": None, "progress": None, "model": {**fresh, **shared}}
            seed = member_seed(s2.seed, member)
            members.append(train_local("estimator", est_data, est_settings, seed=seed, resume_state=resume)["model"])
        meta = bundle.meta.with_updates(
            version="source-tasks", task_ids=tasks.task_ids.tolist(), routing_threshold=routing,
            classifier_threshold=threshold, classifier_dev=self.classifier_dev, prior=s2.prior.model_dump(),
            score_scale=s2.score_scale, calibration=None,
        )  # fmt: skip
        priors = stage1_priors(tasks, data.train.quality, s2.prior.statistic, s2.prior.shrinkage)
        parts = assemble_bundle(meta, classifier.state_dict(), members, priors, tasks.frame, bundle.extra_files)
        cal = calibrate(
            parts, data.dev, data.model_cost, alpha=s2.alpha, tolerance=s2.cost.tolerance, target_cost=None,
            alpha_objective=s2.alpha_objective, task_heads=s2.task_heads,
        )  # fmt: skip
        parts.meta = meta.with_updates(alpha=cal["alpha"], task_heads=cal["task_heads"], calibration=cal)
        return parts

    def scores(self, split: Split) -> np.ndarray:
        return self.router.fused_scores(self.embeddings(self.router, split))
