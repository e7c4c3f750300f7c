"""MMLU-Pro importer on the 29 real per-model zips, on small hand-made files, and the token counter."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from finerouter.data.importers import ImportOptions, run_importer
from finerouter.data.table import RawTable, RoutingTable
from finerouter.data.tokens import count_tokens, load_tokenizer
from finerouter.errors import DataError

REPO = Path(__file__).resolve().parents[2]
PRICES = REPO / "configs/prices/mmlu-pro.yaml"
DEEPSEEK = "model_outputs_DeepSeek-Coder-V2_5shots.zip"


@pytest.fixture(scope="module")
def mmlu(shared_data: Path) -> tuple[RawTable, RoutingTable]:
    """All 29 zips with the documented price table, imported once (~30 s on 2 cores, mostly token counting)."""
    raw = run_importer("mmlu-pro", [shared_data / "mmlu-pro/eval_results"], ImportOptions(prices=PRICES))
    return raw, RoutingTable.build(raw)


@pytest.mark.shared_data
@pytest.mark.slow
def test_all_29_models_with_bad_entries_rejected_and_counted(mmlu: tuple[RawTable, RoutingTable]) -> None:
    raw, table = mmlu
    assert len(table.models) == 29 and raw.report["models"] == 29
    assert len(raw.prompts) == raw.prompts["prompt_id"].nunique() == 12_032
    counts = table.manifest["counts"]
    assert counts["prompts"]["in"] == 12_032
    assert all(c["in"] == c["kept"] + c["rejected"] for c in counts.values())
    files = raw.report["files"]
    assert len(files) == 29 and all(s["entries"] == s["outcomes"] + s["rejected"] for s in files.values())
    assert files[DEEPSEEK] == {"model": "DeepSeek-Coder-V2", "entries": 10_394, "outcomes": 10_345, "rejected": 49}
    assert raw.report["records_read"] == 347_258 == len(raw.outcomes) + raw.report["records_rejected"]
    assert raw.report["records_rejected"] == table.manifest["source_rejected"] == 230
    source = table.rejected[table.rejected["table"] == "source"]
    not_dict = source[source["reason"] == "entry is not a question record (not a JSON object)"]
    assert len(not_dict) == 43 and all(json.loads(r)["file"] == DEEPSEEK for r in not_dict["record"])
    revisions = source[source["reason"].str.startswith("another revision of this question")]
    assert len(revisions) == 187 and raw.report["questions_with_several_revisions"] == 44
    assert set(table.outcomes["quality"].unique()) == {0.0, 1.0}
    assert table.prompts["category"].nunique() == 14 and table.prompts["source"].nunique() > 50
    assert table.prompts["prompt"].str.contains("\nA. ").all()


@pytest.mark.shared_data
@pytest.mark.slow
def test_quality_is_pred_equals_answer(mmlu: tuple[RawTable, RoutingTable], shared_data: Path) -> None:
    raw, _ = mmlu
    with zipfile.ZipFile(shared_data / "mmlu-pro/eval_results/model_outputs_Yi-6B_5shots.zip") as z:
        entries = json.loads(z.read(z.namelist()[0]))
    expected = pd.Series({f"mmlu-pro/{e['question_id']}": float(e.get("pred") == e["answer"]) for e in entries})
    got = raw.outcomes[raw.outcomes["model"] == "Yi-6B"].set_index("prompt_id")["quality"]
    assert len(got) == 12_032 - raw.report["files"]["model_outputs_Yi-6B_5shots.zip"]["rejected"] > 12_000
    assert (expected.loc[got.index] == got).all()
    assert got.mean() == pytest.approx(expected.loc[got.index].mean()) and 0.2 < got.mean() < 0.4


@pytest.mark.shared_data
@pytest.mark.slow
def test_costs_from_prices_and_token_counts(mmlu: tuple[RawTable, RoutingTable]) -> None:
    _, table = mmlu
    out = table.outcomes
    assert table.cost_basis == "call" and (out["cost"] > 0).all() and (out["input_tokens"] > 0).all()
    row = out[out["model"] == "gemini-1.5-pro-002"].iloc[0]
    assert row["cost"] == pytest.approx((row["input_tokens"] * 1.25 + row["output_tokens"] * 5.0) / 1e6)
    assert table.models.set_index("model").loc["Yi-6B", "input_price"] == 0.2
    sample = out.sample(200, random_state=0)
    assert (count_tokens(list(sample["response"])) == sample["output_tokens"].to_numpy()).all()


def write_zip(path: Path, entries: list[Any]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(path.stem + ".json", json.dumps(entries))
    return path


def entry(qid: int, pred: str | None, answer: str = "B", question: str = "2+2?", **extra: Any) -> dict[str, Any]:
    return {"question_id": qid, "question": question, "options": ["3", "4"], "answer": answer, "category": "math",
            "src": "ori_mmlu-math", "pred": pred, "model_outputs": "The answer is (B)", **extra}  # fmt: skip


def test_bad_entries_missing_pred_and_repeats(tmp_path: Path) -> None:
    no_id = entry(3, "B")
    del no_id["question_id"]
    records = [entry(1, "B"), entry(2, None, question="3+3?"), "junk", ["a", "list"], no_id, entry(1, "A")]
    write_zip(tmp_path / "model_outputs_m1_5shots.zip", records)
    (tmp_path / "model_outputs_m2_5shots.json").write_text(json.dumps([entry(1, "A"), entry(2, "B", question="3+3?")]))
    raw = run_importer("mmlu-pro", [tmp_path])
    assert raw.report["files"]["model_outputs_m1_5shots.zip"] == {"model": "m1", "entries": 6, "outcomes": 2,
                                                                  "rejected": 4}  # fmt: skip
    reasons = list(raw.rejected["reason"])
    assert reasons.count("entry is not a question record (not a JSON object)") == 2
    assert "question record lacks ['question_id']" in reasons
    assert "question_id repeated within one model's file (first kept)" in reasons
    table = RoutingTable.build(raw)
    q = table.outcomes.set_index(["prompt_id", "model"])["quality"]
    assert q[("mmlu-pro/1", "m1")] == 1.0 and q[("mmlu-pro/2", "m1")] == 0.0  # missing pred = wrong
    assert q[("mmlu-pro/1", "m2")] == 0.0 and q[("mmlu-pro/2", "m2")] == 1.0
    prompt = table.prompts.set_index("prompt_id").loc["mmlu-pro/1"]
    assert prompt["prompt"] == "2+2?\nA. 3\nB. 4" and prompt["category"] == "math"
    assert prompt["source"] == "ori_mmlu-math" and prompt["split"] in ("train", "dev", "test")
    assert table.outcomes["cost"].isna().all() and table.models["input_price"].isna().all()
    assert raw.outcomes.set_index(["prompt_id", "model"]).loc[("mmlu-pro/1", "m1"), "output_tokens"] == 6


def test_majority_revision_defines_the_prompt(tmp_path: Path) -> None:
    for model in ("a", "b"):
        write_zip(tmp_path / f"model_outputs_{model}_5shots.zip", [entry(1, "C", answer="C", question="Old  text?")])
    write_zip(tmp_path / "model_outputs_c_5shots.zip", [entry(1, "C", answer="C", question="Old text ?")])
    write_zip(tmp_path / "model_outputs_0new_5shots.zip", [entry(1, "B", question="New text?")])  # first file
    raw = run_importer("mmlu-pro", [tmp_path])
    assert raw.prompts["prompt"].tolist() == ["Old  text?\nA. 3\nB. 4"]
    assert sorted(raw.outcomes["model"]) == ["a", "b", "c"]  # whitespace-only differences: same question
    assert raw.rejected["reason"].tolist() == [
        "another revision of this question than most files hold (differs in text and answer)"
    ]
    assert raw.report["questions_with_several_revisions"] == 1


def test_unreadable_files_and_clashing_names(tmp_path: Path) -> None:
    bad = tmp_path / "model_outputs_bad_5shots.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"model_outputs_bad_5shots\.zip: not a readable MMLU-Pro output file"):
        run_importer("mmlu-pro", [bad])
    obj = tmp_path / "model_outputs_obj_5shots.json"
    obj.write_text('{"question_id": 1}')
    with pytest.raises(DataError, match="expected a JSON list"):
        run_importer("mmlu-pro", [obj])
    write_zip(tmp_path / "model_outputs_x_5shots.zip", [entry(1, "B")])
    (tmp_path / "model_outputs_x_5shots.json").write_text(json.dumps([entry(1, "B")]))
    with pytest.raises(DataError, match="several files give the same model"):
        run_importer("mmlu-pro", [tmp_path / "model_outputs_x_5shots.zip", tmp_path / "model_outputs_x_5shots.json"])


def test_price_table_must_cover_every_model(tmp_path: Path) -> None:
    good = write_zip(tmp_path / "model_outputs_Yi-6B_5shots.zip", [entry(1, "B"), entry(2, "A", question="1+1?")])
    other = write_zip(tmp_path / "model_outputs_unpriced_5shots.zip", [entry(1, "B")])
    with pytest.raises(DataError, match=r"no entry for model\(s\) \['unpriced'\]"):
        run_importer("mmlu-pro", [good, other], ImportOptions(prices=PRICES))
    raw = run_importer("mmlu-pro", [good], ImportOptions(prices=PRICES))
    out = raw.outcomes
    assert np.allclose(out["cost"], (out["input_tokens"] + out["output_tokens"]) * 0.2 / 1e6)
    assert out["input_tokens"].tolist() == count_tokens(["2+2?\nA. 3\nB. 4", "1+1?\nA. 3\nB. 4"]).tolist()


@pytest.mark.shared_data
def test_all_price_table_names_match_the_zip_names(shared_data: Path) -> None:
    from finerouter.data.importers.mmlu_pro import model_name
    from finerouter.data.prices import PriceTable

    names = {model_name(p) for p in (shared_data / "mmlu-pro/eval_results").glob("*.zip")}
    assert set(PriceTable.load(PRICES).prices) == names and len(names) == 29


def test_token_counts() -> None:
    assert count_tokens(["hello world", None, "", "hello, world!"]).tolist() == [2, 0, 0, 4]
    assert count_tokens(["word " * 5000])[0] == 5000  # never truncated
    assert count_tokens(["x"]).dtype == np.int64


def test_token_counts_equal_the_tokenizer_on_tricky_text() -> None:
    texts = [
        "Café naïve İstanbul", "中文字 and 日本", "a\x0cb c\x1fd\x85e", "[CLS] x [unk] [MASK]", "x\u00a0y\u2028z",
        "e = mc^2 ≈ 9·10^16 J 😀", "a" * 150 + " ok", "Don't   stop\t\nnow!!", "ﬁnance ½ Ⅻ", "\u200bzero\u200bwidth",
    ]  # fmt: skip
    reference = [len(ids) for ids in load_tokenizer()(texts, add_special_tokens=False)["input_ids"]]
    assert count_tokens(texts).tolist() == reference


def test_other_local_tokenizers_are_used_as_is(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"a": 0, "b": 1, "[UNK]": 2}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]").save_pretrained(tmp_path / "tok")
    assert count_tokens(["a b c", "ab", None], str(tmp_path / "tok")).tolist() == [3, 1, 0]
    with pytest.raises(DataError, match="could not be loaded offline"):
        count_tokens(["a"], str(tmp_path / "missing"))


def test_text_that_utf8_cannot_hold_is_a_rejected_entry(tmp_path: Path) -> None:
    write_zip(
        tmp_path / "model_outputs_m1_5shots.zip",
        [entry(1, "B"), entry(2, "B", question="bad \ud800?"), entry(3, "B", model_outputs="x \udfff")],
    )
    raw = run_importer("mmlu-pro", [tmp_path])  # token counting would fail on such text
    assert list(raw.prompts["prompt_id"]) == ["mmlu-pro/1"]
    assert list(raw.rejected["reason"]) == [
        "question is not valid Unicode: lone surrogate '\\ud800' at character 4 (cannot be stored as UTF-8)",
        "model_outputs is not valid Unicode: lone surrogate '\\udfff' at character 2 (cannot be stored as UTF-8)",
    ]
