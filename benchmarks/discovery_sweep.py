"""Stage-1 diagnosis on a run's saved artifacts: reference groupings and discovery variants, raw-list RBO.

Reads <artifacts>/<run>/ (import, describe, embed, preferences must be complete; run the rebuild until
`preferences` first) and prints, per grouping: tasks, Others share, within-task RBO of the raw per-prompt lists vs
a random grouping of the same sizes (finerouter/discovery/quality.py), and NMI against `source` / `category`.
Usage: python benchmarks/discovery_sweep.py --run artifacts/mmlu-pro [--variants]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from finerouter.discovery.discover import DiscoveryConfig, discover
from finerouter.discovery.quality import label_agreement, rbo_vs_random
from finerouter.stages.artifacts import train_view

BINARY = {"knn": {"k": 50}, "summary_merge": "member_rbo", "cohesion_quantile": 0}
VARIANTS: dict[str, dict] = {
    "paper defaults (k 15, resolution 1, fused_rbo, cohesion 0.25)": {},
    "paper defaults, T = 1": {"iterations": 1},
    "k 50, resolution 20, T = 1": {"knn": {"k": 50}, "leiden": {"resolution": 20}, "iterations": 1},
    "k 50, resolution 20, fused_rbo + cohesion": {"knn": {"k": 50}, "leiden": {"resolution": 20}},
    "k 15, resolution 20 / 1, member_rbo": {
        **BINARY,
        "knn": {"k": 15},
        "leiden": {"resolution": 20, "summary_resolution": 1},
    },
    "k 50, resolution 20 / 1, member_rbo (configs)": {**BINARY, "leiden": {"resolution": 20, "summary_resolution": 1}},
    "k 50, resolution 50 / 1, member_rbo": {**BINARY, "leiden": {"resolution": 50, "summary_resolution": 1}},
}


def row(name: str, labels: np.ndarray, ranks: np.ndarray, prompts: pd.DataFrame) -> dict:
    out = {
        "grouping": name,
        "tasks": len(np.unique(labels[labels >= 0])),
        "others": round(float((labels < 0).mean()), 3),
    }
    out.update(rbo_vs_random(labels, ranks, 0.9, seed=0))
    for column in ("source", "category"):
        if column in prompts and prompts[column].notna().all() and prompts[column].nunique() > 1:
            out[f"nmi_{column}"] = label_agreement(labels, prompts[column].to_numpy())["nmi"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--variants", action="store_true", help="also run the discovery variants")
    args = parser.parse_args()
    view = train_view(args.run)
    ranks, prompts = view.ranks, view.prompts
    quality = np.nan_to_num(view.quality)
    rows = []
    for column in ("source", "category"):
        if column in prompts and prompts[column].notna().all():
            rows.append(row(f"reference: {column}", pd.factorize(prompts[column])[0], ranks, prompts))
    rows.append(row("reference: number of models correct", quality.round().sum(axis=1).astype(int), ranks, prompts))
    for k in (30, 100):
        kmeans = KMeans(k, n_init=2, random_state=0).fit_predict(quality)
        rows.append(row(f"reference: k-means of quality vectors, K={k}", kmeans, ranks, prompts))
    if args.variants:
        for name, overrides in VARIANTS.items():
            labels, _ = discover(view.embeddings, ranks, DiscoveryConfig.model_validate(overrides), seed=0)
            rows.append(row(name, labels, ranks, prompts))
    for r in rows:
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
