"""`mmlu-pro`: TIGER-AI-Lab MMLU-Pro per-model outputs (`model_outputs_<model>_5shots.zip`).

Each zip holds one JSON list of `question_id, question, options, answer, answer_index, cot_content, category,
src, pred` and the response in `generated_text` or `model_outputs`. Quality = (pred == answer); a missing
pred is a wrong answer. The prompt is the question followed by its options lettered "A. ...", one per line.
With a price table, tokens of the prompt and of the stored response are counted (the `minilm` tokenizer by
default) and the cost of each call computed; the 5-shot context the models saw is not stored, so input
tokens cover the question and options only.
"""

from __future__ import annotations

import ast
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from finerouter.data.importers import ImportOptions
from finerouter.data.prices import PriceTable, unpriced_models_frame
from finerouter.data.table import RawTable
from finerouter.data.tokens import count_tokens
from finerouter.data.validate import rejected_records
from finerouter.errors import DataError

LETTERS = "ABCDEFGHIJKLMNOP"
_NAME = re.compile(r"^model_outputs_(?P<model>.+?)_\d+shots$")
REQUIRED = ("question_id", "question", "answer")


def model_name(path: Path) -> str:
    stem = path.name.removesuffix(".zip").removesuffix(".json")
    match = _NAME.match(stem)
    return match["model"] if match else stem


def read_entries(path: Path) -> list[Any]:
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = [n for n in archive.namelist() if n.endswith(".json")]
                if len(members) != 1:
                    raise DataError(f"{path}: expected one .json inside the zip, found {members}")
                data = json.loads(archive.read(members[0]))
        else:
            data = json.loads(path.read_text())
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable MMLU-Pro output file: {exc}") from exc
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of question records, got {type(data).__name__}")
    return data


def format_prompt(question: str, options: Any) -> str:
    if isinstance(options, str):
        try:
            options = ast.literal_eval(options)
        except (ValueError, SyntaxError):
            options = [options]
    lines = [question.strip()]
    if isinstance(options, list):
        lines += [f"{LETTERS[i]}. {opt}" for i, opt in enumerate(options[: len(LETTERS)])]
    return "\n".join(lines)


def import_mmlu_pro(sources: list[Path], options: ImportOptions) -> RawTable:
    files = sorted(
        p for s in sources for p in ([s] if s.is_file() else [*s.glob("*.zip"), *s.glob("*.json")])
    )  # fmt: skip
    if not files:
        raise DataError(f"mmlu-pro: no .zip or .json files in {[str(s) for s in sources]}")
    prompts: dict[str, dict[str, Any]] = {}
    outcomes: list[dict[str, Any]] = []
    rejected: list[tuple[Any, str]] = []
    per_file: dict[str, dict[str, int]] = {}
    identities: dict[str, tuple[str, str]] = {}
    text_revisions = 0
    for path in files:
        model = model_name(path)
        entries = read_entries(path)
        seen: set[str] = set()
        before_out, before_rej = len(outcomes), len(rejected)
        for i, entry in enumerate(entries):
            where = {"file": path.name, "index": i}
            if not isinstance(entry, dict):
                rejected.append(({**where, "entry": entry}, "entry is not a question record (not a JSON object)"))
                continue
            missing = [k for k in REQUIRED if entry.get(k) in (None, "")]
            if missing:
                rejected.append(({**where, "entry": entry}, f"question record lacks {missing}"))
                continue
            qid = f"mmlu-pro/{entry['question_id']}"
            if qid in seen:
                rejected.append(
                    ({**where, "entry": entry}, "question_id repeated within one model's file (first kept)")
                )
                continue
            identity = (str(entry.get("options")), str(entry["answer"]))
            known = prompts.setdefault(
                qid,
                {
                    "prompt_id": qid,
                    "prompt": format_prompt(str(entry["question"]), entry.get("options")),
                    "source": entry.get("src"),
                    "category": entry.get("category"),
                },
            )
            first_identity = identities.setdefault(qid, identity)
            if first_identity != identity:
                rejected.append(
                    ({**where, "entry": entry}, "options or answer differ from the same question_id elsewhere")
                )
                continue
            if known["prompt"] != format_prompt(str(entry["question"]), entry.get("options")):
                text_revisions += 1  # same id, options and answer; the dataset fixed typos in the text
            seen.add(qid)
            response = entry.get("generated_text", entry.get("model_outputs"))
            pred = entry.get("pred")
            outcomes.append(
                {
                    "prompt_id": qid,
                    "model": model,
                    "quality": float(pred is not None and str(pred).strip() == str(entry["answer"]).strip()),
                    "response": response if isinstance(response, str) else None,
                }
            )
        per_file[path.name] = {
            "model": model, "entries": len(entries), "outcomes": len(outcomes) - before_out,
            "rejected": len(rejected) - before_rej,
        }  # fmt: skip
    frame = pd.DataFrame(outcomes)
    prompt_frame = pd.DataFrame(list(prompts.values()))
    models = sorted(frame["model"].unique())
    report: dict[str, Any] = {
        "files": per_file,
        "records_rejected": len(rejected),
        "models": len(models),
        "question_text_revisions": text_revisions,
        "question_text_rule": "a question_id's first text is kept; later files whose text differs only by "
        "revision (same options and answer) keep their outcome and are counted here",
    }
    if options.prices:
        prices = PriceTable.load(options.prices)
        model_frame = prices.models_frame(models)
        prompt_tokens = pd.Series(
            count_tokens(list(prompt_frame["prompt"]), options.tokenizer), prompt_frame["prompt_id"]
        )
        frame["input_tokens"] = prompt_tokens.loc[frame["prompt_id"]].to_numpy()
        frame["output_tokens"] = count_tokens(list(frame["response"]), options.tokenizer)
        frame["cost"] = 0.0
        for model, rows in frame.groupby("model").groups.items():
            frame.loc[rows, "cost"] = prices.call_cost(
                model, frame.loc[rows, "input_tokens"], frame.loc[rows, "output_tokens"]
            )
        report["tokens"] = (
            f"counted with the {options.tokenizer!r} tokenizer: input = question + options (the 5-shot context "
            "is not stored), output = the stored response"
        )
    else:
        model_frame = unpriced_models_frame(models)
        report["tokens"] = "not counted (no price table given)"
    return RawTable(prompt_frame, model_frame, frame, rejected_records("source", rejected), report)
