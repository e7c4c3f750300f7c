"""Adding a model to a trained bundle: only the new model's weights are trained, every old one stays bit-identical."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from finerouter.build.add_model import _new_prior_column, add_model
from finerouter.errors import InvalidRequestError
from finerouter.routing.bundle import PriorRecord, read_bundle
from finerouter.routing.router import Router


def assert_only_appended(old, grown) -> None:
    """Every old weight of a bundle is bit-identical in the grown one; only new slices were appended."""
    assert set(grown.tensors) == set(old.tensors)
    for key, before in old.tensors.items():
        after = grown.tensors[key]
        if key.startswith("classifier.") or ".adapter." in key:
            assert torch.equal(before, after), key
        elif key.endswith("slot_table") or key == "priors":
            assert torch.equal(before, after[:, : before.shape[1]]), key  # one new column
        else:  # stacked per-model / per-slot tensors: the old slices untouched, new ones appended
            assert torch.equal(before, after[: before.shape[0]]), key


def grow(run, source, tmp_path):
    """`add_model` of the run's fifth model to the bundle `source`: (old parts, grown parts, new bundle dir, model)."""
    table_dir = run.table.save(tmp_path / "table")
    new = run.data.models[4]
    ids = run.table.prompts["prompt_id"].to_numpy()
    out = add_model(source, table_dir, new, tmp_path / "v2", embeddings=(run.emb, ids))
    return read_bundle(source), read_bundle(out), out, new


def test_add_model_trains_only_its_own_weights(run, bundle, tmp_path) -> None:
    old, grown, out, new = grow(run, bundle, tmp_path)
    table_dir, ids = tmp_path / "table", run.table.prompts["prompt_id"].to_numpy()
    assert grown.meta.models == [*old.meta.models, new]
    assert grown.meta.revision == 2 and grown.meta.parent_version == old.meta.version
    assert_only_appended(old, grown)
    assert grown.tensors["estimator.general.w1"].shape[0] == 5
    router = Router.load(out)
    assert new in router.model_cost and router.route_embeddings(run.data.test.emb[:3], models=[new])[0].model == new
    with pytest.raises(InvalidRequestError, match="already in bundle"):
        add_model(out, table_dir, new, tmp_path / "v3", embeddings=(run.emb, ids))


def test_add_model_to_an_ensemble_trains_the_new_model_in_every_member(run, ensemble_bundle, tmp_path) -> None:
    old, grown, out, new = grow(run, ensemble_bundle, tmp_path)
    assert_only_appended(old, grown)  # in every member
    heads = [grown.tensors[f"{p}general.w1"][-1] for p in ("estimator.", "estimator_1.", "estimator_2.")]
    assert not torch.equal(heads[0], heads[1]) and not torch.equal(heads[1], heads[2])  # one per member
    router = Router.load(out)
    assert len(router.estimator.members) == 3
    assert router.route_embeddings(run.data.test.emb[:3], models=[new])[0].model == new


def test_an_added_model_gets_its_prior_by_the_bundle_rule() -> None:
    quality = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    task = np.array([0, 0, 1, 1, 1, -1])
    assert _new_prior_column(quality, task, 2, PriorRecord()) == [1.0, 0.0, 1.0]  # median, as the paper
    shrunk = _new_prior_column(quality, task, 2, PriorRecord(statistic="mean", shrinkage=2.0))
    np.testing.assert_allclose(shrunk, [(2 * 1 + 2 * 0.5) / 4, (0 + 2 * 0.5) / 5, (1 + 2 * 0.5) / 3])
