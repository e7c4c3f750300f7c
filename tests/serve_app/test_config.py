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
    assert app.import_path == "serve_app.app:build_app"
    # The bundle the quickstart builds: `make demo` runs configs/demo.yaml, whose bundle is <artifacts>/<run>/bundle.
    from finerouter.config import load_config

    assert Path(app.args["bundle"]) == load_config(REPO / "configs/demo.yaml").run_dir / "bundle"
    assert config.logging_config is not None and config.logging_config.enable_access_log is False


def test_serve_config_file_loads_with_a_bundle_override(tmp_path: Path) -> None:
    overrides = {"router.autoscaling.max_replicas": 3, "ingress.max_in_flight_batches": 3}
    args = load_args(tmp_path, REPO / "serve_app" / "config.yaml", overrides)
    assert args.bundle == tmp_path.resolve()
    assert args.router.autoscaling.max_replicas == 3 and args.router.max_batch_size == 32
    app = serve_config(args, new_bundle=tmp_path)["applications"][0]
    assert app["import_path"] == "serve_app.app:build_app"
    assert app["deployments"] == [{"name": "Router", "user_config": {"bundle": str(tmp_path.resolve())}}]


def test_ingress_batching_takes_the_router_batch_size_and_the_linger_in_seconds(tmp_path: Path) -> None:
    overrides = {"router.max_batch_size": 16, "ingress.max_in_flight_batches": 3, "ingress.batch_linger_ms": 5}
    batching = load_args(tmp_path, None, overrides).ingress_batching()
    assert (batching.max_batch_size, batching.max_in_flight, batching.linger_s) == (16, 3, 0.005)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"router.autoscaling.min_replicas": 3, "router.autoscaling.max_replicas": 2}, "min_replicas"),
        ({"router.max_batch_size": 0}, "max_batch_size"),
        ({"fallbacks": {"a": "b"}}, "has no upstream"),
        ({"upstreams": {"a": {"base_url": "not a url"}}}, "base_url"),
        ({"router.colour": "blue"}, "colour"),
        ({"ingress.batch_linger_ms": -1}, "batch_linger_ms"),
        (
            {"router.autoscaling.max_replicas": 3, "ingress.max_in_flight_batches": 2},
            r"max_replicas \(3\) cannot all be used.*= 2 router calls",
        ),
    ],
)
def test_bad_arguments_name_the_field(tmp_path: Path, overrides: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_args(tmp_path, None, overrides)


def test_cli_serve_rejects_a_missing_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--bundle", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_serve_rejects_bfloat16_on_onnxruntime(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["serve", "--bundle", str(tmp_path), "--encoder-runtime", "onnxruntime", "--encoder-dtype", "bfloat16"]
    assert main(argv) == 2
    assert "encoder_dtype bfloat16 does not run on encoder_runtime onnxruntime" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("runtime", "dtype", "ok"),
    [
        ("torch", "float32", True),
        ("torch", "bfloat16", True),
        ("onnxruntime", "float32", True),
        ("onnxruntime", "bfloat16", False),
    ],
)
def test_encoder_runtime_and_dtype_combinations(tmp_path: Path, runtime: str, dtype: str, ok: bool) -> None:
    overrides = {"router.encoder_runtime": runtime, "router.encoder_dtype": dtype}
    if ok:
        router = load_args(tmp_path, None, overrides).router
        assert (router.encoder_runtime, router.encoder_dtype) == (runtime, dtype)
    else:
        with pytest.raises(
            ConfigError, match=rf"encoder_dtype {dtype} does not run on encoder_runtime {runtime}; valid"
        ):
            load_args(tmp_path, None, overrides)
    with pytest.raises(ConfigError, match="encoder_runtime"):
        load_args(tmp_path, None, {"router.encoder_runtime": "openvino"})
    with pytest.raises(ConfigError, match="encoder_dtype"):
        load_args(tmp_path, None, {"router.encoder_runtime": "onnxruntime", "router.encoder_dtype": "int8"})


def test_only_non_default_load_options_reach_the_router_class() -> None:
    from serve_app.router_deployment import load_options

    assert load_options() == {}
    assert load_options("bfloat16") == {"encoder_dtype": "bfloat16"}
    assert load_options(encoder_runtime="onnxruntime") == {"encoder_runtime": "onnxruntime"}
    assert load_options("bfloat16", "onnxruntime") == {"encoder_dtype": "bfloat16", "encoder_runtime": "onnxruntime"}


@pytest.mark.parametrize(
    ("overrides", "calls"),
    [
        ({}, 2),
        ({"router.autoscaling.max_replicas": 6}, 6),
        ({"router.autoscaling.max_replicas": 6, "ingress.num_replicas": 2}, 3),
        ({"router.autoscaling.max_replicas": 4, "router.autoscaling.target_ongoing_requests": 2}, 8),
        ({"router.autoscaling.max_replicas": 1}, 2),
    ],
)
def test_ingress_keeps_enough_calls_out_for_the_autoscaler_to_reach_max_replicas(
    tmp_path: Path, overrides: dict, calls: int
) -> None:
    args = load_args(tmp_path, None, overrides)
    assert args.ingress.max_in_flight_batches == calls
