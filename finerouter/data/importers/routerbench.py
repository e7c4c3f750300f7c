"""`routerbench`: RouterBench's wide table (withmartian/routerbench), as CSV or a pickled pandas DataFrame.

One row per prompt: `sample_id`, `prompt`, `eval_name`, then per model `<model>` (quality in [0, 1]),
`<model>|model_response`, `<model>|total_cost` (USD for that call), and `oracle_model_to_route_to`
(ignored). prompt_id = sample_id, source = eval_name; files named `<eval>_train` / `<eval>_test` keep that
split, others are split by hash later. The source has no token counts, so outcomes carry none.

Model columns: when a file has any `<x>|model_response` or `<x>|total_cost` column, its models are exactly
the columns `<x>` with such a sibling; otherwise (a quality-only table) every column that is not a known
column, not `|model_response` / `|total_cost` and not a pandas index artifact (`Unnamed: …`). Other columns
are listed in report["ignored_columns"].

A prompt holding a Python list literal of string turns ("['turn 1', 'turn 2']") is parsed with
`ast.literal_eval`, which never executes code, and its turns are joined by a blank line; any other text is
kept verbatim. A blank (or NaN / "nan" / "NA" / "null") quality is a missing outcome: no outcome row,
counted per model in report["missing_outcomes"]. Other non-numeric qualities and costs pass through
unchanged so validation rejects them with a reason.

SECURITY: reading a .pkl / .pickle file unpickles it, and unpickling can run arbitrary code. Import only
pickles you trust (such as RouterBench's own release); prefer CSV otherwise.
"""

from __future__ import annotations

import ast
import csv
import io
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from finerouter.data.importers import ImportOptions
from finerouter.data.prices import PriceTable, unpriced_models_frame
from finerouter.data.table import RawTable
from finerouter.data.textio import read_text
from finerouter.data.validate import object_frame, rejected_records
from finerouter.errors import DataError

KNOWN_COLUMNS = ("sample_id", "prompt", "eval_name", "oracle_model_to_route_to")
REQUIRED_COLUMNS = ("sample_id", "prompt")
MODEL_SUFFIXES = ("model_response", "total_cost")
CSV_SUFFIXES = (".csv",)
PICKLE_SUFFIXES = (".pkl", ".pickle")
TURN_SEPARATOR = "\n\n"
OUTCOME_COLUMNS = ["prompt_id", "model", "quality", "cost", "response"]
_NA_TOKENS = frozenset({"", "nan", "na", "n/a", "null", "none", "<na>", "#n/a"})
_SPLIT_NAME = re.compile(r"^(?P<eval>.+)_(?P<split>train|test)$")


def import_routerbench(sources: list[Path], options: ImportOptions) -> RawTable:
    prompts: list[pd.DataFrame] = []
    outcomes: list[pd.DataFrame] = [pd.DataFrame(columns=OUTCOME_COLUMNS)]
    rejected: list[tuple[Any, str]] = []
    seen: dict[str, str] = {}  # sample_id -> "file row n" where it was first read
    missing: Counter[str] = Counter()
    models: set[str] = set()
    ignored: set[str] = set()
    per_file: dict[str, dict[str, Any]] = {}
    turn_lists = 0
    blank_costs: Counter[str] = Counter()
    for file in source_files(sources):
        rejected_before = len(rejected)
        frame = read_frame(file, rejected)
        malformed = len(rejected) - rejected_before
        file_models, file_ignored = model_columns(list(frame.columns))
        models.update(file_models)
        ignored.update(file_ignored)
        kept = _select_rows(frame, file, seen, rejected)
        ids = [sample_id for sample_id, _ in kept]
        rows = frame.iloc[[i for _, i in kept]].reset_index(drop=True)
        texts = [parse_prompt(v) for v in rows["prompt"]]
        turn_lists += sum(t != _text_verbatim(v) for t, v in zip(texts, rows["prompt"], strict=True))
        evals = [_text(v) for v in rows["eval_name"]] if "eval_name" in rows else None
        split = split_from_name(file)
        prompts.append(object_frame({"prompt_id": ids, "prompt": texts, "source": evals, "split": split}))
        for model in file_models:
            frame_m = _outcome_frame(rows, ids, model)
            present = frame_m["quality"].notna()
            missing[model] += int((~present).sum())
            if f"{model}|total_cost" in rows:
                blank_costs[model] += int((present & frame_m["cost"].isna()).sum())
            outcomes.append(frame_m[present])
        per_file[str(file)] = {
            "rows": len(frame) + malformed,
            "malformed_rows": malformed,
            "prompts": len(ids),
            "split": split,
            "models": file_models,
        }
    names = sorted(models)
    model_frame = PriceTable.load(options.prices).models_frame(names) if options.prices else None
    report: dict[str, Any] = {
        "files": per_file,
        "rows_rejected": len(rejected),
        "missing_outcomes": {m: missing[m] for m in names},
        "blank_costs": {m: blank_costs[m] for m in names if blank_costs[m]},
        "blank_costs_rule": "an outcome whose `<model>|total_cost` cell is blank is rejected when the build keeps "
        "per-call costs (RoutingTable.build: one cost basis per table)",
        "turn_list_prompts": turn_lists,
        "ignored_columns": sorted(ignored),
    }
    return RawTable(
        pd.concat(prompts, ignore_index=True),
        unpriced_models_frame(names) if model_frame is None else model_frame,
        pd.concat(outcomes, ignore_index=True),
        rejected_records("source", rejected),
        report,
    )


