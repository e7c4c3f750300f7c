"""Prometheus metrics through Ray's metrics agent (Serve adds deployment, replica and application tags).

Exported as `ray_finerouter_*` on each node's metrics port (`ray.init(_metrics_export_port=...)`, or the port in
`/tmp/ray/session_latest/metrics/prometheus/` service discovery); see docs/serving.md. Built inside a replica:
Serve metrics read the replica context when they are created.
"""

from __future__ import annotations

from ray.serve.metrics import Counter, Histogram

LATENCY_BOUNDARIES_S = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]
BATCH_BOUNDARIES = [1, 2, 4, 8, 16, 32, 64, 128, 256]


class IngressMetrics:
    def __init__(self) -> None:
        self.requests = Counter(
            "finerouter_requests",
            description="HTTP requests by endpoint and status code",
            tag_keys=("endpoint", "status"),
        )
        self.latency = Histogram(
            "finerouter_request_latency_s",
            description="time spent in the ingress per request, by endpoint (streams: until the last chunk)",
            boundaries=LATENCY_BOUNDARIES_S,
            tag_keys=("endpoint",),
        )
        self.routes_by_model = Counter(
            "finerouter_routes_by_model", description="routing decisions by chosen model", tag_keys=("model",)
        )
        self.routes_by_task = Counter(
            "finerouter_routes_by_task",
            description="routing decisions by task id ('none' = no task assigned)",
            tag_keys=("task",),
        )
        self.no_task = Counter("finerouter_routes_no_task", description="decisions where no task fit the prompt")
        self.upstream_errors = Counter(
            "finerouter_upstream_errors",
            description="failed upstream calls by model and status ('connect' = no HTTP answer)",
            tag_keys=("model", "status"),
        )
        self.fallbacks = Counter(
            "finerouter_upstream_fallbacks", description="retries on a fallback model", tag_keys=("model", "fallback")
        )

    def record_decision(self, model: str, task_id: int | None) -> None:
        self.routes_by_model.inc(tags={"model": model})
        self.routes_by_task.inc(tags={"task": "none" if task_id is None else str(task_id)})
        if task_id is None:
            self.no_task.inc()


class RouterMetrics:
    def __init__(self) -> None:
        self.batch_size = Histogram(
            "finerouter_route_batch_size", description="prompts per Router.route call", boundaries=BATCH_BOUNDARIES
        )
