"""Stage-2 networks and training loops: stacked heads, two-phase freezing, the classifier, Ray Train with resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from finerouter.stage2.models import MoEQualityEstimator, StackedHeads, TaskClassifier, slot_table_for
from finerouter.stage2.ray_runner import train_local
from finerouter.stage2.session import LocalSession
from finerouter.stage2.training import train_estimator

SETTINGS = {"epochs": 5, "batch_size": 64, "lr": 3e-3, "task_lr": 3e-3, "weight_decay": 1e-4, "patience": 3,
            "adapter_dim": 16, "model_dim": 4, "hidden": 8, "dropout": 0.0}  # fmt: skip


def _problem(n: int = 400, dim: int = 12, n_models: int = 3, n_tasks: int = 3, seed: int = 0):
    """Prompts in task clusters; each task has its own best model."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_tasks, dim))
    task = rng.integers(0, n_tasks, size=n)
    x = (centres[task] + 0.3 * rng.normal(size=(n, dim))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    skill = rng.uniform(0.1, 0.9, size=(n_tasks, n_models))
    quality = (rng.random((n, n_models)) < skill[task]).astype(np.float64)
    quality[rng.random(quality.shape) < 0.05] = np.nan  # a few missing outcomes
    return x, quality, task, centres


def test_stacked_gather_equals_a_loop_over_heads() -> None:
    torch.manual_seed(0)
    heads = StackedHeads(n_heads=7, in_dim=10, hidden=5)
    z, index = torch.randn(30, 10), torch.randint(0, 7, (30,))

    def one(h: int, v: torch.Tensor) -> torch.Tensor:
        return torch.relu(v @ heads.w1[h] + heads.b1[h]) @ heads.w2[h] + heads.b2[h]

    looped = torch.stack([one(int(h), z[p]) for p, h in enumerate(index)])
    torch.testing.assert_close(heads.gathered(z, index), looped, rtol=1e-5, atol=1e-6)
    per_model = torch.randn(4, 7, 10)
    looped_all = torch.stack([torch.stack([one(h, per_model[b, h]) for h in range(7)]) for b in range(4)])
    torch.testing.assert_close(heads.all_heads(per_model), looped_all, rtol=1e-5, atol=1e-6)


def test_gathered_heads_in_chunks_equal_one_batch_with_the_same_gradients(monkeypatch) -> None:
    """Rows over GATHER_CHUNK are computed a chunk at a time (bounded memory), with the same values and gradients."""
    from finerouter.stage2 import models

    torch.manual_seed(1)
    heads = StackedHeads(n_heads=9, in_dim=12, hidden=6)
    z, index = torch.randn(1000, 12), torch.randint(0, 9, (1000,))
    outputs, grads = [], []
    for chunk in (10**9, 64):
        monkeypatch.setattr(models, "GATHER_CHUNK", chunk)
        heads.zero_grad()
        out = heads.gathered(z, index)
        out.square().sum().backward()
        outputs.append(out.detach())
        grads.append([p.grad.clone() for p in heads.parameters()])
    assert torch.equal(outputs[0], outputs[1])
    for whole, chunked in zip(*grads, strict=True):
        torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-6)


def test_task_heads_answer_only_for_candidates_of_the_assigned_task() -> None:
    slots = slot_table_for([[0, 2], [1]], n_models=3)
    assert slots.tolist() == [[0, -1, 1], [-1, 2, -1]]
    model = MoEQualityEstimator(8, 3, slots, adapter_dim=4, model_dim=2, hidden=3, dropout=0.0).eval()
    x, task = torch.randn(3, 8), torch.tensor([0, 1, -1])
    general, none_used = model(x)
    mixed, used = model(x, task)
    assert not none_used.any()
    assert used.tolist() == [[True, False, True], [False, True, False], [False, False, False]]
    torch.testing.assert_close(mixed[~used], general[~used])
    model.init_task_heads_from_general()  # task heads start as their model's general head
    torch.testing.assert_close(model(x, task)[0], general)


class _Capture(LocalSession):
    """Keeps a copy of the weights at the end of each phase."""

    def __init__(self) -> None:
        super().__init__()
        self.after: dict[str, dict[str, torch.Tensor]] = {}

    def report(self, metrics, state=None) -> None:
        super().report(metrics, state)
        if metrics["epoch"] == -1:
            self.after[metrics["phase"]] = {k: v.clone() for k, v in state["model"].items()}


def test_phase_two_leaves_shared_weights_unchanged() -> None:
    x, quality, task, _ = _problem()
    slots = slot_table_for([[0, 1], [1], [2, 0]], 3)
    data = {"x": x[:300], "quality": quality[:300], "task": task[:300], "x_dev": x[300:], "quality_dev": quality[300:],
            "task_dev": task[300:], "slot_table": slots}  # fmt: skip
    session = _Capture()
    state = train_estimator(data, {**SETTINGS, "patience": 10}, session)
    assert state["completed"] == ["general", "tasks"]
    general, final = session.after["general"], session.after["tasks"]
    shared = [k for k in final if not k.startswith("task_heads.")]
    assert shared and all(torch.equal(general[k], final[k]) for k in shared)
    assert not torch.equal(general["task_heads.w1"], final["task_heads.w1"])  # the task heads did train
    assert [h["phase"] for h in state["history"]].count("tasks") >= 1


