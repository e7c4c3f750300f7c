"""The stage2 config section: defaults, validation, and GPU requests that fail before Ray starts."""

from __future__ import annotations

import pytest

from finerouter.config import load_config
from finerouter.errors import ConfigError

BASE = ["data.format=synthetic"]


def test_defaults_are_the_cpu_path() -> None:
    s2 = load_config(None, BASE).stage2
    assert s2.encoder == "frozen" and s2.alpha == "auto" and not s2.scaling.use_gpu
    assert s2.scaling.resources_per_worker() == {"CPU": 1.0}
    assert load_config(None, BASE).ray.fault_tolerance.train_poll_interval_s == 0.1


def test_finetune_runs_on_the_declared_workers() -> None:
    cfg = load_config(None, [*BASE, "stage2.encoder=finetune", "stage2.finetune.epochs=2"]).stage2
    assert cfg.encoder == "finetune" and cfg.finetune.epochs == 2 and not cfg.scaling.use_gpu


def test_bad_stage2_values_name_the_problem() -> None:
    with pytest.raises(ConfigError, match=r"stage2.alpha must be in \[0, 1\] or 'auto'"):
        load_config(None, [*BASE, "stage2.alpha=1.5"])
    with pytest.raises(ConfigError, match=r"stage2\.encoder: Input should be 'frozen' or 'finetune'"):
        load_config(None, [*BASE, "stage2.encoder=tuned"])
    with pytest.raises(ConfigError, match=r"stage2\.finetune\.encoder_lr"):
        load_config(None, [*BASE, "stage2.encoder=finetune", "stage2.finetune.encoder_lr=0"])
    with pytest.raises(ConfigError, match=r"stage2\.scaling\.num_workers"):
        load_config(None, [*BASE, "stage2.scaling.num_workers=0"])
    with pytest.raises(ConfigError, match=r"ray\.fault_tolerance\.train_poll_interval_s: Input should be greater"):
        load_config(None, [*BASE, "ray.fault_tolerance.train_poll_interval_s=0"])
    with pytest.raises(ConfigError, match=r"stage2\.estimator\.hiddn: Extra inputs are not permitted"):
        load_config(None, [*BASE, "stage2.estimator.hiddn=3"])


def test_gpu_training_without_gpus_fails_before_ray() -> None:
    with pytest.raises(
        ConfigError, match=r"stage2.scaling.use_gpu: true but the embedded local Ray has ray.num_gpus=0"
    ):
        load_config(None, [*BASE, "stage2.scaling.use_gpu=true"])
    cfg = load_config(None, [*BASE, "stage2.scaling.use_gpu=true", "ray.num_gpus=1"])
    assert cfg.stage2.scaling.resources_per_worker() == {"CPU": 1.0, "GPU": 1.0}


def test_evaluate_sweep_is_validated() -> None:
    assert load_config(None, BASE).evaluate.sweep == "auto"
    assert load_config(None, [*BASE, "evaluate.sweep=tau"]).evaluate.sweep == "tau"
    with pytest.raises(ConfigError, match=r"evaluate\.sweep"):
        load_config(None, [*BASE, "evaluate.sweep=gamma"])


def test_routing_threshold_is_the_classifiers_unless_set() -> None:
    assert load_config(None, BASE).stage2.routing_threshold == "classifier"
    assert load_config(None, [*BASE, "stage2.routing_threshold=0.05"]).stage2.routing_threshold == 0.05
    with pytest.raises(ConfigError, match=r"stage2.routing_threshold must be in \[0, 1\] or 'classifier'"):
        load_config(None, [*BASE, "stage2.routing_threshold=1.5"])


def test_task_heads_choices_are_validated() -> None:
    from pydantic import ValidationError

    from finerouter.stage2.config import Stage2Config

    assert Stage2Config().task_heads == "auto" and Stage2Config(task_heads=False).task_heads is False
    with pytest.raises(ValidationError, match="auto"):
        Stage2Config(task_heads="maybe")


def test_score_scale_choices_are_validated() -> None:
    from pydantic import ValidationError

    from finerouter.stage2.config import Stage2Config

    assert Stage2Config().score_scale == "quality" and Stage2Config(score_scale="minmax").score_scale == "minmax"
    with pytest.raises(ValidationError, match="'quality' or 'minmax'"):
        Stage2Config(score_scale="raw")
