"""Leiden community detection: igraph / leidenalg on CPU, cuGraph on GPU, chosen by configuration."""

from __future__ import annotations

import random
from typing import Literal

import numpy as np
from pydantic import ConfigDict, Field

from finerouter.config_model import ConfigModel
from finerouter.discovery.graph import Edges
from finerouter.errors import MissingDependencyError


class LeidenConfig(ConfigModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["cpu", "gpu"] = "cpu"
    cpu_impl: Literal["igraph", "leidenalg"] = Field("igraph", description="igraph's built-in Leiden is faster")
    resolution: float = Field(1.0, gt=0, description="modularity resolution over prompts (level 0)")
    summary_resolution: float | None = Field(
        None, gt=0, description="resolution over community summaries (levels >= 1); None = `resolution`"
    )
    max_iterations: int = Field(-1, description="Leiden passes; -1 = until stable (CPU), 100 for cuGraph")


def leiden(n_nodes: int, edges: Edges, cfg: LeidenConfig, seed: int = 0, summary: bool = False) -> np.ndarray:
    """Community label per node, relabelled 0..C-1 by decreasing size (isolated nodes are singletons).

    `summary` selects `summary_resolution` (the levels over community summaries).
    """
    if summary and cfg.summary_resolution is not None:
        cfg = cfg.model_copy(update={"resolution": cfg.summary_resolution})
    if cfg.backend == "gpu":
        labels = _leiden_cugraph(n_nodes, edges, cfg, seed)
    elif cfg.cpu_impl == "leidenalg":
        labels = _leiden_leidenalg(n_nodes, edges, cfg, seed)
    else:
        labels = _leiden_igraph(n_nodes, edges, cfg, seed)
    return relabel_by_size(labels)


def relabel_by_size(labels: np.ndarray) -> np.ndarray:
    uniq, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    order = np.lexsort((uniq, -counts))  # largest first, ties by old label: deterministic
    new_of_old = np.empty(len(uniq), dtype=np.int64)
    new_of_old[order] = np.arange(len(uniq))
    return new_of_old[inverse]


def _graph(n_nodes: int, edges: Edges):
    import igraph as ig

    g = ig.Graph(n=n_nodes, edges=np.column_stack([edges.src, edges.dst]).tolist(), directed=False)
    g.es["weight"] = edges.weight.tolist()
    return g


def _leiden_igraph(n_nodes: int, edges: Edges, cfg: LeidenConfig, seed: int) -> np.ndarray:
    import igraph as ig

    ig.set_random_number_generator(random.Random(seed))
    try:
        clustering = _graph(n_nodes, edges).community_leiden(
            objective_function="modularity",
            weights="weight",
            resolution=cfg.resolution,
            n_iterations=cfg.max_iterations,
        )
    finally:
        ig.set_random_number_generator(random)
    return np.asarray(clustering.membership)


def _leiden_leidenalg(n_nodes: int, edges: Edges, cfg: LeidenConfig, seed: int) -> np.ndarray:
    try:
        import leidenalg
    except ImportError as exc:
        raise MissingDependencyError("leidenalg", "leiden.cpu_impl: leidenalg", "pip install leidenalg") from exc
    partition = leidenalg.find_partition(
        _graph(n_nodes, edges),
        leidenalg.RBConfigurationVertexPartition,
        weights="weight",
        resolution_parameter=cfg.resolution,
        n_iterations=cfg.max_iterations,
        seed=seed,
    )
    return np.asarray(partition.membership)


def _leiden_cugraph(n_nodes: int, edges: Edges, cfg: LeidenConfig, seed: int) -> np.ndarray:
    try:
        import cudf
        import cugraph
    except ImportError as exc:
        raise MissingDependencyError(
            "cugraph-cu12", "leiden.backend: gpu", 'pip install -e ".[gpu]" (or set leiden.backend: cpu)'
        ) from exc
    frame = cudf.DataFrame({"src": edges.src, "dst": edges.dst, "wgt": edges.weight})
    graph = cugraph.Graph(directed=False)
    graph.from_cudf_edgelist(frame, source="src", destination="dst", edge_attr="wgt", renumber=True)
    parts, _ = cugraph.leiden(
        graph,
        max_iter=100 if cfg.max_iterations < 0 else cfg.max_iterations,
        resolution=cfg.resolution,
        random_state=seed,
    )
    parts = parts.to_pandas()
    labels = np.arange(n_nodes) + n_nodes  # nodes without edges stay singletons
    labels[parts["vertex"].to_numpy()] = parts["partition"].to_numpy()
    return labels
