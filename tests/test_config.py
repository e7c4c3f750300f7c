"""Configuration: YAML at the edge, typed validation, errors naming the bad value and the choices."""

from __future__ import annotations

import re
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


@pytest.mark.parametrize(
    "key",
    [
        "discovery.cohesion_quantile",  # the cohesion rule goes with summary_merge: fused_rbo
        "discovery.min_candidates",
        "stage2.estimator.members",
        "data.split.rotate",  # the re-split options live under data.split.experimental
        "data.split.source_splits",
        "data.split.train_subsample",
    ],
)
def test_a_removed_setting_in_a_file_is_an_unknown_key(tmp_path: Path, key: str) -> None:
    *sections, leaf = key.split(".")
    text = "data:\n  format: synthetic\n"
    indent = ""
    for section in sections:
        text += f"{indent}{section}:\n" if section != "data" else ""
        indent += "  "
    (tmp_path / "old.yaml").write_text(text + f"{indent}{leaf}: 1\n")
    with pytest.raises(ConfigError, match=rf"{re.escape(key)}: Extra inputs are not permitted .*old\.yaml"):
        load_config(tmp_path / "old.yaml")


def test_overrides_parse_yaml_values() -> None:
    data = apply_overrides({"a": {"b": 1}}, ["a.b=2", "a.c=[1, 2]", "d.e=true", "f=null"])
    assert data == {"a": {"b": 2, "c": [1, 2]}, "d": {"e": True}, "f": None}
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError, match="is a value, not a section"):
        apply_overrides({"a": 1}, ["a.b=2"])


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("discovery.knn.k=true", "discovery.knn.k"),
        ("ray.num_cpus=false", "ray.num_cpus"),
        ("stage2.alpha=true", "stage2.alpha"),
        ("describe.openai.timeout_s=true", "describe.openai.timeout_s"),
    ],
)
def test_a_boolean_is_not_read_as_a_number(override: str, field: str) -> None:
    section, _, name = field.rpartition(".")
    message = rf"{re.escape(section)}: Value error, {name} is a boolean \(true/false\) where a number is expected"
    with pytest.raises(ConfigError, match=message):
        load_config(None, ["data.format=synthetic", override])


@pytest.mark.parametrize(
    "override",
    [
        "ray.fault_tolerance.no_progress_timeout_s=.inf",
        "describe.openai.timeout_s=.inf",
        "ray.progress_interval_s=.nan",
    ],
)
def test_infinite_or_nan_numbers_are_refused(override: str) -> None:
    field = override.split("=")[0]
    with pytest.raises(ConfigError, match=rf"{re.escape(field)}: Input should be a finite number"):
        load_config(None, ["data.format=synthetic", override])


def test_every_config_model_shares_the_strict_base() -> None:
    from pydantic import BaseModel

    from finerouter.config import RebuildConfig
    from finerouter.config_model import ConfigModel
    from serve_app.config import ServiceArgs

    def models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
        seen.add(model)
        for field in model.model_fields.values():
            for arg in _leaf_types(field.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in seen:
                    models(arg, seen)
        return seen

    found = models(RebuildConfig, set()) | models(ServiceArgs, set())
    assert len(found) > 20
    assert [m.__name__ for m in found if not issubclass(m, ConfigModel)] == []


def _leaf_types(annotation: object) -> list[object]:
    from typing import get_args

    args = get_args(annotation)
    return [leaf for arg in args for leaf in _leaf_types(arg)] if args else [annotation]


def test_a_set_override_is_named_as_the_source_of_its_error(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("data:\n  format: synthetic\n")
    with pytest.raises(ConfigError) as err:
        load_config(config, ["discovery.knn.kk=3"])
    message = str(err.value)
    assert "discovery.knn.kk: Extra inputs are not permitted (got 3) [from --set discovery.knn.kk=3]" in message
    assert f"in {config}" not in message
    with pytest.raises(ConfigError, match=r"k is a boolean .* \[from --set discovery\.knn\.k=true\]$"):
        load_config(config, ["discovery.knn.k=true", "discovery.knn.backend=cpu"])
    with pytest.raises(ConfigError, match=r"actor_task_retries needs .* \[from --set ray.fault_tolerance.actor_max"):
        load_config(config, ["ray.fault_tolerance.actor_max_restarts=0"])
    config.write_text("data:\n  format: synthetic\n  colour: red\n")
    with pytest.raises(ConfigError, match=rf"data.colour: Extra inputs .* \[from {re.escape(str(config))}\]"):
        load_config(config, ["seed=1"])


def test_a_config_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "list.yaml"
    config.write_text("- data\n- format\n")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(config))}.*must hold a mapping.*not list"):
        load_config(config)


def test_serve_config_file_errors_name_the_file(tmp_path: Path) -> None:
    from serve_app.local import load_args

    with pytest.raises(ConfigError, match=r"serve --config file '.*missing.yaml' not found"):
        load_args(tmp_path, tmp_path / "missing.yaml", {})
    listed = tmp_path / "list.yaml"
    listed.write_text("- bundle: x\n")
    with pytest.raises(ConfigError, match=r"list.yaml' must hold a mapping .*not list"):
        load_args(tmp_path, listed, {})
    broken = tmp_path / "broken.yaml"
    broken.write_text("router: [unclosed")
    with pytest.raises(ConfigError, match=r"broken.yaml' is not valid YAML"):
        load_args(tmp_path, broken, {})
    apps = tmp_path / "apps.yaml"
    apps.write_text("applications: {name: finerouter}\n")
    with pytest.raises(ConfigError, match=r"apps.yaml'.*'applications' must be a list"):
        load_args(tmp_path, apps, {})