def test_classifier_recovers_tasks_and_others_are_negative() -> None:
    x, _, task, centres = _problem(n=600)
    labels = np.where(np.arange(600) % 10 == 0, -1, task)  # some "Others" prompts: negative for every task
    vectors = (centres / np.linalg.norm(centres, axis=1, keepdims=True)).astype(np.float32)
    data = {"x": x[:500], "labels": labels[:500], "x_dev": x[500:], "labels_dev": labels[500:], "task_vectors": vectors}
    state = train_local("classifier", data, {**SETTINGS, "epochs": 15})
    model = TaskClassifier(vectors)
    model.load_state_dict(state["model"])
    assigned, conf = model.assign(torch.as_tensor(x[500:]), threshold=0.5)
    real = labels[500:] >= 0
    assert (assigned.numpy()[real] == labels[500:][real]).mean() > 0.9
    assert conf.shape == (100,) and float(conf.min()) >= 0.0


@pytest.mark.slow
def test_ray_train_runs_the_same_loop_and_resumes(ray_local, tmp_path) -> None:
    from finerouter.stage2.config import ScalingSettings
    from finerouter.stage2.ray_runner import train_on_ray

    x, quality, task, _ = _problem(n=201)
    slots = slot_table_for([[0], [1], [2]], 3)
    data = {"x": x[:151], "quality": quality[:151], "task": task[:151], "x_dev": x[151:], "quality_dev": quality[151:],
            "task_dev": task[151:], "slot_table": slots}  # fmt: skip
    # Two DDP workers on an odd number of prompts: the shards must still give both workers the same batches.
    kwargs = {"seed": 0, "scaling": ScalingSettings(num_workers=2), "storage_path": tmp_path, "name": "est"}
    state = train_on_ray("estimator", data, {**SETTINGS, "epochs": 3}, keep_storage=True, **kwargs)
    assert state["completed"] == ["general", "tasks"] and (tmp_path / "est").is_dir()
    epochs = len(state["history"])
    # Restarted with the same name and storage: resumes from the last checkpoint, so no epoch is trained again.
    again = train_on_ray("estimator", data, {**SETTINGS, "epochs": 3}, **kwargs)
    assert len(again["history"]) == epochs
    for key, value in state["model"].items():
        assert torch.equal(value, again["model"][key]), key
    assert not (tmp_path / "est").exists()  # removed once the run has succeeded


def test_an_ensemble_trains_seeded_members_and_resumes_inside_a_member() -> None:
    from finerouter.stage2.models import member_seed
    from finerouter.stage2.training import train_estimators

    x, quality, task, _ = _problem()
    slots = slot_table_for([[0, 1], [1], [2, 0]], 3)
    data = {"x": x[:300], "quality": quality[:300], "task": task[:300], "x_dev": x[300:], "quality_dev": quality[300:],
            "task_dev": task[300:], "slot_table": slots}  # fmt: skip
    settings = {**SETTINGS, "members": 3, "checkpoint_every": 1}
    session = LocalSession()
    ensemble = train_estimators(data, settings, session, seed=7)
    members = ensemble["members"]
    assert len(members) == 3 and all(m["completed"] == ["general", "tasks"] for m in members)
    assert [member_seed(7, i) for i in range(3)] == [7, 1007, 2007]
    alone = train_estimator(data, settings, LocalSession(), seed=7)  # member 0 is the single estimator
    assert all(torch.equal(alone["model"][k], v) for k, v in members[0]["model"].items())
    assert not torch.equal(members[0]["model"]["adapter.0.weight"], members[1]["model"]["adapter.0.weight"])
    assert {h["member"] for h in session.history} == {0, 1, 2}

    class Interrupt(LocalSession):  # stops the run at member 1's third checkpoint
        def report(self, metrics, state=None) -> None:
            super().report(metrics, state)
            if state is not None and metrics["member"] == 1 and metrics["epoch"] == 2:
                raise KeyboardInterrupt

    interrupted = Interrupt()
    with pytest.raises(KeyboardInterrupt):
        train_estimators(data, settings, interrupted, seed=7)
    import copy

    saved = copy.deepcopy(interrupted.last_state)
    assert len(saved["members"]) == 2 and saved["members"][1]["phase"] == "general"
    resumed = train_estimators(data, settings, LocalSession(saved), seed=7)
    for before, after in zip(members, resumed["members"], strict=True):
        assert all(torch.equal(before["model"][k], v) for k, v in after["model"].items())


def test_ray_train_poll_interval_is_set_for_the_fit_only(monkeypatch) -> None:
    import os

    from finerouter.stage2.ray_runner import POLL_ENV, train_poll_interval

    monkeypatch.delenv(POLL_ENV, raising=False)
    with train_poll_interval(0.1):
        assert os.environ[POLL_ENV] == "0.1"
    assert POLL_ENV not in os.environ
    monkeypatch.setenv(POLL_ENV, "3")
    with train_poll_interval(None):  # None keeps what the user set
        assert os.environ[POLL_ENV] == "3"
    with train_poll_interval(0.5):
        assert os.environ[POLL_ENV] == "0.5"
    assert os.environ[POLL_ENV] == "3"
