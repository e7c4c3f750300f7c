"""report.md, results.json and pareto.png from the harness's results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from finerouter.evaluation import metrics
from finerouter.fingerprint import TIMINGS_FILE


def write_report(results: dict[str, Any], out: Path, title: str) -> None:
    """results.json, report.md and pareto.png; fit times go to their own file (they differ between identical
    runs, and a rebuild leaves them out of the stage's output hash)."""
    out.mkdir(parents=True, exist_ok=True)
    outputs = {k: v for k, v in results.items() if k != "timings"}
    (out / "results.json").write_text(json.dumps(outputs, indent=2) + "\n")
    (out / TIMINGS_FILE).write_text(json.dumps(results.get("timings", {}), indent=2) + "\n")
    (out / "report.md").write_text(markdown(results, title))
    pareto_plot(results, out / "pareto.png", title)


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _cost(x: float | None) -> str:
    """Costs span USD per call (1e-5) to USD per 1M tokens (10): four significant digits."""
    return "n/a" if x is None else f"{x:.4g}"


def _sweep_text(sweep: str) -> str:
    if sweep == "auto":
        return "sweep, per router, tau or lambda: whichever gives the higher AIQ on dev (column 'sweep')"
    return f"sweep {sweep}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _intro(results: dict[str, Any]) -> list[str]:
    n = f"{results['test_prompts']:,} test prompts."
    if not results.get("costs_known", True):
        return [
            f"{n} The table has no costs (no per-call costs, no model prices), so:",
            "the oracle is the best model per prompt; routers (fitted on train, tuned on dev) are compared by the",
            "quality of their predicted best model; cost, cost ratios, curves and AIQ are n/a.",
        ]
    return [
        f"{n} Cost unit: {results['cost_unit']}. Routers are fitted on train and tuned on dev;",
        "quality and cost below are at tau = 0 (each router's predicted best model); curves and AIQ "
        f"{_sweep_text(results['sweep'])}.",
    ]


def markdown(results: dict[str, Any], title: str) -> str:
    best, oracle = results["best_single_model"], results["oracle"]
    lines = [
        f"# {title}",
        "",
        *_intro(results),
        "",
        f"Best single model (outcomes on >= 95% of test): **{best['model']}** quality {_fmt(best['quality'])} at cost "
        f"{_cost(best['cost'])}. Oracle: {_fmt(oracle['quality'])} at {_cost(oracle['cost'])}.",
        "",
        "| router | quality | cost | % of oracle | AIQ | quality at best single's cost "
        "| cost to match best single (ratio) | sweep |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results["routers"].items():
        ratio = "" if r["cost_ratio_to_best_single"] is None else f" ({r['cost_ratio_to_best_single']:.2f}x)"
        lines.append(
            f"| {name} | {_fmt(r['quality'])} | {_cost(r['cost'])} | {_pct(r['pct_of_oracle'])} "
            f"| {_fmt(r['aiq'])} | {_fmt(r['quality_at_best_single_cost'])} "
            f"| {_cost(r['cost_to_match_best_single'])}{ratio} | {r.get('sweep', results['sweep']) or 'n/a'} |"
        )
    lines += ["", "Single models:", "", "| model | quality | cost | test coverage |", "| --- | --- | --- | --- |"]
    for m, s in sorted(results["single_models"].items(), key=lambda kv: -(kv[1]["quality"] or 0.0)):
        lines.append(f"| {m} | {_fmt(s['quality'])} | {_cost(s['cost'])} | {s['coverage']:.1%} |")
    if "bootstrap_vs_subject" in results:
        subject = results["bootstrap_subject"]
        lines += [
            "",
            f"Paired bootstrap (2,000 resamples) of mean quality difference, {subject} minus each router:",
            "",
        ]
        lines += ["| router | difference | 95% interval |", "| --- | --- | --- |"]
        for name, b in results["bootstrap_vs_subject"].items():
            lines.append(f"| {name} | {b['mean']:+.4f} | [{b['ci_low']:+.4f}, {b['ci_high']:+.4f}] |")
    lines += ["", "## Per source (quality at tau = 0)", ""]
    names = list(results["routers"])
    lines += ["| source | prompts | " + " | ".join(names) + " |", "| --- | --- |" + " --- |" * len(names)]
    sources = next(iter(results["routers"].values()))["by_source"] if names else {}
    for source, s in sources.items():
        cells = " | ".join(_fmt(results["routers"][n]["by_source"][source]["quality"]) for n in names)
        lines.append(f"| {source} | {s['prompts']} | {cells} |")
    lines += ["", "## Conventions", "", metrics.__doc__.strip(), ""]
    return "\n".join(lines)


def pareto_plot(results: dict[str, Any], path: Path, title: str) -> None:
    """Router curves and single models in cost-quality space; without costs, quality bars (see quality_plot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not results.get("costs_known", True):
        quality_plot(results, path, title)
        return
    fig, ax = plt.subplots(figsize=(10, 7), dpi=120)
    for name, r in results["routers"].items():
        pts = sorted((p["cost"], p["quality"]) for p in r["curve"])
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3, linewidth=1.5, label=name)
    for m, s in results["single_models"].items():
        ax.scatter(s["cost"], s["quality"], marker="s", color="black", s=18, zorder=3)
        ax.annotate(m, (s["cost"], s["quality"]), fontsize=7, xytext=(4, -3), textcoords="offset points")
    o = results["oracle"]
    ax.scatter(o["cost"], o["quality"], marker="*", color="gold", edgecolor="black", s=160, zorder=4, label="oracle")
    ax.set_xlabel(f"mean cost per prompt ({results['cost_unit']})")
    ax.set_ylabel("mean quality on test")
    ax.set_title(f"{title}: cost-quality (router curves: {_sweep_text(results['sweep'])}; squares = single models)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def quality_plot(results: dict[str, Any], path: Path, title: str) -> None:
    """Mean test quality of every router and single model as horizontal bars, the oracle as a line."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows = [(name, r["quality"], "router") for name, r in results["routers"].items()]
    rows += [(m, s["quality"], "single model") for m, s in results["single_models"].items() if s["quality"] is not None]
    rows.sort(key=lambda row: row[1])
    colors = {"router": "tab:blue", "single model": "tab:gray"}
    fig, ax = plt.subplots(figsize=(10, max(3.0, 0.35 * len(rows) + 1.5)), dpi=120)
    bars = ax.barh([r[0] for r in rows], [r[1] for r in rows], color=[colors[r[2]] for r in rows])
    ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    oracle = results["oracle"]["quality"]
    ax.axvline(oracle, color="goldenrod", linestyle="--")
    handles = [Patch(color=color, label=kind + "s") for kind, color in colors.items()]
    oracle_label = f"oracle (best model per prompt) {oracle:.3f}"
    handles.append(Line2D([], [], color="goldenrod", linestyle="--", label=oracle_label))
    ax.set_xlabel("mean quality on test")
    ax.set_xlim(0, max(oracle, *(r[1] for r in rows)) * 1.12)
    ax.set_title(f"{title}: quality (the table has no costs, so no cost-quality curves)")
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(handles=handles, fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
