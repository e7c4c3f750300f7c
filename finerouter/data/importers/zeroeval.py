"""`zeroeval`: ZeroEval raw outputs (`result_dirs/{gsm,math-l5}/<model>.json[.gz]`), graded here.

Each file is one model's list of records `id, question|problem, answer (gold), output ([one JSON string with
"reasoning" and "answer"]), generator, configs`. There is no correctness field: quality is the `gsm8k` or
`math` grader's score of the raw output against the gold answer (the graders read the JSON `answer` field,
else a \\boxed{} answer or an "answer is" phrase). An output with nothing to read is a model failure: quality
0, counted in the report. A record lacking id, question or gold is rejected. Prompts a model's file lacks are
missing outcomes (no row), counted per model. Tokens (input = question, output = raw output) are counted with
`options.tokenizer`; with a price table, each call's cost follows from them.
"""

from __future__ import annotations

import gzip
import json
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
from finerouter.scoring import grade
from finerouter.scoring.extract import json_answer

TASKS: dict[str, tuple[str, str]] = {"gsm": ("gsm8k", "gsm8k"), "math-l5": ("math-l5", "math")}  # source, grader
QUESTION_KEYS = ("question", "problem")


def model_name(path: Path) -> str:
    return path.name.removesuffix(".gz").removesuffix(".json")


def _task_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith((".json", ".json.gz")))


def find_files(sources: list[Path]) -> dict[Path, str]:
    """Each output file with its task: sources may be the ZeroEval root, result_dirs, a task folder, or files."""
    found: dict[Path, str] = {}
    for source in sources:
        if source.is_file():
            task = source.parent.name
            if task not in TASKS:
                raise DataError(f"zeroeval: {source} is not inside a task folder ({', '.join(TASKS)})")
            found[source] = task
            continue
        if source.name in TASKS:
            found.update(dict.fromkeys(_task_files(source), source.name))
            continue
        root = source / "result_dirs" if (source / "result_dirs").is_dir() else source
        for task in TASKS:
            if (root / task).is_dir():
                found.update(dict.fromkeys(_task_files(root / task), task))
    if not found:
        raise DataError(f"zeroeval: no {'/'.join(TASKS)} output files under {[str(s) for s in sources]}")
    return found


def read_records(path: Path) -> list[Any]:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        data = json.loads(raw)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable ZeroEval output file: {exc}") from exc
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    return data


def _question(record: dict[str, Any]) -> str | None:
    for key in QUESTION_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _output(record: dict[str, Any]) -> str | None:
    output = record.get("output")
    if isinstance(output, list) and output:
        output = output[0]
    return output if isinstance(output, str) else None


def import_zeroeval(sources: list[Path], options: ImportOptions) -> RawTable:
    files = find_files(sources)
    prompts: dict[str, dict[str, Any]] = {}
    outcomes: list[dict[str, Any]] = []
    rejected: list[tuple[Any, str]] = []
    per_file: dict[str, dict[str, Any]] = {}
    ids_by_model: dict[tuple[str, str], set[str]] = {}
    text_conflicts = 0
    for path, task in files.items():
        source, grader = TASKS[task]
        model = model_name(path)
        records = read_records(path)
        seen = ids_by_model.setdefault((task, model), set())
        tally: Counter[str] = Counter()
        for i, record in enumerate(records):
            where = {"file": path.name, "task": task, "index": i}
            if not isinstance(record, dict):
                rejected.append(({**where, "record": record}, "record is not a JSON object"))
                continue
            bad_text = record_unicode_problem(record)
            if bad_text:
                rejected.append(({**where, "record": record}, bad_text))
                continue
            question, gold = _question(record), record.get("answer")
            missing = [
                k for k, v in (("id", record.get("id")), ("question", question), ("answer", gold)) if v in (None, "")
            ]
            if missing:
                rejected.append(({**where, "record": record}, f"record lacks {missing}"))
                continue
            prompt_id = f"zeroeval/{task}/{record['id']}"
            if prompt_id in seen:
                rejected.append(({**where, "record": record}, "id repeated within one model's file (first kept)"))
                continue
            seen.add(prompt_id)
            known = prompts.setdefault(prompt_id, {"prompt_id": prompt_id, "prompt": question, "source": source})
            if known["prompt"] != question:
                text_conflicts += 1
            response = _output(record)
            if response is None:
                result_score, reason = 0.0, "no response"
            else:
                result = grade(grader, response, str(gold))
                result_score, reason = result.score, result.reason
                tally["no_json_answer"] += json_answer(response) is None
            tally["graded"] += 1
            tally["correct"] += result_score == 1.0
            tally["no_answer"] += reason is not None and reason.startswith(("no ", "empty answer"))
            outcomes.append({"prompt_id": prompt_id, "model": model, "quality": result_score, "response": response})
        per_file[f"{task}/{path.name}"] = {"model": model, "records": len(records), **tally}
    missing_outcomes = _missing(prompts, ids_by_model)
    frame = pd.DataFrame(outcomes, columns=["prompt_id", "model", "quality", "response"])
    prompt_frame = pd.DataFrame(list(prompts.values()), columns=["prompt_id", "prompt", "source"])
    models = sorted(frame["model"].unique())
    input_tokens = pd.Series(count_tokens(list(prompt_frame["prompt"]), options.tokenizer), prompt_frame["prompt_id"])
    frame["input_tokens"] = input_tokens.reindex(frame["prompt_id"]).to_numpy()
    responses = [r if isinstance(r, str) else "" for r in frame["response"]]
    frame["output_tokens"] = count_tokens(responses, options.tokenizer)
    if options.prices:
        prices = PriceTable.load(options.prices)
        model_frame = prices.models_frame(models)
        frame["cost"] = 0.0
        for model, rows in frame.groupby("model").groups.items():
            frame.loc[rows, "cost"] = prices.call_cost(
                model, frame.loc[rows, "input_tokens"], frame.loc[rows, "output_tokens"]
            )
    else:
        model_frame = unpriced_models_frame(models)
    report: dict[str, Any] = {
        "files": per_file,
        "models": len(models),
        "records_rejected": len(rejected),
        "missing_outcomes": sum(missing_outcomes.values()),
        "missing_outcomes_by_model": missing_outcomes,
        "question_text_conflicts": text_conflicts,
        "grading": "quality = gsm8k / math grader score of the raw output; no_answer = nothing to read (quality 0); "
        "no_json_answer = no JSON answer field (graded from \\boxed{} / 'answer is' / the last number instead)",
        "tokens": f"counted with the {options.tokenizer!r} tokenizer: input = question, output = raw output",
    }
    return RawTable(prompt_frame, model_frame, frame, rejected_records("source", rejected), report)


def _missing(prompts: dict[str, dict[str, Any]], ids_by_model: dict[tuple[str, str], set[str]]) -> dict[str, int]:
    """Per 'task/model': prompts of that task some other model answered but this model's file lacks."""
    by_task: dict[str, set[str]] = {}
    for prompt_id in prompts:
        by_task.setdefault(prompt_id.split("/")[1], set()).add(prompt_id)
    return {
        f"{task}/{model}": len(by_task.get(task, set()) - ids)
        for (task, model), ids in sorted(ids_by_model.items())
        if by_task.get(task, set()) - ids
    }
