"""`finerouter serve`'s defaults: the fastest encoder the machine runs and direct ingress, each overridable."""

from __future__ import annotations

from pathlib import Path

import pytest

from finerouter.cli import build_parser
from finerouter.embed import hardware
from serve_app.config import ServeAppArgs
from serve_app.fast_path import (
    OVERRIDE_HINT,
    choose_direct_ingress,
    choose_encoder,
    with_fast_encoder,
    with_fitting_replicas,
)
from serve_app.local import load_args


@pytest.fixture
def machine(monkeypatch):
    """Pretend the machine has (or lacks) oneDNN bfloat16 and ONNX Runtime."""

    def set_machine(bfloat16: bool, onnx: bool) -> None:
        monkeypatch.setattr(hardware, "onednn_bfloat16", lambda: bfloat16)
        monkeypatch.setattr(hardware, "onnxruntime_installed", lambda: onnx)

    return set_machine


@pytest.mark.parametrize(
    ("bfloat16", "onnx", "expected", "reason"),
    [
        (True, True, ("torch", "bfloat16"), "oneDNN reports bfloat16 support"),
        (True, False, ("torch", "bfloat16"), "oneDNN reports bfloat16 support"),
        (False, True, ("onnxruntime", "float32"), "ONNX Runtime is installed"),
        (False, False, ("torch", "float32"), "ONNX Runtime is not installed"),
    ],
)
def test_unset_encoder_gets_the_fastest_the_machine_runs(machine, bfloat16, onnx, expected, reason) -> None:
    machine(bfloat16, onnx)
    choice = choose_encoder(None, None)
    assert (choice.runtime, choice.dtype) == expected
    assert reason in choice.describe(OVERRIDE_HINT) and "--encoder-runtime" in choice.describe(OVERRIDE_HINT)


@pytest.mark.parametrize(
    ("runtime", "dtype", "expected"),
    [
        ("torch", "float32", ("torch", "float32")),  # both given: untouched, even where bfloat16 would be faster
        ("torch", None, ("torch", "bfloat16")),
        (None, "float32", ("onnxruntime", "float32")),
        ("onnxruntime", None, ("onnxruntime", "float32")),
        (None, "bfloat16", ("torch", "bfloat16")),
    ],
)
def test_given_parts_are_kept(machine, runtime, dtype, expected) -> None:
    machine(True, True)
    choice = choose_encoder(runtime, dtype)
    assert (choice.runtime, choice.dtype) == expected


def test_without_bfloat16_torch_stays_float32(machine) -> None:
    machine(False, True)
    assert (choose_encoder("torch", None).dtype, choose_encoder(None, "float32").runtime) == ("float32", "onnxruntime")


def test_config_file_settings_count_as_given(machine, tmp_path: Path) -> None:
    machine(True, True)
    config = tmp_path / "args.yaml"
    config.write_text("router:\n  encoder_dtype: float32\n")
    args, choice = with_fast_encoder(load_args(tmp_path, config, {}))
    assert (args.router.encoder_runtime, args.router.encoder_dtype) == ("onnxruntime", "float32")
    args, choice = with_fast_encoder(load_args(tmp_path, None, {"router.num_cpus": 0.5}))
    assert (args.router.encoder_runtime, args.router.encoder_dtype, args.router.num_cpus) == ("torch", "bfloat16", 0.5)
    flags = {"router.encoder_runtime": "torch", "router.encoder_dtype": "float32"}
    args, choice = with_fast_encoder(load_args(tmp_path, None, flags))
    assert (args.router.encoder_runtime, args.router.encoder_dtype, choice.reason) == (
        "torch",
        "float32",
        "as configured",
    )


def test_direct_ingress_by_default_on_the_local_ray() -> None:
    assert choose_direct_ingress(None, None)[0] is True
    direct, why = choose_direct_ingress(None, "ray://head:10001")
    assert direct is False and "--address" in why
    assert choose_direct_ingress(False, None)[0] is False and choose_direct_ingress(True, None)[0] is True


@pytest.mark.parametrize(
    ("flags", "expected"), [([], None), (["--no-direct-ingress"], False), (["--direct-ingress"], True)]
)
def test_serve_flags(flags: list[str], expected: bool | None) -> None:
    args = build_parser().parse_args(["serve", "--bundle", "b", *flags])
    assert args.direct_ingress is expected and args.encoder_dtype is None and args.encoder_runtime is None


def test_detection_agrees_with_the_encoder_check() -> None:
    """The real probe: bfloat16 is chosen exactly where the encoder's own load-time check accepts it."""
    from finerouter.embed.options import check_encoder_options
    from finerouter.errors import ConfigError

    try:
        check_encoder_options("bfloat16", "torch")
        accepted = True
    except ConfigError:
        accepted = False
    assert hardware.onednn_bfloat16() is accepted


def test_replicas_are_sized_so_the_maximum_fits_the_local_ray(tmp_path: Path) -> None:
    args = ServeAppArgs(bundle=tmp_path)
    fitted, line = with_fitting_replicas(args, cluster_cpus=2.0)
    assert fitted.router.num_cpus == 0.95  # two replicas of 0.95 + the 0.1-CPU ingress fit in 2 CPUs
    assert fitted.router.autoscaling.min_replicas == 2 and "2 router replicas from the start" in line
    wide, _ = with_fitting_replicas(args, cluster_cpus=16.0)
    assert wide.router.num_cpus == 1.0


def test_configured_replica_cpus_are_kept(tmp_path: Path) -> None:
    args = ServeAppArgs.model_validate({"bundle": str(tmp_path), "router": {"num_cpus": 0.4}})
    kept, line = with_fitting_replicas(args, cluster_cpus=2.0)
    assert kept.router.num_cpus == 0.4 and line is None
    bounded = ServeAppArgs.model_validate({"bundle": str(tmp_path), "router": {"autoscaling": {"min_replicas": 1}}})
    scaled, line = with_fitting_replicas(bounded, cluster_cpus=2.0)
    assert scaled.router.autoscaling.min_replicas == 1 and "at most" in line
