"""How a list of texts is cut into encoder batches."""

from __future__ import annotations


def length_buckets(
    texts: list[str], batch_size: int, ratio: float = 2.0, floor: int = 64, pads: bool = True
) -> list[list[int]]:
    """Indices of `texts` sorted by length (longest first) and cut every `batch_size`. For an encoder that pads a
    batch to its longest text (`pads`), also where the batch's longest is over `ratio` times this text and over
    `ratio` * `floor` characters: one long prompt would make a whole batch of short ones pay for its length."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    batches: list[list[int]] = []
    for i in order:
        if (
            batches
            and len(batches[-1]) < batch_size
            and (not pads or len(texts[batches[-1][0]]) <= ratio * max(len(texts[i]), floor))
        ):
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches
