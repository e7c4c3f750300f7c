"""Fit every router on train (tuned on dev), score on test, and compute the field's cost-quality metrics."""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from typing import Any

import numpy as np

from finerouter.data.stats import oracle_choice
from finerouter.evaluation.data import EvalData, Split
from finerouter.evaluation.metrics import SWEEPS, aiq, cost_to_reach, outcome_of, paired_bootstrap, quality_at_cost
from finerouter.evaluation.routers import RoutingPolicy
from finerouter.routing.rule import choose_tolerance, choose_willingness

log = logging.getLogger("finerouter.eval")
MIN_SINGLE_COVERAGE = 0.95  # share of test prompts a model needs outcomes on to be the "best single model"


def single_models(test: Split, models: list[str]) -> dict[str, dict[str, float | None]]:
    """Each model's mean quality and cost on `split` (None where it has no outcome, or the table no costs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of an all-NaN column: no outcome or no cost
        q, c = np.nanmean(test.quality, axis=0), np.nanmean(test.cost, axis=0)
    covered = (~np.isnan(test.quality)).mean(axis=0)
    return {
        m: {"quality": _number(q[j]), "cost": _number(c[j]), "coverage": float(covered[j])}
        for j, m in enumerate(models)
    }


def _number(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def best_single_model(singles: dict[str, dict[str, float | None]]) -> str:
    """The single model with the highest quality (the cheaper on a tie), among those covering enough of the split:
    a model missing a few outcomes (e.g. rejected records) still counts; one covering little of it does not."""
    eligible = [m for m, s in singles.items() if s["coverage"] >= MIN_SINGLE_COVERAGE] or list(singles)

    def rank(m: str) -> tuple[float, float]:
        quality, cost = singles[m]["quality"], singles[m]["cost"]
        return (-np.inf if quality is None else quality, -np.inf if cost is None else -cost)

    return max(eligible, key=rank)


CHOOSERS = {"tau": choose_tolerance, "lambda": choose_willingness}
AUTO = "auto"  # per router, the sweep with the higher AIQ on dev


def trace(scores: np.ndarray, split: Split, model_cost: np.ndarray, sweep: str) -> list[dict[str, float]]:
    """(cost, quality) points of routing `split` with `scores` at every value of `sweep`; models without an
    outcome for a prompt are not offered."""
    available = ~np.isnan(split.quality)
    quality = np.nan_to_num(split.quality)
    cost = np.where(available, np.nan_to_num(split.cost), np.inf)
    scores = np.where(available, scores, np.nan)
    expected_cost = np.where(available, np.broadcast_to(model_cost, scores.shape), np.nan)
    points = []
    for value in SWEEPS[sweep]:
        q, c = outcome_of(CHOOSERS[sweep](scores, expected_cost, value), quality, cost)
        points.append({sweep: value, "quality": q, "cost": c})
    return points


def split_aiq(points: list[dict[str, float]], split: Split) -> float:
    with np.errstate(all="ignore"):
        costs = np.nanmean(split.cost, axis=0)
    return aiq(np.array([[p["cost"], p["quality"]] for p in points]), float(np.nanmin(costs)), float(np.nanmax(costs)))


def dev_sweep(router: RoutingPolicy, data: EvalData) -> tuple[str, dict[str, float]]:
    """The sweep (tau or lambda) whose curve has the higher AIQ on dev for this router (tau on a tie)."""
    scores = router.scores(data.dev)
    by_sweep = {name: split_aiq(trace(scores, data.dev, data.model_cost, name), data.dev) for name in SWEEPS}
    return max(SWEEPS, key=lambda name: (round(by_sweep[name], 9), name == "tau")), by_sweep


def evaluate(
    data: EvalData, routers: list[RoutingPolicy], subject: str | None = None, seed: int = 0, sweep: str = "tau"
) -> dict[str, Any]:
    """Fit, score and measure every router; `sweep` traces curves by tolerance tau, willingness-to-pay lambda, or
    'auto': per router, whichever of the two gives the higher AIQ on dev (test never chooses).

    Without costs (`data.has_costs` false) the oracle is the best model per prompt, routers are compared by the
    quality of their predicted best model, and every cost figure (cost, AIQ, curves, cost ratios) is None.
    Fit times are kept apart, under "timings": they differ between identical runs."""
    if sweep not in (*SWEEPS, AUTO):
        raise ValueError(f"unknown sweep {sweep!r}; valid: {', '.join((*SWEEPS, AUTO))}")
    test = data.test
    quality = np.nan_to_num(test.quality)  # masked below: no router may pick a model without an outcome
    available = ~np.isnan(test.quality)
    cost = np.where(available, np.nan_to_num(test.cost), np.inf)
    singles = single_models(test, data.models)
    best_single = best_single_model(singles)
    oracle_q, oracle_c = outcome_of(oracle_choice(test.quality, test.cost), quality, cost)
    results: dict[str, Any] = {
        "test_prompts": len(test),
        "costs_known": data.has_costs,
        "sweep": sweep,
        "cost_unit": data.cost_unit,
        "single_models": singles,
        "best_single_model": {"model": best_single, **singles[best_single]},
        "cheapest_model": _cheapest(singles),
        "oracle": {"quality": oracle_q, "cost": oracle_c if data.has_costs else None},
        "routers": {},
        "timings": {"fit_seconds": {}},
    }
    per_prompt: dict[str, np.ndarray] = {}
    fit_view = dataclasses.replace(data, test=None)  # routers never see the test split while fitting
    for router in routers:
        started = time.perf_counter()
        router.fit(fit_view)
        scores = np.where(available, router.scores(test), np.nan)
        # The headline is the predicted best model, the cheapest among tied best scores (tau 0), whatever the sweep;
        # with unknown (NaN) costs every model costs the same to the chooser, so it is the best-scored model.
        expected_cost = np.where(available, np.broadcast_to(data.model_cost, scores.shape), np.nan)
        choice = choose_tolerance(scores, expected_cost, 0.0)
        q0, c0 = outcome_of(choice, quality, cost)
        per_prompt[router.name] = quality[np.arange(len(choice)), choice]
        costed = _cost_metrics(router, scores, data, fit_view, sweep, singles) if data.has_costs else {}
        results["routers"][router.name] = {
            "quality": q0,
            "cost": c0 if data.has_costs else None,
            "pct_of_oracle": q0 / oracle_q if oracle_q else None,
            **(costed or NO_COST_METRICS),
            "by_source": _by_source(test, per_prompt[router.name]),
        }
        results["timings"]["fit_seconds"][router.name] = round(time.perf_counter() - started, 2)
        log.info("%-20s quality %.4f cost %s sweep %s", router.name, q0, results["routers"][router.name]["cost"],
                 results["routers"][router.name]["sweep"])  # fmt: skip
    if subject in per_prompt:
        results["bootstrap_vs_subject"] = {
            name: paired_bootstrap(per_prompt[subject], other, seed=seed)
            for name, other in per_prompt.items()
            if name != subject
        }
        results["bootstrap_subject"] = subject
    return results


NO_COST_METRICS: dict[str, Any] = {
    "aiq": None,
    "quality_at_best_single_cost": None,
    "cost_to_match_best_single": None,
    "cost_ratio_to_best_single": None,
    "sweep": None,
    "dev_aiq_by_sweep": None,
    "curve": [],
}


def _cost_metrics(
    router: RoutingPolicy, scores: np.ndarray, data: EvalData, fit_view: EvalData, sweep: str, singles: dict[str, Any]
) -> dict[str, Any]:
    """The router's cost-quality curve on test and what it says against the best single model."""
    chosen, dev_aiq = dev_sweep(router, fit_view) if sweep == AUTO else (sweep, None)
    points = trace(scores, data.test, data.model_cost, chosen)
    curve = np.array([[p["cost"], p["quality"]] for p in points])
    costs = [s["cost"] for s in singles.values() if s["cost"] is not None]
    best = singles[best_single_model(singles)]
    reach = cost_to_reach(curve, best["quality"])
    return {
        "aiq": aiq(curve, min(costs), max(costs)),
        "quality_at_best_single_cost": quality_at_cost(curve, best["cost"]),
        "cost_to_match_best_single": reach,
        "cost_ratio_to_best_single": None if reach is None else reach / best["cost"],
        "sweep": chosen,
        "dev_aiq_by_sweep": dev_aiq,
        "curve": points,
    }


def _cheapest(singles: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    priced = [m for m, s in singles.items() if s["cost"] is not None]
    if not priced:
        return None
    cheapest = min(priced, key=lambda m: singles[m]["cost"])
    return {"model": cheapest, **singles[cheapest]}


def _by_source(split: Split, chosen_quality: np.ndarray) -> dict[str, dict[str, float]]:
    sources = split.prompts["source"].fillna("(none)").to_numpy()
    out = {}
    for source in np.unique(sources):
        mask = sources == source
        out[str(source)] = {"prompts": int(mask.sum()), "quality": float(chosen_quality[mask].mean())}
    return out
