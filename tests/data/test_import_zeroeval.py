"""ZeroEval importer: real files from ../shared/data/zeroeval (a subset, to keep the run short) and edge cases.

The full per-model agreement with ZeroEval's official accuracies is `benchmarks/zeroeval_agreement.py`.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from finerouter.data.importers import ImportOptions, run_importer
from finerouter.data.table import RoutingTable
from finerouter.errors import DataError

PRICES = Path(__file__).resolve().parents[2] / "configs" / "prices" / "zeroeval.yaml"
FILES = {
    "gsm": ["gemini-1.5-flash-exp-0827", "gpt-4o-mini-2024-07-18", "claude-3-haiku-20240307"],
    "math-l5": ["Meta-Llama-3.1-405B-Instruct@hyperbolic", "gpt-4o-mini-2024-07-18", "claude-3-haiku-20240307"],
}
SUMMARY_NAMES = {"Meta-Llama-3.1-405B-Instruct@hyperbolic": "Llama-3.1-405B-Inst@hyperbolic"}
TOLERANCE = {"gsm": 1.0, "math-l5": 2.0}


@pytest.fixture(scope="module")
def zeroeval_raw(shared_data):
    result_dirs = shared_data / "zeroeval" / "result_dirs"
    files = [result_dirs / task / f"{model}.json.gz" for task, models in FILES.items() for model in models]
    return run_importer("zeroeval", files, ImportOptions(prices=PRICES))


def test_counts_tasks_and_missing_outcomes(zeroeval_raw) -> None:
    table = RoutingTable.build(zeroeval_raw)
    assert len(table.prompts) == 1319 + 721
    assert table.prompts.groupby("source").size().to_dict() == {"gsm8k": 1319, "math-l5": 721}
    assert table.prompts["prompt_id"].str.startswith(("zeroeval/gsm/", "zeroeval/math-l5/")).all()
    assert len(table.models) == 4 and len(table.rejected) == 0
    assert len(table.outcomes) == 681 + 2 * 1319 + 706 + 2 * 721
    report = zeroeval_raw.report
    assert report["missing_outcomes_by_model"] == {
        "gsm/gemini-1.5-flash-exp-0827": 1319 - 681,
        "math-l5/Meta-Llama-3.1-405B-Instruct@hyperbolic": 721 - 706,
    }
    quality = table.quality_matrix()
    gemini = table.model_names.index("gemini-1.5-flash-exp-0827")
    gsm_rows = (table.prompts["source"] == "gsm8k").to_numpy()
    assert np.isnan(quality[gsm_rows, gemini]).sum() == 1319 - 681  # missing, not failures
    assert set(np.unique(quality[~np.isnan(quality)])) == {0.0, 1.0}


def test_agreement_with_official_accuracies(zeroeval_raw, shared_data) -> None:
    outcomes = zeroeval_raw.outcomes.assign(task=zeroeval_raw.outcomes["prompt_id"].str.split("/").str[1])
    ours = outcomes.groupby(["task", "model"])["quality"].mean() * 100
    for task, models in FILES.items():
        summary = json.loads((shared_data / "zeroeval" / "result_dirs" / f"{task}.summary.json").read_text())
        official = {row["Model"]: float(row["Acc"]) for row in summary}
        for model in models:
            diff = ours[(task, model)] - official[SUMMARY_NAMES.get(model, model)]
            assert abs(diff) <= TOLERANCE[task], (task, model, diff)


def test_tokens_and_costs(zeroeval_raw) -> None:
    out = zeroeval_raw.outcomes
    assert (out["input_tokens"] > 10).all() and (out["output_tokens"] > 0).all()
    haiku = out[out["model"] == "claude-3-haiku-20240307"]
    expected = (haiku["input_tokens"] * 0.25 + haiku["output_tokens"] * 1.25) / 1e6
    assert np.allclose(haiku["cost"], expected)
    assert zeroeval_raw.models.set_index("model").loc["gpt-4o-mini-2024-07-18", "output_price"] == 0.60


def _record(i: int, output: object = '{"reasoning": "2 + 2", "answer": "4"}', **over: object) -> dict:
    return {"id": f"q{i}", "question": f"What is 2 + {i}?", "answer": "# 4", "output": [output], **over}


def _write(folder: Path, name: str, records: object, gz: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (f"{name}.json.gz" if gz else f"{name}.json")
    data = json.dumps(records).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_malformed_records_and_outputs(tmp_path) -> None:
    records = [
        _record(0),
        _record(1, output="Sure! The answer is 4."),  # no JSON: read from the text
        _record(2, output="I refuse."),  # nothing to read: quality 0, counted
        _record(3, output=None),  # no response at all
        _record(4, output='{"reasoning": "x", "answer": "5"}'),  # wrong
        {"question": "no id", "answer": "1", "output": ["1"]},
        _record(6, answer=""),
        _record(7, question=None),
        "not a record",
        _record(0),  # duplicate id
    ]
    raw = run_importer("zeroeval", [_write(tmp_path / "gsm", "model-a", records)])
    table = RoutingTable.build(raw)
    quality = table.outcomes.set_index("prompt_id")["quality"].to_dict()
    assert quality == {f"zeroeval/gsm/q{i}": q for i, q in [(0, 1.0), (1, 1.0), (2, 0.0), (3, 0.0), (4, 0.0)]}
    stats = raw.report["files"]["gsm/model-a.json"]
    assert stats["graded"] == 5 and stats["correct"] == 2 and stats["no_answer"] == 2
    reasons = table.rejected[table.rejected["table"] == "source"]["reason"].tolist()
    assert len(reasons) == 5 and sum("lacks" in r for r in reasons) == 3 and sum("repeated" in r for r in reasons) == 1


def test_source_layouts_agree(tmp_path) -> None:
    root = tmp_path / "zeroeval"
    _write(root / "result_dirs" / "gsm", "m1", [_record(0), _record(1)], gz=True)
    _write(root / "result_dirs" / "math-l5", "m1", [{"id": 0, "problem": "1+1?", "answer": "2", "output": ["2"]}])
    (root / "result_dirs" / "gsm.summary.json").write_text("[]")
    by_root = run_importer("zeroeval", [root])
    by_dirs = run_importer("zeroeval", [root / "result_dirs"])
    by_parts = run_importer("zeroeval", [root / "result_dirs" / "gsm", root / "result_dirs" / "math-l5" / "m1.json"])
    for raw in (by_dirs, by_parts):
        assert raw.outcomes[["prompt_id", "quality"]].equals(by_root.outcomes[["prompt_id", "quality"]])
    assert set(by_root.prompts["prompt_id"]) == {"zeroeval/gsm/q0", "zeroeval/gsm/q1", "zeroeval/math-l5/0"}
    assert "cost" not in by_root.outcomes and by_root.models["input_price"].isna().all()


def test_bad_sources_fail_clearly(tmp_path) -> None:
    stray = _write(tmp_path / "elsewhere", "m1", [_record(0)])
    with pytest.raises(DataError, match="task folder"):
        run_importer("zeroeval", [stray])
    with pytest.raises(DataError, match="no gsm/math-l5 output files"):
        run_importer("zeroeval", [tmp_path / "elsewhere"])
    broken = tmp_path / "gsm" / "m2.json"
    broken.parent.mkdir()
    broken.write_text("{not json")
    with pytest.raises(DataError, match="not a readable ZeroEval output file"):
        run_importer("zeroeval", [broken])
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  other: {input_price: 1, output_price: 1}\n")
    with pytest.raises(DataError, match="no entry for model"):
        run_importer("zeroeval", [_write(tmp_path / "math-l5", "m3", [_record(0)])], ImportOptions(prices=prices))


def test_text_that_utf8_cannot_hold_is_a_rejected_record(tmp_path) -> None:
    records = [_record(0), _record(1, question="bad \ud800"), _record(2, output='{"answer": "\udfff"}')]
    raw = run_importer("zeroeval", [_write(tmp_path / "gsm", "model-a", records)])  # token counting would fail
    assert list(raw.prompts["prompt_id"]) == ["zeroeval/gsm/q0"]
    assert list(raw.rejected["reason"]) == [
        "question is not valid Unicode: lone surrogate '\\ud800' at character 4 (cannot be stored as UTF-8)",
        "output[0] is not valid Unicode: lone surrogate '\\udfff' at character 12 (cannot be stored as UTF-8)",
    ]
