"""`mmlu-pro`: TIGER-AI-Lab MMLU-Pro per-model outputs (`model_outputs_<model>_5shots.zip`).

A source is a directory (every `*.zip` and `*.json` in it) or single `.zip` / `.json` files; each holds one JSON
list of `question_id, question, options, answer, answer_index, cot_content, category, src, pred` and the response
in `generated_text` or `model_outputs`. The model is the file name between `model_outputs_` and `_<n>shots`.

- prompt_id = "mmlu-pro/<question_id>"; prompt = the question, then its options one per line as "A. ...",
  "B. ..."; source = `src`, category = `category`; splits are assigned by hash later.
- quality = 1.0 when `pred == answer`, else 0.0 (a missing pred is a wrong answer).
- Files hold different revisions of some questions (fixed answers, options or text). The revision most files
  hold (ties: the first in file-name order) defines the prompt; a record of another revision is rejected,
  since it was graded against a different question. Text differing only in whitespace is the same question.
- Records that are not JSON objects, lack question_id / question / answer / options, or repeat a question_id
  within one file are rejected with their reason (table "source").
- input_tokens = tokens of the prompt above (the 5-shot context the models saw is not stored), output_tokens =
  tokens of the response, counted with `options.tokenizer`; with a price table, cost = the call's USD cost.
"""

from __future__ import annotations

import ast
import json
import re
import string
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from finerouter.data.importers import ImportOptions
from finerouter.data.prices import PriceTable, unpriced_models_frame
from finerouter.data.table import RawTable
from finerouter.data.tokens import count_tokens
from finerouter.data.validate import record_unicode_problem, rejected_records
from finerouter.errors import DataError

LETTERS = string.ascii_uppercase
RESPONSE_KEYS = ("generated_text", "model_outputs")
_NAME = re.compile(r"^model_outputs_(?P<model>.+?)_\d+shots$")
# a question's revision: text without whitespace, options, answer
Version = tuple[str, str, str]


def model_name(path: Path) -> str:
    stem = path.name.removesuffix(".zip").removesuffix(".json")
    match = _NAME.match(stem)
    return match["model"] if match else stem


def source_files(sources: list[Path]) -> list[Path]:
    files: dict[Path, Path] = {}
    for source in sources:
        found = sorted([*source.glob("*.zip"), *source.glob("*.json")]) if source.is_dir() else [source]
        files.update((p.resolve(), p) for p in found)
    if not files:
        raise DataError(f"mmlu-pro: no .zip or .json files in {[str(s) for s in sources]}")
    by_model: dict[str, list[str]] = {}
    for path in files.values():
        by_model.setdefault(model_name(path), []).append(str(path))
    clashes = {m: p for m, p in by_model.items() if len(p) > 1}
    if clashes:
        raise DataError(f"mmlu-pro: several files give the same model: {clashes}; keep one file per model")
    return sorted(files.values(), key=lambda p: p.name)


def read_entries(path: Path) -> list[Any]:
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = [n for n in archive.namelist() if n.endswith(".json")]
                if len(members) != 1:
                    raise DataError(f"{path}: expected one .json file inside the zip, found {members}")
                data = json.loads(archive.read(members[0]))
        else:
            data = json.loads(path.read_bytes())
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable MMLU-Pro output file: {exc}") from exc
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of question records, got a JSON {type(data).__name__}")
    return data


def parse_options(options: Any) -> list[str] | None:
    if isinstance(options, str):
        try:
            options = ast.literal_eval(options)
        except (ValueError, SyntaxError):
            return None
    if not isinstance(options, list | tuple) or not 0 < len(options) <= len(LETTERS):
        return None
    return [str(opt) for opt in options]


def format_prompt(question: str, options: list[str]) -> str:
    return "\n".join([question.strip(), *(f"{LETTERS[i]}. {opt}" for i, opt in enumerate(options))])


def check_entry(entry: Any) -> str | None:
    """Why a source entry cannot give an outcome, or None."""
    if not isinstance(entry, dict):
        return "entry is not a question record (not a JSON object)"
    missing = [k for k in ("question_id", "question", "answer") if entry.get(k) in (None, "")]
    if missing:
        return f"question record lacks {missing}"
    if not isinstance(entry["question"], str) or not isinstance(entry["answer"], str):
        return "question and answer must be strings"
    if parse_options(entry.get("options")) is None:
        return f"options missing or not a list of 1 to {len(LETTERS)} choices"
    return record_unicode_problem(entry)


