"""MMLU-Pro importer on the 29 real per-model zips, and on small hand-made files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from finerouter.data.importers import ImportOptions, run_importer
from finerouter.data.table import RoutingTable
from finerouter.data.tokens import count_tokens
from finerouter.errors import DataError

REPO = Path(__file__).resolve().parents[2]
PRICES = REPO / "configs/prices/mmlu-pro.yaml"


@pytest.fixture(scope="module")
def mmlu(shared_data):
    raw = run_importer("mmlu-pro", [shared_data / "mmlu-pro/eval_results"])
    return raw, RoutingTable.build(raw)


def test_all_29_models_import_with_bad_entries_rejected_and_counted(mmlu, shared_data) -> None:
    raw, table = mmlu
    assert len(table.models) == 29 and raw.report["models"] == 29
    assert table.manifest["counts"]["prompts"]["in"] == 12_032
    deepseek = raw.report["files"]["model_outputs_DeepSeek-Coder-V2_5shots.zip"]
    assert deepseek == {"model": "DeepSeek-Coder-V2", "entries": 10_394, "outcomes": 10_351, "rejected": 43}
    summary = table.rejection_summary()
    assert summary["source: entry is not a question record (not a JSON object)"] == 43
    # every source entry is either an outcome or a rejection
    for stats in raw.report["files"].values():
        assert stats["entries"] == stats["outcomes"] + stats["rejected"]
    assert set(table.outcomes["quality"].unique()) == {0.0, 1.0}
    assert table.prompts["source"].nunique() > 50 and table.prompts["category"].nunique() == 14
    assert table.prompts["prompt"].str.contains("\nA. ").all()


def test_quality_is_pred_equals_answer(mmlu, shared_data) -> None:
    _, table = mmlu
    with zipfile.ZipFile(shared_data / "mmlu-pro/eval_results/model_outputs_Yi-6B_5shots.zip") as z:
        entries = json.loads(z.read(z.namelist()[0]))
    expected = {f"mmlu-pro/{e['question_id']}": float(e.get("pred") == e["answer"]) for e in entries}
    got = table.outcomes[table.outcomes["model"] == "Yi-6B"]
    assert len(got) > 11_000
    assert all(expected[p] == q for p, q in zip(got["prompt_id"], got["quality"], strict=True))


def test_prices_give_costs_from_token_counts(shared_data) -> None:
    files = [
        shared_data / f"mmlu-pro/eval_results/model_outputs_{m}_5shots.zip" for m in ("Yi-6B", "gemini-1.5-pro-002")
    ]
    table = RoutingTable.build(run_importer("mmlu-pro", files, ImportOptions(prices=PRICES)))
    assert table.cost_basis == "call" and (table.outcomes["cost"] > 0).all()
    row = table.outcomes[table.outcomes["model"] == "gemini-1.5-pro-002"].iloc[0]
    assert row["cost"] == pytest.approx((row["input_tokens"] * 1.25 + row["output_tokens"] * 5.0) / 1e6)
    assert table.models.set_index("model").loc["Yi-6B", "input_price"] == 0.2


def write_zip(path: Path, entries: list) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(path.stem + ".json", json.dumps(entries))
    return path


def entry(qid: str, pred: str | None, answer: str = "B", question: str = "2+2?") -> dict:
    return {"question_id": qid, "question": question, "options": "['3', '4']", "answer": answer,
            "category": "math", "src": "ori_mmlu-math", "pred": pred, "model_outputs": "The answer is (B)"}  # fmt: skip


def test_small_files_edge_cases(tmp_path: Path) -> None:
    first = [entry("1", "B"), entry("2", None, question="3+3?"), "junk", {"pred": "A"}]
    write_zip(tmp_path / "model_outputs_m1_5shots.zip", first)
    write_zip(tmp_path / "model_outputs_m2_5shots.zip", [entry("1", "A", question="2 + 2?"), entry("1", "B")])
    raw = run_importer("mmlu-pro", [tmp_path])
    table = RoutingTable.build(raw)
    q = table.outcomes.set_index(["prompt_id", "model"])["quality"]
    assert q[("mmlu-pro/1", "m1")] == 1.0 and q[("mmlu-pro/2", "m1")] == 0.0  # missing pred = wrong
    assert q[("mmlu-pro/1", "m2")] == 0.0
    assert raw.report["question_text_revisions"] == 1
    assert table.manifest["source_rejected"] == 3  # junk, record without id, repeated id in m2
    assert table.prompts.set_index("prompt_id").loc["mmlu-pro/1", "prompt"] == "2+2?\nA. 3\nB. 4"


def test_errors(tmp_path: Path) -> None:
    (tmp_path / "model_outputs_bad_5shots.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable MMLU-Pro output file"):
        run_importer("mmlu-pro", [tmp_path / "model_outputs_bad_5shots.zip"])
    good = write_zip(tmp_path / "model_outputs_unpriced_5shots.zip", [entry("1", "B")])
    with pytest.raises(DataError, match=r"no entry for model\(s\) \['unpriced'\]"):
        run_importer("mmlu-pro", [good], ImportOptions(prices=PRICES))


def test_token_counts() -> None:
    assert count_tokens(["hello world", None, "", "hello, world!"]).tolist() == [2, 0, 0, 4]
    assert count_tokens(["word " * 5000])[0] == 5000  # never truncated
    assert np.issubdtype(count_tokens(["x"]).dtype, np.integer)
