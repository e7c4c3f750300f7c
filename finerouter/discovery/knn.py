"""k-nearest-neighbour graph over L2-normalised embeddings with FAISS (inner product = cosine)."""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field

from finerouter.config_model import ConfigModel
from finerouter.errors import ConfigError, MissingDependencyError

log = logging.getLogger("finerouter.knn")


class KnnConfig(ConfigModel):
    model_config = ConfigDict(extra="forbid")

    k: int = Field(15, ge=1, description="neighbours per prompt")
    backend: Literal["cpu", "gpu"] = "cpu"
    index: Literal["auto", "flat", "hnsw", "ivf"] = "auto"
    flat_max: int = Field(50_000, ge=1, description="'auto' uses an exact flat index up to this many vectors")
    hnsw_m: int = Field(32, ge=4)
    hnsw_ef_construction: int = Field(64, ge=8)
    hnsw_ef_search: int = Field(64, ge=8)
    ivf_nlist: int | None = Field(None, ge=1, description="IVF lists; default 4*sqrt(n)")
    ivf_nprobe: int = Field(16, ge=1)
    recall_sample: int = Field(1000, ge=0, description="queries checked against exact search for the recall stat")
    threads: int | None = Field(None, ge=1, description="FAISS OpenMP threads (default: all cores)")
    mutual: bool = Field(False, description="keep only links found in both directions (mutual kNN)")


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise MissingDependencyError("faiss-cpu", "the kNN graph", "pip install faiss-cpu") from exc
    return faiss


def _require_gpu(faiss: Any) -> Any:
    if not hasattr(faiss, "StandardGpuResources"):
        raise MissingDependencyError(
            "faiss-gpu-cu12", "knn.backend: gpu", 'pip install -e ".[gpu]" (or set knn.backend: cpu)'
        )
    if faiss.get_num_gpus() < 1:
        raise MissingDependencyError("a CUDA GPU", "knn.backend: gpu", "run on a GPU worker or set knn.backend: cpu")
    return faiss.StandardGpuResources()


def index_kind(n: int, cfg: KnnConfig) -> str:
    if cfg.index != "auto":
        return cfg.index
    if n <= cfg.flat_max:
        return "flat"
    return "ivf" if cfg.backend == "gpu" else "hnsw"  # FAISS has no GPU HNSW


def knn_search(
    x: np.ndarray, cfg: KnnConfig, k: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Neighbours of every row among all rows, self excluded: (similarities, indices), each (n, k)."""
    faiss = _faiss()
    if cfg.threads:
        faiss.omp_set_num_threads(cfg.threads)
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, dim = x.shape
    k = min(k or cfg.k, n - 1)
    if k < 1:
        return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64), {"index": "none", "n": n, "k": 0}
    kind = index_kind(n, cfg)
    gpu_res = _require_gpu(faiss) if cfg.backend == "gpu" else None
    if gpu_res is not None and kind == "hnsw":
        raise ConfigError("knn.index: hnsw has no FAISS GPU implementation; use flat or ivf with knn.backend: gpu")
    started = time.perf_counter()
    index = _build(faiss, kind, x, cfg, seed)
    if gpu_res is not None:
        index = faiss.index_cpu_to_gpu(gpu_res, 0, index)
    built = time.perf_counter()
    sims, idx = index.search(x, k + 1)
    searched = time.perf_counter()
    sims, idx = _drop_self(sims, idx, k)
    stats: dict[str, Any] = {
        "index": kind, "backend": cfg.backend, "n": n, "dim": dim, "k": k,
        "build_s": round(built - started, 3), "search_s": round(searched - built, 3),
    }  # fmt: skip
    if kind != "flat" and cfg.recall_sample:
        stats["recall_at_k"] = recall_at_k(x, idx, cfg.recall_sample, seed)
    elif kind == "flat":
        stats["recall_at_k"] = 1.0
    log.info("kNN: %s", stats)
    return sims, idx, stats


def _build(faiss: Any, kind: str, x: np.ndarray, cfg: KnnConfig, seed: int) -> Any:
    n, dim = x.shape
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = cfg.hnsw_ef_construction
        index.hnsw.efSearch = cfg.hnsw_ef_search
    else:
        nlist = cfg.ivf_nlist or max(1, min(int(4 * np.sqrt(n)), n // 39))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.train(x)
        index.nprobe = cfg.ivf_nprobe
    index.add(x)
    return index


def _drop_self(sims: np.ndarray, idx: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own id (or, when duplicates hide it, the last hit) to keep k neighbours."""
    n = len(idx)
    is_self = idx == np.arange(n)[:, None]
    no_self = ~is_self.any(axis=1)
    is_self[no_self, -1] = True
    keep = ~is_self
    return sims[keep].reshape(n, k), idx[keep].reshape(n, k)


def recall_at_k(x: np.ndarray, approx_idx: np.ndarray, sample: int, seed: int) -> float:
    """Share of the exact k nearest neighbours that the approximate index found, on a sample of queries."""
    faiss = _faiss()
    rng = np.random.default_rng(seed)
    queries = rng.choice(len(x), size=min(sample, len(x)), replace=False)
    k = approx_idx.shape[1]
    exact = faiss.IndexFlatIP(x.shape[1])
    exact.add(x)
    _, true_idx = exact.search(x[queries], k + 1)
    hits = 0
    for row, q in enumerate(queries):
        truth = [j for j in true_idx[row].tolist() if j != q][:k]
        hits += len(set(truth).intersection(approx_idx[q].tolist()))
    return round(hits / (len(queries) * k), 4)


def undirected_edges(
    sims: np.ndarray, idx: np.ndarray, mutual: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """kNN links as unique undirected edges (src < dst) with their cosine similarity (max of both directions).

    With `mutual`, only pairs where each is among the other's neighbours are kept.
    """
    n, k = idx.shape
    src = np.repeat(np.arange(n, dtype=np.int64), k)
    dst = idx.reshape(-1).astype(np.int64)
    cos = sims.reshape(-1).astype(np.float64)
    valid = (dst >= 0) & (dst != src)
    src, dst, cos = src[valid], dst[valid], cos[valid]
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    key = lo * n + hi
    order = np.lexsort((-cos, key))
    key, lo, hi, cos = key[order], lo[order], hi[order], cos[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    if mutual:
        twice = np.zeros(len(key), dtype=bool)
        twice[:-1] = key[1:] == key[:-1]
        first &= twice
    return lo[first], hi[first], cos[first]
