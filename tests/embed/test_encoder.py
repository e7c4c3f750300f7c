"""The sentence encoder: float32 reproduces itself; bfloat16 stays close to it; bad dtypes fail with the choices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from finerouter.embed.encoder import encode
from finerouter.errors import ConfigError

TEXTS = [
    "What is the derivative of x^3 + 2x?",
    "Write a python function that parses ISO 8601 dates and returns a datetime.",
    "Which of the following best describes the role of mitochondria in a cell? A) energy B) storage C) transport",
    "Translate 'good morning, how are you?' into French.",
]

bf16_cpu = pytest.mark.skipif(
    not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()),
    reason="this CPU has no AVX512-BF16/AMX, so the bfloat16 encoder is refused here",
)


def test_float32_embeddings_are_unit_norm_and_deterministic() -> None:
    a, b = encode(TEXTS), encode(list(reversed(TEXTS)))[::-1]
    assert a.dtype == np.float32 and a.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-5)


@bf16_cpu
def test_bfloat16_embeddings_stay_close_to_float32() -> None:
    full, half = encode(TEXTS), encode(TEXTS, dtype="bfloat16")
    assert half.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(half, axis=1), 1.0, atol=1e-5)
    cosine = (full * half).sum(axis=1)
    assert cosine.min() > 0.999
    # Still the same geometry: each text's nearest float32 neighbour is itself.
    assert (np.argmax(half @ full.T, axis=1) == np.arange(len(TEXTS))).all()


def test_unknown_dtype_names_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"'float16' is not supported; valid: float32, bfloat16"):
        encode(TEXTS, dtype="float16")
