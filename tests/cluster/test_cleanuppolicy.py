"""CleanupPolicy on the control plane: the operator as a real process, ConfigMaps as targets.

Runs are started with the mcpops.dev/run-now annotation (a person's way to run at once) and
awaited through status.runNowToken once status.runStarted is gone (an Enforce run spends its
trigger before deleting and reports when done); one test waits for the cron schedule itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from clusterkit import Cluster, OperatorProcess, wait_until

NEVER = "0 0 1 1 *"  # once a year: no scheduled run during a test
LABEL = {"cleanup-test": "yes"}


def cpol(name: str, rules: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "CleanupPolicy",
        "metadata": {"name": name},
        "spec": {"schedule": NEVER, "rules": rules, **spec},
    }


def cm_rule(name: str = "cms", labels: dict[str, str] | None = None, **cond: Any) -> dict[str, Any]:
    return {
        "name": name,
        "resources": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "selector": {"matchLabels": labels or LABEL},
        },
        **cond,
    }


def make_cms(
    cluster: Cluster, ns: str, names: list[str], labels: dict[str, str] | None = None, **meta: Any
) -> None:
    items = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": n, "labels": labels or LABEL, **meta},
            "data": {"k": "v"},
        }
        for n in names
    ]
    # One at a time, in order: creation order is the age order the rules see.
    for item in items:
        cluster.apply(item, ns)


def cm_names(cluster: Cluster, ns: str) -> set[str]:
    return {
        c["metadata"]["name"]
        for c in cluster.list("configmaps", ns)
        if c["metadata"]["name"] != "kube-root-ca.crt"
    }


def status(cluster: Cluster, name: str, ns: str) -> dict[str, Any]:
    obj = cluster.get("cleanuppolicy", name, ns)
    assert obj is not None
    return dict(obj.get("status") or {})


def conditions(st: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in st.get("conditions") or []}


def run_now(
    cluster: Cluster, name: str, ns: str, token: str, timeout: float = 60
) -> dict[str, Any]:
    cluster.kubectl(
        "annotate", "cleanuppolicy", name, "-n", ns, f"mcpops.dev/run-now={token}", "--overwrite"
    )
    return wait_until(
        lambda: (
            (s := status(cluster, name, ns)).get("runNowToken") == token
            and "runStarted" not in s
            and s
        ),
        timeout=timeout,
        what=f"run {token} of {name}",
    )


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"schedule": "every day", "rules": [cm_rule(olderThan="1d")]}, "spec.schedule"),
        ({"schedule": "* * *", "rules": [cm_rule(olderThan="1d")]}, "spec.schedule"),
        ({"schedule": NEVER, "mode": "Delete", "rules": [cm_rule(olderThan="1d")]}, "spec.mode"),
        ({"schedule": NEVER, "rules": [cm_rule()]}, "olderThan"),
        ({"schedule": NEVER, "rules": [cm_rule(olderThan="a week")]}, "olderThan"),
        (
            {"schedule": NEVER, "rules": [cm_rule(olderThan="1d", testJobs={})]},
            "set exactly one target",
        ),
        (
            {
                "schedule": NEVER,
                "rules": [
                    {
                        "name": "all",
                        "resources": {"apiVersion": "v1", "kind": "ConfigMap", "selector": {}},
                        "olderThan": "1d",
                    }
                ],
            },
            "selector must not be empty",
        ),
        (
            {"schedule": NEVER, "maxDeletionsPerRun": "lots", "rules": [cm_rule(olderThan="1d")]},
            "spec.maxDeletionsPerRun",
        ),
        (
            {
                "schedule": NEVER,
                "circuitBreaker": {"maxCandidates": "5000%"},
                "rules": [cm_rule(olderThan="1d")],
            },
            "spec.circuitBreaker.maxCandidates",
        ),
        (
            {"schedule": NEVER, "rules": [cm_rule(olderThan="1d"), cm_rule(keepNewest=1)]},
            "rule names must be unique",
        ),
        ({"schedule": NEVER, "rules": [cm_rule(olderThan="1d", clock="modified")]}, "clock"),
        (
            {"schedule": NEVER, "timeZone": "Europe/Berlin; x", "rules": [cm_rule(olderThan="1d")]},
            "spec.timeZone",
        ),
    ],
)
def test_invalid_policies_are_refused_at_admission(
    crds: Cluster, namespace: str, spec: dict[str, Any], field: str
) -> None:
    body = {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "CleanupPolicy",
        "metadata": {"name": "bad"},
        "spec": spec,
    }
    res = crds.kubectl("apply", "-n", namespace, "-f", "-", input_=json.dumps(body), check=False)
    assert res.returncode != 0, f"accepted {spec}"
    assert field in res.stderr, res.stderr


def refused_schedule(cluster: Cluster, name: str, ns: str) -> str:
    """The message of the InvalidSchedule Ready condition the operator sets on `name`."""
    ready = wait_until(
        lambda: conditions(status(cluster, name, ns)).get("Ready"), what=f"Ready of {name}"
    )
    assert ready["status"] == "False" and ready["reason"] == "InvalidSchedule"
    return str(ready["message"])


def test_a_schedule_the_api_server_lets_through_is_refused_by_the_operator(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(cpol("feb30", [cm_rule(olderThan="1d")], schedule="0 0 30 2 *"), namespace)
    assert refused_schedule(cluster, "feb30", namespace).startswith("spec.schedule:")


def test_an_unknown_time_zone_is_explained_then_the_fix_is_used(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(cpol("tz", [cm_rule(olderThan="1d")], timeZone="Mars/Olympus_Mons"), namespace)
    message = refused_schedule(cluster, "tz", namespace)
    assert message.startswith("spec.timeZone: 'Mars/Olympus_Mons' is not a known")
    cluster.kubectl(
        "patch", "cleanuppolicy", "tz", "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"timeZone": "Asia/Kolkata"}}),
    )  # fmt: skip
    st = wait_until(
        lambda: (
            (s := status(cluster, "tz", namespace)).get("observedGeneration") == 2
            and s.get("nextRunTime")
            and s
        ),
        what="tz scheduled in its zone",
    )
    assert conditions(st)["Ready"]["status"] == "True"
    # NEVER is 00:00 on 1 January, read in Kolkata (UTC+05:30, no daylight saving).
    kolkata = ZoneInfo("Asia/Kolkata")
    new_year = datetime(datetime.now(kolkata).year + 1, 1, 1, tzinfo=kolkata)
    assert st["nextRunTime"] == new_year.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_dry_run_lists_and_deletes_nothing(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    names = [f"cm-{i}" for i in range(5)]
    make_cms(cluster, namespace, names)
    # A DryRun policy previews at once on creation: no annotation needed.
    cluster.apply(cpol("preview", [cm_rule(keepNewest=2, groupBy="none")]), namespace)
    st = wait_until(
        lambda: (s := status(cluster, "preview", namespace)).get("lastRun") and s,
        what="the preview run",
    )
    assert st["lastRun"]["mode"] == "DryRun" and st["lastRun"]["trigger"] == "spec"
    assert st["lastRun"]["matched"] == 5 and st["lastRun"]["candidates"] == 3
    assert st["lastRun"]["deleted"] == 0
    assert [c["name"] for c in st["candidates"]] == ["cm-0", "cm-1", "cm-2"]
    assert all(c["rule"] == "cms" and c["kind"] == "ConfigMap" for c in st["candidates"])
    assert conditions(st)["Ready"]["reason"] == "Succeeded"
    assert st["nextRunTime"].startswith(f"{datetime.now(UTC).year + 1}-01-01T00:00:00")
    # A person's run-now also deletes nothing in DryRun.
    run_now(cluster, "preview", namespace, "1")
    assert cm_names(cluster, namespace) == set(names)
    assert cluster.wait_events(namespace, "preview", kind="CleanupPolicy", reason="DryRun")
    key = (
        "mcpops_cleanup_runs_total",
        frozenset(
            {
                ("namespace", namespace),
                ("policy", "preview"),
                ("mode", "DryRun"),
                ("result", "ok"),
            }
        ),
    )
    # Counted after the run's status and Event are written (the first run's DryRun Event
    # is already there): wait on the count itself.
    wait_until(
        lambda: operator.metrics().get(key, 0) >= 2, timeout=30, what="two DryRun runs counted"
    )


def test_enforce_deletes_exactly_the_expected_set_and_protected_survives(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    make_cms(cluster, namespace, [f"a-{i}" for i in range(6)])
    cluster.kubectl("label", "configmap", "a-1", "-n", namespace, "mcpops.dev/protected=true")
    make_cms(cluster, namespace, ["other"], labels={"cleanup-test": "no"})
    cluster.apply(
        cpol("enforce", [cm_rule(keepNewest=2, groupBy="none")], mode="Enforce"), namespace
    )
    st = wait_until(
        lambda: (s := status(cluster, "enforce", namespace)).get("nextRunTime") and s,
        what="nextRunTime",
    )
    assert "lastRun" not in st  # Enforce waits for its schedule (or a person)
    st = run_now(cluster, "enforce", namespace, "go")
    assert st["lastRun"]["matched"] == 6
    assert st["lastRun"]["deleted"] == 3 and st["lastRun"]["protected"] == 1
    assert cm_names(cluster, namespace) == {"a-1", "a-4", "a-5", "other"}
    assert {d["name"] for d in st["deletions"]} == {"a-0", "a-2", "a-3"}
    assert all(d["rule"] == "cms" and d["age"] and d["time"] for d in st["deletions"])
    deleted_events = cluster.wait_events(
        namespace, "enforce", kind="CleanupPolicy", reason="Deleted", at_least=3
    )
    assert len(deleted_events) == 3
    assert conditions(st)["Degraded"]["status"] == "False"


def test_cap_and_circuit_breaker_hold_until_acknowledged(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    make_cms(cluster, namespace, [f"b-{i:02d}" for i in range(8)])
    cluster.apply(
        cpol(
            "breaker",
            [cm_rule(keepNewest=0)],
            mode="Enforce",
            maxDeletionsPerRun=3,
            circuitBreaker={"maxCandidates": 5},
            deletesPerSecond=50,
        ),
        namespace,
    )
    st = run_now(cluster, "breaker", namespace, "1")
    blocked = conditions(st)["Blocked"]
    assert blocked["status"] == "True" and blocked["reason"] == "CircuitBreakerTripped"
    token = st["breaker"]["token"]
    assert f"mcpops.dev/acknowledge={token}" in blocked["message"]
    assert st["lastRun"]["deleted"] == 0 and len(st["candidates"]) == 8
    assert len(cm_names(cluster, namespace)) == 8
    tripped = cluster.wait_events(
        namespace, "breaker", kind="CleanupPolicy", reason="CircuitBreakerTripped"
    )
    assert all(e["type"] == "Warning" for e in tripped)
    # A wrong acknowledgement opens nothing.
    cluster.kubectl(
        "annotate", "cleanuppolicy", "breaker", "-n", namespace, "mcpops.dev/acknowledge=nope"
    )
    st = run_now(cluster, "breaker", namespace, "2")
    assert conditions(st)["Blocked"]["status"] == "True" and st["lastRun"]["deleted"] == 0
    # The right one runs at once; the per-run cap still holds.
    cluster.kubectl(
        "annotate",
        "cleanuppolicy",
        "breaker",
        "-n",
        namespace,
        f"mcpops.dev/acknowledge={token}",
        "--overwrite",
    )
    st = wait_until(
        lambda: (
            (s := status(cluster, "breaker", namespace))["lastRun"]["trigger"] == "acknowledge"
            and s
        ),
        what="the acknowledged run",
    )
    assert st["lastRun"]["deleted"] == 3 and st["lastRun"]["deferred"] == 5
    assert conditions(st)["Blocked"]["reason"] == "Acknowledged"
    assert len(cm_names(cluster, namespace)) == 5
    # More than was acknowledged: blocked again, and the old acknowledgement does not open it.
    make_cms(cluster, namespace, [f"c-{i:02d}" for i in range(6)])
    st = run_now(cluster, "breaker", namespace, "3")
    assert conditions(st)["Blocked"]["status"] == "True"
    assert st["breaker"]["token"] != token and st["lastRun"]["deleted"] == 0
    st = run_now(cluster, "breaker", namespace, "4")
    assert conditions(st)["Blocked"]["status"] == "True" and len(cm_names(cluster, namespace)) == 11


def test_a_recreated_object_with_the_same_name_survives(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    make_cms(cluster, namespace, ["r-0", "r-1"])
    old = cluster.get("configmap", "r-1", namespace)
    assert old is not None
    # Ten seconds between deletions (the slowest rate the schema allows): time to replace
    # r-1 after r-0 went, even when each kubectl call takes seconds on a loaded machine.
    cluster.apply(
        cpol("uid", [cm_rule(keepNewest=0)], mode="Enforce", deletesPerSecond=0.1), namespace
    )
    cluster.kubectl(
        "annotate", "cleanuppolicy", "uid", "-n", namespace, "mcpops.dev/run-now=1", "--overwrite"
    )
    wait_until(lambda: "r-0" not in cm_names(cluster, namespace), timeout=60, what="r-0 deleted")
    cluster.kubectl("delete", "configmap", "r-1", "-n", namespace)
    make_cms(cluster, namespace, ["r-1"])
    st = wait_until(
        lambda: (
            (s := status(cluster, "uid", namespace)).get("runNowToken") == "1"
            and "runStarted" not in s
            and s
        ),
        timeout=60,
        what="the run",
    )
    new = cluster.get("configmap", "r-1", namespace)
    assert new is not None and new["metadata"]["uid"] != old["metadata"]["uid"]
    assert st["lastRun"]["deleted"] == 1 and st["lastRun"]["skipped"] == 1


def test_the_schedule_fires(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    make_cms(cluster, namespace, ["s-0"])
    cluster.apply(
        cpol("cron", [cm_rule(keepNewest=0)], mode="Enforce", schedule="* * * * *"), namespace
    )
    st = wait_until(
        lambda: (s := status(cluster, "cron", namespace)).get("nextRunTime") and s,
        what="nextRunTime",
    )
    due = st["nextRunTime"]
    assert due.endswith(":00Z") and conditions(st)["Ready"]["reason"] == "Scheduled"
    # The next minute boundary, plus room for a loaded machine.
    wait_until(lambda: not cm_names(cluster, namespace), timeout=120, what="the scheduled run")
    st = wait_until(
        lambda: (s := status(cluster, "cron", namespace)).get("lastRun") and s,
        what="the run's status",
    )
    assert st["lastScheduleTime"] == due and st["lastRun"]["trigger"] == "schedule"
    assert st["nextRunTime"] > due


def test_no_matches_and_an_unknown_kind_say_so_in_conditions(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(cpol("empty", [cm_rule(labels={"nothing": "here"}, olderThan="1d")]), namespace)
    cluster.apply(
        cpol(
            "widgets",
            [
                {
                    "name": "w",
                    "resources": {
                        "apiVersion": "example.com/v1",
                        "kind": "Widget",
                        "selector": {"matchLabels": {"a": "b"}},
                    },
                    "olderThan": "1d",
                }
            ],
        ),
        namespace,
    )
    empty = wait_until(
        lambda: conditions(status(cluster, "empty", namespace)).get("Ready"), what="Ready"
    )
    assert empty["status"] == "True" and empty["reason"] == "NoMatches"
    degraded = wait_until(
        lambda: conditions(status(cluster, "widgets", namespace)).get("Degraded"),
        what="Degraded",
    )
    assert degraded["status"] == "True" and degraded["reason"] == "UnknownKind"
    assert "Widget" in degraded["message"] and "example.com/v1" in degraded["message"]


def test_finished_optimizationjobs_go_with_their_children(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    model = {
        "sense": "maximize",
        "variables": [{"name": "x", "lowerBound": 0, "upperBound": 3}],
        "constraints": [],
        "objective": {"coefficients": {"x": 1}},
    }
    for name, outcome in (("done", "fail"), ("busy", "hang")):
        cluster.apply(
            {
                "apiVersion": "mcpops.dev/v1alpha1",
                "kind": "OptimizationJob",
                "metadata": {"name": name},
                "spec": {
                    "model": model,
                    "timeLimitSeconds": 30,
                    "backoffLimit": 0,
                    "podAnnotations": {"sim.mcpops.dev/outcome": outcome},
                },
            },
            namespace,
        )
    wait_until(
        lambda: (
            (cluster.get("optimizationjob", "done", namespace) or {}).get("status", {}).get("phase")
            == "Failed"
        ),
        timeout=90,
        what="optjob done Failed",
    )
    assert cluster.get("job", "done", namespace) is not None
    cluster.apply(
        cpol(
            "solves",
            [{"name": "finished", "optimizationJobs": {}, "olderThan": "0s", "clock": "finished"}],
            mode="Enforce",
        ),
        namespace,
    )
    st = run_now(cluster, "solves", namespace, "1")
    assert st["lastRun"]["matched"] == 1 and st["lastRun"]["deleted"] == 1
    assert st["deletions"][0]["kind"] == "OptimizationJob" and st["deletions"][0]["name"] == "done"
    wait_until(
        lambda: cluster.get("optimizationjob", "done", namespace) is None, what="optjob gone"
    )
    # Its Job goes by garbage collection (Background propagation); the running one stays.
    wait_until(lambda: cluster.get("job", "done", namespace) is None, timeout=60, what="its Job")
    assert cluster.get("optimizationjob", "busy", namespace) is not None
