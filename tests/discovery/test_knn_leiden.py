"""FAISS kNN (flat, HNSW, IVF; recall reported), edge de-duplication, GPU errors, Leiden backends."""

from __future__ import annotations

import numpy as np
import pytest

from finerouter.discovery.graph import Edges, RboConfig, minmax, preference_graph
from finerouter.discovery.knn import KnnConfig, knn_search, undirected_edges
from finerouter.discovery.leiden import LeidenConfig, leiden
from finerouter.discovery.preferences import ranks_from_lists
from finerouter.errors import MissingDependencyError


def clustered(n: int, clusters: int, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    labels = rng.integers(0, clusters, n)
    x = centres[labels] + 0.3 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def test_flat_knn_is_exact_and_excludes_self() -> None:
    x, _ = clustered(300, 5)
    sims, idx, stats = knn_search(x, KnnConfig(k=7))
    assert stats["index"] == "flat" and idx.shape == (300, 7)
    assert not (idx == np.arange(300)[:, None]).any()
    brute = x @ x.T
    np.fill_diagonal(brute, -np.inf)
    np.testing.assert_allclose(np.sort(sims, axis=1)[:, ::-1], -np.sort(-brute, axis=1)[:, :7], atol=1e-5)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_report_recall(kind: str) -> None:
    x, labels = clustered(4000, 20)
    _, idx, stats = knn_search(x, KnnConfig(k=10, index=kind, recall_sample=300))
    assert stats["index"] == kind and 0.9 <= stats["recall_at_k"] <= 1.0
    assert (labels[idx] == labels[:, None]).mean() > 0.95
    auto = knn_search(x, KnnConfig(k=10, flat_max=1000, recall_sample=100))[2]
    assert auto["index"] == "hnsw"


def test_gpu_backend_without_faiss_gpu_names_the_package() -> None:
    import faiss

    if hasattr(faiss, "StandardGpuResources"):
        pytest.skip("this faiss has GPU support")
    x, _ = clustered(50, 2)
    with pytest.raises(MissingDependencyError, match=r"knn.backend: gpu needs the package .faiss-gpu-cu12"):
        knn_search(x, KnnConfig(k=5, backend="gpu"))


def test_undirected_edges_are_unique_with_max_similarity() -> None:
    sims = np.array([[0.9, 0.1], [0.8, 0.2], [0.5, 0.4]], dtype=np.float32)
    idx = np.array([[1, 2], [0, 2], [1, 0]])
    src, dst, cos = undirected_edges(sims, idx)
    assert list(zip(src.tolist(), dst.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 2)]
    np.testing.assert_allclose(cos, [0.9, 0.4, 0.5], atol=1e-6)


def test_preference_graph_filters_and_weights() -> None:
    prefs = np.array([[0, 1, 2, 3], [0, 1, 3, 2], [3, 2, 1, 0], [0, 1, 2, 3]])
    ranks = ranks_from_lists(prefs)
    src, dst, cos = np.array([0, 0, 1]), np.array([1, 2, 3]), np.array([0.9, 0.95, 0.5])
    edges, stats = preference_graph(src, dst, cos, ranks, RboConfig(threshold=0.8))
    assert stats["dropped_low_rbo"] == 1  # 0-2 disagree completely
    assert stats["kept_edges"] + stats["dropped_zero_weight"] == 2
    assert len(edges) == stats["kept_edges"] and ((edges.weight > 0) & (edges.weight <= 1)).all()
    np.testing.assert_allclose(minmax(np.array([2.0, 4.0, 3.0])), [0, 1, 0.5])
    with pytest.raises(ValueError, match="'auto'"):
        RboConfig(threshold="high")


@pytest.mark.parametrize("impl", ["igraph", "leidenalg"])
def test_leiden_recovers_planted_cliques_deterministically(impl: str) -> None:
    rng = np.random.default_rng(0)
    blocks = np.repeat(np.arange(4), 25)
    pairs = np.array([(a, b) for a in range(100) for b in range(a + 1, 100)])
    same = blocks[pairs[:, 0]] == blocks[pairs[:, 1]]
    keep = same | (rng.random(len(pairs)) < 0.01)
    src, dst = pairs[keep, 0], pairs[keep, 1]
    edges = Edges(src, dst, np.ones(len(src)), np.ones(len(src)), np.ones(len(src)))
    cfg = LeidenConfig(cpu_impl=impl)
    labels = leiden(100, edges, cfg, seed=3)
    assert len(set(labels)) == 4
    assert all(len(set(labels[blocks == b])) == 1 for b in range(4))
    np.testing.assert_array_equal(labels, leiden(100, edges, cfg, seed=3))


def test_cugraph_backend_missing_is_a_clear_error() -> None:
    pytest.importorskip("igraph")
    try:
        import cugraph  # noqa: F401

        pytest.skip("cuGraph installed")
    except ImportError:
        pass
    edges = Edges(np.array([0]), np.array([1]), np.ones(1), np.ones(1), np.ones(1))
    with pytest.raises(MissingDependencyError, match="cugraph-cu12"):
        leiden(2, edges, LeidenConfig(backend="gpu"))
