"""The scale benchmark's GPU configuration (configs/scale-gpu.yaml: encoder actors on the GPU, FAISS GPU kNN,
cuGraph Leiden, Ray Train on the GPU) at a small size, so it runs as is when a GPU machine is lent.

Marked `gpu` and excluded from the default run; on a GPU machine with the `gpu` extra:
    pytest -m gpu tests/benchmarks/test_scale_rebuild_gpu.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.scale_rebuild import REPO, main

pytestmark = pytest.mark.gpu


def test_scale_benchmark_on_the_gpu(tmp_path: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.fail("marked gpu but torch sees no CUDA GPU: run it on a GPU machine with a CUDA build of torch")
    argv = ["--config", str(REPO / "configs" / "scale-gpu.yaml"), "--sizes", "2000", "4000", "--out", str(tmp_path)]
    for item in ["data.synthetic.n_families=20", "stage2.classifier.epochs=3", "stage2.estimator.epochs=3"]:
        argv += ["--set", item]
    result = main(argv)
    assert result["raw_encoder"]["device"] == "cuda"
    for run in result["runs"]:
        summary = json.loads(Path(run["run_dir"], "summary.json").read_text())
        stats = {s["name"]: s["stats"] for s in summary["stages"]}
        gpus = int(torch.cuda.device_count())
        assert run["embed"]["workers"] == gpus and run["embed"]["efficiency"] > 0
        assert stats["knn"]["backend"] == "gpu"
        assert Path(run["bundle"], "bundle.json").is_file()
    assert all(result["exponents"][name] is not None for name in ("embed", "knn", "communities", "rebuild"))
