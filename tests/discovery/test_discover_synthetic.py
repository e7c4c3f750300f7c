"""Discovery recovers planted task families of the simulated benchmark (real MiniLM embeddings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from finerouter.config import load_config
from finerouter.data.synthetic import SyntheticConfig, generate_synthetic
from finerouter.data.table import RoutingTable
from finerouter.discovery.discover import OTHERS, discover
from finerouter.discovery.graph import RboConfig
from finerouter.discovery.preferences import preference_lists, ranks_from_lists, tie_order
from finerouter.discovery.quality import label_agreement, rbo_vs_random
from finerouter.discovery.tasks import build_tasks, candidate_models
from finerouter.embed.encoder import encode

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_inputs():
    table = RoutingTable.build(generate_synthetic(SyntheticConfig(n_prompts=3000))).split("train")
    quality, cost = table.quality_matrix(), table.cost_matrix()
    order = tie_order(table.model_names, np.nanmean(cost, 0), np.nanmean(quality, 0), ("cost", "mean_quality", "name"))
    prefs = preference_lists(quality, order)
    emb = encode(list(table.prompts["prompt"]))
    return table, quality, prefs, ranks_from_lists(prefs), emb


def test_planted_families_recovered_with_the_demo_config(demo_inputs) -> None:
    table, _, _, ranks, emb = demo_inputs
    cfg = load_config(REPO / "configs/demo.yaml").discovery
    labels, levels = discover(emb, ranks, cfg, seed=0)
    agreement = label_agreement(labels, table.prompts["source"].to_numpy())
    assert agreement["ari"] >= 0.9, agreement
    assert levels[0]["graph"]["dropped_low_rbo"] > 0
    rbo = rbo_vs_random(labels, ranks, 0.9, seed=0)
    assert rbo["within_task_rbo"] > rbo["random_grouping_rbo"] + 0.1
    # The RBO filter is what separates families that read alike: without it recovery is clearly worse.
    loose = cfg.model_copy(update={"rbo": RboConfig(threshold=0.0)})
    assert (
        label_agreement(discover(emb, ranks, loose, seed=0)[0], table.prompts["source"].to_numpy())["ari"]
        < agreement["ari"]
    )
    np.testing.assert_array_equal(labels, discover(emb, ranks, cfg, seed=0)[0])  # deterministic


def test_tasks_have_candidates_priors_and_summaries(demo_inputs) -> None:
    table, quality, prefs, ranks, emb = demo_inputs
    cfg = load_config(REPO / "configs/demo.yaml").discovery
    labels, _ = discover(emb, ranks, cfg, seed=0)
    prompts = list(table.prompts["prompt"])
    tasks, task_emb = build_tasks(labels, quality, prefs, ranks, emb, prompts, table.model_names, 0.9)
    assert len(tasks) == len(task_emb) and task_emb.shape[1] == emb.shape[1]
    assert tasks["size"].sum() == len(labels)
    for row in tasks.itertuples():
        members = labels == row.task_id
        top = np.array(table.model_names)[prefs[members, 0]]
        assert np.isin(top, row.candidates).mean() >= 0.9  # coverage rule
        assert row.summary in {prompts[i] for i in np.flatnonzero(members)}  # the medoid description
        np.testing.assert_allclose(row.prior, np.nanmedian(quality[members], axis=0))
    if (labels == OTHERS).any():
        assert tasks["task_id"].iloc[-1] == OTHERS


def test_candidate_rule_adds_models_until_coverage() -> None:
    fused = np.array([2, 0, 1, 3])
    top = np.array([2, 2, 0, 1, 2, 0, 3, 2, 2, 2])  # shares: 2 -> .6, 0 -> .2, 1 -> .1, 3 -> .1
    assert candidate_models(fused, top, 0.5) == [2]
    assert candidate_models(fused, top, 0.8) == [2, 0]
    assert candidate_models(fused, top, 0.85) == [2, 0, 1]
    assert candidate_models(fused, top, 1.0) == [2, 0, 1, 3]
