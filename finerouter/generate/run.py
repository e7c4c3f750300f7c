"""Generate every (prompt, model) pair that has no successful result for the same request yet.

Pending pairs go to the engine in batches of `checkpoint_rows`; each finished batch is checkpointed. An engine
that raises (a vLLM engine that cannot start, a lost Ray actor) fails its batch, recorded with the error, and
the run goes on. When every pair of a batch failed, the model's remaining batches are not sent (recorded failed,
`attempts` 0): a dead endpoint is not hammered, and the next run tries again.
"""

from __future__ import annotations

import logging
import time

import pandas as pd

from finerouter.errors import FineRouterError
from finerouter.generate.config import CandidateModel, GenerationConfig
from finerouter.generate.engines import failed_rows, run_model
from finerouter.generate.store import ResultStore, normalise, request_hashes

log = logging.getLogger("finerouter.generate")


def generate_all(cfg: GenerationConfig, requests: pd.DataFrame, store: ResultStore) -> tuple[pd.DataFrame, dict]:
    """(results, stats): one row per request x model, reused or generated now (ok or failed with its error)."""
    frames: list[pd.DataFrame] = []
    stats: dict[str, dict[str, int]] = {}
    for model in cfg.models:
        hashes = request_hashes(model, requests["messages_json"])
        reuse = store.reusable(model.name, hashes, requests["prompt_id"])
        kept = store.previous(model.name, requests["prompt_id"][reuse])
        kept = kept[kept["request_hash"].isin(set(hashes[reuse]))]
        todo = requests[~reuse]
        pending = pd.DataFrame(
            {"key": todo["prompt_id"], "messages_json": todo["messages_json"], "request_hash": hashes[~reuse]}
        ).reset_index(drop=True)
        log.info("%s (%s): %d pairs reused, %d to generate", model.name, model.engine.kind, len(kept), len(pending))
        generated = _generate_model(model, pending, cfg, store)
        frames.extend([kept, generated])
        failed = int((generated["status"] == "failed").sum())
        stats[model.name] = {"reused": len(kept), "generated": len(pending) - failed, "failed": failed}
        if failed:
            first = generated.loc[generated["status"] == "failed", "error"].iloc[0]
            log.warning("%s: %d pairs failed (kept with their error, retried next run); first: %s",
                        model.name, failed, first)  # fmt: skip
    return normalise(pd.concat(frames, ignore_index=True)), stats


def _generate_model(
    model: CandidateModel, pending: pd.DataFrame, cfg: GenerationConfig, store: ResultStore
) -> pd.DataFrame:
    batches: list[pd.DataFrame] = []
    stop_reason: str | None = None
    for start in range(0, len(pending), cfg.checkpoint_rows):
        chunk = pending.iloc[start : start + cfg.checkpoint_rows]
        if stop_reason:
            done = failed_rows(chunk, stop_reason, attempts=0)
        else:
            done = _run_batch(chunk, model, cfg.engine_retries)
        results = _results(chunk, done, model)
        store.checkpoint(results)
        batches.append(results)
        if stop_reason is None and (results["status"] == "failed").all() and start + len(chunk) < len(pending):
            stop_reason = f"not sent: all {len(chunk)} requests of the batch before failed ({results['error'].iloc[0]})"
            log.warning("%s: %s; the remaining %d pairs are recorded failed without a call",
                        model.name, stop_reason, len(pending) - start - len(chunk))  # fmt: skip
    return pd.concat(batches, ignore_index=True) if batches else normalise(pd.DataFrame())


def _run_batch(chunk: pd.DataFrame, model: CandidateModel, engine_retries: int) -> pd.DataFrame:
    try:
        return run_model(chunk[["key", "messages_json"]], model, engine_retries)
    except FineRouterError:
        raise  # set-up problems (a missing package, an unset API key) stop the run with their message
    except Exception as exc:  # the engine itself failed: this batch fails, recorded, the run goes on
        log.exception("%s: the %s engine failed on a batch of %d pairs", model.name, model.engine.kind, len(chunk))
        return failed_rows(chunk, f"engine error: {type(exc).__name__}: {str(exc)[:400]}", attempts=1)


def _results(chunk: pd.DataFrame, done: pd.DataFrame, model: CandidateModel) -> pd.DataFrame:
    results = normalise(
        pd.DataFrame(
            {
                "prompt_id": chunk["key"].to_numpy(),
                "model": model.name,
                "request_hash": chunk["request_hash"].to_numpy(),
                "status": done["error"].map(lambda e: "failed" if isinstance(e, str) else "ok").to_numpy(),
                "response": done["response"].to_numpy(),
                "error": done["error"].to_numpy(),
                "input_tokens": done["input_tokens"].to_numpy(),
                "output_tokens": done["output_tokens"].to_numpy(),
                "attempts": done["attempts"].to_numpy(),
                "engine": model.engine.kind,
                "generated_at": time.time(),
            }
        )
    )
    results.loc[results["status"] == "failed", "response"] = None
    return results
