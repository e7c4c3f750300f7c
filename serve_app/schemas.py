"""Request and response bodies of the HTTP API (they make the served OpenAPI spec)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from serve_app.text import check_text_parts, reject_unencodable

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]
ModelName = Annotated[str, Field(min_length=1, max_length=256)]


class ChatMessage(BaseModel):
    """An OpenAI chat message; fields other than role/content are kept and forwarded untouched."""

    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | list[dict[str, Any]] | None = None

    @field_validator("content")
    @classmethod
    def _text_parts_hold_text(cls, content: Any) -> Any:
        check_text_parts(content)
        return content


class _TextBody(BaseModel):
    """A request body: every string and key in it must be UTF-8 encodable (serve_app/text.py), else a 400."""

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        reject_unencodable(data)
        return data


def _exactly_one_input(schema: dict[str, Any]) -> None:
    """The OpenAPI schema of RouteRequest says what `_one_input` checks: exactly one of `prompt` / `messages`."""
    for name in ("prompt", "messages"):
        field = schema["properties"][name]
        field.update(next(option for option in field.pop("anyOf") if option.get("type") != "null"))
        field.pop("default", None)
    schema["oneOf"] = [{"required": ["prompt"]}, {"required": ["messages"]}]
    schema["examples"] = [{"prompt": "Write a python function that merges two sorted lists."},
                          {"messages": [{"role": "user", "content": "What is 17 * 23?"}], "tolerance": 0.05,
                           "max_cost": 0.5},
                          {"prompt": "Summarise the French revolution.", "willingness": 0.5}]  # fmt: skip


class RouteRequest(_TextBody):
    """Give exactly one of `prompt` or `messages`. With `messages`, the last `user` turn is what gets routed."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one_input)

    prompt: str | None = Field(None, description="the text to route")
    messages: list[ChatMessage] | None = Field(
        None, min_length=1, description="OpenAI-style turns; the last `user` turn is routed, earlier turns are ignored"
    )
    tolerance: float | None = Field(
        None, ge=0, description="cheapest model whose score is within this of the best (default: the bundle's)"
    )
    willingness: float | None = Field(
        None,
        ge=0,
        description="lambda, instead of a tolerance: the model with the best score - lambda * cost / dearest cost "
        "(the curve the bundle's alpha is tuned on); not together with `tolerance`",
    )
    max_cost: float | None = Field(None, ge=0, description="only models whose expected cost per call is <= this")
    models: list[ModelName] | None = Field(None, min_length=1, description="allowed subset of the pool")

    @model_validator(mode="after")
    def _one_input(self) -> RouteRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of `prompt` or `messages`")
        return self


class TaskInfo(BaseModel):
    id: int | None = Field(description="the latent task assigned to the prompt; null when none fits ('no task')")
    summary: str | None
    confidence: float


class RouteResponse(BaseModel):
    model: str
    task: TaskInfo
    scores: dict[str, float] = Field(
        description="fused score of every model considered, higher is better (in predicted-quality units, or in [0, 1] "
        "per prompt for a bundle with score_scale minmax)"
    )
    estimated_cost: float | None
    cost_unit: str
    bundle_version: str
    routed_from: str = Field(description="`prompt`, or `messages[i]`: the turn that was routed")
    request_id: str


class ChatCompletionRequest(_TextBody):
    """The OpenAI chat-completions body. `model`: `finerouter`, `finerouter:tolerance=0.1,max_cost=2e-4` (or
    `willingness=0.5` instead of `tolerance`), or a pool model with an upstream (no routing). Every other field is
    forwarded to the chosen upstream unchanged."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"model": "finerouter:tolerance=0.1", "stream": False,
                                         "messages": [{"role": "user", "content": "Explain quicksort briefly."}]}]},
    )  # fmt: skip

    model: ModelName
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="Unix seconds when the served bundle was written")
    owned_by: str
    expected_cost: float | None = None
    cost_unit: str | None = None
    has_upstream: bool = False


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
    bundle_version: str


class Health(BaseModel):
    status: Literal["ok"]
    bundle_version: str
    models: int


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None
    upstream_status: int | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail
    request_id: str | None = None
