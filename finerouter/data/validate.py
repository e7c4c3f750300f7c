"""Row-level validation of routing-table frames: every row is either kept or rejected with a reason."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from finerouter.data.schema import REQUIRED_COLUMNS, SCHEMAS, SPLITS
from finerouter.errors import DataError

_PROMPT_CONTENT = ["prompt", "source", "category", "split"]


def rejected_frame(table: str, rows: pd.DataFrame, reasons: pd.Series | str) -> pd.DataFrame:
    """Rows turned into the `rejected` table: (table, reason, record as JSON)."""
    if rows.empty:
        return empty_rejected()
    if isinstance(reasons, str):
        reasons = pd.Series(reasons, index=rows.index)
    records = [_dump(rec) for rec in rows.to_dict(orient="records")]
    return pd.DataFrame({"table": table, "reason": reasons.loc[rows.index].to_numpy(), "record": records})


def rejected_records(table: str, items: list[tuple[Any, str]]) -> pd.DataFrame:
    """Arbitrary source records (dicts, lists, strings) rejected with their reasons."""
    if not items:
        return empty_rejected()
    return pd.DataFrame(
        {
            "table": table,
            "reason": [reason for _, reason in items],
            "record": [_dump(rec) for rec, _ in items],
        }
    )


def object_frame(records: Any, columns: list[str] | None = None) -> pd.DataFrame:
    """A frame of source records with object columns: pandas' Arrow-backed strings cannot hold text that UTF-8
    cannot encode (lone surrogates from JSON escapes), which validation must see and reject row by row."""
    return pd.DataFrame(records, columns=columns, dtype=object)


def _dump(record: Any) -> str:
    """The record as JSON; text that UTF-8 cannot hold (lone surrogates) is kept as \\u escapes."""
    text = json.dumps(_jsonable(record), ensure_ascii=False, default=str)
    return text if unicode_problem(text) is None else json.dumps(_jsonable(record), default=str)


def empty_rejected() -> pd.DataFrame:
    return pd.DataFrame({"table": pd.Series(dtype=str), "reason": pd.Series(dtype=str), "record": pd.Series(dtype=str)})


def conform(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Columns in schema order; optional columns added as nulls; unknown columns are an error."""
    schema = SCHEMAS[table]
    missing = [c for c in REQUIRED_COLUMNS.get(table, ()) if c not in frame.columns]
    if missing:
        raise DataError(f"{table} table lacks required column(s) {missing}; its columns are {list(frame.columns)}")
    unknown = [c for c in frame.columns if c not in schema.names]
    if unknown:
        raise DataError(f"{table} table has unknown column(s) {unknown}; valid columns are {schema.names}")
    out = frame.reindex(columns=schema.names).reset_index(drop=True)
    for field in schema:
        if field.type == "string":
            out[field.name] = out[field.name].astype(object).where(out[field.name].notna(), None)
    return out


