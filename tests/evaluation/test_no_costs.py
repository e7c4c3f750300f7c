"""A table without costs: the oracle is the best model per prompt; costs, cost ratios and AIQ are n/a (null)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from finerouter.data.stats import oracle_choice
from finerouter.data.synthetic import SyntheticConfig, generate_synthetic
from finerouter.data.table import RawTable, RoutingTable
from finerouter.evaluation.data import EvalData, load_eval_data
from finerouter.evaluation.harness import evaluate
from finerouter.evaluation.registry import build_routers
from finerouter.evaluation.report import write_report

COST_FIELDS = ("cost", "aiq", "quality_at_best_single_cost", "cost_to_match_best_single", "cost_ratio_to_best_single")


def stand_in_embeddings(table: RoutingTable, dim: int = 32) -> np.ndarray:
    """Family-structured vectors (the encoder is tested elsewhere); random when the table has no sources."""
    rng = np.random.default_rng(0)
    sources = table.prompts["source"].fillna("").to_numpy()
    _, family = np.unique(sources, return_inverse=True)
    emb = rng.normal(size=(family.max() + 1, dim))[family] + 0.3 * rng.normal(size=(len(family), dim))
    return (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)


def without_costs(table: RoutingTable) -> EvalData:
    assert table.cost_basis == "none"
    return load_eval_data(table, stand_in_embeddings(table), table.prompts["prompt_id"].to_numpy())


@pytest.fixture(scope="module")
def data() -> EvalData:
    raw = generate_synthetic(SyntheticConfig(n_prompts=600, n_families=8, n_models=4))
    raw.outcomes["cost"] = np.nan
    raw.models[["input_price", "output_price"]] = np.nan
    return without_costs(RoutingTable.build(RawTable(raw.prompts, raw.models, raw.outcomes)))


def assert_no_cost_results(results: dict, test_quality: np.ndarray) -> None:
    best_per_prompt = np.nanmax(test_quality, axis=1).mean()
    assert results["oracle"] == {"quality": pytest.approx(best_per_prompt), "cost": None}
    assert results["oracle"]["quality"] >= results["best_single_model"]["quality"]
    assert results["cheapest_model"] is None
    assert all(s["cost"] is None for s in results["single_models"].values())
    for name, r in results["routers"].items():
        assert r["quality"] <= results["oracle"]["quality"] + 1e-9, name
        assert 0 < r["pct_of_oracle"] <= 1.0, name
        assert all(r[field] is None for field in COST_FIELDS), name
        assert r["curve"] == [] and r["sweep"] is None, name
    assert results["costs_known"] is False


def test_oracle_without_costs_is_the_best_model_per_prompt() -> None:
    quality = np.array([[0.2, 0.9, 0.5], [1.0, 0.0, 1.0], [0.1, np.nan, 0.3]])
    unknown = np.full_like(quality, np.nan)
    assert oracle_choice(quality, unknown).tolist() == [1, 0, 2]
    known = np.array([[1.0, 2.0, 3.0], [5.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    assert oracle_choice(quality, known).tolist() == [1, 2, 2]  # ties still go to the cheaper model


@pytest.mark.parametrize("sweep", ["tau", "lambda", "auto"])
def test_evaluation_without_costs(data: EvalData, sweep: str) -> None:
    results = evaluate(data, build_routers(["random", "knn", "mlp"], None), subject="knn", sweep=sweep)
    assert_no_cost_results(results, data.test.quality)
    r = results["routers"]
    assert r["knn"]["quality"] > r["random"]["quality"]  # routers still compared by quality


def test_report_without_costs(data: EvalData, tmp_path: Path) -> None:
    results = evaluate(data, build_routers(["random", "knn"], None), subject="knn")
    write_report(results, tmp_path, "No costs")
    text = (tmp_path / "results.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["routers"]["knn"]["aiq"] is None
    report = (tmp_path / "report.md").read_text()
    assert not re.search(r"\bnan\b", report, re.IGNORECASE)
    assert "no costs" in report and "best model per prompt" in report
    knn_row = next(line for line in report.splitlines() if line.startswith("| knn |"))
    cells = [c.strip() for c in knn_row.strip("|").split("|")]
    assert cells[2] == "n/a" and cells[4] == "n/a" and cells[3].endswith("%") and cells[3] != "n/a"
    assert (tmp_path / "pareto.png").stat().st_size > 10_000


@pytest.mark.shared_data
def test_dcrouter_json_without_costs_end_to_end(shared_data: Path, tmp_path: Path) -> None:
    from finerouter.data.importers import run_importer

    source = shared_data / "llmrouter/data/dcrouter_preprocessed"
    if not source.is_dir():
        pytest.skip(f"{source} not found")
    table = RoutingTable.build(run_importer("dcrouter-json", [source]), origin="dcrouter-json")
    data = without_costs(table)
    results = evaluate(data, build_routers(["random", "knn"], None))
    assert_no_cost_results(results, data.test.quality)
    assert results["oracle"]["quality"] > results["best_single_model"]["quality"]
    write_report(results, tmp_path, "dcrouter")
    assert "NaN" not in (tmp_path / "results.json").read_text()
