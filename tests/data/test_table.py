"""Schema validation, reconciliation and storage of the routing table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from finerouter.data.splits import SplitConfig
from finerouter.data.table import RawTable, RoutingTable
from finerouter.errors import DataError


def raw(prompts: list[dict], models: list[dict], outcomes: list[dict]) -> RawTable:
    return RawTable(pd.DataFrame(prompts), pd.DataFrame(models), pd.DataFrame(outcomes))


@pytest.fixture
def messy() -> RawTable:
    prompts = [
        {"prompt_id": "p1", "prompt": "What is 2+2?", "split": "train"},
        {"prompt_id": "p2", "prompt": "Capital of France?", "split": "test"},
        {"prompt_id": "p3", "prompt": "   ", "split": "train"},  # empty prompt
        {"prompt_id": "p1", "prompt": "What is 2+2?", "split": "train"},  # the same prompt again
        {"prompt_id": "p4", "prompt": "Name a prime.", "split": "validation"},  # bad split
        {"prompt_id": "p5", "prompt": "No outcomes here", "split": "train"},
    ]
    models = [
        {"model": "a", "input_price": 1.0, "output_price": 2.0},
        {"model": "b", "input_price": 0.1, "output_price": 0.1},
        {"model": "c", "input_price": -1.0, "output_price": 0.1},  # negative price
    ]
    outcomes = [
        {"prompt_id": "p1", "model": "a", "quality": 1.0},
        {"prompt_id": "p1", "model": "b", "quality": 0.0},
        {"prompt_id": "p2", "model": "a", "quality": 0.5},
        {"prompt_id": "p2", "model": "b", "quality": 1.5},  # out of range
        {"prompt_id": "p2", "model": "a", "quality": 0.7},  # duplicate pair
        {"prompt_id": "p1", "model": "zzz", "quality": 1.0},  # unknown model
        {"prompt_id": "p9", "model": "a", "quality": 1.0},  # unknown prompt
        {"prompt_id": "p3", "model": "a", "quality": 1.0},  # prompt rejected
        {"prompt_id": "p1", "model": "c", "quality": 1.0},  # model rejected
        {"prompt_id": "p2", "model": "b", "quality": None},  # missing quality
    ]
    return raw(prompts, models, outcomes)


def test_every_row_is_kept_or_rejected_with_a_reason(messy: RawTable) -> None:
    table = RoutingTable.build(messy)
    counts = table.manifest["counts"]
    assert counts["prompts"] == {"in": 6, "kept": 2, "rejected": 4}
    assert counts["models"] == {"in": 3, "kept": 2, "rejected": 1}
    assert counts["outcomes"] == {"in": 10, "kept": 3, "rejected": 7}
    reasons = table.rejected.groupby("table")["reason"].apply(list).to_dict()
    assert any("empty prompt" in r for r in reasons["prompts"])
    assert any("duplicate prompt_id" in r for r in reasons["prompts"])
    assert any("unknown split 'validation'" in r for r in reasons["prompts"])
    assert any("no valid outcomes" in r for r in reasons["prompts"])
    assert any("input_price" in r for r in reasons["models"])
    outcome_reasons = " | ".join(reasons["outcomes"])
    for expected in (
        "outside [0, 1]",
        "duplicate outcome",
        "unknown model 'zzz'",
        "unknown prompt_id",
        "its prompt was rejected",
    ):
        assert expected in outcome_reasons
    # the rejected record keeps the offending row itself
    record = json.loads(table.rejected[table.rejected["reason"].str.contains("zzz")]["record"].iloc[0])
    assert record["model"] == "zzz" and record["prompt_id"] == "p1"


def test_save_load_round_trip(tmp_path, messy: RawTable) -> None:
    table = RoutingTable.build(messy)
    table.save(tmp_path / "t")
    loaded = RoutingTable.load(tmp_path / "t")
    assert loaded.manifest["counts"] == table.manifest["counts"]
    np.testing.assert_array_equal(loaded.quality_matrix(), table.quality_matrix())
    assert list(loaded.outcomes["input_tokens"].dtype.name for _ in [0]) == ["Int64"]
    assert len(loaded.rejected) == len(table.rejected)


def test_the_same_import_saves_the_same_bytes(tmp_path, messy: RawTable) -> None:
    import time

    from finerouter.fingerprint import fingerprint_tree

    RoutingTable.build(messy).save(tmp_path / "a")
    time.sleep(1.1)  # a wall-clock field at second resolution would differ
    RoutingTable.build(messy).save(tmp_path / "b")
    assert fingerprint_tree(tmp_path / "a") == fingerprint_tree(tmp_path / "b")


def test_load_rejects_tampered_or_missing_tables(tmp_path, messy: RawTable) -> None:
    with pytest.raises(DataError, match="does not exist"):
        RoutingTable.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="missing"):
        RoutingTable.load(tmp_path / "empty")
    path = RoutingTable.build(messy).save(tmp_path / "t")
    outcomes = pd.read_parquet(path / "outcomes.parquet")
    outcomes.loc[0, "quality"] = 3.0
    outcomes.to_parquet(path / "outcomes.parquet")
    with pytest.raises(DataError, match="outside"):
        RoutingTable.load(path)


def test_unknown_and_missing_columns_are_errors() -> None:
    with pytest.raises(DataError, match="required column"):
        RoutingTable.build(
            raw([{"prompt_id": "p"}], [{"model": "a"}], [{"prompt_id": "p", "model": "a", "quality": 1}])
        )
    with pytest.raises(DataError, match="unknown column"):
        RoutingTable.build(
            raw(
                [{"prompt_id": "p", "prompt": "x", "colour": 1}],
                [{"model": "a"}],
                [{"prompt_id": "p", "model": "a", "quality": 1}],
            )
        )


def test_matrices_and_cost_basis() -> None:
    prompts = [{"prompt_id": f"p{i}", "prompt": f"q{i}", "split": "train"} for i in range(3)]
    models = [
        {"model": "a", "input_price": 1.0, "output_price": 3.0},
        {"model": "b", "input_price": 0.5, "output_price": 0.5},
    ]
    outcomes = [
        {"prompt_id": "p0", "model": "a", "quality": 1.0},
        {"prompt_id": "p0", "model": "b", "quality": 0.0},
        {"prompt_id": "p1", "model": "b", "quality": 0.25},
        {"prompt_id": "p2", "model": "a", "quality": 0.5},
    ]
    table = RoutingTable.build(raw(prompts, models, outcomes), SplitConfig(dev_from_train=0))
    q = table.quality_matrix()
    assert q.shape == (3, 2) and np.isnan(q[1, 0]) and q[1, 1] == 0.25
    assert table.cost_basis == "price"
    c = table.cost_matrix()
    assert c[0, 0] == 2.0 and c[0, 1] == 0.5 and np.isnan(c[1, 0])
    with_cost = [{**o, "cost": 0.01} for o in outcomes]
    table = RoutingTable.build(raw(prompts, models, with_cost), SplitConfig(dev_from_train=0))
    assert table.cost_basis == "call" and np.nanmax(table.cost_matrix()) == 0.01


def test_sample_prompts_keeps_a_stable_sample_and_records_the_rest() -> None:
    prompts = [{"prompt_id": f"p{i}", "prompt": f"question {i}", "split": None} for i in range(50)]
    models = [{"model": "a", "input_price": 1.0, "output_price": 1.0}]
    outcomes = [{"prompt_id": f"p{i}", "model": "a", "quality": 1.0} for i in range(50)]
    table = RoutingTable.build(raw(prompts, models, outcomes), SplitConfig(sample_prompts=20))
    assert len(table.prompts) == 20 and len(table.outcomes) == 20
    sampled_out = table.rejected[table.rejected["reason"].str.contains("sample of 20 prompts")]
    assert (sampled_out["table"] == "prompts").sum() == 30
    assert table.manifest["counts"]["outcomes"] == {"in": 50, "kept": 20, "rejected": 30}
    shuffled = RoutingTable.build(raw(prompts[::-1], models, outcomes), SplitConfig(sample_prompts=20))
    assert set(shuffled.prompts["prompt_id"]) == set(table.prompts["prompt_id"])


def test_train_subsample_shrinks_train_only_nested_and_records_the_rest() -> None:
    prompts = [{"prompt_id": f"p{i}", "prompt": f"question {i}", "split": None} for i in range(200)]
    models = [{"model": "a", "input_price": 1.0, "output_price": 1.0}]
    outcomes = [{"prompt_id": f"p{i}", "model": "a", "quality": 1.0} for i in range(200)]
    full = RoutingTable.build(raw(prompts, models, outcomes))
    by_split = {name: set(full.split(name).prompts["prompt_id"]) for name in ("train", "dev", "test")}
    half = RoutingTable.build(raw(prompts, models, outcomes), SplitConfig(experimental={"train_subsample": 0.5}))
    quarter = RoutingTable.build(
        raw(prompts[::-1], models, outcomes), SplitConfig(experimental={"train_subsample": 0.25})
    )
    for table, fraction in ((half, 0.5), (quarter, 0.25)):
        assert {n: set(table.split(n).prompts["prompt_id"]) for n in ("dev", "test")} == {
            n: by_split[n] for n in ("dev", "test")
        }
        train = set(table.split("train").prompts["prompt_id"])
        assert train <= by_split["train"] and len(train) == round(fraction * len(by_split["train"]))
        reason = table.rejected["reason"].str.contains(f"not in the {fraction:g} subsample")
        left_out = table.rejected[reason & (table.rejected["table"] == "prompts")]
        assert {json.loads(r)["prompt_id"] for r in left_out["record"]} == by_split["train"] - train
        assert table.manifest["counts"]["prompts"]["rejected"] == len(left_out)
        assert table.manifest["counts"]["outcomes"]["rejected"] == len(left_out)
    assert set(quarter.split("train").prompts["prompt_id"]) <= set(half.split("train").prompts["prompt_id"])
    assert full.manifest["split_config"]["experimental"]["train_subsample"] is None
    assert half.manifest["split_config"]["experimental"]["train_subsample"] == 0.5


def test_train_subsample_outside_0_1_is_refused() -> None:
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="train_subsample"):
            SplitConfig(experimental={"train_subsample": bad})
