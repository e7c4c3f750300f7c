"""Fit every router on train (tuned on dev), score on test, and compute the field's cost-quality metrics."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np

from finerouter.data.stats import oracle_choice
from finerouter.evaluation.data import EvalData, Split
from finerouter.evaluation.metrics import (
    SWEEPS,
    aiq,
    choose_tolerance,
    choose_willingness,
    cost_to_reach,
    outcome_of,
    paired_bootstrap,
    quality_at_cost,
)
from finerouter.evaluation.routers import Router

log = logging.getLogger("finerouter.eval")
MIN_SINGLE_COVERAGE = 0.95  # share of test prompts a model needs outcomes on to be the "best single model"


def single_models(test: Split, models: list[str]) -> dict[str, dict[str, float]]:
    with np.errstate(all="ignore"):
        q, c = np.nanmean(test.quality, axis=0), np.nanmean(test.cost, axis=0)
    covered = (~np.isnan(test.quality)).mean(axis=0)
    return {
        m: {"quality": float(q[j]), "cost": float(c[j]), "coverage": float(covered[j])} for j, m in enumerate(models)
    }


def best_single_model(singles: dict[str, dict[str, float]]) -> str:
    """The single model with the highest quality (the cheaper on a tie), among those covering enough of the split:
    a model missing a few outcomes (e.g. rejected records) still counts; one covering little of it does not."""
    eligible = [m for m, s in singles.items() if s["coverage"] >= MIN_SINGLE_COVERAGE] or list(singles)
    return max(eligible, key=lambda m: (singles[m]["quality"], -singles[m]["cost"]))


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


def dev_sweep(router: Router, data: EvalData) -> tuple[str, dict[str, float]]:
    """The sweep (tau or lambda) whose curve has the higher AIQ on dev for this router (tau on a tie)."""
    scores = router.scores(data.dev)
    by_sweep = {name: split_aiq(trace(scores, data.dev, data.model_cost, name), data.dev) for name in SWEEPS}
    return max(SWEEPS, key=lambda name: (round(by_sweep[name], 9), name == "tau")), by_sweep


def evaluate(
    data: EvalData, routers: list[Router], subject: str | None = None, seed: int = 0, sweep: str = "tau"
) -> dict[str, Any]:
    """Fit, score and measure every router; `sweep` traces curves by tolerance tau, willingness-to-pay lambda, or
    'auto': per router, whichever of the two gives the higher AIQ on dev (test never chooses)."""
    if sweep not in (*SWEEPS, AUTO):
        raise ValueError(f"unknown sweep {sweep!r}; valid: {', '.join((*SWEEPS, AUTO))}")
    test = data.test
    quality = np.nan_to_num(test.quality)  # masked below: no router may pick a model without an outcome
    available = ~np.isnan(test.quality)
    cost = np.where(available, np.nan_to_num(test.cost), np.inf)
    singles = single_models(test, data.models)
    best_single = best_single_model(singles)
    cheapest = min(data.models, key=lambda m: singles[m]["cost"])
    c_min = min(s["cost"] for s in singles.values())
    c_max = max(s["cost"] for s in singles.values())
    pick = oracle_choice(test.quality, test.cost)
    oracle_q, oracle_c = outcome_of(pick, quality, cost)
    results: dict[str, Any] = {
        "test_prompts": len(test),
        "sweep": sweep,
        "cost_unit": data.cost_unit,
        "single_models": singles,
        "best_single_model": {"model": best_single, **singles[best_single]},
        "cheapest_model": {"model": cheapest, **singles[cheapest]},
        "oracle": {"quality": oracle_q, "cost": oracle_c},
        "routers": {},
    }
    per_prompt: dict[str, np.ndarray] = {}
    fit_view = dataclasses.replace(data, test=None)  # routers never see the test split while fitting
    for router in routers:
        started = time.perf_counter()
        router.fit(fit_view)
        chosen, dev_aiq = dev_sweep(router, fit_view) if sweep == AUTO else (sweep, None)
        scores = np.where(available, router.scores(test), np.nan)
        points = trace(scores, test, data.model_cost, chosen)
        # The headline is the predicted best model, the cheapest among tied best scores (tau 0), whatever the sweep.
        expected_cost = np.where(available, np.broadcast_to(data.model_cost, scores.shape), np.nan)
        choice = choose_tolerance(scores, expected_cost, 0.0)
        q0, c0 = outcome_of(choice, quality, cost)
        per_prompt[router.name] = quality[np.arange(len(choice)), choice]
        by_source = _by_source(test, per_prompt[router.name])
        curve = np.array([[p["cost"], p["quality"]] for p in points])
        reach = cost_to_reach(curve, singles[best_single]["quality"])
        results["routers"][router.name] = {
            "quality": q0,
            "cost": c0,
            "pct_of_oracle": q0 / oracle_q if oracle_q else None,
            "aiq": aiq(curve, c_min, c_max),
            "quality_at_best_single_cost": quality_at_cost(curve, singles[best_single]["cost"]),
            "cost_to_match_best_single": reach,
            "cost_ratio_to_best_single": None if reach is None else reach / singles[best_single]["cost"],
            "sweep": chosen,
            "dev_aiq_by_sweep": dev_aiq,
            "curve": points,
            "by_source": by_source,
            "fit_seconds": round(time.perf_counter() - started, 2),
        }
        log.info("%-20s quality %.4f cost %.4f sweep %s", router.name, q0, c0, chosen)
    if subject in per_prompt:
        results["bootstrap_vs_subject"] = {
            name: paired_bootstrap(per_prompt[subject], other, seed=seed)
            for name, other in per_prompt.items()
            if name != subject
        }
        results["bootstrap_subject"] = subject
    return results


def _by_source(split: Split, chosen_quality: np.ndarray) -> dict[str, dict[str, float]]:
    sources = split.prompts["source"].fillna("(none)").to_numpy()
    out = {}
    for source in np.unique(sources):
        mask = sources == source
        out[str(source)] = {"prompts": int(mask.sum()), "quality": float(chosen_quality[mask].mean())}
    return out
