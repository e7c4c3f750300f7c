"""Dev labels from the nearest train prompts: the blockwise version equals the dense one it replaced."""

from __future__ import annotations

import numpy as np

from finerouter.stage2.data import propagate_labels


def _dense_reference(train_emb: np.ndarray, labels: np.ndarray, emb: np.ndarray, k: int) -> np.ndarray:
    nearest = np.argsort(-(emb @ train_emb.T), axis=1, kind="stable")[:, : min(k, len(train_emb))]
    out = np.empty(len(emb), dtype=np.int64)
    for i, row in enumerate(labels[nearest]):
        values, counts = np.unique(row, return_counts=True)
        winners = set(values[counts == counts.max()])
        out[i] = next(v for v in row if v in winners)
    return out


def test_propagate_labels_equals_the_dense_vote() -> None:
    rng = np.random.default_rng(0)
    train = rng.integers(-2, 3, size=(300, 8)).astype(np.float32)
    train[100:150] = train[:50]  # duplicate prompts: tied similarities
    dev = np.vstack([rng.integers(-2, 3, size=(80, 8)).astype(np.float32), train[:20]])
    labels = rng.integers(-1, 6, size=len(train))
    for k in (1, 4, 10, 400):
        assert np.array_equal(propagate_labels(train, labels, dev, k), _dense_reference(train, labels, dev, k))
