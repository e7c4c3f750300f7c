"""The held-out check: tasks that carry real preference structure predict unseen prompts better than the mean."""

from __future__ import annotations

import numpy as np

from finerouter.discovery.quality import held_out_prediction


def test_tasks_with_distinct_winners_beat_the_global_mean_on_unseen_prompts() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(4, 16, dtype=np.float32)
    # Task t: model t succeeds with probability 0.9, the others with 0.3.
    p = np.full((4, 4), 0.3) + 0.6 * np.eye(4)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        task = rng.integers(0, 4, n)
        emb = centres[task] + 0.05 * rng.normal(size=(n, 16)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        return emb, task, (rng.random((n, 4)) < p[task]).astype(float)

    train_emb, train_task, train_q = sample(400)
    held_emb, _, held_q = sample(200)
    held_q[0, 1] = np.nan  # a missing outcome is ignored, not scored
    labels = train_task.copy()
    labels[:20] = -1  # some train prompts in Others
    result = held_out_prediction(train_emb, labels, train_q, held_emb, held_q)
    assert result["held_out_prompts"] == 200 and result["assigned_to_others"] < 0.1
    assert result["brier_task"] < result["brier_global"] - 0.05
    assert result["top_model_quality_task"] > result["top_model_quality_global"] + 0.3
    # A grouping unrelated to the structure predicts no better than the global mean.
    shuffled = rng.permutation(labels)
    noise = held_out_prediction(train_emb, shuffled, train_q, held_emb, held_q)
    assert noise["brier_task"] > result["brier_task"] + 0.05
    assert held_out_prediction(train_emb[:0], labels[:0], train_q[:0], held_emb, held_q) == {}


def test_held_out_assignment_equals_the_dense_vote(monkeypatch) -> None:
    from finerouter.discovery import quality

    rng = np.random.default_rng(3)
    train_emb = rng.normal(size=(250, 12)).astype(np.float32)
    train_emb /= np.linalg.norm(train_emb, axis=1, keepdims=True)
    held_emb = rng.normal(size=(60, 12)).astype(np.float32)
    held_emb /= np.linalg.norm(held_emb, axis=1, keepdims=True)
    labels = rng.integers(-1, 5, size=250)
    train_q, held_q = rng.random((250, 4)), rng.random((60, 4))
    result = held_out_prediction(train_emb, labels, train_q, held_emb, held_q)

    def dense_top_k(queries, base, k):
        return np.argsort(-(queries @ base.T), axis=1, kind="stable")[:, : min(k, len(base))]

    def bincount_votes(votes):
        return np.array([np.bincount(row, minlength=votes.max() + 1).argmax() for row in votes])

    monkeypatch.setattr(quality, "top_k_inner_product", dense_top_k)
    monkeypatch.setattr(quality, "majority_smallest", bincount_votes)
    assert held_out_prediction(train_emb, labels, train_q, held_emb, held_q) == result


def test_held_out_check_over_a_cap_is_a_seeded_sample() -> None:
    rng = np.random.default_rng(4)
    train_emb = rng.normal(size=(300, 8)).astype(np.float32)
    held_emb = rng.normal(size=(90, 8)).astype(np.float32)
    labels = rng.integers(-1, 4, size=300)
    train_q, held_q = rng.random((300, 3)), rng.random((90, 3))
    full = held_out_prediction(train_emb, labels, train_q, held_emb, held_q, sample=90)
    assert full["held_out_prompts"] == 90 and "held_out_of" not in full  # at the cap: every prompt, as before
    assert held_out_prediction(train_emb, labels, train_q, held_emb, held_q) == full
    sampled = held_out_prediction(train_emb, labels, train_q, held_emb, held_q, sample=30, seed=7)
    assert sampled["held_out_prompts"] == 30 and sampled["held_out_of"] == 90
    rows = np.sort(np.random.default_rng(7).choice(90, 30, replace=False))
    assert held_out_prediction(train_emb, labels, train_q, held_emb[rows], held_q[rows]) == {
        k: v for k, v in sampled.items() if k != "held_out_of"
    }  # the prediction on exactly those prompts
    assert held_out_prediction(train_emb, labels, train_q, held_emb, held_q, sample=30, seed=7) == sampled
