"""The FineRouter Grafana dashboard, built with Ray's own dashboard generator so it takes the form of the dashboards
Ray's UI embeds (a `datasource` variable, graph panels, Ray's Serve filters). `python -m serve_app.dashboard`
writes docs/grafana/finerouter-dashboard.json; docs/operations.md ("Monitoring") says what each panel shows.

Routing panels read the ingress's `GET /metrics` (`finerouter_*`); the router batch, Serve and rebuild panels read
Ray's metrics agent (`ray_*`). A Prometheus that scrapes both (the scrape config in docs/operations.md) fills all.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ray.dashboard.modules.metrics.dashboards.common import DashboardConfig, Panel, Row, Target

UID = "fineRouterDashboard"
TITLE = "FineRouter"
OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "grafana" / "finerouter-dashboard.json"
RATE = "[$__rate_interval]"


def _quantiles(metric: str, by: str, where: str = "") -> list[Target]:
    """p50 and p99 of a histogram, per `by` label (Ray's generator formats `{{`/`}}` to braces)."""
    selector = f"{{{{{where}}}}}" if where else ""
    return [
        Target(
            expr=f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{selector}{RATE})))",
            legend=f"p{round(q * 100)} {{{{{by}}}}}",
        )
        for q in (0.5, 0.99)
    ]


def _panel(id: int, title: str, description: str, unit: str, targets: list[Target], stack: bool = False) -> Panel:
    return Panel(title=title, description=description, id=id, unit=unit, targets=targets, stack=stack)


def _rate(metric: str, by: str) -> Target:
    legend = " ".join(f"{{{{{label.strip()}}}}}" for label in by.split(","))
    return Target(expr=f"sum by ({by}) (rate({metric}{RATE}))", legend=legend)


ROUTING = [
    _panel(1, "Routes per second by model", "Routing decisions per second, by the model chosen.", "routes/s", [
        _rate("finerouter_routes_by_model_total", "model")], stack=True),
    _panel(2, "Routes per second by task (top 10)", "Decisions per second by latent task ('none': no task fit).",
          "routes/s", [Target(expr=f"topk(10, sum by (task) (rate(finerouter_routes_by_task_total{RATE})))",
                              legend="task {{task}}")], stack=True),
    _panel(3, "No-task share", "Share of decisions where no task fit the prompt (the router used its general "
          "estimate).", "percentunit", [Target(
              expr=f"sum(rate(finerouter_routes_no_task_total{RATE})) / sum(rate(finerouter_routes_by_model_total"
              f"{RATE}))", legend="no task")]),
    _panel(4, "Request latency", "Time in the ingress per request, p50 and p99, by endpoint (chat streams: until "
          "the last chunk).", "s", _quantiles("finerouter_request_latency_s", "endpoint")),
    _panel(5, "Routing decision latency", "From a prompt's arrival at the router queue to its decision (batching "
          "and the encoder included), p50 and p99.", "s", [
              Target(expr=f"histogram_quantile({q}, sum by (le) (rate(finerouter_decision_latency_s_bucket{RATE})))",
                     legend=f"p{round(q * 100)}") for q in (0.5, 0.99)]),
    _panel(6, "Requests by status", "HTTP requests per second by endpoint and status code.", "req/s", [
        _rate("finerouter_requests_total", "endpoint, status")], stack=True),
    _panel(7, "Estimated cost per routed request", "Mean expected cost of the chosen model per decision, in the "
          "bundle's cost unit (GET /v1/models).", "short", [
              Target(expr=f"sum(rate(finerouter_estimated_cost_total{RATE})) / "
                     f"sum(rate(finerouter_routes_by_model_total{RATE}))", legend="all models")]),
]  # fmt: skip

UPSTREAMS = [
    _panel(11, "Upstream latency", "Time from forwarding a chat request to the upstream's response headers "
          "(fallback hops included), p50 and p99 by the model that answered.", "s",
          _quantiles("finerouter_upstream_latency_s", "model", 'outcome="ok"')),
    _panel(12, "Upstream errors by status", "Failed upstream calls per second by model and status ('connect': no "
          "HTTP answer, 'stream': broke off midway).", "errors/s", [
              _rate("finerouter_upstream_errors_total", "model, status")], stack=True),
    _panel(13, "Fallbacks", "Answers taken from a fallback model per second (routed model -> fallback).",
          "answers/s", [Target(expr=f"sum by (model, fallback) (rate(finerouter_upstream_fallbacks_total{RATE}))",
                               legend="{{model}} -> {{fallback}}")], stack=True),
]  # fmt: skip

CLUSTER = [
    _panel(21, "Router batch size", "Prompts per Router.route call on the router replicas (Ray's exporter): p50 "
          "and mean.", "short", [
              Target(expr=f"histogram_quantile(0.5, sum by (le) (rate(ray_finerouter_route_batch_size_bucket"
                     f"{{{{{{global_filters}}}}}}{RATE})))", legend="p50"),
              Target(expr=f"sum(rate(ray_finerouter_route_batch_size_sum{{{{{{global_filters}}}}}}{RATE})) / "
                     f"sum(rate(ray_finerouter_route_batch_size_count{{{{{{global_filters}}}}}}{RATE}))",
                     legend="mean")]),
    _panel(22, "Healthy replicas", "Healthy Serve replicas per deployment (Router, Ingress).", "replicas", [
        Target(expr="sum by (deployment) (ray_serve_deployment_replica_healthy{{application=~\"$Application\","
               "{global_filters}}})", legend="{{deployment}}")]),
    _panel(23, "Queued requests", "Requests waiting for a replica, per deployment (a rising line: add replicas).",
          "requests", [Target(expr="sum by (deployment) (ray_serve_deployment_queued_queries{{application=~"
                              "\"$Application\",{global_filters}}})", legend="{{deployment}}")]),
    _panel(24, "Rebuild: stage progress", "Rows done / rows total of each running rebuild stage (the job's "
          "driver exports these while it runs).", "percentunit", [
              Target(expr="ray_finerouter_rebuild_stage_rows_done{{{global_filters}}} / "
                     "ray_finerouter_rebuild_stage_rows_total{{{global_filters}}}", legend="{{run}} {{stage}}")]),
    _panel(25, "Rebuild: running stage", "1 while a stage runs, by run and stage.", "short", [
        Target(expr="max by (run, stage) (ray_finerouter_rebuild_stage_running{{{global_filters}}})",
               legend="{{run}} {{stage}}")]),
]  # fmt: skip

CONFIG = DashboardConfig(
    name="FINEROUTER",
    default_uid=UID,
    rows=[
        Row(title="Routing (GET /metrics on the serving port)", id=100, panels=ROUTING),
        Row(title="Upstreams (GET /metrics on the serving port)", id=101, panels=UPSTREAMS),
        Row(title="Router replicas and rebuilds (Ray's metrics agent)", id=102, panels=CLUSTER),
    ],
    standard_global_filters=['ray_io_cluster=~"$Cluster"'],
    base_json_file_name="serve_grafana_dashboard_base.json",
)


def build_dashboard() -> dict:
    """The dashboard JSON as Ray's generator writes it, titled FineRouter; its Ray version tag is left out (the
    file does not change with each Ray upgrade)."""
    from ray.dashboard.modules.metrics.grafana_dashboard_factory import _generate_grafana_dashboard

    content, _ = _generate_grafana_dashboard(CONFIG)
    dashboard = json.loads(content)
    dashboard["title"] = TITLE
    dashboard["tags"] = ["finerouter"]
    return dashboard


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(build_dashboard(), indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
