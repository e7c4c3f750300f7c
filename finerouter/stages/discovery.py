"""Stages `preferences`, `knn`, `graph`, `communities`: the task-discovery graph and its iterated Leiden."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from finerouter.data.artifacts import DESC_EMB, EDGES, KNN, PREFERENCES, train_table
from finerouter.discovery.discover import discover
from finerouter.discovery.graph import Edges, preference_graph
from finerouter.discovery.knn import knn_search, undirected_edges
from finerouter.discovery.preferences import preference_lists, ranks_from_lists, tie_order
from finerouter.discovery.train_view import train_view
from finerouter.fingerprint import TIMINGS_FILE
from finerouter.pipeline.stage import Stage, StageContext

if TYPE_CHECKING:
    from finerouter.config import RebuildConfig


class PreferencesStage(Stage):
    name = "preferences"
    inputs = ("import",)

    def config_key(self, config: RebuildConfig) -> Any:
        return {"tie_rule": config.discovery.tie_rule}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        table = train_table(ctx.run_dir)
        quality, cost = table.quality_matrix(), table.cost_matrix()
        with np.errstate(all="ignore"):
            mean_cost, mean_quality = np.nanmean(cost, axis=0), np.nanmean(quality, axis=0)
        order = tie_order(table.model_names, mean_cost, mean_quality, ctx.config.discovery.tie_rule)
        prefs = preference_lists(quality, order)
        np.save(ctx.out_dir / "preferences.npy", prefs)
        (ctx.out_dir / "models.json").write_text(json.dumps({"models": table.model_names, "tie_order": order.tolist()}))
        top = pd.Series(np.array(table.model_names)[prefs[:, 0]]).value_counts()
        return {"prompts": len(prefs), "models": len(order), "top_choice": {k: int(v) for k, v in top.items()}}


class KnnStage(Stage):
    name = "knn"
    inputs = ("embed",)

    def config_key(self, config: RebuildConfig) -> Any:
        return {"knn": config.discovery.knn.model_dump(exclude={"threads"}), "seed": config.seed}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        emb = np.load(ctx.run_dir / DESC_EMB)
        sims, idx, stats = knn_search(emb, ctx.config.discovery.knn, seed=ctx.config.seed)
        np.savez(ctx.out_dir / "knn.npz", sims=sims, idx=idx)
        return stats


class GraphStage(Stage):
    name = "graph"
    inputs = ("knn", "preferences")

    def config_key(self, config: RebuildConfig) -> Any:
        return {"rbo": config.discovery.rbo, "seed": config.seed}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        knn = np.load(ctx.run_dir / KNN)
        ranks = ranks_from_lists(np.load(ctx.run_dir / PREFERENCES))
        src, dst, cos = undirected_edges(knn["sims"], knn["idx"], ctx.config.discovery.knn.mutual)
        edges, stats = preference_graph(src, dst, cos, ranks, ctx.config.discovery.rbo, ctx.config.seed)
        frame = pd.DataFrame(
            {"src": edges.src, "dst": edges.dst, "weight": edges.weight, "cosine": edges.cosine, "rbo": edges.rbo}
        )
        frame.to_parquet(ctx.out_dir / "edges.parquet", index=False)
        ctx.log.info("preference graph: %s", stats)
        return stats


class CommunitiesStage(Stage):
    name = "communities"
    inputs = ("graph", "embed", "preferences", "describe")
    version = 3  # 2: summary_merge member_rbo (a merge dilutes neither community), summary_resolution; 3: the
    # embedding cohesion rule goes with summary_merge fused_rbo (was discovery.cohesion_quantile)

    def config_key(self, config: RebuildConfig) -> Any:
        d = config.discovery
        return {
            "leiden": d.leiden,
            "iterations": d.iterations,
            "summary_k": d.summary_k,
            "k_rrf": d.k_rrf,
            "min_task_size": d.min_task_size,
            "summary_merge": d.summary_merge,
            "member_pairs": d.member_pairs,
            "knn": d.knn.model_dump(exclude={"threads"}),
            "rbo": d.rbo,
            "seed": config.seed,
        }

    def run(self, ctx: StageContext) -> dict[str, Any]:
        view = train_view(ctx.run_dir)
        frame = pd.read_parquet(ctx.run_dir / EDGES)
        edges = Edges(*(frame[c].to_numpy() for c in ("src", "dst", "weight", "cosine", "rbo")))
        first = (edges, ctx.input_stats("graph"))
        labels, levels = discover(view.embeddings, view.ranks, ctx.config.discovery, ctx.config.seed, first_level=first)
        pd.DataFrame({"prompt_id": view.prompt_ids, "community": labels}).to_parquet(
            ctx.out_dir / "communities.parquet", index=False
        )
        # Timings go to their own file, outside the output fingerprint: identical runs write identical levels.json.
        timings = [{"level": lv["level"], **lv.pop("seconds", {})} for lv in levels]
        (ctx.out_dir / "levels.json").write_text(json.dumps(levels, indent=2, default=str))
        (ctx.out_dir / TIMINGS_FILE).write_text(json.dumps(timings, indent=2) + "\n")
        n_tasks = int(labels.max()) + 1 if (labels >= 0).any() else 0
        others = int((labels < 0).sum())
        ctx.log.info("discovered %d tasks; %d of %d prompts in Others", n_tasks, others, len(labels))
        return {
            "tasks": n_tasks,
            "others": others,
            "prompts": len(labels),
            "levels": [lv["communities"] for lv in levels],
        }
