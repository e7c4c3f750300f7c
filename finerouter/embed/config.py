"""Configuration of the embedding stage."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from finerouter.embed.encoder import DEFAULT_ENCODER


class EmbedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    encoder: str = Field(DEFAULT_ENCODER, description="'minilm' (offline package) or a local model directory")
    batch_size: int = Field(64, ge=1)
    workers: int = Field(1, ge=1, description="encoder actors")
    num_cpus: float = Field(1.0, gt=0, description="CPUs per encoder actor")
    num_gpus: float = Field(0.0, ge=0, description="GPUs per encoder actor (0 = CPU)")
