"""The prompts file: each row kept as a request (messages + reference + grader) or rejected with its reason."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from finerouter.data.textio import read_text
from finerouter.data.validate import rejected_records
from finerouter.errors import DataError
from finerouter.generate.config import GenerationConfig

ROLES = ("system", "user", "assistant")
REQUEST_COLUMNS = ["prompt_id", "prompt", "messages_json", "source", "reference_json", "grader"]


def read_records(path: Path) -> tuple[list[Any], list[tuple[Any, str]]]:
    """The file's records; JSONL lines that are not JSON come back rejected (line number and text)."""
    if path.suffix.lower() == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise DataError(f"generation.prompts {str(path)!r} is not a readable Parquet file: {exc}") from exc
        return [_plain(r) for r in frame.to_dict(orient="records")], []
    records: list[Any] = []
    bad: list[tuple[Any, str]] = []
    for number, line in enumerate(read_text(path).split("\n"), 1):  # not splitlines: JSON text may hold U+2028
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            bad.append(({"line": number, "text": line[:500]}, f"line {number} is not JSON: {exc.msg}"))
    return records, bad


def _plain(value: Any) -> Any:
    """Parquet values (NumPy arrays, NaN) as plain JSON-able Python."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        return _plain(value.tolist())
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _messages(record: dict[str, Any], system_prompt: str | None) -> tuple[list[dict[str, str]] | None, str]:
    """(messages, problem): the chat to send, or None and why not."""
    raw = record.get("messages")
    prompt = record.get("prompt")
    if raw is None:
        if not isinstance(prompt, str) or not prompt.strip():
            return None, "needs a non-empty 'prompt' or a 'messages' list"
        messages = [{"role": "user", "content": prompt}]
    else:
        if not isinstance(raw, list) or not raw:
            return None, "'messages' must be a non-empty list of {role, content}"
        messages = []
        for m in raw:
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                return None, f"every message needs a role in {list(ROLES)} and text content; got {m!r}"[:300]
            messages.append({"role": m["role"], "content": m["content"]})
        if messages[-1]["role"] != "user" or not messages[-1]["content"].strip():
            return None, "the last message must be a non-empty user message"
    if system_prompt and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages, ""


def load_requests(cfg: GenerationConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(requests, rejected): one request per valid row (REQUEST_COLUMNS), every other row rejected with a reason."""
    records, rejected = read_records(cfg.prompts)
    kept: list[dict[str, Any]] = []
    seen: set[str] = set()
    for record in records:
        reason = _problem(record, seen, cfg)
        if reason:
            rejected.append((record, reason))
            continue
        messages, reason = _messages(record, cfg.system_prompt)
        if messages is None:
            rejected.append((record, reason))
            continue
        seen.add(record["prompt_id"])
        prompt = record.get("prompt")
        text = prompt if isinstance(prompt, str) and prompt.strip() else messages[-1]["content"]
        kept.append(
            {
                "prompt_id": record["prompt_id"],
                "prompt": text,
                "messages_json": json.dumps(messages, ensure_ascii=False),
                "source": record["source"],
                "reference_json": json.dumps(record["reference"], ensure_ascii=False),
                "grader": cfg.graders[record["source"]].grader,
            }
        )
    if not kept:
        raise DataError(
            f"generation.prompts {str(cfg.prompts)!r}: no usable prompts ({len(rejected)} rejected; first reason: "
            f"{rejected[0][1] if rejected else 'the file is empty'})"
        )
    return pd.DataFrame(kept, columns=REQUEST_COLUMNS), rejected_records("source", rejected)


def _problem(record: Any, seen: set[str], cfg: GenerationConfig) -> str:
    if not isinstance(record, dict):
        return f"record is a {type(record).__name__}, not an object"
    prompt_id = record.get("prompt_id")
    if not isinstance(prompt_id, str) or not prompt_id.strip():
        return "needs a non-empty string 'prompt_id'"
    if prompt_id in seen:
        return f"prompt_id {prompt_id!r} repeated (first kept)"
    source = record.get("source")
    if source not in cfg.graders:
        return f"source {source!r} has no grader in generation.graders (configured: {sorted(cfg.graders)})"
    if record.get("reference") in (None, "", [], {}):
        return "needs a 'reference' (gold answer, choice letter, or test code)"
    return ""
