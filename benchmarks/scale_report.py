"""The scale benchmark's growth exponents and its markdown table (benchmarks/scale_rebuild.py)."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np


def growth_exponent(prompts: list[int], seconds: list[float]) -> float | None:
    """b of seconds ~ a * prompts^b by least squares on the logs; None with fewer than two positive points."""
    points = [(n, s) for n, s in zip(prompts, seconds, strict=True) if n > 0 and s > 0]
    if len({n for n, _ in points}) < 2:
        return None
    x, y = np.log([n for n, _ in points]), np.log([s for _, s in points])
    return float(np.polyfit(x, y, 1)[0])


def growth_exponents(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    """Per stage (every stage of the first run), and for the whole rebuild and the peak memory."""
    prompts = [r["prompts"] for r in runs]
    out = {
        name: growth_exponent(prompts, [r["stages"].get(name, {}).get("seconds", 0.0) for r in runs])
        for name in runs[0]["stages"]
    }
    out["rebuild"] = growth_exponent(prompts, [r["rebuild_s"] for r in runs])
    out["peak_rss"] = growth_exponent(prompts, [float(r["peak_rss_bytes"]) for r in runs])
    return out


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _exp(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def markdown(result: dict[str, Any]) -> str:
    runs, exps, raw = result["runs"], result["exponents"], result["raw_encoder"]
    sizes = [f"{r['prompts']:,}" for r in runs]
    m = result["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['when']}. Config: {result['config']} "
        f"{' '.join('--set ' + o for o in result['overrides'])}".rstrip(),
        "",
        "| stage | " + " | ".join(f"{s} prompts (s)" for s in sizes) + " | growth exponent |",
        "|---|" + "---|" * (len(runs) + 1),
    ]
    for name in runs[0]["stages"]:
        cells = [f"{r['stages'].get(name, {}).get('seconds', float('nan')):.1f}" for r in runs]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {_exp(exps.get(name))} |")
    lines.append(
        "| **rebuild** | " + " | ".join(f"{r['rebuild_s']:.1f}" for r in runs) + f" | {_exp(exps['rebuild'])} |"
    )
    gib = [f"{r['peak_rss_bytes'] / 2**30:.2f}" for r in runs]
    lines.append("| peak RSS (GiB) | " + " | ".join(gib) + f" | {_exp(exps['peak_rss'])} |")
    lines += [
        "",
        f"Raw encoder: {raw['runtime']} {raw['dtype']} on {raw['device']}, {raw['threads']} thread(s), "
        f"{raw['texts']:,} texts: {raw['texts_per_s']:.1f} texts/s.",
        "",
        "| prompts | embed actors x threads | dtype | unique texts | embed texts/s | efficiency vs raw encoder |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        e = r["embed"]
        lines.append(
            f"| {r['prompts']:,} | {e['workers']} x {e['threads_per_worker']} | {e['encoder_dtype']} | "
            f"{e['unique_texts']:,} | {e['texts_per_s']:.1f} | {e['efficiency']:.0%} |"
        )
    return "\n".join(lines) + "\n"
