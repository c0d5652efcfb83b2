"""Continuous verification on the control plane: tests[].schedule re-runs a suite against
the serving revision. Test pods are simulated (kwok Stage rules steered by the suite's
podAnnotations, as in test_bluegreen.py): changing a suite's annotations does not change
the revision, so the same revision passes before its switch and fails on schedule."""

from __future__ import annotations

from typing import Any

from clusterkit import Cluster, OperatorProcess, wait_until
from suitekit import suite
from test_mcpserver import cond, mcpserver, patch_spec, stable_revision, status, wait_ready

FAST = {"scaleDownDelaySeconds": 2, "verifySeconds": 2, "progressDeadlineSeconds": 60}
EVERY_MINUTE = "* * * * *"  # cron's finest: a run within 60 s
RUN_WITHIN = 150  # the next minute, the Job, the simulated pod, the reconcile


def scheduled(passed: bool, **extra: Any) -> dict[str, Any]:
    return {**suite(passed=passed), "schedule": EVERY_MINUTE, **extra}


def failures(operator: OperatorProcess) -> float:
    return operator.metrics().get(
        ("mcpops_scheduled_suite_results_total", frozenset({("outcome", "failed")})), 0.0
    )


def test_a_failing_scheduled_run_degrades_without_moving_traffic(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(mcpserver("cv", rollout=FAST, tests=[scheduled(True)]), namespace)
    first = wait_ready(cluster, "cv", namespace)
    active = first["activeRevision"]
    (entry,) = first["scheduledTests"]
    assert entry["revision"] == active and entry["nextRunAt"]
    before = failures(operator)

    patch_spec(cluster, "cv", namespace, {"tests": [scheduled(False)]})
    st = wait_until(
        lambda: (
            (s := status(cluster, "cv", namespace))
            and cond(s, "Degraded").get("reason") == "ScheduledSuiteFailed"
            and s
        ),
        timeout=RUN_WITHIN,
        what="Degraded by the scheduled run",
    )
    assert "suite smoke" in cond(st, "Degraded")["message"]
    assert "expected 3, got 4" in cond(st, "Degraded")["message"]
    assert st["activeRevision"] == active and stable_revision(cluster, "cv", namespace) == active
    (entry,) = st["scheduledTests"]
    assert entry["outcome"] == "Failed" and entry["lastRunAt"] and entry["nextRunAt"]
    # The Event and the count follow the status write seen above: wait for them.
    assert cluster.wait_events(
        namespace, "cv", reason="ScheduledSuiteFailed", containing="traffic stays"
    )
    wait_until(lambda: failures(operator) >= before + 1, timeout=10, what="the failure counted")

    (job,) = [
        j
        for j in cluster.list("jobs", namespace, "mcpops.dev/scheduled=true")
        if j["metadata"]["name"] == entry["job"]
    ]
    labels = job["metadata"]["labels"]
    assert labels["mcpops.dev/revision"] == active and labels["app.kubernetes.io/instance"] == "cv"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "MCPServer"
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0]["value"].startswith(f"http://cv.{namespace}.svc:")  # the stable Service


def test_rollback_on_a_failing_scheduled_run_returns_to_a_kept_revision(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    tests = [scheduled(True, onFailure="Rollback")]
    cluster.apply(mcpserver("cr", rollout=FAST, tests=tests), namespace)
    first = wait_ready(cluster, "cr", namespace)["activeRevision"]
    patch_spec(cluster, "cr", namespace, {"image": "example.invalid/mcp:2"})
    second = wait_until(
        lambda: (
            (s := status(cluster, "cr", namespace)).get("activeRevision") != first
            and not (s.get("rollout") or {}).get("previous")
            and s["activeRevision"]
        ),
        timeout=60,
        what="the second revision serves",
    )
    history = {r["revision"]: r for r in status(cluster, "cr", namespace)["revisions"]}
    assert history[first].get("passedSuites") == ["smoke"]

    patch_spec(cluster, "cr", namespace, {"tests": [scheduled(False, onFailure="Rollback")]})
    st = wait_until(
        lambda: (s := status(cluster, "cr", namespace)).get("activeRevision") == first and s,
        timeout=RUN_WITHIN,
        what="traffic back on the first revision",
    )
    assert st["failedRevision"] == second
    wait_until(
        lambda: stable_revision(cluster, "cr", namespace) == first,
        timeout=30,
        what="the stable Service on the first revision",
    )
    # Events are posted after the status write seen above: wait for them.
    assert cluster.wait_events(
        namespace, "cr", reason="RolledBack", containing=f"traffic returned to {first}"
    )
    assert cluster.wait_events(namespace, "cr", reason="ScheduledSuiteFailed")
