"""The Argo CD health checks (charts/mcpops/argocd/*.lua) on LIVE objects the operator reconciled.

Each object is driven to a state by the real operator; the Lua then runs, in a real
Lua 5.1, on the object exactly as the API server returns it (what Argo CD sees).

With MCPOPS_CAPTURE_STATUS=<dir> the objects are also written there, trimmed of
what differs per run (uid, namespace, timestamps of metadata): that is how
tests/fixtures/status/ was made (`MCPOPS_CAPTURE_STATUS=tests/fixtures/status`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from argocd_lua import health
from clusterkit import Cluster, OperatorProcess, wait_until
from suitekit import suite
from test_bluegreen import FAST
from test_cleanuppolicy import cm_rule, cpol, make_cms, run_now
from test_mcpserver import mcpserver
from test_optimizationjob import optjob, wait_phase, write_results

from mcpops_common.results import SolveResult


def capture(obj: dict[str, Any], name: str) -> None:
    where = os.environ.get("MCPOPS_CAPTURE_STATUS")
    if not where:
        return
    meta = obj["metadata"]
    kept = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {
            "name": meta["name"],
            "generation": meta["generation"],
            **({"annotations": meta["annotations"]} if meta.get("annotations") else {}),
        },
        "spec": obj["spec"],
        "status": obj.get("status"),
    }
    annotations = kept["metadata"].get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if not annotations:
        kept["metadata"].pop("annotations", None)
    path = Path(where) / f"{obj['kind'].lower()}-{name}.json"
    path.write_text(json.dumps(kept, indent=2, sort_keys=True) + "\n")


def live_in_phase(cluster: Cluster, kind: str, name: str, ns: str, phase: str) -> dict[str, Any]:
    """The object once the operator reported `phase` for its current generation."""

    def reached() -> dict[str, Any] | None:
        obj = cluster.get(kind, name, ns) or {}
        st = obj.get("status") or {}
        current = st.get("observedGeneration") == obj["metadata"]["generation"]
        return obj if current and st.get("phase") == phase else None

    return wait_until(reached, timeout=90, what=f"{kind} {name} in phase {phase}")


def test_health_of_live_mcpservers(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    manual = {**FAST, "autoPromote": False}
    cluster.apply(mcpserver("healthy", rollout=FAST, tests=[suite()]), namespace)
    cluster.apply(mcpserver("failing", rollout=FAST, tests=[suite(passed=False)]), namespace)
    cluster.apply(mcpserver("manual", rollout=manual, tests=[suite()]), namespace)
    held = mcpserver("held", rollout=FAST, tests=[suite()])
    held["metadata"]["annotations"] = {"mcpops.dev/paused": "true"}
    cluster.apply(held, namespace)

    expected = {
        "healthy": ("Healthy", "Healthy", "1/1 replicas ready"),
        "failing": ("Degraded", "Degraded", "suite smoke"),
        "manual": ("Promoting", "Progressing", "annotate mcpops.dev/promote="),
        "held": ("Paused", "Suspended", "paused"),
    }
    for name, (phase, want, fragment) in expected.items():
        obj = live_in_phase(cluster, "mcpserver", name, namespace, phase)
        status, message = health(obj)
        assert (status, fragment in message) == (want, True), (name, status, message)
        capture(obj, name)

    # The Lua, not a cached verdict: a generation the operator has not seen yet is Progressing.
    obj = live_in_phase(cluster, "mcpserver", "healthy", namespace, "Healthy")
    obj["metadata"]["generation"] += 1
    assert health(obj)[0] == "Progressing"


def test_health_of_live_optimizationjobs(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(optjob("solved", podAnnotations={"sim.mcpops.dev/delay": "2s"}), namespace)
    cluster.apply(
        optjob(
            "oom",
            resources={"limits": {"memory": "1Gi"}},
            podAnnotations={"sim.mcpops.dev/outcome": "oom"},
        ),
        namespace,
    )
    cluster.apply(optjob("running", podAnnotations={"sim.mcpops.dev/outcome": "hang"}), namespace)
    write_results(
        cluster,
        namespace,
        "solved",
        SolveResult(
            status="OPTIMAL",
            solver="CP_SAT",
            objective=11.0,
            message="optimal solution found",
            values={"x": 3.0, "y": 1.0},
        ),
    )
    expected = {
        "solved": ("Succeeded", "Healthy", "optimal solution found"),
        "oom": ("Failed", "Degraded", "memory"),
        "running": ("Running", "Progressing", "the solver is running"),
    }
    for name, (phase, want, fragment) in expected.items():
        wait_phase(cluster, name, namespace, phase, timeout=90)
        obj = live_in_phase(cluster, "optimizationjob", name, namespace, phase)
        status, message = health(obj)
        assert (status, fragment in message) == (want, True), (name, status, message)
        capture(obj, name)


def test_health_of_live_cleanuppolicies(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    make_cms(cluster, namespace, ["old-1", "old-2", "old-3"])
    cluster.apply(cpol("preview", [cm_rule(keepNewest=1)]), namespace)
    cluster.apply(
        cpol(
            "held",
            [cm_rule(keepNewest=0)],
            mode="Enforce",
            circuitBreaker={"maxCandidates": 2},
        ),
        namespace,
    )
    cluster.apply(cpol("idle", [cm_rule(labels={"nothing": "here"}, keepNewest=0)]), namespace)
    run_now(cluster, "held", namespace, "1")
    expected = {
        "preview": ("Healthy", "2 candidates"),
        "held": ("Suspended", "mcpops.dev/acknowledge="),
        "idle": ("Healthy", "matched no objects"),
    }
    for name, (want, fragment) in expected.items():
        obj = wait_until(
            lambda n=name: (  # type: ignore[misc]
                (o := cluster.get("cleanuppolicy", n, namespace) or {})
                and (o.get("status") or {}).get("observedGeneration") == o["metadata"]["generation"]
                and (o.get("status") or {}).get("lastRunTime")
                and o
            ),
            timeout=60,
            what=f"CleanupPolicy {name} ran",
        )
        status, message = health(obj)
        assert (status, fragment in message) == (want, True), (name, status, message)
        capture(obj, name)
