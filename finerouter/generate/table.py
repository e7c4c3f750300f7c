"""Scored generations as a RawTable, so they become a routing table through RoutingTable.build like any import.

Prompts rejected from the prompts file and pairs whose generation failed are `source` rejections (kept with
their reasons and counted); ok pairs are outcomes (quality from the grader, cost from tokens and prices).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from finerouter.data.table import RawTable
from finerouter.data.validate import rejected_frame

PROMPTS = "prompts.parquet"
MODELS = "models.parquet"
SCORED = "scored.parquet"
REJECTED = "rejected_prompts.parquet"


def raw_table(score_dir: Path) -> RawTable:
    prompts = pd.read_parquet(score_dir / PROMPTS)
    models = pd.read_parquet(score_dir / MODELS)
    scored = pd.read_parquet(score_dir / SCORED)
    rejected_prompts = pd.read_parquet(score_dir / REJECTED)
    ok = scored["status"] == "ok"
    failed = scored[~ok]
    reasons = "generation failed: " + failed["error"].fillna("no error recorded").astype(str)
    gen_rejected = rejected_frame("source", failed[["prompt_id", "model", "error", "attempts"]], reasons)
    outcomes = scored.loc[ok, ["prompt_id", "model", "quality", "cost", "response", "input_tokens", "output_tokens"]]
    mean_quality = outcomes.groupby("model")["quality"].mean()
    report = {
        "pairs": len(scored),
        "pairs_ok": int(ok.sum()),
        "pairs_failed": len(failed),
        "prompts_rejected_from_file": len(rejected_prompts),
        "tokens_missing": int(outcomes[["input_tokens", "output_tokens"]].isna().any(axis=1).sum()),
        "mean_quality_by_model": {str(k): round(float(v), 4) for k, v in mean_quality.items()},
        "grading": "quality = the grader configured for the prompt's source (generation.graders)",
    }  # fmt: skip
    rejected = pd.concat([rejected_prompts, gen_rejected], ignore_index=True)
    outcomes = outcomes.reset_index(drop=True)
    return RawTable(prompts[["prompt_id", "prompt", "source"]], models, outcomes, rejected, report)
