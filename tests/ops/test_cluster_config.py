"""cluster.yaml against Ray's own cluster-config schema and validator, and the GPU profile that runs on it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from finerouter.config import load_config
from finerouter.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SHARED = "/mnt/finerouter"


@pytest.fixture(scope="module")
def cluster() -> dict[str, Any]:
    return yaml.safe_load((REPO / "cluster.yaml").read_text())


def test_cluster_yaml_passes_rays_schema_and_validator(cluster: dict[str, Any]) -> None:
    import jsonschema
    import ray.autoscaler
    from ray.autoscaler._private.util import prepare_config, validate_config

    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(cluster, schema)
    validate_config(prepare_config(cluster))  # fills Ray's defaults, then its checks beyond the schema


def test_cluster_has_a_cpu_head_and_gpu_workers_for_each_role(cluster: dict[str, Any]) -> None:
    types = cluster["available_node_types"]
    assert types[cluster["head_node_type"]]["resources"] == {"CPU": 0}
    gpu_types = {name: t for name, t in types.items() if t["resources"].get("GPU", 0) > 0}
    assert set(gpu_types) == {"gpu_generate", "gpu_graph", "gpu_train"}
    assert sum(t.get("max_workers", 0) for t in types.values()) <= cluster["max_workers"]
    assert all(t.get("min_workers", 0) == 0 for t in gpu_types.values())  # GPUs only while there is work
    # The driver of GPU profiles (kNN, Leiden) has exactly one home.
    assert [n for n, t in types.items() if "driver_gpu" in t["resources"]] == ["gpu_graph"]
    # GPU workers install the `gpu` extra; CPU nodes the CPU torch wheel, never CUDA wheels.
    assert any("finerouter[gpu]" in c for c in cluster["worker_setup_commands"])
    for commands in (cluster["head_setup_commands"], types["cpu"]["worker_setup_commands"]):
        assert "download.pytorch.org/whl/cpu" in commands[0] and not any("[gpu]" in c for c in commands)


def test_cluster_shares_storage_and_auth_and_matches_the_installed_ray(cluster: dict[str, Any]) -> None:
    import ray

    assert cluster["docker"]["image"].startswith(f"rayproject/ray:{ray.__version__}-")
    for name, node_type in cluster["available_node_types"].items():
        if name != cluster["head_node_type"]:
            assert any(f"$RAY_HEAD_IP:{SHARED}" in c for c in node_type["initialization_commands"]), name
    assert any(f"{SHARED} *(rw" in c for c in cluster["initialization_commands"])  # the head's NFS export
    assert f"--volume {SHARED}:{SHARED}" in cluster["docker"]["run_options"]
    assert cluster["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    starts = [c for c in cluster["head_start_ray_commands"] + cluster["worker_start_ray_commands"] if "ray start" in c]
    assert len(starts) == 2 and all("RAY_AUTH_MODE=token ray start" in c for c in starts)


def test_no_placeholders_left(cluster: dict[str, Any]) -> None:
    text = (REPO / "cluster.yaml").read_text() + (REPO / "configs/gpu-full.yaml").read_text()
    assert not re.search(r"<[A-Za-z_ -]+>|TODO|FIXME|CHANGE[ _]?ME|your[-_]", text)


def gpu_full(tmp_path: Path, *extra: str):
    # The data lives on the cluster's shared disk; here any existing directory stands in for it.
    return load_config(REPO / "configs/gpu-full.yaml", [f"data.sources=[{tmp_path}]", *extra])


def test_gpu_profile_is_complete_and_valid(
    cluster: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # data.prices is relative to the job's working directory, the repository
    cfg = gpu_full(tmp_path)
    assert cfg.ray.address == "auto"
    assert cfg.describe.backend == "vllm" and cfg.describe.vllm.num_gpus >= 1
    assert cfg.embed.num_gpus > 0 and cfg.discovery.knn.backend == "gpu" and cfg.discovery.leiden.backend == "gpu"
    # Everything the job writes or reads lives on the shared disk cluster.yaml provides, and the description model
    # is the one the head downloads there.
    assert str(cfg.artifacts_dir).startswith(SHARED) and str(cfg.describe.vllm.model).startswith(SHARED)
    assert any(f"local_dir='{cfg.describe.vllm.model}'" in c for c in cluster["head_setup_commands"])
    # One engine per GPU of a generation node.
    gen = cluster["available_node_types"]["gpu_generate"]["resources"]["GPU"]
    assert cfg.describe.vllm.concurrency * cfg.describe.vllm.num_gpus * cfg.describe.vllm.tensor_parallel_size == gen
    # Training: one data-parallel worker per GPU of a training node, checkpoints and bundles on the shared disk.
    train = cluster["available_node_types"]["gpu_train"]["resources"]
    scaling = cfg.stage2.scaling
    assert scaling.use_gpu and scaling.num_workers * scaling.gpus_per_worker == train["GPU"]
    assert scaling.num_workers * scaling.cpus_per_worker <= train["CPU"]
    assert str(cfg.stage2.storage_path).startswith(SHARED) and str(cfg.publish.root).startswith(SHARED)
    # Without a cluster address the same profile is refused before anything starts.
    with pytest.raises(ConfigError, match=r"embedded local Ray has ray\.num_gpus=0"):
        gpu_full(tmp_path, "ray.address=null")


@pytest.mark.parametrize("profile", ["demo.yaml", "llmrouter.yaml", "mmlu-pro.yaml"])
def test_cpu_profiles_stay_on_cpu(profile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    data = yaml.safe_load((REPO / "configs" / profile).read_text())
    overrides = [f"data.sources=[{tmp_path}]"] if data["data"]["format"] != "synthetic" else []
    cfg = load_config(REPO / "configs" / profile, overrides)
    assert cfg.discovery.knn.backend == "cpu" and cfg.discovery.leiden.backend == "cpu" and cfg.embed.num_gpus == 0
