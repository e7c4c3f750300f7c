"""Generation results keyed by (prompt_id, model), kept across runs so a rerun generates only what is missing.

A result is reused when it succeeded for the same request: the same messages, sampling and engine identity
(`request_hash`; run-time knobs such as concurrency, rate limits and retries are left out). Failed results
are kept with their error and generated again on the next run.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from finerouter.fingerprint import fingerprint_value
from finerouter.generate.config import CandidateModel

RESPONSE_COLUMNS = [
    "prompt_id", "model", "request_hash", "status", "response", "error",
    "input_tokens", "output_tokens", "attempts", "engine", "generated_at",
]  # fmt: skip
RUNTIME_FIELDS = {"concurrency", "qps", "max_retries", "retry_wait_s", "timeout_s", "api_key_env", "batch_size"}
RUNTIME_FIELDS |= {"num_gpus"}


def engine_identity(model: CandidateModel) -> dict:
    """What decides a model's answers: the engine without its run-time knobs, and the sampling."""
    engine = model.engine.model_dump(exclude=RUNTIME_FIELDS)
    return {"engine": engine, "sampling": model.sampling.model_dump()}


def request_hashes(model: CandidateModel, messages_json: pd.Series) -> pd.Series:
    identity = fingerprint_value(engine_identity(model))
    return messages_json.map(lambda m: fingerprint_value([identity, m])[:32])


def empty_results() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in RESPONSE_COLUMNS})


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reindex(columns=RESPONSE_COLUMNS)
    for col in ("input_tokens", "output_tokens", "attempts"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
    out["generated_at"] = pd.to_numeric(out["generated_at"], errors="coerce").astype("float64")
    return out


class ResultStore:
    """The previous completed output plus checkpoints of an interrupted run (`cache_dir`, owned by the stage)."""

    def __init__(self, previous_output: Path, cache_dir: Path, previous_finished: float | None) -> None:
        self.cache_dir = cache_dir
        frames = [pd.read_parquet(previous_output)] if previous_output.is_file() else []
        cache_dir.mkdir(parents=True, exist_ok=True)
        for part in sorted(cache_dir.glob("part-*.parquet")):
            if previous_finished is not None and part.stat().st_mtime < previous_finished and frames:
                part.unlink()  # folded into the completed output already
                continue
            frames.append(pd.read_parquet(part))
        known = normalise(pd.concat(frames, ignore_index=True)) if frames else normalise(empty_results())
        # Latest attempt per pair wins.
        known = known.sort_values("generated_at", kind="stable").drop_duplicates(["prompt_id", "model"], keep="last")
        self.known = known.reset_index(drop=True)
        self.parts = 0

    def reusable(self, model: str, hashes: pd.Series, prompt_ids: pd.Series) -> pd.Series:
        """Mask over prompt_ids: a successful result for exactly this request exists."""
        ok = self.known[(self.known["model"] == model) & (self.known["status"] == "ok")]
        good = set(zip(ok["prompt_id"], ok["request_hash"], strict=True))
        return pd.Series([(p, h) in good for p, h in zip(prompt_ids, hashes, strict=True)], index=prompt_ids.index)

    def previous(self, model: str, prompt_ids: pd.Series) -> pd.DataFrame:
        rows = self.known[(self.known["model"] == model) & self.known["prompt_id"].isin(set(prompt_ids))]
        return rows.reset_index(drop=True)

    def checkpoint(self, results: pd.DataFrame) -> None:
        """Write a finished batch at once, so an interrupted run loses none of it."""
        self.parts += 1
        path = self.cache_dir / f"part-{time.time_ns()}-{self.parts:05d}.parquet"
        normalise(results).to_parquet(path, index=False)
