"""OptimizationJob as a solver service on the control plane: progress copied into status,
cancel, warm start and the per-namespace queue. The operator is a real process; solver pods
are simulated (kwok), so what the runtime writes (its progress and result ConfigMaps) is
written here with the runtime's own builders, as the pod would."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clusterkit import Cluster, OperatorProcess, replacing, wait_until
from test_optimizationjob import cond, event_reasons, get, optjob, wait_phase, write_results

from mcpops_common.names import CANCEL_ANNOTATION
from mcpops_common.results import SolveResult, build_progress_configmap

HANG = {"sim.mcpops.dev/outcome": "hang"}


def owner_of(cluster: Cluster, name: str, ns: str) -> dict[str, str]:
    meta = get(cluster, name, ns)["metadata"]
    return {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "OptimizationJob",
        "name": name,
        "uid": meta["uid"],
    }


def report_progress(cluster: Cluster, ns: str, name: str, **progress: Any) -> None:
    """What the runtime writes every few seconds while it solves."""
    cm = build_progress_configmap(
        {"solver": "SCIP", "sense": "minimize", **progress},
        name=name,
        namespace=ns,
        owner=owner_of(cluster, name, ns),
    )
    cluster.apply(cm, ns)


def test_progress_then_cancel_keeps_the_best_solution(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    ns = namespace
    cluster.apply(optjob("mip", podAnnotations=HANG), ns)
    wait_phase(cluster, "mip", ns, "Running")
    role = cluster.get("role", "mip-solver", ns)
    assert role is not None and "mip-progress" in role["rules"][1]["resourceNames"]
    report_progress(cluster, ns, "mip", objective=12.0, bound=8.0, gap=1 / 3, solutionsFound=2)

    def progressed() -> dict[str, Any] | None:
        st = get(cluster, "mip", ns).get("status") or {}
        return st if (st.get("progress") or {}).get("objective") == 12.0 else None

    st = wait_until(progressed, what="progress in status")
    assert st["phase"] == "Running" and st["progress"]["bound"] == 8.0
    assert st["progress"]["solutionsFound"] == 2
    report_progress(cluster, ns, "mip", objective=10.0, bound=9.0, gap=0.1, solutionsFound=3)
    wait_until(
        lambda: (get(cluster, "mip", ns)["status"].get("progress") or {}).get("gap") == 0.1,
        what="newer progress in status",
    )

    # Cancel: the Job is suspended, so its pod is stopped (SIGTERM in a real pod).
    cluster.kubectl("annotate", "optjob", "mip", "-n", ns, f"{CANCEL_ANNOTATION}=true")
    wait_until(
        lambda: (cluster.get("job", "mip", ns) or {}).get("spec", {}).get("suspend") is True,
        what="the solver Job suspended",
    )
    # The runtime, on SIGTERM, writes the best solution it had, marked cancelled.
    write_results(
        cluster,
        ns,
        "mip",
        SolveResult(
            status="FEASIBLE",
            solver="SCIP",
            sense="maximize",
            objective=10.0,
            bound=11.0,
            seconds=4.0,
            message="cancelled; the best solution found so far is kept, not proven optimal",
            values={"x": 3.0, "y": 0.0},
            cancelled=True,
        ),
    )
    st = wait_phase(cluster, "mip", ns, "Cancelled")
    assert st["cancelled"] is True and st["solverStatus"] == "FEASIBLE"
    assert st["objective"] == 10.0 and st["resultConfigMap"] == "mip-result"
    assert "progress" not in st
    assert cond(st, "Ready")["status"] == "True" and cond(st, "Ready")["reason"] == "Cancelled"
    assert cond(st, "Complete")["status"] == "False"
    reasons = event_reasons(cluster, "mip", ns, "CancelRequested", "Cancelled")
    assert {"JobCreated", "CancelRequested", "Cancelled"} <= reasons
    cancelled = [
        v
        for (metric, labels), v in operator.metrics().items()
        if metric == "mcpops_optimizationjobs_finished_total"
        and dict(labels).get("phase") == "Cancelled"
    ]
    assert sum(cancelled) >= 1


def test_warm_start_mounts_the_earlier_solution(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    ns = namespace
    cluster.apply(optjob("second", warmStartFrom="first", podAnnotations=HANG), ns)
    st = wait_phase(cluster, "second", ns, "Pending")
    assert cond(st, "Ready")["reason"] == "Pending"
    assert "waiting for OptimizationJob first" in st["message"]
    assert cluster.get("job", "second", ns) is None
    cluster.apply(optjob("first", podAnnotations={"sim.mcpops.dev/delay": "1s"}), ns)
    write_results(
        cluster,
        ns,
        "first",
        SolveResult(status="OPTIMAL", solver="HIGHS", sense="maximize", objective=11.0,
                    bound=11.0, values={"x": 3.0, "y": 1.0}),
    )  # fmt: skip
    wait_phase(cluster, "first", ns, "Succeeded")
    job = wait_until(lambda: cluster.get("job", "second", ns), timeout=30, what="second's Job")
    pod = job["spec"]["template"]["spec"]
    assert "--warm-start" in pod["containers"][0]["args"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "warmstart"]
    assert volume["projected"]["sources"][0]["configMap"]["name"] == "first-result"
    # The kubelet (simulated) starts the pod: the mount names an existing ConfigMap.
    st = wait_phase(cluster, "second", ns, "Running")
    assert st["warmStartFrom"] == "first"


@pytest.fixture
def limited(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """An operator allowing one solver pod per namespace (the session's is stopped
    meanwhile: two operators would both reconcile the namespace)."""
    env = {"MCPOPS_NAMESPACES": namespace, "MCPOPS_MAX_SOLVER_PODS_PER_NAMESPACE": "1"}
    with replacing(operator, tmp_path / "operator.log", env) as own:
        yield own


def active_jobs(cluster: Cluster, ns: str) -> list[str]:
    """Solver Jobs that may still run a pod."""
    out = []
    for job in cluster.list("jobs", ns, "mcpops.dev/optimizationjob"):
        done = any(
            c["type"] in {"Complete", "Failed"} and c["status"] == "True"
            for c in (job.get("status") or {}).get("conditions") or []
        )
        if not done:
            out.append(job["metadata"]["name"])
    return out


def test_queue_starts_jobs_in_creation_order_within_the_limit(
    cluster: Cluster, limited: OperatorProcess, namespace: str
) -> None:
    ns = namespace
    for name in ("q1", "q2", "q3"):
        delay = "4s" if name != "q3" else "1s"
        cluster.apply(optjob(name, podAnnotations={"sim.mcpops.dev/delay": delay}), ns)
        time.sleep(1.1)  # distinct creationTimestamps (seconds): the order is the test
    wait_phase(cluster, "q1", ns, "Running")
    st2 = wait_phase(cluster, "q2", ns, "Queued")
    st3 = wait_phase(cluster, "q3", ns, "Queued")
    assert (st2["queuePosition"], st3["queuePosition"]) == (1, 2)
    assert "1 of 1 in use" in st2["message"]
    assert "Queued" in event_reasons(cluster, "q3", ns, "Queued")
    wait_until(
        lambda: (
            limited.metrics().get(
                ("mcpops_optimizationjobs_queued", frozenset({("namespace", ns)}))
            )
            == 2
        ),
        what="queued gauge 2",
    )

    started: list[str] = []
    seen_at_once = 0
    for name in ("q1", "q2", "q3"):
        write_results(
            cluster,
            ns,
            name,
            SolveResult(status="OPTIMAL", solver="HIGHS", sense="maximize", objective=1.0),
        )

    def all_done() -> bool:
        nonlocal seen_at_once
        seen_at_once = max(seen_at_once, len(active_jobs(cluster, ns)))
        for job in cluster.list("jobs", ns, "mcpops.dev/optimizationjob"):
            if job["metadata"]["name"] not in started:
                started.append(job["metadata"]["name"])
        phases = [
            (get(cluster, n, ns).get("status") or {}).get("phase") for n in ("q1", "q2", "q3")
        ]
        return phases == ["Succeeded"] * 3

    wait_until(all_done, timeout=120, interval=0.3, what="all three solved, one at a time")
    assert started == ["q1", "q2", "q3"]
    assert seen_at_once == 1
