"""Generate every (prompt, model) pair that has no successful result for the same request yet."""

from __future__ import annotations

import logging
import time

import pandas as pd

from finerouter.generate.config import GenerationConfig
from finerouter.generate.engines import run_model
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
        frames.append(kept)
        new: list[pd.DataFrame] = []
        for start in range(0, len(pending), cfg.checkpoint_rows):
            chunk = pending.iloc[start : start + cfg.checkpoint_rows]
            done = run_model(chunk[["key", "messages_json"]], model, cfg.engine_retries)
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
            store.checkpoint(results)
            new.append(results)
        frames.extend(new)
        generated = pd.concat(new, ignore_index=True) if new else normalise(pd.DataFrame())
        failed = int((generated["status"] == "failed").sum())
        stats[model.name] = {"reused": len(kept), "generated": len(pending) - failed, "failed": failed}
        if failed:
            first = generated.loc[generated["status"] == "failed", "error"].iloc[0]
            log.warning("%s: %d pairs failed (kept with their error, retried next run); first: %s",
                        model.name, failed, first)  # fmt: skip
    results = pd.concat(frames, ignore_index=True) if frames else normalise(pd.DataFrame())
    return normalise(results), stats