def import_mmlu_pro(sources: list[Path], options: ImportOptions) -> RawTable:
    files = source_files(sources)
    prices = PriceTable.load(options.prices) if options.prices else None
    if prices:
        prices.require([model_name(p) for p in files])
    rejected: list[tuple[Any, str]] = []
    per_file: dict[str, dict[str, Any]] = {}
    prompts: dict[str, dict[Version, dict[str, Any]]] = {}  # prompt_id -> revision -> prompt row
    tally: Counter[tuple[str, Version]] = Counter()
    interned: dict[Version, Version] = {}
    rows: dict[str, list[Any]] = {k: [] for k in ("prompt_id", "model", "quality", "response", "version", "at")}
    for path in files:
        model, entries, seen = model_name(path), read_entries(path), set()
        stats = per_file[path.name] = {"model": model, "entries": len(entries), "outcomes": 0, "rejected": 0}
        for i, entry in enumerate(entries):
            reason = check_entry(entry)
            pid = f"mmlu-pro/{entry['question_id']}" if reason is None else ""
            if reason is None and pid in seen:
                reason = "question_id repeated within one model's file (first kept)"
            if reason is not None:
                rejected.append(({"file": path.name, "index": i, "entry": entry}, reason))
                stats["rejected"] += 1
                continue
            seen.add(pid)
            choices = parse_options(entry["options"]) or []
            version = ("".join(entry["question"].split()), json.dumps(choices), entry["answer"].strip())
            version = interned.setdefault(version, version)  # one copy per revision, not per file
            prompts.setdefault(pid, {}).setdefault(
                version,
                {
                    "prompt_id": pid,
                    "prompt": format_prompt(entry["question"], choices),
                    "source": entry.get("src"),
                    "category": entry.get("category"),
                },
            )
            tally[pid, version] += 1
            pred = entry.get("pred")
            response = next((entry[k] for k in RESPONSE_KEYS if isinstance(entry.get(k), str)), None)
            for key, value in (
                ("prompt_id", pid),
                ("model", model),
                ("quality", float(isinstance(pred, str) and pred.strip() == version[2])),
                ("response", response),
                ("version", version),
                ("at", (path.name, i, entry["question_id"], pred)),
            ):
                rows[key].append(value)
    if not rows["prompt_id"]:
        raise DataError(f"mmlu-pro: no usable question records in {[str(f) for f in files]}")

    # the revision most files hold; max() keeps the first revision seen among equal counts
    chosen = {pid: max(versions, key=lambda v: tally[pid, v]) for pid, versions in prompts.items()}
    keep = [chosen[pid] == v for pid, v in zip(rows["prompt_id"], rows["version"], strict=True)]
    for pid, version, (name, i, qid, pred), kept in zip(
        rows["prompt_id"], rows["version"], rows["at"], keep, strict=True
    ):
        if not kept:
            differ = [f for f, a, b in zip(("text", "options", "answer"), version, chosen[pid], strict=True) if a != b]
            record = {"file": name, "index": i, "question_id": qid, "pred": pred, "answer": version[2]}
            reason = f"another revision of this question than most files hold (differs in {' and '.join(differ)})"
            rejected.append((record, reason))
            per_file[name]["rejected"] += 1
    outcomes = pd.DataFrame({k: rows[k] for k in ("prompt_id", "model", "quality", "response")})[keep]
    outcomes = outcomes.reset_index(drop=True)
    for stats in per_file.values():
        stats["outcomes"] = stats["entries"] - stats["rejected"]
    prompt_frame = pd.DataFrame([prompts[pid][v] for pid, v in chosen.items()])
    models = list(dict.fromkeys(outcomes["model"]))

    input_tokens = pd.Series(count_tokens(list(prompt_frame["prompt"]), options.tokenizer), prompt_frame["prompt_id"])
    outcomes["input_tokens"] = input_tokens.reindex(outcomes["prompt_id"]).to_numpy()
    outcomes["output_tokens"] = count_tokens(list(outcomes["response"]), options.tokenizer)
    outcomes["cost"] = None
    if prices:
        model_frame = prices.models_frame(models)
        outcomes["cost"] = 0.0
        for model, index in outcomes.groupby("model").groups.items():
            part = outcomes.loc[index]
            outcomes.loc[index, "cost"] = prices.call_cost(str(model), part["input_tokens"], part["output_tokens"])
    else:
        model_frame = unpriced_models_frame(models)
    report: dict[str, Any] = {
        "files": per_file,
        "records_read": sum(s["entries"] for s in per_file.values()),
        "outcomes": len(outcomes),
        "records_rejected": len(rejected),
        "models": len(models),
        "questions_with_several_revisions": sum(len(v) > 1 for v in prompts.values()),
        "tokens": f"counted with the {options.tokenizer!r} tokenizer, no special tokens, no truncation: input = "
        "question + lettered options (the 5-shot context is not stored), output = the stored response",
        "cost": "input_tokens x input_price + output_tokens x output_price (USD per 1M tokens)"
        if prices
        else "none (no price table given)",
    }
    return RawTable(prompt_frame, model_frame, outcomes, rejected_records("source", rejected), report)
