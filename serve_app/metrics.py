"""Prometheus metrics of the serving path, in two places at once (docs/operations.md, "Monitoring"):

- `GET /metrics` on the serving port: the ingress replica's own registry (`finerouter_*`, prometheus_client text
  format). One scrape target per ingress replica: with direct ingress each replica answers on its own port.
- Ray's metrics agent: the same series as `ray_finerouter_*`, with Serve's `deployment`, `replica` and
  `application` tags, summed over every replica of the cluster (`ray.init(_metrics_export_port=...)`, or the ports
  in `/tmp/ray/prom_metrics_service_discovery.json`). The Router deployment's batch sizes are only here.

Built inside a replica: Serve metrics read the replica context when they are created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client import Histogram as PromHistogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from ray.serve.metrics import Counter, Histogram

if TYPE_CHECKING:
    from finerouter.routing.decision import RouteDecision

LATENCY_BOUNDARIES_S = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]
BATCH_BOUNDARIES = [1, 2, 4, 8, 16, 32, 64, 128, 256]
NO_TASK = "none"


class DualCounter:
    """A counter written to Ray's metrics agent and to the replica's /metrics registry."""

    def __init__(self, name: str, description: str, tag_keys: tuple[str, ...], registry: CollectorRegistry) -> None:
        self._ray = Counter(name, description=description, tag_keys=tag_keys)
        self._local = PromCounter(name, description, labelnames=tag_keys, registry=registry)
        self._labelled = bool(tag_keys)

    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None:
        self._ray.inc(value, tags=tags)
        (self._local.labels(**tags) if self._labelled else self._local).inc(value)


class DualHistogram:
    """A histogram written to Ray's metrics agent and to the replica's /metrics registry (same buckets)."""

    def __init__(
        self, name: str, description: str, boundaries: list[float], tag_keys: tuple[str, ...],
        registry: CollectorRegistry,
    ) -> None:  # fmt: skip
        self._ray = Histogram(name, description=description, boundaries=boundaries, tag_keys=tag_keys)
        self._local = PromHistogram(name, description, labelnames=tag_keys, buckets=boundaries, registry=registry)
        self._labelled = bool(tag_keys)

    def observe(self, value: float, tags: dict[str, str] | None = None) -> None:
        self._ray.observe(value, tags=tags)
        (self._local.labels(**tags) if self._labelled else self._local).observe(value)


class IngressMetrics:
    """Everything the ingress sees: requests, decisions, upstream calls. Names are given without Ray's `ray_`
    prefix and prometheus_client's `_total` suffix (counters get it in both exporters)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = DualCounter(
            "finerouter_requests", "HTTP requests by endpoint and status code", ("endpoint", "status"), registry
        )
        self.latency = DualHistogram(
            "finerouter_request_latency_s",
            "time spent in the ingress per request, by endpoint (streams: until the last chunk)",
            LATENCY_BOUNDARIES_S,
            ("endpoint",),
            registry,
        )
        self.decision_latency = DualHistogram(
            "finerouter_decision_latency_s",
            "time from a prompt's arrival at the router queue to its routing decision (batching included)",
            LATENCY_BOUNDARIES_S,
            (),
            registry,
        )
        self.routes_by_model = DualCounter(
            "finerouter_routes_by_model", "routing decisions by chosen model", ("model",), registry
        )
        self.routes_by_task = DualCounter(
            "finerouter_routes_by_task", f"routing decisions by task id ('{NO_TASK}' = no task)", ("task",), registry
        )
        self.no_task = DualCounter("finerouter_routes_no_task", "decisions where no task fit the prompt", (), registry)
        self.estimated_cost = DualCounter(
            "finerouter_estimated_cost",
            "sum of the chosen models' expected cost per call, in the bundle's cost unit (/v1/models); divided by "
            "finerouter_routes_by_model: the mean cost per routed request",
            ("model",),
            registry,
        )
        self.upstream_latency = DualHistogram(
            "finerouter_upstream_latency_s",
            "time from forwarding a chat request to the upstream's response headers (fallback hops included), by "
            "the model that answered (or the routed model, when none did) and outcome (ok, or the failing status)",
            LATENCY_BOUNDARIES_S,
            ("model", "outcome"),
            registry,
        )
        self.upstream_errors = DualCounter(
            "finerouter_upstream_errors",
            "failed upstream calls by model and status ('connect' = no HTTP answer, 'stream' = broke off)",
            ("model", "status"),
            registry,
        )
        self.fallbacks = DualCounter(
            "finerouter_upstream_fallbacks", "answers taken from a fallback model", ("model", "fallback"), registry
        )

    def record_decision(self, decision: RouteDecision, seconds: float) -> None:
        self.decision_latency.observe(seconds)
        self.routes_by_model.inc(tags={"model": decision.model})
        self.routes_by_task.inc(tags={"task": NO_TASK if decision.task_id is None else str(decision.task_id)})
        if decision.task_id is None:
            self.no_task.inc()
        if decision.estimated_cost:  # Ray's counters refuse 0 (adding it changes nothing)
            self.estimated_cost.inc(float(decision.estimated_cost), tags={"model": decision.model})

    def record_upstream(self, model: str, outcome: int | str | None, seconds: float) -> None:
        """`outcome`: "ok", an HTTP status, "cooldown" (every upstream skipped), or None (no HTTP answer: 'connect')."""
        label = "connect" if outcome is None else str(outcome)
        self.upstream_latency.observe(seconds, tags={"model": model, "outcome": label})

    def exposition(self) -> tuple[bytes, str]:
        """The body and content type of `GET /metrics`: Prometheus text format 0.0.4, which every scraper reads."""
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4


class RouterMetrics:
    def __init__(self) -> None:
        self.batch_size = Histogram(
            "finerouter_route_batch_size", description="prompts per Router.route call", boundaries=BATCH_BOUNDARIES
        )
