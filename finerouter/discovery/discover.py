"""Iterated discovery: kNN + RBO graph + Leiden over prompts, then over community summaries, T times."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field

from finerouter.config_model import ConfigModel
from finerouter.discovery.graph import Edges, RboConfig, preference_graph, resolve_threshold
from finerouter.discovery.knn import KnnConfig, knn_search, undirected_edges
from finerouter.discovery.leiden import LeidenConfig, leiden, relabel_by_size
from finerouter.discovery.merge import member_rbo_graph
from finerouter.discovery.preferences import DEFAULT_TIE_RULE, TieKey, fuse_rankings, ranks_from_lists

log = logging.getLogger("finerouter.discover")
OTHERS = -1
COHESION_QUANTILE = 0.25  # summary links under fused_rbo: centres at least this quantile of member-to-centre cosines


class DiscoveryConfig(ConfigModel):
    model_config = ConfigDict(extra="forbid")

    tie_rule: tuple[TieKey, ...] = DEFAULT_TIE_RULE
    knn: KnnConfig = Field(default_factory=KnnConfig)
    rbo: RboConfig = Field(default_factory=RboConfig)
    leiden: LeidenConfig = Field(default_factory=LeidenConfig)
    iterations: int = Field(3, ge=1, description="T: Leiden over prompts, then T-1 times over community summaries")
    summary_k: int = Field(10, ge=1, description="neighbours per community node in iterations after the first")
    k_rrf: float = Field(60.0, gt=0)
    min_task_size: int = Field(10, ge=1, description="smaller final communities go to 'Others'")
    coverage_delta: float = Field(0.9, gt=0, le=1, description="candidate models cover this share of top choices")
    summary_merge: Literal["fused_rbo", "member_rbo"] = Field(
        "fused_rbo",
        description="how summary levels filter links between communities: 'fused_rbo' (the paper) thresholds the RBO "
        "of their RRF-fused lists like prompt links, and links two communities only when their centres are at least "
        "as similar as the lower quartile of each one's member-to-centre cosines (fragments of one task merge, "
        "distinct tasks do not); 'member_rbo' keeps a link only when the mean RBO between members across the two is "
        "at least each community's own member RBO (one-member communities: the prompt-level threshold), i.e. a merge "
        "never dilutes either side's preference agreement (for binary quality)",
    )
    member_pairs: int = Field(32, ge=4, description="member pairs sampled per link and per community by 'member_rbo'")


def cohesion(emb: np.ndarray, labels: np.ndarray, centres: np.ndarray, quantile: float) -> np.ndarray:
    """Per community, the `quantile` of its members' cosine similarity to its centre."""
    member_cos = np.einsum("ij,ij->i", emb, centres[labels])
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(len(centres) + 1))
    return np.array([np.quantile(member_cos[order[a:b]], quantile) for a, b in pairwise(bounds)])


def median_centres(emb: np.ndarray, labels: np.ndarray, n_groups: int) -> np.ndarray:
    """Element-wise median of each group's member embeddings, L2-normalised."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_groups + 1))
    centres = np.stack([np.median(emb[order[a:b]], axis=0) for a, b in pairwise(bounds)])
    norms = np.linalg.norm(centres, axis=1, keepdims=True)
    return (centres / np.where(norms > 0, norms, 1)).astype(np.float32)


@dataclass
class MemberView:
    """The prompts behind community nodes: their lists, their community, the prompt-level RBO threshold."""

    ranks: np.ndarray
    community: np.ndarray
    floor: float


def level_graph(
    node_emb: np.ndarray,
    node_ranks: np.ndarray,
    cfg: DiscoveryConfig,
    k: int,
    cohesion_floor: np.ndarray | None,
    seed: int,
    members: MemberView | None = None,
) -> tuple[Edges, dict[str, Any]]:
    """kNN over node embeddings, optionally the cohesion rule, then the RBO-filtered weighted graph.

    With `members` (summary levels under `summary_merge: member_rbo`) links are judged on the members' own lists.
    """
    started = time.perf_counter()
    sims, idx, knn_stats = knn_search(node_emb, cfg.knn, k=k, seed=seed)
    knn_done = time.perf_counter()
    src, dst, cos = undirected_edges(sims, idx, cfg.knn.mutual)
    if cohesion_floor is not None:
        tight = cos >= np.minimum(cohesion_floor[src], cohesion_floor[dst])
        src, dst, cos = src[tight], dst[tight], cos[tight]
    if members is None:
        edges, graph_stats = preference_graph(src, dst, cos, node_ranks, cfg.rbo, seed)
    else:
        edges, graph_stats = member_rbo_graph(
            src, dst, cos, members.ranks, members.community, len(node_emb), members.floor, cfg.rbo.p,
            cfg.member_pairs, seed,
        )  # fmt: skip
    # Every timing sits under "seconds" (the kNN's own build and search times too), apart from the results.
    knn_times = {f"knn_{step}": knn_stats.pop(f"{step}_s") for step in ("build", "search") if f"{step}_s" in knn_stats}
    seconds = {"knn": round(knn_done - started, 3), **knn_times, "rbo_graph": round(time.perf_counter() - knn_done, 3)}
    return edges, {"knn": knn_stats, "graph": graph_stats, "seconds": seconds}


def discover(
    emb: np.ndarray,
    ranks: np.ndarray,
    cfg: DiscoveryConfig,
    seed: int = 0,
    first_level: tuple[Edges, dict[str, Any]] | None = None,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Task label per prompt after T iterations (OTHERS for small communities) and per-level stats.

    `first_level` passes the prompt-level graph when it was built by earlier stages.
    """
    community = np.arange(len(emb))
    node_emb, node_ranks, node_cohesion = emb, ranks, None
    levels: list[dict[str, Any]] = []
    floor = resolve_threshold(ranks, cfg.rbo, seed) if cfg.summary_merge == "member_rbo" else 0.0
    for level in range(cfg.iterations):
        n_nodes = len(node_emb)
        if level == 0 and first_level is not None:
            edges, stats = first_level
        else:
            k = cfg.knn.k if level == 0 else cfg.summary_k
            view = MemberView(ranks, community, floor) if level > 0 and cfg.summary_merge == "member_rbo" else None
            edges, stats = level_graph(node_emb, node_ranks, cfg, k, node_cohesion, seed, view)
        started = time.perf_counter()
        labels = leiden(n_nodes, edges, cfg.leiden, seed, summary=level > 0)
        leiden_done = time.perf_counter()
        community = labels[community]
        n_comm = int(labels.max()) + 1
        node_emb = median_centres(emb, community, n_comm)
        node_ranks = ranks_from_lists(fuse_rankings(ranks, community, n_comm, cfg.k_rrf))
        if cfg.summary_merge == "fused_rbo":  # member_rbo judges links on the members' own lists instead
            node_cohesion = cohesion(emb, community, node_emb, COHESION_QUANTILE)
        seconds = {
            **stats.get("seconds", {}),
            "leiden": round(leiden_done - started, 3),
            "summaries": round(time.perf_counter() - leiden_done, 3),
        }
        levels.append({"level": level, "nodes": n_nodes, "communities": n_comm, **stats, "seconds": seconds})
        log.info("level %d: %d nodes -> %d communities (%d edges)", level, n_nodes, n_comm, len(edges))
        if n_comm in (n_nodes, 1):
            break
    sizes = np.bincount(community)
    small = sizes[community] < cfg.min_task_size
    final = np.where(small, OTHERS, community)
    kept = final != OTHERS
    if kept.any():
        final[kept] = relabel_by_size(final[kept])
    return final, levels
