"""RouterBench importer on a small hand-written fixture in RouterBench's wide format."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from finerouter.data.importers import ImportOptions, run_importer
from finerouter.data.importers.routerbench import model_columns, parse_prompt, split_from_name
from finerouter.data.table import RawTable, RoutingTable
from finerouter.errors import DataError

FIXTURE = Path(__file__).parent / "fixtures" / "routerbench"
GPT4, LLAMA, MISTRAL = "gpt-4-1106-preview", "meta/llama-2-70b-chat", "mistralai/mistral-7b-chat"
SOURCE_ROWS = 16  # 6 + 7 + 3 data rows in the three fixture files
PWNED = "['Summarise this:', __import__('os').system('echo pwned')]"


@pytest.fixture
def raw() -> RawTable:
    return run_importer("routerbench", [FIXTURE])


def _prompt(raw: RawTable, prompt_id: str) -> str:
    return raw.prompts.set_index("prompt_id").at[prompt_id, "prompt"]


def _outcome(raw: RawTable, prompt_id: str, model: str) -> pd.DataFrame:
    return raw.outcomes[(raw.outcomes["prompt_id"] == prompt_id) & (raw.outcomes["model"] == model)]


def test_split_from_file_names(raw: RawTable) -> None:
    split = raw.prompts.set_index("prompt_id")["split"]
    assert split["mmlu-astronomy.test.0"] == "test" and split["mmlu-astronomy.val.0"] == "train"
    assert split[["mt-bench.81", "mt-bench.82", "mt-bench.83"]].isna().all()
    assert set(raw.prompts["source"]) == {"mmlu", "mt-bench"}
    assert split_from_name(Path("gsm8k_test.pkl")) == "test"
    assert split_from_name(Path("mmlu_train.pickle")) == "train"
    assert split_from_name(Path("routerbench_0shot.pkl")) is None
    assert split_from_name(Path("train.csv")) is None
    table = RoutingTable.build(raw)
    assert table.manifest["split_report"]["split_from_source"] == 11  # 6 test + 5 train
    assert set(table.prompts["split"]) <= {"train", "dev", "test"}


def test_turns_parsed_and_other_brackets_kept(raw: RawTable) -> None:
    assert _prompt(raw, "mmlu-astronomy.val.0") == (
        "You are an astronomy tutor.\n\nWhat causes the phases of the Moon?"
    )
    assert _prompt(raw, "mt-bench.82") == "Draft a short email to your manager.\n\nNow make it 'shorter', please."
    assert _prompt(raw, "mmlu-astronomy.test.2") == "[INST] Name the largest planet in the solar system. [/INST]"
    assert _prompt(raw, "mmlu-astronomy.test.3") == "[1, 2, 3]"  # a list, but not of strings
    assert _prompt(raw, "mmlu-astronomy.val.2").startswith("[citation needed] Who")
    assert raw.report["turn_list_prompts"] == 4
    assert parse_prompt(["a", "b"]) == "a\n\nb"
    assert parse_prompt("[]") == "[]" and parse_prompt("  ") is None and parse_prompt(None) is None


def test_nothing_executed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[object] = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a) or 0)
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: calls.append(a))
    raw = run_importer("routerbench", [FIXTURE])
    assert _prompt(raw, "mmlu-astronomy.val.1") == PWNED  # kept verbatim, not evaluated
    marker = tmp_path / "pwned"
    for text in (
        f"[__import__('pathlib').Path({str(marker)!r}).touch()]",
        f"[open({str(marker)!r}, 'w').write('x')]",
        "['a'] + ['b']",
        "[" * 100_000 + "]" * 100_000,
    ):
        assert parse_prompt(text) == text
    assert calls == [] and not marker.exists()


def test_missing_outcomes_counted(raw: RawTable) -> None:
    assert raw.report["missing_outcomes"] == {GPT4: 1, LLAMA: 2, MISTRAL: 1}
    assert _outcome(raw, "mmlu-astronomy.val.3", LLAMA).empty
    assert len(raw.outcomes) == 3 * len(raw.prompts) - 4
    table = RoutingTable.build(raw)
    assert "mt-bench.83" not in set(table.prompts["prompt_id"])  # every quality blank
    assert table.manifest["importer_report"]["missing_outcomes"][LLAMA] == 2


def test_costs_and_responses_kept(raw: RawTable) -> None:
    table = RoutingTable.build(raw)
    out = table.outcomes.set_index(["prompt_id", "model"])
    assert out.at[("mmlu-astronomy.test.0", GPT4), "cost"] == pytest.approx(0.00042)
    assert out.at[("mt-bench.81", GPT4), "cost"] == pytest.approx(0.0121)
    assert out.at[("mt-bench.81", GPT4), "quality"] == pytest.approx(0.9)
    assert ("mmlu-astronomy.test.4", MISTRAL) not in out.index  # blank cost: rejected, not kept without one
    assert table.cost_basis == "call"  # one blank cell does not turn the whole table's costs to unknown
    assert raw.report["blank_costs"] == {MISTRAL: 1}
    blank = table.rejected[table.rejected["reason"].str.startswith("cost missing")]
    assert json.loads(blank["record"].iloc[0])["prompt_id"] == "mmlu-astronomy.test.4"
    assert out.at[("mmlu-astronomy.test.2", LLAMA), "response"] == "Jupiter."
    assert out.at[("mmlu-astronomy.val.1", MISTRAL), "response"] is None
    assert table.outcomes[["input_tokens", "output_tokens"]].isna().all().all()


def test_malformed_rows_rejected_and_counts_reconcile(raw: RawTable) -> None:
    assert len(raw.prompts) + len(raw.rejected) == SOURCE_ROWS
    reasons = list(raw.rejected["reason"])
    assert reasons == [
        "missing or blank sample_id in 'mmlu_train.csv'",
        "duplicate sample_id 'mmlu-astronomy.val.5': first read from 'mmlu_test.csv row 6', "
        "again in 'mmlu_train.csv row 7' (first kept)",
    ]
    assert json.loads(raw.rejected["record"][0])["prompt"].startswith("What is a comet's tail")
    assert _prompt(raw, "mmlu-astronomy.val.5").endswith("D) brightness")  # the first copy
    assert list(_outcome(raw, "mmlu-astronomy.val.4", MISTRAL)["quality"]) == ["high"]  # passed through
    table = RoutingTable.build(raw)
    counts = table.manifest["counts"]
    assert counts["prompts"] == {"in": 14, "kept": 13, "rejected": 1}
    assert counts["outcomes"] == {"in": 38, "kept": 36, "rejected": 2}
    assert table.manifest["source_rejected"] == 2
    bad = table.rejected[table.rejected["table"] == "outcomes"]
    assert list(bad["reason"]) == [
        "quality missing, not a number, or outside [0, 1]",
        "cost missing while the other outcomes of the table have a per-call cost "
        "(keeping it would drop the per-call cost basis of the whole table)",
    ]
    record = json.loads(bad["record"].iloc[0])  # the row as it came in, bad value included
    assert (record["prompt_id"], record["model"], record["quality"]) == (
        "mmlu-astronomy.val.4",
        MISTRAL,
        "high",
    )
    kept_prompts = counts["prompts"]["kept"] + counts["prompts"]["rejected"] + table.manifest["source_rejected"]
    assert kept_prompts == SOURCE_ROWS


def test_pickle_equals_csv(tmp_path: Path) -> None:
    for i, csv in enumerate(sorted(FIXTURE.glob("*.csv"))):
        suffix = ".pkl" if i % 2 == 0 else ".pickle"
        pd.read_csv(csv).to_pickle(tmp_path / f"{csv.stem}{suffix}")  # numeric columns as floats, blanks NaN
    from_csv, from_pkl = run_importer("routerbench", [FIXTURE]), run_importer("routerbench", [tmp_path])
    a, b = RoutingTable.build(from_csv), RoutingTable.build(from_pkl)
    for name in ("prompts", "models", "outcomes"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_dtype=False)
    unify = {"file": lambda s: s.str.replace(r"\.pkl|\.pickle", ".csv", regex=True)}
    pd.testing.assert_frame_equal(
        a.rejected.assign(record=unify["file"](a.rejected["record"])),
        b.rejected.assign(reason=unify["file"](b.rejected["reason"]), record=unify["file"](b.rejected["record"])),
    )
    for key in ("missing_outcomes", "turn_list_prompts", "rows_rejected", "ignored_columns"):
        assert from_csv.report[key] == from_pkl.report[key]


def test_prices_optional(tmp_path: Path, raw: RawTable) -> None:
    assert raw.models["input_price"].isna().all() and list(raw.models["model"]) == [GPT4, LLAMA, MISTRAL]
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        f"{GPT4}: {{input_price: 10, output_price: 30}}\n"
        f"{LLAMA}: {{input_price: 0.9, output_price: 0.9}}\n"
        f"{MISTRAL}: {{input_price: 0.2, output_price: 0.2}}\n"
    )
    priced = run_importer("routerbench", [FIXTURE], ImportOptions(prices=prices))
    assert priced.models.set_index("model").at[GPT4, "output_price"] == 30
    pd.testing.assert_frame_equal(priced.outcomes, raw.outcomes)
    prices.write_text(f"{GPT4}: {{input_price: 10, output_price: 30}}\n")
    with pytest.raises(DataError, match="no entry for model"):
        run_importer("routerbench", [FIXTURE], ImportOptions(prices=prices))


def test_model_columns() -> None:
    wide = [
        "sample_id",
        "prompt",
        "eval_name",
        "a",
        "a|model_response",
        "b",
        "b|total_cost",
        "notes",
        "c|total_cost",
    ]
    assert model_columns([*wide, "oracle_model_to_route_to"]) == (["a", "b"], ["notes", "c|total_cost"])
    assert model_columns(["Unnamed: 0", "sample_id", "prompt", "x", "y"]) == (["x", "y"], ["Unnamed: 0"])


def test_errors(tmp_path: Path) -> None:
    frame = pd.read_csv(FIXTURE / "mt_bench.csv")
    frame.drop(columns=["prompt"]).to_csv(tmp_path / "noprompt_test.csv", index=False)
    with pytest.raises(DataError, match=r"noprompt_test\.csv.*no 'prompt' column"):
        run_importer("routerbench", [tmp_path / "noprompt_test.csv"])
    frame.drop(columns=["sample_id"]).to_pickle(tmp_path / "noid.pkl")
    with pytest.raises(DataError, match=r"noid\.pkl.*no 'sample_id' column"):
        run_importer("routerbench", [tmp_path / "noid.pkl"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"not a \.csv, \.pkl or \.pickle file"):
        run_importer("routerbench", [tmp_path / "notes.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \.csv, \.pkl or \.pickle files in directory"):
        run_importer("routerbench", [tmp_path / "empty"])
    pd.Series([1, 2]).to_pickle(tmp_path / "series.pkl")
    with pytest.raises(DataError, match="holds a Series, not a pandas DataFrame"):
        run_importer("routerbench", [tmp_path / "series.pkl"])
    (tmp_path / "broken.pkl").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match=r"cannot read .*broken\.pkl"):
        run_importer("routerbench", [tmp_path / "broken.pkl"])


def test_a_truncated_last_row_is_rejected_with_its_reason(tmp_path: Path) -> None:
    text = (FIXTURE / "mt_bench.csv").read_text()
    lines = text.rstrip("\n").split("\n")
    cut = "\n".join([*lines[:-1], lines[-1][: len(lines[-1]) // 3]])  # the file ends inside its last row
    (tmp_path / "mt_bench.csv").write_text(cut)
    whole = run_importer("routerbench", [FIXTURE / "mt_bench.csv"])
    raw = run_importer("routerbench", [tmp_path / "mt_bench.csv"])
    assert len(raw.prompts) == len(whole.prompts) - 1
    assert len(raw.rejected) == 1
    reason = raw.rejected["reason"].iloc[0]
    assert reason.startswith(f"mt_bench.csv row {len(whole.prompts)} (line ")
    assert "fields where the header has" in reason or "malformed CSV" in reason
    assert raw.report["files"][str(tmp_path / "mt_bench.csv")]["malformed_rows"] == 1


def test_a_row_with_a_broken_quote_or_extra_fields_is_rejected(tmp_path: Path) -> None:
    header = f"sample_id,prompt,eval_name,{GPT4},{GPT4}|total_cost"
    rows = ['a.1,"fine",x,1.0,0.1', 'a.2,"bad"quote,x,1.0,0.1', "a.3,extra,x,1.0,0.1,9", "a.4,short,x,1.0",
            'a.5,"open,x,0.0,0.1']  # fmt: skip
    (tmp_path / "bad.csv").write_text("\n".join([header, *rows]) + "\n")
    raw = run_importer("routerbench", [tmp_path / "bad.csv"])
    assert list(raw.prompts["prompt_id"]) == ["a.1"]
    reasons = list(raw.rejected["reason"])
    assert reasons[0].startswith("bad.csv row 2 (line 3): malformed CSV")
    assert reasons[1] == "bad.csv row 3 (line 4): 6 fields where the header has 5 (a truncated or malformed row)"
    assert reasons[2] == "bad.csv row 4 (line 5): 4 fields where the header has 5 (a truncated or malformed row)"
    assert reasons[3].startswith("bad.csv row 5 (line 6): malformed CSV: unexpected end of data")
    assert len(raw.prompts) + len(raw.rejected) == 5


def test_non_utf8_bytes_name_the_file_and_line(tmp_path: Path) -> None:
    data = (FIXTURE / "mt_bench.csv").read_bytes().split(b"\n")
    data[2] = data[2].replace(b"e", b"\xe9", 1)  # Latin-1 e-acute
    (tmp_path / "latin1.csv").write_bytes(b"\n".join(data))
    with pytest.raises(DataError, match=r"latin1\.csv' line 3: not UTF-8 text \(byte 0xe9"):
        run_importer("routerbench", [tmp_path / "latin1.csv"])
