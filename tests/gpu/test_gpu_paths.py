"""GPU code paths: FAISS GPU index, cuGraph Leiden, embeddings on CUDA, vLLM on a GPU worker.

Marked `gpu` and excluded from the default run; run on a GPU machine with the `gpu` extra:
    pytest -m gpu tests/gpu
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.gpu


def clustered(n: int = 5000, clusters: int = 20, dim: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, clusters, n)
    x = rng.normal(size=(clusters, dim))[labels] + 0.3 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


@pytest.mark.parametrize("index", ["flat", "ivf"])
def test_faiss_gpu_matches_cpu(index: str) -> None:
    from finerouter.discovery.knn import KnnConfig, knn_search

    x, _ = clustered()
    _, cpu_idx, _ = knn_search(x, KnnConfig(k=10, index="flat"))
    _, gpu_idx, stats = knn_search(x, KnnConfig(k=10, index=index, backend="gpu", recall_sample=500))
    assert stats["backend"] == "gpu" and stats["recall_at_k"] >= 0.9
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(cpu_idx, gpu_idx, strict=True)])
    assert overlap >= (0.99 if index == "flat" else 0.9)


def test_cugraph_leiden_recovers_blocks() -> None:
    from finerouter.discovery.graph import Edges
    from finerouter.discovery.leiden import LeidenConfig, leiden

    blocks = np.repeat(np.arange(4), 50)
    pairs = np.array([(a, b) for a in range(200) for b in range(a + 1, 200) if blocks[a] == blocks[b]])
    edges = Edges(pairs[:, 0], pairs[:, 1], np.ones(len(pairs)), np.ones(len(pairs)), np.ones(len(pairs)))
    labels = leiden(200, edges, LeidenConfig(backend="gpu"), seed=0)
    assert len(set(labels)) == 4 and all(len(set(labels[blocks == b])) == 1 for b in range(4))


def test_embeddings_on_cuda_match_cpu() -> None:
    from finerouter.batch import Resources
    from finerouter.embed.stage import EmbedTexts

    texts = np.array(["convert 3 miles to km", "write a haiku about the sea"], dtype=object)
    cpu, gpu = EmbedTexts(), EmbedTexts(resources=Resources(num_gpus=1))
    cpu.setup()
    gpu.setup()
    np.testing.assert_allclose(cpu({"text": texts})["embedding"], gpu({"text": texts})["embedding"], atol=1e-3)


def test_vllm_describe_on_a_gpu_worker(tmp_path, ray_local) -> None:
    from finerouter.describe.backends import describe
    from finerouter.describe.config import DescribeConfig
    from tests.describe.tiny_model import build_tiny_llama

    model = build_tiny_llama(tmp_path / "tiny")
    cfg = DescribeConfig(backend="vllm", max_tokens=8, vllm={"model": str(model), "num_gpus": 1, "max_model_len": 512})
    prompts = pd.DataFrame({"prompt_id": [f"p{i}" for i in range(8)], "prompt": [f"question {i}" for i in range(8)]})
    out = describe(prompts, cfg)
    assert list(out["prompt_id"]) == list(prompts["prompt_id"]) and (out["status"] == "ok").all()
