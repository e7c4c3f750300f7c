"""Grade generated responses with each source's configured grader; cost per call from tokens and prices."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from finerouter.data.prices import PriceTable
from finerouter.generate.config import GenerationConfig
from finerouter.scoring import grade

SCORED_COLUMNS = [
    "prompt_id", "model", "status", "quality", "grade_reason", "response", "error",
    "input_tokens", "output_tokens", "cost", "attempts", "engine",
]  # fmt: skip


def _grade_one(args: tuple[str, str | None, str, dict]) -> tuple[float, str | None]:
    # A HumanEval completion is joined to its function through the reference's own `prompt` / `entry_point`.
    grader, response, reference_json, options = args
    result = grade(grader, response, json.loads(reference_json), **options)
    return result.score, result.reason


def score(cfg: GenerationConfig, requests: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """One row per result: ok ones graded (quality in [0, 1] with the grader's reason), failed ones left unscored."""
    merged = results.merge(requests, on="prompt_id", how="left", validate="many_to_one")
    ok = (merged["status"] == "ok").to_numpy()
    jobs = [
        (
            row.grader,
            row.response,
            row.reference_json,
            {**cfg.graders[row.source].options, **cfg.scoring.grader_options(row.grader)},
        )
        for row in merged[ok].itertuples(index=False)
    ]
    with ThreadPoolExecutor(max_workers=cfg.grading_workers) as pool:
        graded = list(pool.map(_grade_one, jobs))
    quality = np.full(len(merged), np.nan)
    reasons = np.full(len(merged), None, dtype=object)
    quality[ok] = [q for q, _ in graded]
    reasons[ok] = [r for _, r in graded]
    merged["quality"] = quality
    merged["grade_reason"] = reasons
    prices = PriceTable(prices={m.name: m.prices for m in cfg.models})
    merged["cost"] = np.nan
    for model, rows in merged.groupby("model").groups.items():
        tokens_in = merged.loc[rows, "input_tokens"].astype("Float64")
        tokens_out = merged.loc[rows, "output_tokens"].astype("Float64")
        merged.loc[rows, "cost"] = prices.call_cost(str(model), tokens_in, tokens_out).astype("float64").to_numpy()
    return merged[SCORED_COLUMNS]
