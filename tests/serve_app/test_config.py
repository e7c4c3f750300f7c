"""App arguments and `finerouter serve` argument handling (no Ray): bad values fail before Serve is touched."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from finerouter.cli import main
from finerouter.errors import ConfigError
from serve_app.app import serve_config
from serve_app.local import load_args

REPO = Path(__file__).resolve().parents[2]


def test_serve_config_file_is_a_valid_serve_deploy_config() -> None:
    from ray.serve.schema import ServeDeploySchema

    config = ServeDeploySchema.model_validate(yaml.safe_load((REPO / "serve_app" / "config.yaml").read_text()))
    (app,) = config.applications
    assert app.import_path == "serve_app.app:build_app" and app.args["bundle"] == "artifacts/llmrouter/bundle"
    assert config.logging_config is not None and config.logging_config.enable_access_log is False


def test_serve_config_file_loads_with_a_bundle_override(tmp_path: Path) -> None:
    args = load_args(tmp_path, REPO / "serve_app" / "config.yaml", {"router.autoscaling.max_replicas": 3})
    assert args.bundle == tmp_path.resolve()
    assert args.router.autoscaling.max_replicas == 3 and args.router.max_batch_size == 32
    app = serve_config(args, new_bundle=tmp_path)["applications"][0]
    assert app["import_path"] == "serve_app.app:build_app"
    assert app["deployments"] == [{"name": "Router", "user_config": {"bundle": str(tmp_path.resolve())}}]


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"router.autoscaling.min_replicas": 3, "router.autoscaling.max_replicas": 2}, "min_replicas"),
        ({"router.max_batch_size": 0}, "max_batch_size"),
        ({"fallbacks": {"a": "b"}}, "has no upstream"),
        ({"upstreams": {"a": {"base_url": "not a url"}}}, "base_url"),
        ({"router.colour": "blue"}, "colour"),
    ],
)
def test_bad_arguments_name_the_field(tmp_path: Path, overrides: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_args(tmp_path, None, overrides)


def test_cli_serve_rejects_a_missing_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--bundle", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
