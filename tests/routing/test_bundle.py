"""The bundle format: typed bundle.json, bundles written before format_version migrated on read, newer refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from finerouter.errors import DataError
from finerouter.routing.bundle import FORMAT_VERSION, parse_meta, read_bundle, read_meta, save_bundle
from finerouter.routing.router import Router

FORMAT_1 = Path(__file__).parent / "data" / "bundle_format1.json"  # artifacts/llmrouter/bundle as written before


def as_format_1(bundle: Path, out: Path, *, before_options: bool = False) -> Path:
    """A copy of `bundle` whose bundle.json is laid out as bundles were before format_version; `before_options`:
    also without the entries added later (task_heads, score_scale, prior)."""
    shutil.copytree(bundle, out)
    meta = json.loads((out / "bundle.json").read_text())
    meta = {"format": 1, **{k: v for k, v in meta.items() if k != "format_version"}}
    meta["threshold"] = meta.pop("routing_threshold")
    for key in ("task_heads", "score_scale", "prior") if before_options else ():
        meta.pop(key)
    (out / "bundle.json").write_text(json.dumps(meta, indent=2))
    return out


def test_a_format_1_bundle_json_is_migrated_on_read() -> None:
    raw = json.loads(FORMAT_1.read_text())
    assert raw["format"] == 1 and "format_version" not in raw
    meta = parse_meta(raw)
    assert meta.format_version == FORMAT_VERSION
    assert meta.routing_threshold == raw["threshold"] and meta.classifier_threshold == raw["classifier_threshold"]
    assert (meta.version, meta.alpha, meta.task_heads, meta.score_scale) == (
        raw["version"], raw["alpha"], raw["task_heads"], raw["score_scale"],
    )  # fmt: skip
    assert meta.prior.model_dump() == raw["prior"] and meta.calibration == raw["calibration"]
    written = meta.to_json()
    assert "threshold" not in written and "format" not in written and written["format_version"] == FORMAT_VERSION


def test_an_old_bundle_routes_as_the_same_bundle_in_the_current_format(run, bundle, tmp_path) -> None:
    old = as_format_1(bundle, tmp_path / "old")
    emb = run.data.test.emb
    current, migrated = Router.load(bundle), Router.load(old)
    assert migrated.routing_threshold == current.routing_threshold
    np.testing.assert_array_equal(migrated.fused_scores(emb), current.fused_scores(emb))
    assert [d.model for d in migrated.route_embeddings(emb)] == [d.model for d in current.route_embeddings(emb)]
    resaved = save_bundle(read_bundle(old), tmp_path / "resaved")  # written back in the current format
    meta = json.loads((resaved / "bundle.json").read_text())
    assert meta["format_version"] == FORMAT_VERSION and "threshold" not in meta and "format" not in meta
    assert read_meta(resaved).to_json() | {"created": None} == read_meta(bundle).to_json() | {"created": None}


def test_a_bundle_from_before_the_options_gets_the_defaults_the_router_used(bundle, tmp_path) -> None:
    meta = read_meta(as_format_1(bundle, tmp_path / "older", before_options=True))
    assert meta.task_heads is True and meta.score_scale == "minmax"
    assert (meta.prior.statistic, meta.prior.shrinkage) == ("median", 0.0)  # the paper's prior


def test_a_newer_or_unknown_format_is_refused_by_name(bundle, tmp_path) -> None:
    newer = tmp_path / "newer"
    shutil.copytree(bundle, newer)
    meta = json.loads((newer / "bundle.json").read_text())
    (newer / "bundle.json").write_text(json.dumps({**meta, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(DataError, match=f"format_version {FORMAT_VERSION + 1}; this FineRouter reads format_version"):
        read_bundle(newer)
    unknown = {k: v for k, v in meta.items() if k != "format_version"} | {"format": 7}
    with pytest.raises(DataError, match="bundle format 7 and no format_version"):
        parse_meta(unknown)


def test_an_invalid_bundle_json_names_the_entry(bundle) -> None:
    meta = json.loads((bundle / "bundle.json").read_text())
    with pytest.raises(DataError, match="score_scale"):
        parse_meta({**meta, "score_scale": "raw"})
    with pytest.raises(DataError, match="routing_threshold"):
        parse_meta({k: v for k, v in meta.items() if k != "routing_threshold"})
