"""Configuration of the embedding stage."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from finerouter.config_model import ConfigModel
from finerouter.embed.encoder import DEFAULT_ENCODER


class EmbedConfig(ConfigModel):
    model_config = ConfigDict(extra="forbid")

    encoder: str = Field(DEFAULT_ENCODER, description="'minilm' (offline package) or a local model directory")
    batch_size: int = Field(64, ge=1)
    workers: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto",
        description="encoder actors; auto: as many as Ray's CPUs (and GPUs, with num_gpus > 0) hold at num_cpus "
        "(num_gpus) each",
    )
    num_cpus: float = Field(1.0, gt=0, description="CPUs per encoder actor; its torch threads")
    num_gpus: float = Field(0.0, ge=0, description="GPUs per encoder actor (0 = CPU)")
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "float32",
        description="auto: bfloat16 where the CPU (oneDNN) or GPU computes in it (faster), else float32. "
        "float32 by default: a bfloat16 embedding depends on its batch mates (up to ~1e-3 per component), so the "
        "bundle's encoder does not reproduce the rebuild's vectors, and training on them is not measured yet",
    )
    runtime: Literal["auto", "torch", "onnxruntime"] = Field(
        "auto", description="auto: torch (packed BERT); onnxruntime: CPU, float32 only (the `onnx` extra)"
    )
