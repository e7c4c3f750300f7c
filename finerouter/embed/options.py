"""The encoder's runtimes and the dtypes each runs it in, checked before an encoder loads."""

from __future__ import annotations

from finerouter.errors import ConfigError

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
