"""On 0/1 quality, member_rbo summary merges keep tasks preference-coherent where fused-list merges do not."""

from __future__ import annotations

import numpy as np
import pytest

from finerouter.data.synthetic import SyntheticConfig, generate_synthetic
from finerouter.data.table import RoutingTable
from finerouter.discovery.discover import DiscoveryConfig, discover
from finerouter.discovery.graph import resolve_threshold
from finerouter.discovery.merge import member_rbo_graph
from finerouter.discovery.preferences import preference_lists, ranks_from_lists, tie_order
from finerouter.discovery.quality import label_agreement, rbo_vs_random

BINARY = {
    "knn": {"k": 50},
    "leiden": {"resolution": 20, "summary_resolution": 1},
    "summary_merge": "member_rbo",
}


def family_embeddings(families: np.ndarray, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Stand-in embeddings: one random centre per family plus noise (no encoder needed)."""
    rng = np.random.default_rng(seed)
    codes, index = np.unique(families, return_inverse=True)
    x = rng.normal(size=(len(codes), dim))[index] + 0.6 * rng.normal(size=(len(families), dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def binary_inputs():
    raw = generate_synthetic(SyntheticConfig(n_prompts=2500, n_families=20, n_models=10, quality="binary", seed=3))
    table = RoutingTable.build(raw)
    quality, cost = table.quality_matrix(), table.cost_matrix()
    order = tie_order(table.model_names, np.nanmean(cost, 0), np.nanmean(quality, 0), ("cost", "mean_quality", "name"))
    families = table.prompts["source"].to_numpy()
    return family_embeddings(families), ranks_from_lists(preference_lists(quality, order)), families


def test_member_rbo_tasks_agree_clearly_more_than_random_groups(binary_inputs) -> None:
    emb, ranks, families = binary_inputs
    planted = rbo_vs_random(np.unique(families, return_inverse=True)[1], ranks, 0.9, seed=0)
    labels, levels = discover(emb, ranks, DiscoveryConfig.model_validate(BINARY), seed=0)
    rbo = rbo_vs_random(labels, ranks, 0.9, seed=0)
    gain = rbo["within_task_rbo"] - rbo["random_grouping_rbo"]
    # Planted families barely agree on 0/1 lists; the discovered tasks do, while still following the families.
    assert gain > 0.05 and gain > 2 * (planted["within_task_rbo"] - planted["random_grouping_rbo"]), (rbo, planted)
    assert label_agreement(labels, families)["nmi"] > 0.5
    assert (labels < 0).mean() < 0.4 and labels.max() + 1 >= 20
    assert levels[1]["graph"]["rule"] == "member_rbo"
    paper = discover(emb, ranks, DiscoveryConfig(), seed=0)[0]
    paper_rbo = rbo_vs_random(paper, ranks, 0.9, seed=0)
    assert gain > paper_rbo["within_task_rbo"] - paper_rbo["random_grouping_rbo"], paper_rbo


def test_member_rbo_links_never_dilute_agreement() -> None:
    # Communities 0 and 1 hold identical lists; community 2 holds the reversed list; 3 is a singleton like 0.
    base = np.arange(8)
    ranks = np.stack([base] * 6 + [base[::-1]] * 3 + [base]).astype(np.int16)
    community = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3])
    src, dst = np.array([0, 0, 1, 2]), np.array([1, 2, 2, 3])
    floor = resolve_threshold(ranks, DiscoveryConfig().rbo, seed=0)
    edges, stats = member_rbo_graph(src, dst, np.full(4, 0.8), ranks, community, 4, floor, 0.9, 16, seed=0)
    kept = set(zip(edges.src.tolist(), edges.dst.tolist(), strict=True))
    assert (0, 1) in kept and (0, 2) not in kept and (1, 2) not in kept and (2, 3) not in kept
    assert stats["dropped_diluting"] == 3
