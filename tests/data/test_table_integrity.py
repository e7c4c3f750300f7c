"""A rejected prompt takes its outcomes with it, text that cannot be stored is rejected, one cost basis per table,
and a damaged saved table is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finerouter.data.splits import SplitConfig
from finerouter.data.table import RawTable, RoutingTable
from finerouter.data.validate import object_frame
from finerouter.errors import DataError

NO_DEV = SplitConfig(dev_from_train=0)


def raw(prompts: list[dict], outcomes: list[dict], models: tuple[str, ...] = ("a", "b")) -> RawTable:
    return RawTable(object_frame(prompts), object_frame({"model": list(models)}), object_frame(outcomes))


def reasons(table: RoutingTable, name: str) -> list[str]:
    return list(table.rejected.loc[table.rejected["table"] == name, "reason"])


def assert_reconciles(table: RoutingTable) -> None:
    for name, c in table.manifest["counts"].items():
        assert c["in"] == c["kept"] + c["rejected"], name


def test_a_prompt_id_given_to_different_prompts_takes_all_their_outcomes_out() -> None:
    prompts = [
        {"prompt_id": "train/000000", "prompt": "What is 2+2?", "split": "train"},
        {"prompt_id": "other", "prompt": "Name a prime.", "split": "train"},
        {"prompt_id": "train/000000", "prompt": "Capital of France?", "split": "train"},  # another file's prompt
    ]
    outcomes = [
        {"prompt_id": "train/000000", "model": "a", "quality": 0.0},  # the first prompt's
        {"prompt_id": "other", "model": "a", "quality": 1.0},
        {"prompt_id": "train/000000", "model": "b", "quality": 0.9},  # the second prompt's: must not attach
    ]
    table = RoutingTable.build(raw(prompts, outcomes), NO_DEV)
    assert list(table.prompts["prompt_id"]) == ["other"]
    assert list(table.outcomes["prompt_id"]) == ["other"]
    conflict = "prompt_id 'train/000000' is given to 2 different prompts"
    assert sum(conflict in r for r in reasons(table, "prompts")) == 2
    assert all(r.startswith("its prompt was rejected: " + conflict) for r in reasons(table, "outcomes"))
    assert len(reasons(table, "outcomes")) == 2
    assert_reconciles(table)


def test_a_repeated_identical_prompt_keeps_the_first_and_its_outcomes() -> None:
    prompts = [{"prompt_id": "p", "prompt": "What is 2+2?", "split": "train"}] * 2
    outcomes = [{"prompt_id": "p", "model": "a", "quality": 1.0}, {"prompt_id": "p", "model": "b", "quality": 0.0}]
    table = RoutingTable.build(raw(prompts, outcomes), NO_DEV)
    assert list(table.prompts["prompt_id"]) == ["p"] and len(table.outcomes) == 2
    assert reasons(table, "prompts") == ["duplicate prompt_id of an identical prompt (first occurrence kept)"]
    assert_reconciles(table)


def test_a_lone_surrogate_is_a_rejected_row_not_an_error_at_save(tmp_path: Path) -> None:
    prompts = [
        {"prompt_id": "bad", "prompt": "broken \ud800 text", "split": "train"},
        {"prompt_id": "good", "prompt": "fine text", "split": "train"},
    ]
    outcomes = [
        {"prompt_id": "bad", "model": "a", "quality": 1.0},
        {"prompt_id": "good", "model": "a", "quality": 1.0},
        {"prompt_id": "good", "model": "b", "quality": 0.0, "response": "bad \udfff response"},
    ]
    table = RoutingTable.build(raw(prompts, outcomes), NO_DEV)
    assert list(table.prompts["prompt_id"]) == ["good"] and len(table.outcomes) == 1
    assert reasons(table, "prompts") == [
        "prompt is not valid Unicode: lone surrogate '\\ud800' at character 7 (cannot be stored as UTF-8)"
    ]
    outcome_reasons = reasons(table, "outcomes")
    assert outcome_reasons[0].startswith("its prompt was rejected: prompt is not valid Unicode")
    assert outcome_reasons[1].startswith("response is not valid Unicode: lone surrogate '\\udfff'")
    assert_reconciles(table)
    table.save(tmp_path / "t")  # the rejected records (surrogates included) are stored too
    loaded = RoutingTable.load(tmp_path / "t")
    record = json.loads(loaded.rejected["record"].iloc[0])
    assert record["prompt"] == "broken \ud800 text"


def test_a_model_with_an_unstorable_name_is_rejected_with_its_outcomes() -> None:
    prompts = [{"prompt_id": "p", "prompt": "q", "split": "train"}]
    outcomes = [
        {"prompt_id": "p", "model": "a", "quality": 1.0},
        {"prompt_id": "p", "model": "b\ud800", "quality": 1.0},
    ]
    table = RoutingTable.build(raw(prompts, outcomes, models=("a", "b\ud800")), NO_DEV)
    assert list(table.models["model"]) == ["a"]
    assert reasons(table, "models")[0].startswith("model is not valid Unicode")
    assert reasons(table, "outcomes")[0].startswith("its model was rejected: model is not valid Unicode")
    assert_reconciles(table)


def test_outcomes_without_a_cost_in_a_table_of_per_call_costs_are_rejected() -> None:
    prompts = [{"prompt_id": f"p{i}", "prompt": f"q{i}", "split": "train"} for i in range(2)]
    outcomes = [
        {"prompt_id": "p0", "model": "a", "quality": 1.0, "cost": 0.01},
        {"prompt_id": "p0", "model": "b", "quality": 0.0, "cost": None},  # one blank cost cell
        {"prompt_id": "p1", "model": "a", "quality": 0.5, "cost": 0.02},
        {"prompt_id": "p1", "model": "b", "quality": 0.5, "cost": 0.001},
    ]
    table = RoutingTable.build(raw(prompts, outcomes), NO_DEV)
    assert table.cost_basis == "call"  # not silently 'none' for the whole table
    assert len(table.outcomes) == 3
    assert reasons(table, "outcomes") == [
        "cost missing while the other outcomes of the table have a per-call cost "
        "(keeping it would drop the per-call cost basis of the whole table)"
    ]
    assert table.manifest["rejected_reasons"] == {f"outcomes: {reasons(table, 'outcomes')[0]}": 1}
    assert_reconciles(table)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    prompts = [{"prompt_id": f"p{i}", "prompt": f"q{i}", "split": "train"} for i in range(3)]
    outcomes = [{"prompt_id": f"p{i}", "model": "a", "quality": 1.0} for i in range(3)]
    return RoutingTable.build(raw(prompts, outcomes, models=("a",)), NO_DEV).save(tmp_path / "t")


def test_a_truncated_parquet_file_is_a_clear_error(saved: Path) -> None:
    data = (saved / "outcomes.parquet").read_bytes()
    (saved / "outcomes.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"outcomes\.parquet.*is not a readable Parquet file.*finerouter import"):
        RoutingTable.load(saved)


def test_a_truncated_manifest_is_a_clear_error(saved: Path) -> None:
    text = (saved / "manifest.json").read_text()
    (saved / "manifest.json").write_text(text[: len(text) // 2])
    with pytest.raises(DataError, match=r"manifest\.json.*line \d+ column \d+: not valid JSON"):
        RoutingTable.load(saved)
    (saved / "manifest.json").write_text("[1, 2]")
    with pytest.raises(DataError, match=r"manifest\.json.*must hold a JSON object"):
        RoutingTable.load(saved)
    (saved / "manifest.json").write_bytes(b'{"counts": "\xff"}')
    with pytest.raises(DataError, match=r"manifest\.json.*line 1: not UTF-8 text"):
        RoutingTable.load(saved)
