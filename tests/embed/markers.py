"""Skip markers shared by the encoder tests."""

from __future__ import annotations

import pytest
import torch

bf16_cpu = pytest.mark.skipif(
    not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()),
    reason="this CPU has no AVX512-BF16/AMX, so the bfloat16 encoder is refused here",
)