def validate_prompts(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = conform("prompts", frame)
    reason = pd.Series(None, index=df.index, dtype=object)
    reason = _flag(reason, ~_nonempty_str(df["prompt_id"]), "missing or empty prompt_id")
    reason = _flag(reason, ~_nonempty_str(df["prompt"]), "missing or empty prompt")
    for col in ("prompt_id", "prompt", "source", "category"):
        reason = _flag_unicode(reason, df, col)
    for col in ("source", "category"):
        reason = _flag(reason, df[col].notna() & ~df[col].map(lambda v: isinstance(v, str)), f"{col} is not a string")
    bad_split = df["split"].notna() & ~df["split"].isin(SPLITS)
    split_msg = df["split"].map(lambda s: f"unknown split {s!r} (valid: {', '.join(SPLITS)})")
    reason = reason.where(reason.notna() | ~bad_split, split_msg)
    reason = _flag_duplicate_ids(reason, df)
    return _split_kept(df, reason, "prompts")


def _flag_duplicate_ids(reason: pd.Series, df: pd.DataFrame) -> pd.Series:
    """Repeats of an identical prompt are dropped (first kept); an id given to different prompts rejects them all.

    Outcomes name their prompt by id alone, so when one id stands for several different prompts no outcome can be
    attributed: keeping the first would attach the others' outcomes to it."""
    repeated = df["prompt_id"].duplicated(keep=False) & _nonempty_str(df["prompt_id"])
    for prompt_id, group in df[repeated].groupby("prompt_id", sort=False):
        versions = {_dump(list(row)) for row in group[_PROMPT_CONTENT].to_numpy()}
        if len(versions) == 1:
            later = pd.Series(False, index=df.index)
            later[group.index[1:]] = True
            reason = _flag(reason, later, "duplicate prompt_id of an identical prompt (first occurrence kept)")
        else:
            every = df.index.isin(group.index)
            message = (
                f"prompt_id {prompt_id!r} is given to {len(group)} different prompts: their outcomes cannot be told "
                "apart, so all of them are rejected"
            )
            reason = _flag(reason, pd.Series(every, index=df.index), message)
    return reason


def validate_models(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = conform("models", frame)
    original = df.copy()
    reason = pd.Series(None, index=df.index, dtype=object)
    reason = _flag(reason, ~_nonempty_str(df["model"]), "missing or empty model name")
    reason = _flag_unicode(reason, df, "model")
    for col in ("input_price", "output_price"):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = df[col].notna() & ~(values.ge(0) & np.isfinite(values.fillna(-1)))
        reason = _flag(reason, bad, f"{col} must be a finite number >= 0 (USD per 1M tokens)")
        df[col] = values.astype("float64")
    reason = _flag(reason, df["model"].duplicated(keep="first") & reason.isna(), "duplicate model (first kept)")
    return _split_kept(df, reason, "models", original)


def validate_outcomes(
    frame: pd.DataFrame,
    prompt_ids: pd.Series,
    models: pd.Series,
    rejected_prompts: dict[str, str] | None = None,
    rejected_models: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`rejected_prompts` (prompt_id -> reason) and `rejected_models` (model -> reason) explain outcomes whose
    prompt or model was rejected earlier: those outcomes are rejected with them."""
    df = conform("outcomes", frame)
    original = df.copy()
    reason = pd.Series(None, index=df.index, dtype=object)
    known_prompt = df["prompt_id"].isin(set(prompt_ids))
    why_prompt = df["prompt_id"].map(_lookup(rejected_prompts))
    explained = why_prompt.notna() & ~known_prompt
    reason = reason.where(~explained, "its prompt was rejected: " + why_prompt.astype(str))
    reason = _flag(reason, ~known_prompt, "unknown prompt_id (not in the prompts table)")
    known_model = df["model"].isin(set(models))
    why_model = df["model"].map(_lookup(rejected_models))
    explained = why_model.notna() & ~known_model
    reason = reason.where(reason.notna() | ~explained, "its model was rejected: " + why_model.astype(str))
    unknown_msg = df["model"].map(lambda m: f"unknown model {m!r} (not in the models table)")
    reason = reason.where(reason.notna() | known_model, unknown_msg)
    reason = _flag_unicode(reason, df, "response")
    quality = pd.to_numeric(df["quality"], errors="coerce")
    reason = _flag(reason, ~quality.between(0.0, 1.0), "quality missing, not a number, or outside [0, 1]")
    df["quality"] = quality.astype("float64")
    for col in ("cost", "input_tokens", "output_tokens"):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = df[col].notna() & ~(values.ge(0) & np.isfinite(values.fillna(-1)))
        reason = _flag(reason, bad, f"{col} must be a finite number >= 0")
        if col != "cost":
            bad_int = values.notna() & (values % 1 != 0)
            reason = _flag(reason, bad_int, f"{col} must be an integer")
        df[col] = values
    df["cost"] = df["cost"].astype("float64")
    dup = df.duplicated(subset=["prompt_id", "model"], keep="first") & reason.isna()
    reason = _flag(reason, dup, "duplicate outcome for (prompt_id, model) (first kept)")
    kept, rejected = _split_kept(df, reason, "outcomes", original)
    for col in ("input_tokens", "output_tokens"):
        kept[col] = kept[col].astype("Int64")
    return kept, rejected


def reasons_by_key(rejected: pd.DataFrame, key: str) -> dict[str, str]:
    """Map a key field of rejected records (e.g. prompt_id) to its rejection reason."""
    out: dict[str, str] = {}
    for record, reason in zip(rejected["record"], rejected["reason"], strict=True):
        value = json.loads(record).get(key) if record.startswith("{") else None
        if isinstance(value, str):
            out.setdefault(value, reason)
    return out


def _flag(reason: pd.Series, mask: pd.Series, message: str) -> pd.Series:
    return reason.where(reason.notna() | ~mask.fillna(True).astype(bool), message)


def _lookup(reasons: dict[str, str] | None) -> Any:
    """A mapper for Series.map: a dict itself would become an Arrow string index, which cannot hold every key."""
    table = reasons or {}
    return lambda key: table.get(key) if isinstance(key, str) else None


def _flag_unicode(reason: pd.Series, df: pd.DataFrame, col: str) -> pd.Series:
    problem = df[col].map(unicode_problem)
    return reason.where(reason.notna() | problem.isna(), f"{col} is " + problem.astype(str))


def unicode_problem(value: Any) -> str | None:
    """Why a string cannot be stored as UTF-8 (a lone surrogate, e.g. from a JSON "\\ud800" escape), or None."""
    if not isinstance(value, str):
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        where = f"lone surrogate {value[exc.start]!a} at character {exc.start}"
        return f"not valid Unicode: {where} (cannot be stored as UTF-8)"
    return None


def record_unicode_problem(record: Any, where: str = "") -> str | None:
    """The first string in a source record (nested dicts / lists) that UTF-8 cannot hold, as a rejection reason."""
    if not where and isinstance(record, dict | list):
        try:  # the common case, checked in C: nothing to find
            json.dumps(record, ensure_ascii=False, default=str).encode("utf-8")
            return None
        except UnicodeEncodeError:
            pass
    if isinstance(record, dict):
        found = (record_unicode_problem(v, f"{where}.{k}" if where else str(k)) for k, v in record.items())
    elif isinstance(record, list | tuple):
        found = (record_unicode_problem(v, f"{where}[{i}]") for i, v in enumerate(record))
    else:
        problem = unicode_problem(record)
        return None if problem is None else f"{where or 'text'} is {problem}"
    return next((f for f in found if f is not None), None)


def _nonempty_str(col: pd.Series) -> pd.Series:
    return col.map(lambda v: isinstance(v, str) and v.strip() != "")


def _split_kept(
    df: pd.DataFrame, reason: pd.Series, table: str, original: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Kept rows (converted) and rejected rows (as they came in, with their reason)."""
    bad = reason.notna()
    rejected = rejected_frame(table, (df if original is None else original)[bad], reason)
    return df[~bad].reset_index(drop=True), rejected


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value
