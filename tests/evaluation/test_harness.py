"""The harness on a small simulated table: routers see no test data, learned routers beat random, reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from finerouter.data.synthetic import SyntheticConfig, generate_synthetic
from finerouter.data.table import RoutingTable
from finerouter.errors import ConfigError
from finerouter.evaluation.data import load_eval_data
from finerouter.evaluation.harness import evaluate
from finerouter.evaluation.registry import build_routers
from finerouter.evaluation.report import write_report


@pytest.fixture(scope="module")
def data():
    table = RoutingTable.build(generate_synthetic(SyntheticConfig(n_prompts=1200, n_families=12, n_models=5)))
    # Family-structured stand-in embeddings keep this test fast; the encoder is tested elsewhere.
    rng = np.random.default_rng(0)
    families, idx = np.unique(table.prompts["source"], return_inverse=True)
    emb = rng.normal(size=(len(families), 32))[idx] + 0.3 * rng.normal(size=(len(idx), 32))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    return load_eval_data(table, emb, table.prompts["prompt_id"].to_numpy())


def test_routers_never_depend_on_test_outcomes(data) -> None:
    routers = build_routers(["random", "knn", "mlp", "mf", "ipr"], None)
    first = evaluate(data, routers)
    shuffled = data.test.quality.copy()
    np.random.default_rng(1).shuffle(shuffled)
    tampered = type(data)(data.models, data.model_cost, data.cost_unit, data.train, data.dev,
                          type(data.test)(data.test.prompts, shuffled, data.test.cost, data.test.emb))  # fmt: skip
    for router in build_routers(["knn", "mlp"], None):
        fit_view = type(data)(data.models, data.model_cost, data.cost_unit, data.train, data.dev, None)
        router.fit(fit_view)  # test=None: touching it would raise
        a = router.scores(data.test)
        router.fit(fit_view)
        np.testing.assert_allclose(a, router.scores(tampered.test), atol=1e-6)
    r = first["routers"]
    assert all(
        r[name]["quality"] > r["random"]["quality"] + 0.05
        for name in ("knn", "mlp", "matrix-factorisation", "ipr-style")
    )
    assert r["knn"]["quality"] <= first["oracle"]["quality"] + 1e-9
    assert first["best_single_model"]["quality"] == max(s["quality"] for s in first["single_models"].values())


def test_report_files(data, tmp_path) -> None:
    results = evaluate(data, build_routers(["random", "knn"], None), subject="knn")
    write_report(results, tmp_path, "Simulated")
    assert json.loads((tmp_path / "results.json").read_text())["test_prompts"] == len(data.test)
    report = (tmp_path / "report.md").read_text()
    assert "| knn |" in report and "Paired bootstrap" in report and "AIQ is the" in report
    assert (tmp_path / "pareto.png").stat().st_size > 10_000
    by_lambda = evaluate(data, build_routers(["knn"], None), sweep="lambda")["routers"]["knn"]
    assert by_lambda["quality"] == results["routers"]["knn"]["quality"]  # lambda = 0 is tau = 0
    assert [p["lambda"] for p in by_lambda["curve"]][:2] == [0.0, 0.01]
    costs = [p["cost"] for p in by_lambda["curve"]]
    assert costs[-1] < costs[0]  # paying less as lambda grows
    with pytest.raises(ConfigError, match="unknown router 'gpt'; valid routers: random, knn"):
        build_routers(["gpt"], None)
    with pytest.raises(ConfigError, match="needs a rebuild's artifacts"):
        build_routers(["finerouter-stage1"], None)


def test_stage1_vote_with_fewer_train_prompts_than_k() -> None:
    from finerouter.evaluation.data import Split
    from finerouter.evaluation.routers import Stage1Router

    router = Stage1Router(run_dir=None, k=10)  # type: ignore[arg-type]
    router.train_emb = np.eye(3, dtype=np.float32)
    router.train_tasks = np.array([0, 1, 1])
    query = Split(prompts=None, quality=np.zeros((2, 1)), cost=np.zeros((2, 1)), emb=np.eye(3, dtype=np.float32)[:2])
    assert router.assign(query).tolist() == [1, 1]  # majority of all three train prompts


def test_auto_sweep_is_chosen_per_router_on_dev(data, tmp_path) -> None:
    from finerouter.evaluation.harness import dev_sweep

    routers = build_routers(["knn", "mlp"], None)
    results = evaluate(data, routers, sweep="auto")
    fit_view = type(data)(data.models, data.model_cost, data.cost_unit, data.train, data.dev, None)
    for router in routers:
        r = results["routers"][router.name]
        chosen, by_sweep = dev_sweep(router, fit_view)  # test=None: choosing never reads test
        assert r["sweep"] == chosen and by_sweep[chosen] == max(by_sweep.values())
        assert r["dev_aiq_by_sweep"] == by_sweep
        fixed = evaluate(data, [router], sweep=chosen)["routers"][router.name]
        assert r["aiq"] == fixed["aiq"] and r["curve"] == fixed["curve"] and r["quality"] == fixed["quality"]
    write_report(results, tmp_path, "Simulated")
    report = (tmp_path / "report.md").read_text()
    assert "whichever gives the higher AIQ on dev" in report and "| sweep |" in report
    with pytest.raises(ValueError, match="unknown sweep 'tau2'; valid: tau, lambda, auto"):
        evaluate(data, routers, sweep="tau2")


def test_stage1_vote_equals_the_dense_bincount_vote() -> None:
    from finerouter.evaluation.data import Split
    from finerouter.evaluation.routers import Stage1Router

    rng = np.random.default_rng(5)
    router = Stage1Router(run_dir=None, k=10)  # type: ignore[arg-type]
    router.train_emb = rng.integers(-2, 3, size=(200, 6)).astype(np.float32)
    router.train_tasks = rng.integers(-1, 4, size=200)
    emb = rng.integers(-2, 3, size=(70, 6)).astype(np.float32)
    query = Split(prompts=None, quality=np.zeros((70, 1)), cost=np.zeros((70, 1)), emb=emb)
    nearest = np.argsort(-(emb @ router.train_emb.T), axis=1, kind="stable")[:, :10]
    votes = router.train_tasks[nearest]
    assert router.assign(query).tolist() == [np.bincount(v - v.min()).argmax() + v.min() for v in votes]
