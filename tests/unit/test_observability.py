"""The alert rules and the Grafana dashboard of the chart, checked without a cluster.

promtool (Debian's prometheus package, `make promtool`) checks the rules and runs their
unit tests (tests/promtool/); the dashboard's queries are checked as PromQL by promtool
too, and every metric either uses must be one that operator/mcpops/metrics.py defines.
tests/cluster/test_observability_live.py checks the same names against a live /metrics.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from observability import (
    CHART,
    DASHBOARD,
    REPO,
    RULES,
    dashboard_exprs,
    dashboard_panels,
    exported_series_names,
    metric_names,
    proxy_series_names,
    rule_exprs,
    used_metric_names,
)
from prometheus_client import REGISTRY, generate_latest
from test_chart import render, the
from toolpaths import require_tool

import mcpops.metrics  # noqa: F401  (registers every metric of the operator)

ALERTS = {
    "MCPOpsNoLeader",
    "MCPOpsReconcileErrors",
    "MCPOpsRolloutStuck",
    "MCPOpsRepeatedRollbacks",
    "MCPOpsMCPServersDegraded",
    "MCPOpsSolverFailureRate",
    "MCPOpsCleanupBlocked",
    "MCPOpsUpdateLookupsFailing",
    "MCPOpsScheduledSuiteFailed",
    "MCPOpsMCPServersNotExposed",
}


@pytest.fixture(scope="module")
def tool() -> str:
    return require_tool("MCPOPS_PROMTOOL", "promtool")


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=False)


def test_promtool_check_rules(tool: str) -> None:
    res = run(tool, "check", "rules", str(RULES))
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in res.stdout


def test_promtool_unit_tests_of_the_alerts(tool: str) -> None:
    tests = REPO / "tests" / "promtool" / "mcpops.rules.test.yaml"
    res = run(tool, "test", "rules", str(tests))
    assert res.returncode == 0, res.stdout + res.stderr
    tested = {
        case["alertname"]
        for test in yaml.safe_load(tests.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    }
    assert len(tested) >= 3 and tested <= ALERTS


def test_promtool_refuses_a_broken_rule(tool: str, tmp_path: Path) -> None:
    # The check above can fail: a rule promtool cannot parse is refused.
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups: [{name: g, rules: [{alert: A, expr: 'sum(rate(x[5m])'}]}]\n")
    assert run(tool, "check", "rules", str(bad)).returncode != 0


def test_dashboard_queries_are_valid_promql(tool: str, tmp_path: Path) -> None:
    # As recording rules, promtool parses each query ($__rate_interval is Grafana's).
    exprs = dashboard_exprs()
    rules = [
        {"record": f"dashboard:query_{i}", "expr": e.replace("$__rate_interval", "5m")}
        for i, e in enumerate(exprs.values())
    ]
    path = tmp_path / "dashboard.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    res = run(tool, "check", "rules", str(path))
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_alerts_the_issue_asks_for() -> None:
    assert set(rule_exprs()) == ALERTS
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in {"warning", "critical"}
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_every_metric_used_is_defined_in_metrics_py() -> None:
    exported = exported_series_names(generate_latest(REGISTRY).decode()) | proxy_series_names()
    assert "mcpops_proxy_tool_call_duration_seconds_bucket" in exported
    used = used_metric_names()
    unknown = {name: sorted(where) for name, where in used.items() if name not in exported}
    assert not unknown, unknown
    assert all(name.startswith("mcpops_") for name in used)


def test_dashboard_covers_what_the_issue_lists() -> None:
    used = set(used_metric_names())
    for metric in (
        "mcpops_mcpservers",  # fleet health
        "mcpops_rollouts_total",  # rollouts and rollbacks
        "mcpops_test_results_total",  # test pass rate
        "mcpops_solver_solve_seconds_bucket",  # solver seconds
        "mcpops_optimizationjobs_finished_total",  # solver runs
        "mcpops_cleanup_objects_total",  # cleanup deletions
        "mcpops_reconciles_total",  # reconcile errors
        "mcpops_reconcile_duration_seconds_bucket",  # reconcile latency
        "mcpops_leader",
    ):
        assert any(metric in metric_names(e) for e in dashboard_exprs().values()), metric
        assert metric in used


def test_metric_names_of_promql() -> None:
    expr = (
        'sum by (kind) (rate(a_total{result="error", x=~"b|c"}[5m])) / ignoring(le) '
        "group_left(kind) b offset 5m > bool 0.1 and on() min_over_time(c[1h:1m]) "
        'or absent(d) unless label_replace(e, "x", "$1", "y", "(.*)")'
    )
    assert metric_names(expr) == {"a_total", "b", "c", "d", "e"}


def test_exported_series_names() -> None:
    text = (
        "# HELP x_total X.\n# TYPE x_total counter\nx_total 1.0\n"
        '# TYPE h histogram\nh_bucket{le="1"} 0\n# TYPE g gauge\ng 0\n'
    )
    assert exported_series_names(text) == {"x_total", "h_bucket", "h_sum", "h_count", "g"}


def test_dashboard_layout() -> None:
    panels = dashboard_panels()
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for p in panels:
        pos = p["gridPos"]
        assert pos["x"] + pos["w"] <= 24, p["title"]
        if p["type"] != "row":
            assert p["targets"] and p["description"], p["title"]
            assert p["datasource"]["uid"] == "${datasource}"
    doc = json.loads(DASHBOARD.read_text())
    assert doc["uid"] == "mcpops-operator"
    assert doc["templating"]["list"][0]["type"] == "datasource"


def test_chart_ships_the_rules_and_dashboard_unchanged(helm: str) -> None:
    docs = render(
        helm,
        "--set",
        "metrics.prometheusRule.enabled=true,metrics.grafanaDashboard.enabled=true",
        "--set",
        "metrics.prometheusRule.labels.release=kps,metrics.grafanaDashboard.namespace=grafana",
    )
    rule = the(docs, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULES.read_text())
    assert rule["metadata"]["labels"]["release"] == "kps"
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap" and "mcpops.json" in d["data"]]
    assert json.loads(cm["data"]["mcpops.json"]) == json.loads(DASHBOARD.read_text())
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == "grafana"
    # Off by default: a cluster without prometheus-operator has no PrometheusRule CRD.
    defaults = render(helm)
    assert not [d for d in defaults if d["kind"] == "PrometheusRule"]
    assert not [d for d in defaults if d["kind"] == "ConfigMap"]
    assert (CHART / "rules" / "mcpops.rules.yaml").exists()
