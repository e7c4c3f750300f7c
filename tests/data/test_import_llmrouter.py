"""LLMRouter and dcrouter-json importers on the real files in ../shared/data."""

from __future__ import annotations

import json

import pytest

from finerouter.data.importers import run_importer
from finerouter.data.importers.dcrouter_json import split_from_name
from finerouter.data.stats import split_stats
from finerouter.data.table import RoutingTable
from finerouter.errors import DataError

BENCHMARKS = {
    "natural_qa", "trivia_qa", "commonsense_qa", "mmlu", "arc_challenge", "openbook_qa", "gsm8k", "math",
    "human_eval", "mbpp", "gpqa", "agentverse-mgsm", "agentverse-logicgrid", "commongen",
}  # fmt: skip


@pytest.fixture(scope="module")
def llmrouter_raw(shared_data):
    return run_importer("llmrouter", [shared_data / "llmrouter"])


def test_llmrouter_models_prices_and_labels(llmrouter_raw) -> None:
    table = RoutingTable.build(llmrouter_raw)
    assert len(table.models) == 9 and table.models[["input_price", "output_price"]].notna().all().all()
    assert table.prompts["source"].notna().all() and set(table.prompts["source"]) == BENCHMARKS
    assert len(llmrouter_raw.report["task_label_ambiguous"]) == 6  # listed under two benchmarks; counted
    assert table.manifest["split_report"]["cross_split_duplicates_removed"] == 119
    leak = "duplicate of prompt_id '…' in split '…': removed from '…' so it cannot leak across splits"
    assert table.rejection_summary() == {f"outcomes: its prompt was rejected: {leak}": 1071, f"prompts: {leak}": 119}


def test_llmrouter_reference_numbers(llmrouter_raw) -> None:
    table = RoutingTable.build(llmrouter_raw)
    test = split_stats(table.split("test"))
    assert test["prompts"] == 381  # 500 shipped, 119 also in train removed
    assert test["best_single_model"]["model"] == "llama-3.1-nemotron-51b-instruct"
    assert test["best_single_model"]["mean_quality"] == pytest.approx(0.597, abs=5e-4)
    assert test["oracle"]["mean_quality"] == pytest.approx(0.750, abs=5e-4)
    train = table.prompts[table.prompts["split"].isin(["train", "dev"])]
    assert len(train) == 5608  # the source's train split, 10% of it carved into dev by hash
    full_train = split_stats(
        RoutingTable(
            train,
            table.models,
            table.outcomes[table.outcomes.prompt_id.isin(set(train.prompt_id))],
            table.rejected,
            {},
        )
    )
    assert full_train["best_single_model"]["mean_quality"] == pytest.approx(0.621, abs=5e-4)
    assert full_train["oracle"]["mean_quality"] == pytest.approx(0.802, abs=5e-4)


def test_llmrouter_as_shipped_test_matches_published_reference(llmrouter_raw) -> None:
    import numpy as np

    ids = llmrouter_raw.prompts.query("split == 'test'")["prompt_id"]
    q = llmrouter_raw.outcomes[llmrouter_raw.outcomes["prompt_id"].isin(set(ids))].pivot(
        index="prompt_id", columns="model", values="quality"
    )
    assert len(q) == 500
    assert q.mean().max() == pytest.approx(0.563, abs=5e-4) and q.mean().idxmax() == "llama-3.1-nemotron-51b-instruct"
    assert np.mean(q.max(axis=1)) == pytest.approx(0.743, abs=5e-4)


def test_dcrouter_json_generic_files(tmp_path, shared_data) -> None:
    good = [
        {"question": "q1", "scores": {"m1": 1.0, "m2": 0.0}, "extra": 1},
        {"question": "q2", "scores": {"m1": 0.5}},
    ]
    bad = ["not a dict", {"question": "", "scores": {"m1": 1}}, {"question": "q3", "scores": {"m1": "high"}}]
    (tmp_path / "mine_train.json").write_text(json.dumps(good + bad))
    (tmp_path / "mine_test.json").write_text(
        json.dumps([{"question": "q1", "scores": {"m1": 1.0}}, {"question": "q4", "scores": {"m2": 1.0}}])
    )
    table = RoutingTable.build(run_importer("dcrouter-json", [tmp_path]))
    assert table.manifest["counts"]["prompts"] == {"in": 4, "kept": 3, "rejected": 1}  # q1 in test removed
    assert table.manifest["source_rejected"] == 3
    assert set(table.prompts.query("split == 'test'")["prompt"]) == {"q4"}
    assert table.manifest["importer_report"]["ignored_fields"] == ["extra"]
    real = run_importer("dcrouter-json", [shared_data / "llmrouter/data/dcrouter_preprocessed/test.json"])
    assert len(real.prompts) == 500 and real.models["input_price"].isna().all()


def test_split_from_name_and_importer_errors(tmp_path) -> None:
    assert split_from_name(tmp_path / "train.json") == "train"
    assert split_from_name(tmp_path / "nq_val.json") == "dev"
    assert split_from_name(tmp_path / "scores.json") is None
    with pytest.raises(DataError, match="unknown import format 'nope'; valid formats: dcrouter-json"):
        run_importer("nope", [tmp_path])
    with pytest.raises(DataError, match="not found"):
        run_importer("dcrouter-json", [tmp_path / "missing.json"])
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(DataError, match="not a readable JSON"):
        run_importer("dcrouter-json", [tmp_path / "x.json"])
    (tmp_path / "y.json").write_text("[]")
    with pytest.raises(DataError, match="no records"):
        run_importer("dcrouter-json", [tmp_path / "y.json"])
