"""The router bundle and the online Router: round trip, the request contract, explanations, adding a model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from finerouter.errors import ConfigError, DataError, InvalidRequestError
from finerouter.routing.bundle import read_bundle
from finerouter.routing.router import Router
from tests.routing.factory import make_bundle


def _with(parts, **meta):
    """A Router of the bundle `parts` with some bundle.json entries replaced."""
    return Router(type(parts)(parts.meta.with_updates(**meta), parts.tensors, parts.tasks))


def test_round_trip_gives_identical_scores(run, bundle) -> None:
    parts = read_bundle(bundle)
    in_memory = Router(parts)
    loaded = Router.load(bundle)
    emb = run.data.test.emb
    np.testing.assert_array_equal(in_memory.fused_scores(emb), loaded.fused_scores(emb))
    a, b = in_memory.analyse(emb), loaded.analyse(emb)
    np.testing.assert_array_equal(a.estimate, b.estimate)
    np.testing.assert_array_equal(a.task, b.task)
    meta = json.loads((bundle / "bundle.json").read_text())
    assert loaded.version == meta["version"] and loaded.version.startswith("test-r1-")
    assert loaded.models == run.data.models[:4]


def test_routing_beats_random_and_explains(run, bundle) -> None:
    router = Router.load(bundle)
    decisions = router.route_embeddings(run.data.test.emb)
    assert len(decisions) == len(run.data.test)
    q = run.data.test.quality[:, :4]
    chosen = np.array([router.models.index(d.model) for d in decisions])
    routed = np.nanmean(q[np.arange(len(chosen)), chosen])
    assert routed > np.nanmean(q) + 0.05  # better than a random pick among the 4
    d = decisions[0]
    assert set(d.scores) == set(router.models) and max(d.scores.values()) == pytest.approx(1.0)
    assert d.task_id is None or router.task(d.task_id)["summary"] == d.task_summary
    assert d.estimated_cost == router.model_cost[d.model] and d.bundle_version == router.version


def test_cost_knobs(run, bundle) -> None:
    router = Router.load(bundle)
    emb = run.data.test.emb
    costs = router.model_cost
    strict = [costs[d.model] for d in router.route_embeddings(emb, tolerance=0.0)]
    loose = [costs[d.model] for d in router.route_embeddings(emb, tolerance=1.0)]
    assert np.mean(loose) <= np.mean(strict) and max(loose) == min(costs.values())  # tau=1: always the cheapest
    by_lambda = [costs[d.model] for d in router.route_embeddings(emb, willingness=5.0)]
    assert np.mean(by_lambda) <= np.mean(strict)
    with pytest.raises(InvalidRequestError, match="not both"):
        router.route_embeddings(emb, tolerance=0.1, willingness=0.5)
    cap = sorted(costs.values())[1]
    assert all(costs[d.model] <= cap for d in router.route_embeddings(emb, max_cost=cap))
    subset = router.models[1:3]
    picked = router.route_embeddings(emb, models=subset)
    assert {d.model for d in picked} <= set(subset) and all(set(d.scores) == set(subset) for d in picked)


def test_invalid_requests_name_the_problem(bundle) -> None:
    router = Router.load(bundle)
    emb = np.zeros((1, 384), np.float32)
    with pytest.raises(InvalidRequestError, match="prompt 1 is empty"):
        router.route(["fine", "   "])
    with pytest.raises(InvalidRequestError, match=r"unknown model\(s\) \['gpt-9'\]; valid: "):
        router.route_embeddings(emb, models=["gpt-9"])
    with pytest.raises(InvalidRequestError, match="non-empty list"):
        router.route_embeddings(emb, models=[])
    with pytest.raises(InvalidRequestError, match="tolerance must be a number >= 0"):
        router.route_embeddings(emb, tolerance=-0.1)
    with pytest.raises(InvalidRequestError, match=r"max_cost .* below every allowed model's expected cost"):
        router.route_embeddings(emb, max_cost=0.0)
    with pytest.raises(InvalidRequestError, match="unknown task id 99"):
        router.task(99)


def test_text_that_cannot_be_utf8_encoded_is_an_invalid_request(bundle) -> None:
    """A lone surrogate (JSON can carry "\\ud800") made the tokenizer raise TypeError; it is refused by name."""
    router = Router.load(bundle)
    with pytest.raises(InvalidRequestError, match=r"prompt 1 is not valid Unicode text: character 4 is '\\ud800'"):
        router.route(["fine", "bad \ud800 text"])


def test_a_bundle_carries_its_fine_tuned_encoder(bundle, tmp_path) -> None:
    import shutil

    from finerouter.embed.encoder import encode, local_model_dir
    from finerouter.routing.bundle import save_bundle

    parts = read_bundle(bundle)
    assert parts.extra_files == {} and not Router(parts).finetuned_encoder
    parts.meta = parts.meta.with_updates(encoder={"mode": "finetune", "name": "encoder", "base": "minilm", "dim": 384})
    parts.extra_files = {"encoder": local_model_dir("minilm")}  # stands in for a fine-tuned copy
    out = save_bundle(parts, tmp_path / "tuned")
    router = Router.load(out)
    assert router.finetuned_encoder and (out / "encoder/model.safetensors").is_file()
    assert router.encoder_name == str((out / "encoder").resolve()) and router.version != Router.load(bundle).version
    texts = ["What is 2 + 2?", "Translate 'cat' into French."]
    np.testing.assert_array_equal(router.embed(texts), encode(texts, "minilm"))
    assert [d.model for d in router.route(texts)] == [d.model for d in Router.load(bundle).route(texts)]
    shutil.rmtree(out / "encoder")
    with pytest.raises(DataError, match="routes with a fine-tuned encoder but has no encoder/"):
        read_bundle(out)


def test_route_text_with_the_encoder(bundle) -> None:
    decisions = Router.load(bundle).route(["What is 2 + 2?", "Translate 'cat' into French."], tolerance=0.05)
    assert [type(d.confidence) for d in decisions] == [float, float]
    assert all(d.to_dict()["model"] in Router.load(bundle).models for d in decisions)


def test_bfloat16_encoder_routes_like_float32(bundle) -> None:
    from tests.embed.test_encoder import TEXTS, bf16_cpu

    if bf16_cpu.args[0]:
        pytest.skip(bf16_cpu.kwargs["reason"])
    full, half = Router.load(bundle), Router.load(bundle, encoder_dtype="bfloat16")
    assert half.encoder_dtype == "bfloat16"
    a, b = full.route(TEXTS), half.route(TEXTS)
    for x, y in zip(a, b, strict=True):
        assert x.task_id == y.task_id
        assert max(abs(x.scores[m] - y.scores[m]) for m in x.scores) < 0.05
    with pytest.raises(ConfigError, match=r"valid \(runtime: dtypes\): torch: float32, bfloat16; onnxruntime"):
        Router.load(bundle, encoder_dtype="float16")


def test_onnxruntime_encoder_routes_like_torch(bundle) -> None:
    from tests.embed.test_encoder import TEXTS, needs_onnxruntime

    if needs_onnxruntime.args[0]:
        pytest.skip(needs_onnxruntime.kwargs["reason"])
    torch_router, onnx_router = Router.load(bundle), Router.load(bundle, encoder_runtime="onnxruntime")
    assert onnx_router.encoder_runtime == "onnxruntime" and onnx_router.encoder_dtype == "float32"
    for x, y in zip(torch_router.route(TEXTS), onnx_router.route(TEXTS), strict=True):
        assert (x.model, x.task_id) == (y.model, y.task_id)
        assert max(abs(x.scores[m] - y.scores[m]) for m in x.scores) < 1e-3
    with pytest.raises(ConfigError, match="'bfloat16' is not supported with encoder runtime onnxruntime"):
        Router.load(bundle, encoder_dtype="bfloat16", encoder_runtime="onnxruntime")


def test_cli_route_prints_the_decision(bundle, capsys) -> None:
    from finerouter.cli import main

    assert main(["route", "--bundle", str(bundle), "What is 2 + 2?", "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)[0]
    assert decision["model"] in Router.load(bundle).models and decision["bundle_version"].startswith("test-r1-")
    assert main(["route", "--bundle", str(bundle), "hello", "--models", "nope"]) == 2
    assert "unknown model(s) ['nope']" in capsys.readouterr().err


def test_cli_route_takes_willingness(bundle, capsys) -> None:
    from finerouter.cli import main

    router = Router.load(bundle)
    prompt = "Translate 'cat' into French."
    expected = router.route([prompt], willingness=5.0)[0].model
    assert main(["route", "--bundle", str(bundle), prompt, "--willingness", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["model"] == expected
    assert main(["route", "--bundle", str(bundle), prompt, "--willingness", "-1"]) == 2
    assert "willingness must be a number >= 0" in capsys.readouterr().err
    assert main(["route", "--bundle", str(bundle), prompt, "--willingness", "1", "--tolerance", "0.1"]) == 2
    assert "give tolerance or willingness, not both" in capsys.readouterr().err


@pytest.fixture(scope="module")
def ensemble_bundle(run, tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("e") / "bundle", run, models=run.data.models[:4], members=3)


def test_ensemble_bundle_averages_its_members_and_member_zero_is_the_single_estimator(
    run, bundle, ensemble_bundle
) -> None:  # fmt: skip
    from finerouter.stage2.models import MoEQualityEstimator

    single, ensemble = Router.load(bundle), Router.load(ensemble_bundle)
    parts = read_bundle(ensemble_bundle)
    assert parts.meta.estimator.members == 3 and len(ensemble.estimator.members) == 3
    single_meta = json.loads((bundle / "bundle.json").read_text())
    assert "members" not in single_meta["estimator"]  # a single estimator's bundle is as before
    emb = torch.as_tensor(run.data.test.emb)
    task, _ = ensemble.classifier.assign(emb, ensemble.routing_threshold)
    per_member = []
    for weights in parts.member_states():
        net = MoEQualityEstimator.from_state_dict(parts.meta.estimator.model_dump(), weights)
        with torch.no_grad():
            per_member.append(net.eval()(emb, task)[0].numpy())
    assert not np.allclose(per_member[0], per_member[1])  # independently seeded
    np.testing.assert_allclose(ensemble.analyse(run.data.test.emb).estimate, np.mean(per_member, axis=0), atol=1e-6)
    np.testing.assert_array_equal(ensemble.analyse(run.data.test.emb).task, single.analyse(run.data.test.emb).task)
    # member 0 trains with the run's seed: bit for bit the single-estimator bundle's estimator
    one = read_bundle(bundle).tensors
    assert all(torch.equal(one[k], parts.tensors[k]) for k in one if k.startswith("estimator."))
    missing = read_bundle(ensemble_bundle)
    missing.tensors = {k: v for k, v in missing.tensors.items() if not k.startswith("estimator_2.")}
    with pytest.raises(DataError, match="estimator member 2 has no weights"):
        Router(missing)


def test_a_bundle_routes_with_the_heads_it_records(run, bundle) -> None:
    parts = read_bundle(bundle)
    assert parts.meta.task_heads and Router(parts).use_task_heads
    emb = run.data.test.emb
    with_heads = Router(parts)
    general = _with(parts, task_heads=False)
    assert not general.use_task_heads
    np.testing.assert_array_equal(general.fused_scores(emb), with_heads.fused_scores(emb, use_task_heads=False))
    assert not np.array_equal(general.fused_scores(emb), with_heads.fused_scores(emb))  # task heads change scores
    np.testing.assert_array_equal(general.fused_scores(emb, use_task_heads=True), with_heads.fused_scores(emb))
    picks = [d.model for d in general.route_embeddings(emb)]
    scores = general.fused_scores(emb)
    assert picks == [general.models[int(j)] for j in np.nanargmax(scores, axis=1)]  # tolerance 0: the top score


def test_quality_scale_keeps_the_ranking_and_puts_scores_in_quality_units(run, bundle) -> None:
    parts = read_bundle(bundle)
    assert parts.meta.score_scale == "minmax" and Router(parts).score_scale == "minmax"
    minmax, quality = Router(parts), _with(parts, score_scale="quality")
    emb = run.data.test.emb
    a = quality.analyse(emb)
    np.testing.assert_allclose(quality.fused_scores(emb, alpha=1.0), a.estimate, atol=1e-12)  # the estimate itself
    np.testing.assert_allclose(quality.fused_scores(emb, alpha=0.0), a.prior, atol=1e-12)  # the prior itself
    m, q = minmax.fused_scores(emb), quality.fused_scores(emb)
    assert np.nanmin(m) == 0.0 and np.nanmax(m) == 1.0 and np.nanmax(q) < 1.0  # [0, 1] per row vs quality units
    order = np.argsort(-m, axis=1, kind="stable")
    assert (np.diff(np.take_along_axis(q, order, axis=1), axis=1) <= 1e-12).all()  # the same ranking in every row
    assert [d.model for d in quality.route_embeddings(emb)] == [d.model for d in minmax.route_embeddings(emb)]
    allowed = np.array([True, True, False, True])  # ranges are taken over the models a request allows
    restricted = quality.fused_scores(emb, alpha=1.0, allowed=allowed)
    assert np.isnan(restricted[:, 2]).all()
    np.testing.assert_allclose(restricted[:, allowed], a.estimate[:, allowed], atol=1e-12)


def test_quality_scale_tolerance_is_in_predicted_quality(run, bundle) -> None:
    router = _with(read_bundle(bundle), score_scale="quality", alpha=1.0)
    emb = run.data.test.emb
    estimate = router.analyse(emb).estimate
    cost = np.array([router.model_cost[m] for m in router.models])
    for tau in (0.0, 0.02, 0.1):
        within = estimate >= estimate.max(axis=1, keepdims=True) - tau - 1e-12
        expected = [router.models[int(np.argmin(np.where(ok, cost, np.inf)))] for ok in within]
        assert [d.model for d in router.route_embeddings(emb, tolerance=tau)] == expected


def test_an_unknown_score_scale_is_refused() -> None:
    from finerouter.routing.router import fuse

    with pytest.raises(ValueError, match="unknown score scale 'raw'; valid: quality, minmax"):
        fuse(np.zeros((1, 2)), np.zeros((1, 2)), 0.5, np.ones((1, 2), bool), "raw")
