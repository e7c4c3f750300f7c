"""What this machine runs an encoder fastest with, and how many encoder actors a Ray cluster holds.

One rule for serving and the rebuild: torch bfloat16 where the hardware multiplies in it (oneDNN on CPUs with
AVX512-BF16 or AMX, CUDA GPUs with bfloat16), else float32. Serving, which encodes one prompt at a time, also
prefers ONNX Runtime float32 when it is installed (`choose_encoder`); the rebuild encodes large batches, where
the packed torch encoder is faster than ONNX Runtime (126 vs 96 prompts/s in batches of 32, docs/benchmarks.md),
so `choose_batch_encoder` never picks it by itself. Every choice carries its reason, for the log.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Literal

from finerouter.errors import ConfigError

AUTO = "auto"
BF16_CPU = "oneDNN reports bfloat16 support on this CPU (AVX512-BF16/AMX)"


@dataclass(frozen=True)
class EncoderChoice:
    runtime: str
    dtype: str
    reason: str

    def describe(self, hint: str = "") -> str:
        return f"prompt encoder: {self.runtime} {self.dtype} ({self.reason}{'; ' + hint if hint else ''})"


def onednn_bfloat16() -> bool:
    """Whether torch's oneDNN multiplies in bfloat16 on this CPU (AVX512-BF16 or AMX): the same test the encoder
    applies when it loads (finerouter.embed.encoder.check_encoder_options)."""
    import torch

    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def cuda_bfloat16() -> bool:
    """Whether this process sees a CUDA GPU that computes in bfloat16 (Ampere or newer)."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def onnxruntime_installed() -> bool:
    """onnxruntime and onnx (the `onnx` extra): what encoder_runtime onnxruntime needs, found without importing."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def choose_encoder(runtime: str | None, dtype: str | None) -> EncoderChoice:
    """Serving (one prompt at a time). `runtime` / `dtype` as given (None: not given). Unset parts get the fastest
    choice the given ones allow: torch bfloat16 where oneDNN supports it (11 ms at c=1, 236 routes/s at c=32 on one
    replica), else ONNX Runtime float32 if installed (14 ms, 139 routes/s), else torch float32."""
    if runtime is not None and dtype is not None:
        return EncoderChoice(runtime, dtype, "as configured")
    bfloat16 = onednn_bfloat16()
    onnx = onnxruntime_installed()
    if runtime == "onnxruntime" or dtype == "bfloat16":
        given = "encoder_runtime onnxruntime" if dtype is None else "encoder_dtype bfloat16"
        return EncoderChoice(runtime or "torch", dtype or "float32", f"{given} as configured")
    if runtime is None and dtype is None and bfloat16:
        return EncoderChoice("torch", "bfloat16", BF16_CPU)
    if runtime == "torch":
        why = "oneDNN reports bfloat16 support" if bfloat16 else "oneDNN reports no bfloat16 support on this CPU"
        return EncoderChoice(
            "torch", "bfloat16" if bfloat16 else "float32", f"encoder_runtime torch as configured; {why}"
        )
    no_bf16 = "float32 as configured" if dtype == "float32" else "oneDNN reports no bfloat16 support on this CPU"
    if onnx:
        return EncoderChoice("onnxruntime", "float32", f"{no_bf16}; ONNX Runtime is installed and is faster in float32")
    return EncoderChoice(
        "torch", "float32", f"{no_bf16}; ONNX Runtime is not installed (pip install -e '.[onnx]': faster in float32)"
    )


def choose_batch_encoder(runtime: str, dtype: str, device: Literal["cpu", "cuda"]) -> EncoderChoice:
    """The rebuild (large batches). `runtime` / `dtype`: a value or "auto". auto dtype: bfloat16 where `device`
    multiplies in it, else float32; auto runtime: torch (ONNX Runtime has no bfloat16 and is slower in batches)."""
    chosen_runtime = "torch" if runtime == AUTO else runtime
    if dtype != AUTO:
        return EncoderChoice(chosen_runtime, dtype, "as configured" if runtime != AUTO else "dtype as configured")
    if chosen_runtime == "onnxruntime":
        return EncoderChoice("onnxruntime", "float32", "runtime onnxruntime as configured: it runs float32 only")
    if device == "cuda":
        if cuda_bfloat16():
            return EncoderChoice(chosen_runtime, "bfloat16", "this GPU computes in bfloat16")
        return EncoderChoice(
            chosen_runtime, "float32", "no CUDA GPU with bfloat16 visible to the driver (set embed.dtype to choose)"
        )
    if onednn_bfloat16():
        return EncoderChoice(
            chosen_runtime, "bfloat16", "oneDNN reports bfloat16 support on this CPU (AVX512-BF16/AMX)"
        )
    return EncoderChoice(chosen_runtime, "float32", "oneDNN reports no bfloat16 support on this CPU")


@dataclass(frozen=True)
class ActorPlan:
    """How many actors of a batch stage run at once, and why."""

    workers: int
    reason: str


def plan_actors(
    workers: int | str, num_cpus: float, num_gpus: float, available: dict[str, float], what: str = "actors"
) -> ActorPlan:
    """`workers` "auto": as many actors as `available` (Ray's CPUs, and GPUs when an actor needs some) holds at
    `num_cpus` / `num_gpus` each. A number is taken as given."""
    if workers != AUTO:
        return ActorPlan(int(workers), "as configured")
    cpus = float(available.get("CPU", 0.0))
    fits = {"CPU": math.floor(cpus / num_cpus + 1e-9)} if num_cpus > 0 else {}
    if num_gpus > 0:
        fits["GPU"] = math.floor(float(available.get("GPU", 0.0)) / num_gpus + 1e-9)
    if not fits:
        raise ConfigError(f"workers: auto needs {what} that ask for CPUs or GPUs (num_cpus and num_gpus are both 0)")
    count = min(fits.values())
    offered = ", ".join(f"{available.get(k, 0.0):g} {k}" for k in fits)
    need = " + ".join(f"{v:g} {k}" for k, v in (("CPU", num_cpus), ("GPU", num_gpus)) if v > 0)
    if count < 1:
        raise ConfigError(
            f"workers: auto: Ray offers {offered}, not enough for one of the {what} ({need} each); lower "
            "num_cpus / num_gpus or give Ray more resources"
        )
    return ActorPlan(count, f"auto: Ray offers {offered}, {need} per actor")


def torch_threads(num_cpus: float) -> int:
    """Intra-op threads of a torch model in an actor that holds `num_cpus` CPUs."""
    return max(1, int(num_cpus))
