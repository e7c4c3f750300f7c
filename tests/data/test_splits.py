"""Deterministic hash split, kept source splits, dev carving and cross-split de-duplication."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from finerouter.data.splits import SplitConfig, assign_splits, drop_cross_split_duplicates
from finerouter.data.table import RawTable, RoutingTable
from finerouter.errors import DataError


def prompts(n: int, split: str | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {"prompt_id": [f"id-{i}" for i in range(n)], "prompt": [f"q {i}" for i in range(n)], "split": split}
    )


def test_hash_split_is_deterministic_order_free_and_near_the_fractions() -> None:
    df = prompts(20_000)
    a, report = assign_splits(df, SplitConfig())
    b, _ = assign_splits(df.sample(frac=1.0, random_state=1), SplitConfig())
    assert a.set_index("prompt_id")["split"].equals(b.set_index("prompt_id")["split"].loc[a["prompt_id"]])
    shares = a["split"].value_counts(normalize=True)
    assert abs(shares["train"] - 0.8) < 0.02 and abs(shares["dev"] - 0.1) < 0.01 and abs(shares["test"] - 0.1) < 0.01
    assert report["split_by_hash"] == 20_000 and report["dev_from_train"] == 0
    other, _ = assign_splits(df, SplitConfig(salt="other"))
    assert (other["split"] != a["split"]).any()


def test_source_split_is_kept_and_dev_is_carved_from_train_only() -> None:
    df = pd.concat([prompts(1000, "train"), prompts(200, "test").assign(prompt_id=lambda d: "t" + d["prompt_id"])])
    out, report = assign_splits(df, SplitConfig(dev_from_train=0.2))
    assert (out[df["split"].to_numpy() == "test"]["split"] == "test").all()
    assert report["split_from_source"] == 1200 and 150 < report["dev_from_train"] < 250
    assert set(out["split"]) == {"train", "dev", "test"}
    out, report = assign_splits(df, SplitConfig(dev_from_train=0))
    assert report["dev_from_train"] == 0 and "dev" not in set(out["split"])


def test_ignored_source_splits_are_all_hashed() -> None:
    df = pd.concat([prompts(3000, "train"), prompts(1000, "test").assign(prompt_id=lambda d: "t" + d["prompt_id"])])
    out, report = assign_splits(df, SplitConfig(train=0.7, dev=0.1, test=0.2, experimental={"source_splits": "ignore"}))
    assert report["split_by_hash"] == 4000 and report["source_split_ignored"] == 4000
    assert report["split_from_source"] == 0 and report["dev_from_train"] == 0
    shares = out["split"].value_counts(normalize=True)
    assert abs(shares["train"] - 0.7) < 0.03 and abs(shares["test"] - 0.2) < 0.03
    # the shipped test prompts are spread over every split now, not kept as test
    assert set(out[df["split"].to_numpy() == "test"]["split"]) == {"train", "dev", "test"}
    kept, report = assign_splits(df, SplitConfig())
    shipped_test = df["split"].to_numpy() == "test"
    assert "source_split_ignored" not in report and (kept["split"][shipped_test] == "test").all()


def test_rotations_make_disjoint_test_folds_that_cover_every_prompt() -> None:
    df = prompts(5000)
    folds = 5
    tests, devs = [], []
    for fold in range(folds):
        cfg = SplitConfig(train=0.7, dev=0.1, test=0.2, experimental={"rotate": fold / folds})
        out, _ = assign_splits(df, cfg)
        tests.append(set(out.loc[out["split"] == "test", "prompt_id"]))
        devs.append(set(out.loc[out["split"] == "dev", "prompt_id"]))
    assert sum(len(t) for t in tests) == len(df)
    assert set().union(*tests) == set(df["prompt_id"])
    assert all(abs(len(t) - 1000) < 100 for t in tests)
    assert all(not (devs[f] & tests[f]) for f in range(folds))
    assert tests[0] != tests[1]


def test_excluded_source_test_is_rejected_with_its_reason_and_the_rest_folded() -> None:
    raw = RawTable(
        prompts=pd.concat([prompts(40, "train"), prompts(10, "test").assign(prompt_id=lambda d: "t" + d["prompt_id"])]),
        models=pd.DataFrame({"model": ["a", "b"], "input_price": [1.0, 2.0], "output_price": [1.0, 2.0]}),
        outcomes=pd.DataFrame(
            {"prompt_id": [f"{t}id-{i}" for t, n in (("", 40), ("t", 10)) for i in range(n) for _ in "ab"],
             "model": ["a", "b"] * 50, "quality": [1.0, 0.0] * 50}
        ),
    )  # fmt: skip
    cfg = SplitConfig(train=0.6, dev=0.2, test=0.2, experimental={"source_splits": "exclude_test"})
    table = RoutingTable.build(raw, cfg)
    assert len(table.prompts) == 40 and not table.prompts["prompt_id"].str.startswith("t").any()
    held = table.rejected[table.rejected["reason"].str.contains("source test split held out")]
    assert held["table"].value_counts().to_dict() == {"outcomes": 20, "prompts": 10}  # outcomes say why too
    report = table.manifest["split_report"]
    assert report["source_test_held_out"] == 10 and report["source_split_ignored"] == 40
    assert table.manifest["counts"]["prompts"] == {"in": 50, "kept": 40, "rejected": 10}
    no_test = RawTable(prompts=prompts(5, "train"), models=raw.models, outcomes=raw.outcomes.iloc[:10])
    with pytest.raises(DataError, match="no test prompts to hold out"):
        RoutingTable.build(no_test, cfg)


def test_split_choices_are_validated() -> None:
    with pytest.raises(ValidationError, match="keep"):
        SplitConfig(experimental={"source_splits": "drop"})
    with pytest.raises(ValidationError, match="rotate"):
        SplitConfig(experimental={"rotate": 1.0})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        SplitConfig(rotate=0.2)  # the re-split options are experimental, not data.split's own


def test_cross_split_duplicates_stay_in_the_earliest_split() -> None:
    df = pd.DataFrame(
        {
            "prompt_id": ["tr1", "te1", "dv1", "te2", "tr2", "tr3"],
            "prompt": ["same", "same ", "other", "other", "solo", "solo"],
            "split": ["train", "test", "dev", "test", "train", "train"],
        }
    )
    kept, rejected, report = drop_cross_split_duplicates(df)
    assert set(kept["prompt_id"]) == {"tr1", "dv1", "tr2", "tr3"}
    assert report == {"cross_split_duplicates_removed": 2, "within_split_duplicates": 1}
    assert rejected["reason"].str.contains("removed from 'test'").all()
    assert rejected["reason"].str.contains("'tr1'").any() and rejected["reason"].str.contains("'dv1'").any()


def test_no_test_prompt_text_appears_in_train_after_build() -> None:
    texts = [f"question {i % 50}" for i in range(200)]  # heavy duplication, split by hash
    raw = RawTable(
        pd.DataFrame({"prompt_id": [f"p{i}" for i in range(200)], "prompt": texts}),
        pd.DataFrame({"model": ["m"]}),
        pd.DataFrame({"prompt_id": [f"p{i}" for i in range(200)], "model": "m", "quality": 1.0}),
    )
    table = RoutingTable.build(raw)
    by_split = table.prompts.groupby("split")["prompt"].apply(set)
    assert not (by_split["train"] & by_split.get("test", set()))
    assert not (by_split["train"] & by_split.get("dev", set()))
    c = table.manifest["counts"]["prompts"]
    assert c["in"] == c["kept"] + c["rejected"] and c["rejected"] > 0


def test_split_fractions_must_sum_to_one() -> None:
    with pytest.raises(ValidationError, match="sum to 1"):
        SplitConfig(train=0.5, dev=0.1, test=0.1)
