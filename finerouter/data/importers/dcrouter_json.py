"""`dcrouter-json`: files holding `[{question, scores: {model: float}, ...}]` (RouterDC / LLMRouter style)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from finerouter.data.importers import ImportOptions
from finerouter.data.prices import PriceTable, unpriced_models_frame
from finerouter.data.schema import SPLITS
from finerouter.data.table import RawTable
from finerouter.data.validate import rejected_records
from finerouter.errors import DataError

_SPLIT_ALIASES = {
    "train": "train",
    "dev": "dev",
    "val": "dev",
    "valid": "dev",
    "validation": "dev",
    "test": "test",
}


@dataclass
class ParsedRecords:
    prompts: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[Any, str]] = field(default_factory=list)
    ignored_fields: set[str] = field(default_factory=set)


def split_from_name(path: Path) -> str | None:
    """'train.json', 'nq_test.json', 'data-val.json' -> their split; otherwise None (hash split later)."""
    tokens = re.split(r"[^a-z]+", path.stem.lower())
    found = {_SPLIT_ALIASES[t] for t in tokens if t in _SPLIT_ALIASES}
    return found.pop() if len(found) == 1 else None


def load_json_records(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable JSON file: {exc}") from exc
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of {{question, scores}} records, got {type(data).__name__}")
    return data


def parse_records(records: list[Any], *, file: Path, split: str | None, id_prefix: str, out: ParsedRecords) -> None:
    """Append prompts/outcomes parsed from dcrouter-style records; malformed records are rejected."""
    for i, rec in enumerate(records):
        where = f"{file.name}[{i}]"
        if not isinstance(rec, dict):
            out.rejected.append((rec, f"{where}: record is a {type(rec).__name__}, not an object"))
            continue
        question, scores = rec.get("question"), rec.get("scores")
        if not isinstance(question, str) or not question.strip():
            out.rejected.append((rec, f"{where}: missing or empty 'question'"))
            continue
        if not isinstance(scores, dict) or not scores:
            out.rejected.append((rec, f"{where}: 'scores' must be a non-empty object of model -> quality"))
            continue
        bad = {m: s for m, s in scores.items() if not _is_number(s)}
        if bad:
            out.rejected.append((rec, f"{where}: non-numeric score(s) for {sorted(bad)}"))
            continue
        prompt_id = f"{id_prefix}{i:06d}"
        source = rec.get("source", rec.get("task_name"))
        out.prompts.append({"prompt_id": prompt_id, "prompt": question, "source": source, "split": split})
        out.outcomes.extend({"prompt_id": prompt_id, "model": m, "quality": float(s)} for m, s in scores.items())
        out.ignored_fields.update(set(rec) - {"question", "scores", "source", "task_name"})


def to_raw_table(parsed: ParsedRecords, options: ImportOptions, report: dict[str, Any]) -> RawTable:
    prompts = pd.DataFrame(parsed.prompts, columns=["prompt_id", "prompt", "source", "split"])
    outcomes = pd.DataFrame(parsed.outcomes, columns=["prompt_id", "model", "quality"])
    models = sorted(outcomes["model"].unique())
    model_frame = (
        PriceTable.load(options.prices).models_frame(models) if options.prices else unpriced_models_frame(models)
    )
    report = {
        **report,
        "records_rejected": len(parsed.rejected),
        "ignored_fields": sorted(parsed.ignored_fields),
    }
    return RawTable(prompts, model_frame, outcomes, rejected_records("source", parsed.rejected), report)


def import_dcrouter_json(sources: list[Path], options: ImportOptions) -> RawTable:
    files = sorted(p for s in sources for p in ([s] if s.is_file() else s.rglob("*.json")))
    if not files:
        raise DataError(f"dcrouter-json: no .json files in {[str(s) for s in sources]}")
    parsed = ParsedRecords()
    per_file = {}
    for file in files:
        records = load_json_records(file)
        split = split_from_name(file)
        before = len(parsed.prompts)
        parsed_prefix = f"{file.stem}/"
        parse_records(records, file=file, split=split, id_prefix=parsed_prefix, out=parsed)
        per_file[str(file)] = {
            "records": len(records),
            "prompts": len(parsed.prompts) - before,
            "split": split,
        }
    return to_raw_table(parsed, options, {"files": per_file, "splits": list(SPLITS)})


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
