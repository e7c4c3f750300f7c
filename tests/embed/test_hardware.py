"""The encoder runtime/dtype rule and the actor count of `workers: auto`."""

from __future__ import annotations

import pytest

from finerouter.embed import hardware
from finerouter.embed.hardware import choose_batch_encoder, plan_actors, torch_threads
from finerouter.errors import ConfigError


def test_auto_workers_fill_the_cpus_ray_offers() -> None:
    assert plan_actors("auto", 1.0, 0.0, {"CPU": 2.0}).workers == 2
    assert plan_actors("auto", 2.0, 0.0, {"CPU": 2.0}).workers == 1
    assert plan_actors("auto", 0.5, 0.0, {"CPU": 2.0}).workers == 4
    assert plan_actors("auto", 1.0, 0.0, {"CPU": 16.0, "GPU": 4.0}).workers == 16  # CPU actors ignore GPUs
    plan = plan_actors("auto", 2.0, 1.0, {"CPU": 16.0, "GPU": 4.0})
    assert plan.workers == 4 and "4 GPU" in plan.reason and "16 CPU" in plan.reason
    assert plan_actors(3, 1.0, 0.0, {"CPU": 2.0}).workers == 3  # a number is taken as given


def test_auto_workers_that_cannot_fit_one_actor_say_why() -> None:
    with pytest.raises(ConfigError, match=r"Ray offers 8 CPU, 0 GPU.*1 CPU \+ 1 GPU each"):
        plan_actors("auto", 1.0, 1.0, {"CPU": 8.0})
    with pytest.raises(ConfigError, match=r"Ray offers 1 CPU.*2 CPU each"):
        plan_actors("auto", 2.0, 0.0, {"CPU": 1.0})


def test_torch_threads_follow_the_actor_cpus() -> None:
    assert [torch_threads(c) for c in (0.5, 1.0, 2.0, 3.5)] == [1, 1, 2, 3]


@pytest.mark.parametrize("bf16", [True, False])
def test_batch_encoder_uses_bfloat16_where_the_cpu_has_it(monkeypatch: pytest.MonkeyPatch, bf16: bool) -> None:
    monkeypatch.setattr(hardware, "onednn_bfloat16", lambda: bf16)
    monkeypatch.setattr(hardware, "onnxruntime_installed", lambda: True)  # batches: torch even so
    choice = choose_batch_encoder("auto", "auto", "cpu")
    assert (choice.runtime, choice.dtype) == ("torch", "bfloat16" if bf16 else "float32")
    assert "oneDNN reports" in choice.reason
    assert choose_batch_encoder("auto", "float32", "cpu").dtype == "float32"  # overridable
    assert choose_batch_encoder("onnxruntime", "auto", "cpu").dtype == "float32"


def test_batch_encoder_on_gpu_asks_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "onednn_bfloat16", lambda: True)
    monkeypatch.setattr(hardware, "cuda_bfloat16", lambda: False)
    choice = choose_batch_encoder("auto", "auto", "cuda")
    assert choice.dtype == "float32" and "embed.dtype" in choice.reason
