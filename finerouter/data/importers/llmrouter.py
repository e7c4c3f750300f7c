"""`llmrouter`: LLMRouter's dcrouter_preprocessed scores, joined to its query data and candidate prices.

Source layout (ulab-uiuc/LLMRouter): `data/dcrouter_preprocessed/{train,test}.json`,
`data/example_data/query_data/default_query_{train,test}.jsonl` (task_name per query) and
`data/example_data/llm_candidates/default_llm.json` (USD per 1M tokens per model).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from finerouter.data.importers import ImportOptions
from finerouter.data.importers.dcrouter_json import (
    ParsedRecords,
    load_json_records,
    parse_records,
    to_raw_table,
)
from finerouter.data.table import RawTable
from finerouter.data.textio import read_json, read_jsonl
from finerouter.errors import DataError

SCORES = "data/dcrouter_preprocessed/{split}.json"
QUERIES = "data/example_data/query_data/default_query_{split}.jsonl"
CANDIDATES = "data/example_data/llm_candidates/default_llm.json"


def import_llmrouter(sources: list[Path], options: ImportOptions) -> RawTable:
    if len(sources) != 1 or not sources[0].is_dir():
        raise DataError("llmrouter: give exactly one directory, the LLMRouter checkout (holding data/)")
    root = sources[0]
    if not (root / SCORES.format(split="train")).exists() and (root / "llmrouter" / "data").is_dir():
        root = root / "llmrouter"
    parsed = ParsedRecords()
    task_of: dict[str, dict[str, list[str]]] = {
        s: _task_names(root / QUERIES.format(split=s)) for s in ("train", "test")
    }
    report: dict[str, object] = {"root": str(root)}
    for split in ("train", "test"):
        file = root / SCORES.format(split=split)
        if not file.exists():
            raise DataError(f"llmrouter: {file} not found (expected LLMRouter's dcrouter_preprocessed files)")
        start = len(parsed.prompts)
        parse_records(load_json_records(file), file=file, split=split, id_prefix=f"llmrouter/{split}/", out=parsed)
        report[f"{split}_records"] = len(parsed.prompts) - start
    ambiguous, unlabelled = _label_sources(parsed, task_of)
    report["task_label_ambiguous"] = ambiguous
    report["task_label_rule"] = (
        "task_name from the query file of the same split (else the other); when a question is listed under "
        "several task names the first in file order is used"
    )
    report["task_label_missing"] = unlabelled
    raw = to_raw_table(parsed, options, report)
    if options.prices is None:  # LLMRouter ships its own prices; --prices overrides them
        raw.models = _candidate_prices(root / CANDIDATES, list(raw.models["model"]))
    return raw


def _task_names(path: Path) -> dict[str, list[str]]:
    if not path.exists():
        raise DataError(f"llmrouter: {path} not found (needed to label prompts with their benchmark)")
    names: dict[str, list[str]] = {}
    for n, row in read_jsonl(path):
        if not isinstance(row, dict):
            raise DataError(
                f"{str(path)!r} line {n}: a JSON {type(row).__name__}, not an object with 'query' and 'task_name'"
            )
        names.setdefault(row.get("query", ""), []).append(row.get("task_name"))
    return names


def _label_sources(parsed: ParsedRecords, task_of: dict[str, dict[str, list[str]]]) -> tuple[list, int]:
    ambiguous, unlabelled = [], 0
    for prompt in parsed.prompts:
        split = prompt["split"]
        other = "test" if split == "train" else "train"
        names = task_of[split].get(prompt["prompt"]) or task_of[other].get(prompt["prompt"]) or []
        if not names:
            unlabelled += 1
            continue
        prompt["source"] = names[0]
        if len(set(names)) > 1:
            ambiguous.append({"prompt_id": prompt["prompt_id"], "task_names": sorted(set(names)), "chosen": names[0]})
    return ambiguous, unlabelled


def _candidate_prices(path: Path, models: list[str]) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"llmrouter: {path} not found (prices of the candidate models)")
    candidates = read_json(path)
    if not isinstance(candidates, dict):
        raise DataError(f"{str(path)!r}: expected a JSON object of model -> prices, got a {type(candidates).__name__}")
    missing = sorted(set(models) - set(candidates))
    if missing:
        raise DataError(f"llmrouter: {path} has no price for scored model(s) {missing}; pass --prices FILE")
    return pd.DataFrame(
        {
            "model": models,
            "input_price": [float(candidates[m]["input_price"]) for m in models],
            "output_price": [float(candidates[m]["output_price"]) for m in models],
        }
    )
