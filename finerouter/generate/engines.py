"""Responses of one candidate model: OpenAI-compatible endpoints via Ray Data + ChatClient, vLLM via ray.data.llm.

Each runner takes pending requests (key, messages_json) and returns one row per request:
(key, response, error, input_tokens, output_tokens, attempts). A failed request keeps its error.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd

from finerouter.batch import BatchStage, Resources, map_stage
from finerouter.describe.openai_client import ChatClient, read_api_key
from finerouter.describe.vllm_backend import run_engine
from finerouter.errors import FineRouterError
from finerouter.generate.config import CandidateModel, OpenAIEngine, VLLMEngine

log = logging.getLogger("finerouter.generate")
ENGINE_COLUMNS = ["key", "response", "error", "input_tokens", "output_tokens", "attempts"]


def where(model: CandidateModel) -> str:
    return f"generation.models[{model.name}].engine"


def _client(model: CandidateModel, api_key: str | None) -> ChatClient:
    assert isinstance(model.engine, OpenAIEngine)
    s = model.sampling
    return ChatClient(model.engine, s.max_tokens, s.temperature, api_key or "", s.request_fields(), where(model))


class OpenAIGenerate(BatchStage):
    """Calls the endpoint; I/O bound, so each actor runs `concurrency` requests at once (ChatClient's pool)."""

    input_columns = ("messages_json",)
    output_columns = ("response", "error", "input_tokens", "output_tokens", "attempts")

    def __init__(self, model: CandidateModel, api_key: str | None) -> None:
        super().__init__(Resources(num_cpus=0.5))
        self.model = model
        self.api_key = api_key  # read on the driver: workers may not have its environment
        self.client: ChatClient | None = None

    def setup(self) -> None:
        self.client = _client(self.model, self.api_key)

    def transform(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert self.client is not None
        results = self.client.complete_all([json.loads(m) for m in batch["messages_json"]])
        # An empty answer is the model's answer (graded 0), not a failure: only transport errors are retried.
        errors = [r.error or (None if r.text is not None else "no text in the response") for r in results]
        return {
            "response": np.array([r.text for r in results], dtype=object),
            "error": np.array(errors, dtype=object),
            "input_tokens": np.array([r.input_tokens for r in results], dtype=object),
            "output_tokens": np.array([r.output_tokens for r in results], dtype=object),
            "attempts": np.array([r.attempts for r in results], dtype=np.int64),
        }


def run_openai(pending: pd.DataFrame, model: CandidateModel) -> pd.DataFrame:
    import ray.data

    engine = model.engine
    assert isinstance(engine, OpenAIEngine)
    key = read_api_key(engine, where(model))
    try:
        _client(model, key).probe()  # a dead endpoint or a refused key: one error for every pending pair
    except FineRouterError as exc:
        log.warning("%s: %s; its %d pending pairs are recorded as failed", model.name, exc, len(pending))
        return failed_rows(pending, str(exc), attempts=0)
    frame = pd.DataFrame({"row": np.arange(len(pending)), "messages_json": pending["messages_json"].to_numpy()})
    stage = OpenAIGenerate(model, key)
    out = map_stage(ray.data.from_pandas(frame), stage, batch_size=max(engine.concurrency * 4, 16)).to_pandas()
    out = out.sort_values("row")
    return pd.DataFrame({"key": pending["key"].to_numpy(), **{c: out[c].to_numpy() for c in ENGINE_COLUMNS[1:]}})


def run_vllm(pending: pd.DataFrame, model: CandidateModel, retries: int) -> pd.DataFrame:
    """One engine pass, then up to `retries` passes over the rows it failed."""

    engine = model.engine
    assert isinstance(engine, VLLMEngine)
    s = model.sampling
    sampling: dict[str, Any] = {"max_tokens": s.max_tokens, "temperature": s.temperature, **s.request_fields()}
    requests = pd.DataFrame({"key": pending["key"].to_numpy(), "messages": pending["messages_json"].map(json.loads)})
    result = _from_engine(run_engine(requests, engine, sampling, where(model)), attempt=1)
    for attempt in range(2, retries + 2):
        retry = result["error"].notna().to_numpy()
        if not retry.any():
            break
        again = _from_engine(run_engine(requests[retry], engine, sampling, where(model)), attempt).set_index("key")
        result = result.set_index("key")
        result.loc[again.index, ENGINE_COLUMNS[1:]] = again[ENGINE_COLUMNS[1:]]
        result = result.reset_index()
    return result[ENGINE_COLUMNS]


def _from_engine(out: pd.DataFrame, attempt: int) -> pd.DataFrame:
    no_text = out["error"].isna() & ~out["generated"].map(lambda t: isinstance(t, str))
    return pd.DataFrame(
        {
            "key": out["key"].to_numpy(),
            "response": out["generated"].to_numpy(),
            "error": out["error"].where(~no_text, "no text returned by the engine").to_numpy(),
            "input_tokens": out["input_tokens"].to_numpy(),
            "output_tokens": out["output_tokens"].to_numpy(),
            "attempts": attempt,
        }
    )


def failed_rows(pending: pd.DataFrame, error: str, attempts: int) -> pd.DataFrame:
    """Every pending request failed with `error` (ENGINE_COLUMNS)."""
    frame = pd.DataFrame({"key": pending["key"].to_numpy()}).reindex(columns=ENGINE_COLUMNS)
    return frame.assign(error=error, attempts=attempts)


def run_model(pending: pd.DataFrame, model: CandidateModel, engine_retries: int) -> pd.DataFrame:
    if isinstance(model.engine, OpenAIEngine):
        return run_openai(pending, model)
    return run_vllm(pending, model, engine_retries)
