"""ResultStore: checkpoints of an interrupted run are reused; once folded into a completed output, removed."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from finerouter.generate.store import ResultStore


def result(prompt_id: str, status: str, at: float, request_hash: str = "h") -> dict:
    return {"prompt_id": prompt_id, "model": "m", "request_hash": request_hash, "status": status,
            "response": "7" if status == "ok" else None, "error": None if status == "ok" else "HTTP 503",
            "input_tokens": 3, "output_tokens": 1, "attempts": 1, "engine": "openai", "generated_at": at}  # fmt: skip


def test_interrupted_run_checkpoints_are_reused_then_folded(tmp_path: Path) -> None:
    output, cache = tmp_path / "generate" / "responses.parquet", tmp_path / ".generate-cache"
    crashed = ResultStore(output, cache, previous_finished=None)  # nothing completed yet
    crashed.checkpoint(pd.DataFrame([result("a", "ok", 1.0), result("b", "failed", 1.0)]))

    resumed = ResultStore(output, cache, previous_finished=None)
    ids, hashes = pd.Series(["a", "b", "c"]), pd.Series(["h", "h", "h"])
    assert list(resumed.reusable("m", hashes, ids)) == [True, False, False]
    assert list(resumed.reusable("m", pd.Series(["other", "h", "h"]), ids)) == [False, False, False]
    resumed.checkpoint(pd.DataFrame([result("b", "ok", 2.0)]))  # the retry succeeded: latest wins

    output.parent.mkdir()
    pd.concat([resumed.known, pd.DataFrame([result("b", "ok", 2.0)])]).drop_duplicates(
        ["prompt_id"], keep="last"
    ).to_parquet(output)
    later = ResultStore(output, cache, previous_finished=time.time() + 1)
    assert not list(cache.glob("part-*.parquet"))  # folded into the completed output, removed
    assert list(later.reusable("m", hashes, ids)) == [True, True, False]
