"""Summary statistics of a routing table: per model, per source, oracle and best single model."""

from __future__ import annotations

from typing import Any

import numpy as np

from finerouter.data.schema import SPLITS
from finerouter.data.table import RoutingTable

COST_UNITS = {"call": "USD per prompt", "price": "USD per 1M tokens (blended model price)", "none": "unknown"}


def oracle_choice(quality: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Per prompt, the best model's column; ties go to the cheaper model, then the lower column index. Without
    costs (NaN) it is still the best model: an unknown cost ranks after known ones, never with worse models."""
    q = np.where(np.isnan(quality), -np.inf, quality)
    best = q.max(axis=1, keepdims=True)
    c = np.where(np.isnan(cost), np.finfo(np.float64).max, cost)
    return np.where(q == best, c, np.inf).argmin(axis=1)


def split_stats(table: RoutingTable) -> dict[str, Any]:
    quality, cost = table.quality_matrix(), table.cost_matrix()
    models = table.model_names
    if len(table.prompts) == 0:
        return {"prompts": 0}
    with np.errstate(invalid="ignore"):
        mean_q = np.nanmean(quality, axis=0)
        mean_c = np.nanmean(cost, axis=0) if table.cost_basis != "none" else np.full(len(models), np.nan)
    coverage = (~np.isnan(quality)).mean(axis=0)
    order = np.lexsort((np.nan_to_num(mean_c, nan=np.inf), -np.nan_to_num(mean_q, nan=-1)))
    best = int(order[0])
    pick = oracle_choice(quality, cost)
    rows = np.arange(len(pick))
    return {
        "prompts": len(table.prompts),
        "outcomes": int((~np.isnan(quality)).sum()),
        "models": {
            m: {"mean_quality": _f(mean_q[j]), "mean_cost": _f(mean_c[j]), "coverage": _f(coverage[j])}
            for j, m in enumerate(models)
        },
        "best_single_model": {
            "model": models[best],
            "mean_quality": _f(mean_q[best]),
            "mean_cost": _f(mean_c[best]),
        },
        "oracle": {
            "mean_quality": _f(np.nanmax(quality, axis=1).mean()),
            "mean_cost": _f(np.nanmean(cost[rows, pick])),
        },
        "sources": {str(k): int(v) for k, v in table.prompts["source"].fillna("(none)").value_counts().items()},
    }


def table_stats(table: RoutingTable) -> dict[str, Any]:
    present = [s for s in SPLITS if (table.prompts["split"] == s).any()]
    return {
        "cost_basis": table.cost_basis,
        "cost_unit": COST_UNITS[table.cost_basis],
        "counts": table.manifest.get("counts", {}),
        "rejected_reasons": table.rejection_summary(),
        "splits": {"all": split_stats(table), **{s: split_stats(table.split(s)) for s in present}},
    }


def format_stats(stats: dict[str, Any]) -> str:
    lines = [f"cost unit: {stats['cost_unit']}", "counts (in = kept + rejected):"]
    for name, c in stats["counts"].items():
        lines.append(f"  {name:<9} in {c['in']:>9,}  kept {c['kept']:>9,}  rejected {c['rejected']:>7,}")
    for reason, n in stats["rejected_reasons"].items():
        lines.append(f"  rejected {n:>7,} × {reason}")
    for split, s in stats["splits"].items():
        if not s.get("prompts"):
            continue
        lines += ["", f"== {split}: {s['prompts']:,} prompts, {s['outcomes']:,} outcomes"]
        lines.append(f"  {'model':<40} {'quality':>8} {'cost':>10} {'coverage':>9}")
        ranked = sorted(s["models"].items(), key=lambda kv: -(kv[1]["mean_quality"] or -1))
        for m, v in ranked:
            lines.append(f"  {m:<40} {_fmt(v['mean_quality'])} {_fmt(v['mean_cost'], 10)} {_fmt(v['coverage'], 9)}")
        b, o = s["best_single_model"], s["oracle"]
        lines.append(
            f"  best single model: {b['model']} (quality {_fmt(b['mean_quality'], 0)}, cost {_fmt(b['mean_cost'], 0)})"
        )
        lines.append(f"  oracle: quality {_fmt(o['mean_quality'], 0)}, cost {_fmt(o['mean_cost'], 0)}")
        top = list(s["sources"].items())
        shown = ", ".join(f"{k} {v:,}" for k, v in top[:20]) + (f", … ({len(top)} sources)" if len(top) > 20 else "")
        lines.append(f"  sources: {shown}")
    return "\n".join(lines)


def _f(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def _fmt(x: float | None, width: int = 8) -> str:
    return f"{'n/a' if x is None else f'{x:.4f}':>{width}}"
