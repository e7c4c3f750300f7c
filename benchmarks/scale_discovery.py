"""Scale benchmark: task discovery on 280,000 simulated prompts (kNN, RBO graph, Leiden, T iterations).

Embeddings are structured stand-ins (family centres in a 24-d latent space, projected to 384-d, plus noise),
because encoding 280k prompts with MiniLM takes ~15 minutes on 2 cores and is measured separately.
Usage: python benchmarks/scale_discovery.py [--prompts 280000] [--iterations 3] [--index hnsw]
       [--k 15] [--resolution 1] [--summary-resolution R] [--summary-merge fused_rbo|member_rbo]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

from finerouter.data.synthetic import SyntheticConfig, generate_synthetic
from finerouter.discovery.discover import DiscoveryConfig, discover, level_graph
from finerouter.discovery.preferences import preference_lists, ranks_from_lists, tie_order
from finerouter.discovery.quality import label_agreement


def structured_embeddings(families: np.ndarray, dim: int = 384, latent: int = 24, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    codes, family_idx = np.unique(families, return_inverse=True)
    centres = rng.normal(size=(len(codes), latent))
    projection = rng.normal(size=(latent, dim)) / np.sqrt(latent)
    x = (centres[family_idx] + 0.45 * rng.normal(size=(len(families), latent))) @ projection
    x += 0.05 * rng.normal(size=x.shape)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=280_000)
    parser.add_argument("--families", type=int, default=150)
    parser.add_argument("--models", type=int, default=11)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--index", default="hnsw")
    parser.add_argument("--impl", default="igraph")
    parser.add_argument("--k", type=int, default=15)
    parser.add_argument("--resolution", type=float, default=1.0, help="level-0 Leiden resolution")
    parser.add_argument("--summary-resolution", type=float, default=None)
    parser.add_argument("--summary-merge", choices=["fused_rbo", "member_rbo"], default="fused_rbo")
    args = parser.parse_args()
    t0 = time.perf_counter()
    raw = generate_synthetic(SyntheticConfig(n_prompts=args.prompts, n_families=args.families, n_models=args.models))
    q = raw.outcomes.pivot(index="prompt_id", columns="model", values="quality").loc[raw.prompts["prompt_id"]]
    families = raw.prompts["source"].to_numpy()
    emb = structured_embeddings(families)
    models = list(q.columns)
    prices = raw.models.set_index("model").loc[models, "input_price"].to_numpy()
    timings = {"data": time.perf_counter() - t0}

    cfg = DiscoveryConfig(iterations=args.iterations, summary_merge=args.summary_merge)
    if args.summary_merge == "member_rbo":
        cfg.cohesion_quantile = 0.0
    cfg.knn.k = args.k
    cfg.leiden.resolution = args.resolution
    cfg.leiden.summary_resolution = args.summary_resolution
    cfg.knn.index = args.index
    cfg.leiden.cpu_impl = args.impl
    start = time.perf_counter()
    quality = q.to_numpy()
    prefs = preference_lists(quality, tie_order(models, prices, np.nanmean(quality, 0), cfg.tie_rule))
    ranks = ranks_from_lists(prefs)
    timings["preferences"] = time.perf_counter() - start
    first = level_graph(emb, ranks, cfg, cfg.knn.k, None, seed=0)
    labels, levels = discover(emb, ranks, cfg, seed=0, first_level=first)
    total = time.perf_counter() - start
    for lv in levels:
        for step, secs in lv["seconds"].items():
            timings[f"L{lv['level']}.{step}"] = secs
    result = {
        "prompts": args.prompts,
        "models": args.models,
        "iterations_run": len(levels),
        "communities_per_level": [lv["communities"] for lv in levels],
        "tasks": int(labels.max()) + 1,
        "others": int((labels < 0).sum()),
        "level0_edges": {k: first[1]["graph"][k] for k in ("candidate_edges", "kept_edges", "rbo_threshold")},
        "knn_recall_at_k": first[1]["knn"].get("recall_at_k"),
        "vs_planted": label_agreement(labels, families),
        "discovery_wall_s": round(total, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
