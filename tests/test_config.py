"""Configuration: YAML at the edge, typed validation, errors naming the bad value and the choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from finerouter.config import apply_overrides, load_config
from finerouter.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_shipped_configs_validate(shared_data, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    for name in ("demo", "llmrouter", "mmlu-pro"):
        cfg = load_config(REPO / "configs" / f"{name}.yaml")
        assert cfg.run == name


def test_bad_values_name_the_problem(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"unknown data format 'csv'; valid formats: synthetic, dcrouter-json"):
        load_config(None, ["data.format=csv"])
    with pytest.raises(ConfigError, match=r"data.sources not found"):
        load_config(None, ["data.format=llmrouter", f"data.sources=[{tmp_path / 'nope'}]"])
    with pytest.raises(ConfigError, match=r"data.sources is empty"):
        load_config(None, ["data.format=llmrouter"])
    with pytest.raises(ConfigError, match=r"ray.num_cpus.*got 0"):
        load_config(None, ["data.format=synthetic", "ray.num_cpus=0"])
    with pytest.raises(ConfigError, match=r"data.colour: Extra inputs are not permitted"):
        load_config(None, ["data.format=synthetic", "data.colour=red"])
    with pytest.raises(ConfigError, match=r"run name 'a/b'"):
        load_config(None, ["data.format=synthetic", "run=a/b"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("data: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_overrides_parse_yaml_values() -> None:
    data = apply_overrides({"a": {"b": 1}}, ["a.b=2", "a.c=[1, 2]", "d.e=true", "f=null"])
    assert data == {"a": {"b": 2, "c": [1, 2]}, "d": {"e": True}, "f": None}
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError, match="is a value, not a section"):
        apply_overrides({"a": 1}, ["a.b=2"])
