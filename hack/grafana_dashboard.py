#!/usr/bin/env python3
"""Write the Grafana dashboard of the mcpops operator (charts/mcpops/dashboards/mcpops.json).

Panels are declared below as (title, kind, queries); this script lays them out and
writes Grafana's JSON, so that the queries are readable in one place and the layout
stays consistent. Only metrics from operator/mcpops/metrics.py and the in-pod proxy's
reference (docs/reference/proxy/metrics.md) may be used: a test checks every name.

    python hack/grafana_dashboard.py          # regenerate
    python hack/grafana_dashboard.py --check  # fail if the JSON drifted from this file

Stdlib only, so it runs before the project's venv exists.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import generated

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "charts" / "mcpops" / "dashboards" / "mcpops.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
RI = "$__rate_interval"

# (title, panel type, unit, [(query, legend)], description). Gauges use max: every
# operator replica exports them.
Q = tuple[str, str]
ROWS: list[tuple[str, list[tuple[str, str, str, list[Q], str]]]] = [
    (
        "Fleet",
        [
            (
                "Operator leader",
                "stat",
                "none",
                [("max(mcpops_leader)", "leading replicas")],
                "1 when a replica holds the leader Lease and reconciles; 0 means nothing "
                "is reconciled (alert MCPOpsNoLeader).",
            ),
            (
                "MCPServers by phase",
                "timeseries",
                "none",
                [("max by (phase) (mcpops_mcpservers)", "{{phase}}")],
                "How many MCPServers are in each phase, as last reconciled.",
            ),
            (
                "Degraded or failed MCPServers",
                "stat",
                "none",
                [('sum(max by (phase) (mcpops_mcpservers{phase=~"Degraded|Failed"}))', "")],
                "MCPServers whose rollout failed, whose spec is invalid or whose replicas "
                "are not ready.",
            ),
            (
                "Managed objects by kind",
                "timeseries",
                "none",
                [("max by (kind) (mcpops_managed_objects)", "{{kind}}")],
                "Custom resources the operator manages.",
            ),
        ],
    ),
    (
        "Rollouts and rollbacks",
        [
            (
                "Rollouts by outcome",
                "timeseries",
                "none",
                [("sum by (outcome) (increase(mcpops_rollouts_total[1h]))", "{{outcome}}")],
                "Finished rollouts per hour: promoted, failed, aborted, superseded, rolled_back.",
            ),
            (
                "Rollbacks (last hour)",
                "stat",
                "none",
                [('sum(increase(mcpops_rollouts_total{outcome="rolled_back"}[1h]))', "")],
                "Revisions that stopped being ready after the switch, or whose real traffic "
                "breached rollout.analysis, so traffic returned to the previous one (alert "
                "MCPOpsRepeatedRollbacks at 3).",
            ),
            (
                "Post-switch analysis by result",
                "timeseries",
                "none",
                [("sum by (result) (increase(mcpops_rollout_analysis_total[1h]))", "{{result}}")],
                "rollout.analysis verdicts per hour: passed, failed (traffic returned), "
                "inconclusive (too few calls in the verify window).",
            ),
            (
                "Rollout phase duration (p50, p95)",
                "timeseries",
                "s",
                [
                    (
                        "histogram_quantile(0.5, sum by (le, phase) "
                        f"(rate(mcpops_rollout_phase_duration_seconds_bucket[{RI}])))",
                        "p50 {{phase}}",
                    ),
                    (
                        "histogram_quantile(0.95, sum by (le, phase) "
                        f"(rate(mcpops_rollout_phase_duration_seconds_bucket[{RI}])))",
                        "p95 {{phase}}",
                    ),
                ],
                "How long rollouts spend in Progressing, Testing, Promoting and Verifying.",
            ),
            (
                "Oldest rollout in progress",
                "stat",
                "s",
                [("max(mcpops_rollout_oldest_seconds)", "")],
                "Age of the oldest rollout still moving on its own (alert MCPOpsRolloutStuck "
                "after an hour); waiting for a person to promote does not count.",
            ),
            (
                "New revisions",
                "timeseries",
                "none",
                [("sum(increase(mcpops_revisions_created_total[1h]))", "revisions per hour")],
                "Changed pod templates, each one a blue-green rollout.",
            ),
        ],
    ),
    (
        "Tests",
        [
            (
                "Test pass rate",
                "stat",
                "percentunit",
                [
                    (
                        'sum(increase(mcpops_test_results_total{outcome="passed"}[1h])) / '
                        "sum(increase(mcpops_test_results_total[1h]))",
                        "",
                    )
                ],
                "Share of finished test suite runs that passed in the last hour.",
            ),
            (
                "Test results by outcome",
                "timeseries",
                "none",
                [
                    (
                        "sum by (outcome) (increase(mcpops_test_results_total[1h]))",
                        "{{outcome}}",
                    )
                ],
                "Finished suite runs per hour: passed, failed, timeout, cancelled.",
            ),
            (
                "Test Jobs created",
                "timeseries",
                "none",
                [("sum(increase(mcpops_test_jobs_created_total[1h]))", "Jobs per hour")],
                "Test suite Jobs started against candidate revisions.",
            ),
        ],
    ),
    (
        "Solver",
        [
            (
                "OptimizationJobs finished",
                "timeseries",
                "none",
                [
                    (
                        "sum by (phase, reason) "
                        "(increase(mcpops_optimizationjobs_finished_total[1h]))",
                        "{{phase}} {{reason}}",
                    )
                ],
                "Finished jobs per hour by phase and reason (Optimal, Infeasible, "
                "OOMKilled, DeadlineExceeded, ...).",
            ),
            (
                "Solver failure rate",
                "stat",
                "percentunit",
                [
                    (
                        "sum(increase(mcpops_optimizationjobs_finished_total"
                        '{phase="Failed"}[1h])) / '
                        "sum(increase(mcpops_optimizationjobs_finished_total[1h]))",
                        "",
                    )
                ],
                "Share of the jobs that finished in the last hour and failed (alert "
                "MCPOpsSolverFailureRate above 25%).",
            ),
            (
                "Solves by solver",
                "timeseries",
                "ops",
                [
                    (
                        f"sum by (solver) (rate(mcpops_solver_solve_seconds_count[{RI}]))",
                        "{{solver}}",
                    )
                ],
                "Solves per second (each scenario of a sweep counts).",
            ),
            (
                "Solve seconds (p50, p95)",
                "timeseries",
                "s",
                [
                    (
                        "histogram_quantile(0.5, sum by (le, solver) "
                        f"(rate(mcpops_solver_solve_seconds_bucket[{RI}])))",
                        "p50 {{solver}}",
                    ),
                    (
                        "histogram_quantile(0.95, sum by (le, solver) "
                        f"(rate(mcpops_solver_solve_seconds_bucket[{RI}])))",
                        "p95 {{solver}}",
                    ),
                ],
                "Time in the solver per solve, as the runtime reported it.",
            ),
            (
                "Solver seconds spent",
                "timeseries",
                "s",
                [
                    (
                        "sum by (solver) (increase(mcpops_solver_solve_seconds_sum[1h]))",
                        "{{solver}}",
                    )
                ],
                "Solver seconds per hour, by solver.",
            ),
            (
                "Objective gap (p50)",
                "timeseries",
                "percentunit",
                [
                    (
                        "histogram_quantile(0.5, sum by (le, solver) "
                        f"(rate(mcpops_solver_objective_gap_bucket[{RI}])))",
                        "{{solver}}",
                    )
                ],
                "Relative gap of finished solves; 0 is proven optimal.",
            ),
        ],
    ),
    (
        "Cleanup",
        [
            (
                "Objects deleted by kind",
                "timeseries",
                "none",
                [
                    (
                        "sum by (kind) "
                        '(increase(mcpops_cleanup_objects_total{outcome="deleted"}[1h]))',
                        "{{kind}}",
                    )
                ],
                "Objects CleanupPolicies deleted per hour.",
            ),
            (
                "Cleanup outcomes",
                "timeseries",
                "none",
                [
                    (
                        "sum by (outcome) (increase(mcpops_cleanup_objects_total[1h]))",
                        "{{outcome}}",
                    )
                ],
                "deleted, would_delete (dry run), protected, failed; per hour.",
            ),
            (
                "Blocked policies",
                "stat",
                "none",
                [("sum(max by (namespace, policy) (mcpops_cleanup_blocked))", "")],
                "Policies whose circuit breaker waits for a person's acknowledgement "
                "(alert MCPOpsCleanupBlocked).",
            ),
            (
                "Cleanup runs by result",
                "timeseries",
                "none",
                [
                    (
                        "sum by (mode, result) (increase(mcpops_cleanup_runs_total[1h]))",
                        "{{mode}} {{result}}",
                    )
                ],
                "Runs per hour by mode (DryRun, Enforce) and result (ok, blocked, error).",
            ),
            (
                "Deletion candidates by policy",
                "timeseries",
                "none",
                [
                    (
                        "max by (namespace, policy) (mcpops_cleanup_candidates)",
                        "{{namespace}}/{{policy}}",
                    )
                ],
                "Objects the last run of each policy selected.",
            ),
            (
                "Cleanup run duration (p95)",
                "timeseries",
                "s",
                [
                    (
                        "histogram_quantile(0.95, sum by (le) "
                        f"(rate(mcpops_cleanup_run_duration_seconds_bucket[{RI}])))",
                        "p95",
                    )
                ],
                "Time one cleanup run took (list, select, delete).",
            ),
        ],
    ),
    (
        "Tools (in-pod proxy; needs the MCPServer pods scraped on the proxy port, /metrics)",
        [
            (
                "MCPServers open to the cluster",
                "stat",
                "none",
                [("max(mcpops_mcpservers_open_to_cluster)", "")],
                "MCPServers without spec.auth: any pod that can reach them may call every "
                "tool (condition Secured False, OpenToCluster).",
            ),
            (
                "Tool calls by caller class and outcome",
                "timeseries",
                "ops",
                [
                    (
                        f"sum by (caller_class, outcome) "
                        f"(rate(mcpops_proxy_tool_calls_total[{RI}]))",
                        "{{caller_class}} {{outcome}}",
                    )
                ],
                "tools/call at the proxies; caller class is the matching spec.tools.rules "
                "name, else authenticated or anonymous. denied and rate_limited never "
                "reached the server.",
            ),
            (
                "Refused and failed tool calls by tool",
                "timeseries",
                "ops",
                [
                    (
                        "sum by (tool, outcome) "
                        f'(rate(mcpops_proxy_tool_calls_total{{outcome!="ok"}}[{RI}]))',
                        "{{tool}} {{outcome}}",
                    )
                ],
                "Errors (error, failed) and refusals (denied, rate_limited) per tool.",
            ),
            (
                "Tool call latency p95 by caller class",
                "timeseries",
                "s",
                [
                    (
                        f"histogram_quantile(0.95, sum by (le, caller_class) "
                        f"(rate(mcpops_proxy_tool_call_duration_seconds_bucket[{RI}])))",
                        "{{caller_class}}",
                    )
                ],
                "tools/call latency at the proxy, server included.",
            ),
        ],
    ),
    (
        "Operator",
        [
            (
                "Reconciles by kind and result",
                "timeseries",
                "ops",
                [
                    (
                        f"sum by (kind, result) (rate(mcpops_reconciles_total[{RI}]))",
                        "{{kind}} {{result}}",
                    )
                ],
                "Reconciles per second.",
            ),
            (
                "Reconcile error ratio",
                "timeseries",
                "percentunit",
                [
                    (
                        "sum by (kind) "
                        f'(rate(mcpops_reconciles_total{{result="error"}}[{RI}])) / '
                        f"sum by (kind) (rate(mcpops_reconciles_total[{RI}]))",
                        "{{kind}}",
                    )
                ],
                "Share of reconciles that ended in an error (alert MCPOpsReconcileErrors "
                "above 10%).",
            ),
            (
                "Reconcile latency (p50, p95, p99)",
                "timeseries",
                "s",
                [
                    (
                        f"histogram_quantile({q}, sum by (le, kind) "
                        f"(rate(mcpops_reconcile_duration_seconds_bucket[{RI}])))",
                        f"p{round(q * 100)} {{{{kind}}}}",
                    )
                    for q in (0.5, 0.95, 0.99)
                ],
                "Time one reconcile took.",
            ),
            (
                "Work queue depth",
                "timeseries",
                "none",
                [("max by (kind) (mcpops_queue_depth)", "{{kind}}")],
                "Objects waiting to be reconciled.",
            ),
            (
                "API requests by code",
                "timeseries",
                "reqps",
                [
                    (
                        f"sum by (verb, code) (rate(mcpops_api_requests_total[{RI}]))",
                        "{{verb}} {{code}}",
                    )
                ],
                "Requests the operator made to the Kubernetes API server.",
            ),
            (
                "Writes skipped (already up to date)",
                "timeseries",
                "ops",
                [
                    (
                        f"sum by (kind) (rate(mcpops_writes_skipped_total[{RI}]))",
                        "{{kind}}",
                    )
                ],
                "Child or status writes the operator did not make because the cluster "
                "already matched.",
            ),
        ],
    ),
]


def panel(
    pid: int, title: str, kind: str, unit: str, queries: list[Q], description: str
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": pid,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(queries)
        ],
    }
    if kind == "stat":
        out["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value"}
    else:
        out["options"] = {"legend": {"displayMode": "list", "placement": "bottom"}}
    return out


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    pid, y = 1, 0
    for row_title, row_panels in ROWS:
        panels.append(
            {
                "id": pid,
                "type": "row",
                "title": row_title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        pid, y = pid + 1, y + 1
        x = 0
        for title, kind, unit, queries, description in row_panels:
            width = 6 if kind == "stat" else 9
            if x + width > 24:
                x, y = 0, y + 8
            p = panel(pid, title, kind, unit, queries, description)
            p["gridPos"] = {"h": 8, "w": width, "x": x, "y": y}
            panels.append(p)
            pid, x = pid + 1, x + width
        y += 8
    return {
        "uid": "mcpops-operator",
        "title": "mcpops operator",
        "description": "Fleet health, rollouts, tests, solver runs, cleanup and the "
        "operator itself. Generated by hack/grafana_dashboard.py.",
        "tags": ["mcpops", "kubernetes", "operator"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "",
        "graphTooltip": 1,
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "refresh": 1,
                    "options": [],
                }
            ]
        },
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":
    sys.exit(generated.main(__doc__ or "", OUT, render, "make dashboard"))
