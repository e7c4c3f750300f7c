"""The Grafana dashboard JSON (docs/grafana/finerouter-dashboard.json): the fields Grafana needs to import it, a
sound layout, and PromQL that names only metrics FineRouter or Ray export (Grafana is not installable here)."""

from __future__ import annotations

import json
import re
from itertools import combinations

import jsonschema
import pytest

from serve_app.dashboard import OUTPUT, UID, build_dashboard
from serve_app.metrics import IngressMetrics, RouterMetrics
from tests.conftest import REPO_ROOT

GRID = {
    "type": "object",
    "required": ["x", "y", "w", "h"],
    "properties": {
        "x": {"type": "integer", "minimum": 0, "maximum": 23},
        "y": {"type": "integer", "minimum": 0},
        "w": {"type": "integer", "minimum": 1, "maximum": 24},
        "h": {"type": "integer", "minimum": 1},
    },
}
TARGET = {
    "type": "object",
    "required": ["expr", "refId", "legendFormat"],
    "properties": {"expr": {"type": "string", "minLength": 1}, "refId": {"type": "string", "pattern": "^[A-Z]$"}},
}
ROW = {
    "type": "object",
    "required": ["type", "id", "title", "gridPos", "collapsed", "panels"],
    "properties": {"type": {"const": "row"}, "id": {"type": "integer"}, "gridPos": GRID},
}
GRAPH = {
    "type": "object",
    "required": ["type", "id", "title", "description", "gridPos", "datasource", "targets"],
    "properties": {
        "type": {"enum": ["graph", "timeseries", "stat", "gauge", "heatmap", "table", "bargauge"]},
        "id": {"type": "integer"},
        "title": {"type": "string", "minLength": 1},
        "datasource": {"const": "${datasource}"},
        "gridPos": GRID,
        "targets": {"type": "array", "minItems": 1, "items": TARGET},
    },
}
DATASOURCE_VARIABLE = {
    "type": "object",
    "required": ["name", "type", "query"],
    "properties": {"name": {"const": "datasource"}, "type": {"const": "datasource"}, "query": {"const": "prometheus"}},
}
DASHBOARD = {
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 16},
        "panels": {"type": "array", "minItems": 1, "items": {"oneOf": [ROW, GRAPH]}},
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {"list": {"type": "array", "contains": DATASOURCE_VARIABLE}},
        },
    },
}
METRIC = re.compile(r"\b(?:ray|finerouter)_[a-z0-9_]+")
MATCHERS = re.compile(r"\{[^}]*\}")  # label matchers: `ray_io_cluster=~...` is a label, not a metric


def metric_names(expr: str) -> set[str]:
    return set(METRIC.findall(MATCHERS.sub("", expr)))


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(OUTPUT.read_text())


def graphs(dashboard: dict) -> list[dict]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def exported_metrics() -> set[str]:
    """What a Prometheus scraping /metrics and Ray's agent can see: the ingress registry's samples, the same with
    Ray's `ray_` prefix, the router's and the rebuild's Ray metrics, and every Ray metric Ray's own Serve dashboards
    chart."""
    from ray.dashboard.modules.metrics.dashboards import serve_dashboard_panels, serve_deployment_dashboard_panels

    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
    families = IngressMetrics().registry.collect()
    local = {family.name + suffix for family in families for suffix in suffixes[family.type]}
    batch = RouterMetrics().batch_size._name
    progress = (REPO_ROOT / "finerouter" / "pipeline" / "progress.py").read_text()
    rebuild = re.findall(r'Gauge\("(finerouter_[a-z_]+)"', progress)
    assert len(rebuild) == 3, rebuild
    ray_own = {
        name
        for config in (
            serve_dashboard_panels.serve_dashboard_config,
            serve_deployment_dashboard_panels.serve_deployment_dashboard_config,
        )
        for panel in [*config.panels, *(p for row in config.rows for p in row.panels)]
        for target in panel.targets
        for name in metric_names(target.expr)
    }
    return (
        local
        | {f"ray_{name}" for name in local}
        | {f"ray_{batch}_{suffix}" for suffix in ("bucket", "sum", "count")}
        | {f"ray_{name}" for name in rebuild}
        | ray_own
    )


def test_dashboard_matches_grafana_schema(dashboard: dict) -> None:
    jsonschema.validate(dashboard, DASHBOARD)
    assert dashboard["uid"] == UID and dashboard["title"] == "FineRouter"


def test_panels_have_unique_ids_and_do_not_overlap(dashboard: dict) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
    for a, b in combinations(dashboard["panels"], 2):
        ga, gb = a["gridPos"], b["gridPos"]
        apart = ga["x"] + ga["w"] <= gb["x"] or gb["x"] + gb["w"] <= ga["x"]
        apart = apart or ga["y"] + ga["h"] <= gb["y"] or gb["y"] + gb["h"] <= ga["y"]
        assert apart, (a["title"], b["title"])


def test_every_query_names_only_exported_metrics(dashboard: dict) -> None:
    known = exported_metrics()
    for panel in graphs(dashboard):
        for target in panel["targets"]:
            named = metric_names(target["expr"])
            assert named, f"{panel['title']}: no FineRouter or Ray metric in {target['expr']}"
            assert named <= known, f"{panel['title']}: unknown metrics {sorted(named - known)}"
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
            assert "{global_filters}" not in target["expr"] and "{{" not in target["expr"], target["expr"]


def test_dashboard_covers_the_routing_metrics(dashboard: dict) -> None:
    queried = {name for panel in graphs(dashboard) for t in panel["targets"] for name in metric_names(t["expr"])}
    wanted = {
        "finerouter_routes_by_model_total", "finerouter_routes_by_task_total", "finerouter_request_latency_s_bucket",
        "finerouter_decision_latency_s_bucket", "finerouter_upstream_latency_s_bucket",
        "finerouter_upstream_errors_total", "finerouter_upstream_fallbacks_total", "finerouter_estimated_cost_total",
        "ray_finerouter_rebuild_stage_rows_done", "ray_finerouter_route_batch_size_bucket",
    }  # fmt: skip
    assert wanted <= queried, sorted(wanted - queried)


def test_committed_file_is_what_the_generator_builds(dashboard: dict) -> None:
    assert dashboard == build_dashboard(), "regenerate: python -m serve_app.dashboard"