def source_files(sources: list[Path]) -> list[Path]:
    """Files as given; a directory contributes its *.csv, *.pkl and *.pickle files, sorted by name."""
    files: list[Path] = []
    suffixes = CSV_SUFFIXES + PICKLE_SUFFIXES
    for source in sources:
        if source.is_dir():
            found = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
            if not found:
                raise DataError(f"routerbench: no .csv, .pkl or .pickle files in directory {str(source)!r}")
            files.extend(found)
        elif source.suffix.lower() in suffixes:
            files.append(source)
        else:
            raise DataError(f"routerbench: {str(source)!r} is not a .csv, .pkl or .pickle file")
    return files


def read_frame(path: Path, rejected: list[tuple[Any, str]]) -> pd.DataFrame:
    """The file as a DataFrame with string column names, indexed by data-row number - 1 (malformed CSV rows are
    left out and appended to `rejected` with their reason); CSV cells are read as literal strings."""
    if path.suffix.lower() in CSV_SUFFIXES:
        frame = read_csv_rows(path, rejected)
    else:
        try:
            frame = pd.read_pickle(path)  # runs code from the file: trusted files only
        except Exception as exc:  # unpickling can fail in arbitrary ways
            raise DataError(f"routerbench: cannot read {str(path)!r}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"routerbench: {str(path)!r} holds a {type(frame).__name__}, not a pandas DataFrame")
        frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    for column in REQUIRED_COLUMNS:
        if column not in frame.columns:
            raise DataError(
                f"routerbench: {str(path)!r} has no {column!r} column (required: {list(REQUIRED_COLUMNS)}); "
                f"its first columns are {list(frame.columns)[:8]}"
            )
    return frame


def read_csv_rows(path: Path, rejected: list[tuple[Any, str]]) -> pd.DataFrame:
    """Rows with exactly the header's number of fields; any other row (a truncated last row, a broken quote) is
    rejected with its row and line number. Non-UTF-8 bytes are a DataError naming the line."""
    reader = csv.reader(io.StringIO(read_text(path).removeprefix("\ufeff"), newline=""), strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise DataError(f"routerbench: {str(path)!r} has no readable header row ({exc or 'empty file'})") from exc
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise DataError(f"routerbench: {str(path)!r} repeats column(s) {repeated} in its header")
    rows: list[list[str]] = []
    numbers: list[int] = []
    number = 0
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            number += 1
            where = f"{path.name} row {number} (line {line})"
            rejected.append(({"file": path.name, "row": number, "line": line}, f"{where}: malformed CSV: {exc}"))
            continue
        if not row:
            continue  # a blank line
        number += 1
        if len(row) != len(header):
            where = f"{path.name} row {number} (line {line})"
            reason = f"{where}: {len(row)} fields where the header has {len(header)} (a truncated or malformed row)"
            rejected.append(({"file": path.name, "row": number, "line": line, "fields": row[:3]}, reason))
            continue
        rows.append(row)
        numbers.append(number - 1)
    return pd.DataFrame(rows, columns=header, index=numbers, dtype=object)


def model_columns(columns: list[str]) -> tuple[list[str], list[str]]:
    """(model quality columns, ignored columns), by the rule in the module docstring."""
    suffixed = {c for c in columns if "|" in c and c.rsplit("|", 1)[1] in MODEL_SUFFIXES}
    paired = {c.rsplit("|", 1)[0] for c in suffixed}
    candidates = [c for c in columns if c not in KNOWN_COLUMNS and c not in suffixed and not c.startswith("Unnamed:")]
    models = [c for c in candidates if c in paired] if paired else candidates
    used = set(models) | {c for c in suffixed if c.rsplit("|", 1)[0] in models}
    return models, [c for c in columns if c not in KNOWN_COLUMNS and c not in used]


def split_from_name(path: Path) -> str | None:
    """'mmlu_train.csv' -> 'train', 'gsm8k_test.pkl' -> 'test', anything else -> None."""
    match = _SPLIT_NAME.match(path.stem)
    return match.group("split") if match else None


def parse_prompt(value: Any) -> str | None:
    """The prompt text (None when blank); a list literal of string turns becomes the joined turns."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(t, str) for t in value):
        return TURN_SEPARATOR.join(value)  # a pickle may hold the turns as a real list
    if not isinstance(value, str) or not value.strip():
        return _text(value)
    text = value.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return value
    try:
        turns = ast.literal_eval(text)  # literals only: names, calls and operators raise ValueError
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return value
    if isinstance(turns, list) and turns and all(isinstance(t, str) for t in turns):
        return TURN_SEPARATOR.join(turns)
    return value


def _select_rows(
    frame: pd.DataFrame, file: Path, seen: dict[str, str], rejected: list[tuple[Any, str]]
) -> list[tuple[str, int]]:
    """(sample_id, row position) of the rows to import; blank and repeated sample_ids are rejected."""
    kept: list[tuple[str, int]] = []
    for i, raw_id in enumerate(frame["sample_id"]):
        where = f"{file.name} row {frame.index[i] + 1}"
        sample_id = _text(raw_id)
        if sample_id is None:
            rejected.append((_record(frame, i, file), f"missing or blank sample_id in {file.name!r}"))
        elif sample_id in seen:
            reason = f"duplicate sample_id {sample_id!r}: first read from {seen[sample_id]!r}, again in {where!r}"
            rejected.append((_record(frame, i, file), reason + " (first kept)"))
        else:
            seen[sample_id] = where
            kept.append((sample_id, i))
    return kept


def _record(frame: pd.DataFrame, i: int, file: Path) -> dict[str, Any]:
    row = frame.iloc[i]
    fields = {c: _text_verbatim(row[c]) if c == "prompt" else _text(row[c]) for c in KNOWN_COLUMNS[:3] if c in row}
    return {"file": file.name, "row": int(frame.index[i]) + 1, **fields}


def _outcome_frame(rows: pd.DataFrame, ids: list[str], model: str) -> pd.DataFrame:
    """One model's outcomes, quality None where missing; unparseable values kept for validation to reject."""

    def column(name: str, convert: Any) -> pd.Series:
        values = [convert(v) for v in rows[name]] if name in rows else [None] * len(rows)
        return pd.Series(values, dtype=object)

    return pd.DataFrame(
        {
            "prompt_id": pd.Series(ids, dtype=object),
            "model": model,
            "quality": column(model, _number_or_raw),
            "cost": column(f"{model}|total_cost", _number_or_raw),
            "response": column(f"{model}|model_response", _text_verbatim),
        }
    )


def _is_blank(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def _text(value: Any) -> str | None:
    """A stripped identifier-like string, or None when blank; integral floats lose their '.0'."""
    if _is_blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _text_verbatim(value: Any) -> str | None:
    return None if _is_blank(value) else value if isinstance(value, str) else str(value)


def _number_or_raw(value: Any) -> Any:
    """None when missing, a float when numeric, else the original value (for validation to reject)."""
    if _is_blank(value) or (isinstance(value, str) and value.strip().lower() in _NA_TOKENS):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return None if math.isnan(number) else number
