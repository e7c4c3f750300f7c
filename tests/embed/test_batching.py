"""Encoder batches: every text once, sorted by length, and a padded batch's spread of lengths bounded."""

from __future__ import annotations

from finerouter.embed.batching import length_buckets

TEXTS = ["a" * n for n in (10, 500, 70, 2_000, 65, 130, 129, 900, 40)]


def test_padded_batches_cover_every_text_once_and_bound_the_spread() -> None:
    batches = length_buckets(TEXTS, batch_size=64)
    assert sorted(i for b in batches for i in b) == list(range(len(TEXTS)))
    for batch in batches:
        lengths = [len(TEXTS[i]) for i in batch]
        assert lengths == sorted(lengths, reverse=True) and max(lengths) <= 2 * max(min(lengths), 64)
    assert [[len(TEXTS[i]) for i in b] for b in batches] == [[2_000], [900, 500], [130, 129, 70, 65], [40, 10]]


def test_unpadded_batches_cut_at_batch_size_only() -> None:
    batches = length_buckets(TEXTS, batch_size=4, pads=False)
    assert [[len(TEXTS[i]) for i in b] for b in batches] == [[2_000, 900, 500, 130], [129, 70, 65, 40], [10]]
    assert length_buckets([], batch_size=4) == []
