"""`dcrouter-json`: files holding `[{question, scores: {model: float}, ...}]` (RouterDC / LLMRouter style).

prompt_id = "<path of the file relative to the import root>/<record index>", so files of the same name in
different folders never share ids (the import root: the one source directory, a single file's folder, or the
deepest folder common to all sources). source = the record's `source` / `task_name`, else the file name without
its split word (`mmlu_test.json` -> `mmlu`), else (a file named only `train.json`) its folder below the root.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finerouter.data.importers import ImportOptions
from finerouter.data.prices import PriceTable, unpriced_models_frame
from finerouter.data.schema import SPLITS
from finerouter.data.table import RawTable
from finerouter.data.textio import read_json
from finerouter.data.validate import object_frame, rejected_records
from finerouter.errors import DataError

_SPLIT_WORD = re.compile(r"(?<![a-z])(train|dev|val|valid|validation|test)(?![a-z])", re.IGNORECASE)
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


def source_from_name(relative: Path) -> str | None:
    """'mmlu_test.json' -> 'mmlu', 'nq-val.json' -> 'nq', 'scores.json' -> 'scores', 'a/train.json' -> 'a',
    'train.json' -> None (nothing but a split in the name)."""
    stem = relative.stem
    if split_from_name(relative) is not None:
        stem = _SPLIT_WORD.sub("", stem)
    stem = re.sub(r"([ _.-])[ _.-]+", r"\1", stem).strip(" _-.")
    if stem:
        return stem
    return relative.parent.name or None


def load_json_records(path: Path) -> list[Any]:
    try:
        data = read_json(path)
    except DataError as exc:
        raise DataError(f"not a readable JSON file: {exc}") from exc
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of {{question, scores}} records, got {type(data).__name__}")
    return data


def parse_records(
    records: list[Any],
    *,
    file: Path,
    split: str | None,
    id_prefix: str,
    out: ParsedRecords,
    source: str | None = None,
) -> None:
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
        label = rec.get("source", rec.get("task_name", source))
        out.prompts.append({"prompt_id": prompt_id, "prompt": question, "source": label, "split": split})
        out.outcomes.extend({"prompt_id": prompt_id, "model": m, "quality": float(s)} for m, s in scores.items())
        out.ignored_fields.update(set(rec) - {"question", "scores", "source", "task_name"})


def to_raw_table(parsed: ParsedRecords, options: ImportOptions, report: dict[str, Any]) -> RawTable:
    prompts = object_frame(parsed.prompts, columns=["prompt_id", "prompt", "source", "split"])
    outcomes = object_frame(parsed.outcomes, columns=["prompt_id", "model", "quality"])
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
    found = {p.resolve(): p for s in sources for p in ([s] if s.is_file() else sorted(s.rglob("*.json")))}
    if not found:
        raise DataError(f"dcrouter-json: no .json files in {[str(s) for s in sources]}")
    root = import_root(sources)
    parsed = ParsedRecords()
    per_file = {}
    for resolved in sorted(found):
        file = found[resolved]
        relative = _absolute(file).relative_to(root)
        records = load_json_records(file)
        split, source = split_from_name(file), source_from_name(relative)
        before = len(parsed.prompts)
        parse_records(records, file=file, split=split, id_prefix=f"{relative.as_posix()}/", out=parsed, source=source)
        per_file[str(file)] = {
            "records": len(records),
            "prompts": len(parsed.prompts) - before,
            "split": split,
            "source": source,
            "id_prefix": f"{relative.as_posix()}/",
        }
    report = {"files": per_file, "splits": list(SPLITS), "import_root": str(root)}
    return to_raw_table(parsed, options, report)


def import_root(sources: list[Path]) -> Path:
    """The folder prompt ids are relative to: a directory source itself, a file's folder, or the common folder."""
    folders = [_absolute(s) if s.is_dir() else _absolute(s).parent for s in sources]
    return Path(os.path.commonpath(folders))


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
