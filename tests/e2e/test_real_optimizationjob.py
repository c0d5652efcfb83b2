"""OptimizationJobs solved by real solver pods, and the ways such pods really end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clusterkit import Cluster, wait_until
from conftest import Installed
from e2ekit import NODE_NAME

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "optimization"
if not DATA.is_dir():  # the worktree layout (/work/wt/<name>) or the main checkout's
    DATA = Path("/work/shared/data/optimization")


def instance(name: str) -> dict[str, Any]:
    manifest = json.loads((DATA / "manifest.json").read_text())
    found: dict[str, Any] = next(i for i in manifest["instances"] if i["name"] == name)
    return found


def problem_configmap(cluster: Cluster, ns: str, name: str) -> str:
    """A ConfigMap holding the instance's .mps.gz file (binaryData); returns its key."""
    inst = instance(name)
    key = Path(inst["file"]).name
    cluster.kubectl(
        "create",
        "configmap",
        f"{name}-problem",
        "-n",
        ns,
        f"--from-file={key}={DATA / inst['file']}",
    )
    return key


def optjob(name: str, problem: str, key: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "OptimizationJob",
        "metadata": {"name": name},
        "spec": {"configMapRef": {"name": f"{problem}-problem", "key": key}, **spec},
    }


def finished(cluster: Cluster, name: str, ns: str, timeout: float = 300) -> dict[str, Any]:
    return wait_until(
        lambda: (
            (o := cluster.get("optimizationjob", name, ns))
            and (o.get("status") or {}).get("phase") in ("Succeeded", "Failed")
            and o
        ),
        timeout=timeout,
        what=f"OptimizationJob {ns}/{name} finished",
    )


def ready(obj: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")


def solver_pods(cluster: Cluster, ns: str, name: str) -> list[dict[str, Any]]:
    """The pods of the OptimizationJob's solver Job (the Job controller's job-name label)."""
    obj = cluster.get("optimizationjob", name, ns)
    assert obj is not None and obj["status"].get("job")
    return cluster.list("pods", ns, f"job-name={obj['status']['job']}")


def test_solver_pod_solves_an_mps_instance_and_writes_its_result(
    cluster: Cluster, installed: Installed, namespace: str
) -> None:
    key = problem_configmap(cluster, namespace, "adlittle")
    cluster.apply(optjob("adlittle", "adlittle", key, timeLimitSeconds=60), namespace)
    obj = finished(cluster, "adlittle", namespace)
    assert obj["status"]["phase"] == "Succeeded", obj["status"]
    [pod] = solver_pods(cluster, namespace, "adlittle")
    assert pod["spec"]["nodeName"] == NODE_NAME
    # Written by the pod with the ServiceAccount the operator made, under the chart's RBAC.
    assert pod["spec"]["serviceAccountName"] != "default"
    cm = cluster.get("configmap", obj["status"]["resultConfigMap"], namespace)
    assert cm is not None
    summary = json.loads(cm["data"]["summary.json"])
    expected = instance("adlittle")["optimal_objective"]
    assert summary["status"] == "OPTIMAL", summary
    assert summary["objective"] == pytest.approx(expected, rel=1e-6)
    assert len(json.loads(cm["data"]["solution.json"])["values"]) == instance("adlittle")["cols"]
    assert obj["status"]["objective"] == pytest.approx(expected, rel=1e-6)


def test_too_small_memory_limit_ends_oomkilled_and_names_the_limit(
    cluster: Cluster, installed: Installed, namespace: str
) -> None:
    key = problem_configmap(cluster, namespace, "p0033")
    cluster.apply(
        optjob(
            "tight", "p0033", key, timeLimitSeconds=60,
            resources={"requests": {"memory": "40Mi"}, "limits": {"memory": "40Mi"}},
        ),
        namespace,
    )  # fmt: skip
    obj = finished(cluster, "tight", namespace)
    cond = ready(obj)
    assert obj["status"]["phase"] == "Failed"
    assert cond["reason"] == "OOMKilled", cond
    assert "40Mi" in cond["message"] and "spec.resources.limits.memory" in cond["message"]
    pods = solver_pods(cluster, namespace, "tight")
    term = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["reason"] == "OOMKilled" and term["exitCode"] == 137
    assert len(pods) == 1  # out of memory is never retried


def test_past_its_deadline_ends_deadline_exceeded(
    cluster: Cluster, installed: Installed, namespace: str
) -> None:
    # A hard instance the solver works on until its time limit; the Job's deadline (counted
    # from the Job's start, so including the pod's start) comes first.
    key = problem_configmap(cluster, namespace, "dano3mip")
    cluster.apply(
        optjob("late", "dano3mip", key, timeLimitSeconds=20, activeDeadlineSeconds=21),
        namespace,
    )
    obj = finished(cluster, "late", namespace, timeout=180)
    cond = ready(obj)
    assert obj["status"]["phase"] == "Failed"
    assert cond["reason"] == "DeadlineExceeded", cond
    job = cluster.get("job", obj["status"]["job"], namespace)
    assert job is not None
    assert job["status"].get("active", 0) == 0
    failed = next(c for c in job["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "DeadlineExceeded"
    assert job["status"].get("failed", 0) <= 1  # the Job stopped its one pod, no retry
    assert len(cluster.list("jobs", namespace)) == 1  # and the operator made no other Job


@pytest.mark.parametrize("solver", ["SCIP", "HIGHS"])
def test_running_mip_shows_its_incumbent_and_cancel_keeps_it(
    cluster: Cluster, installed: Installed, namespace: str, solver: str
) -> None:
    """pk1 runs for minutes on one thread: its incumbent and gap reach status while it runs;
    a cancel stops the pod (SIGTERM) and the best solution so far is kept. SCIP is
    interrupted; HiGHS cannot be, and its last improving solution is reported."""
    name = f"pk1-{solver.lower()}"
    key = problem_configmap(cluster, namespace, "pk1")  # each test has its own namespace
    cluster.apply(
        optjob(name, "pk1", key, solver=solver, threads=1, timeLimitSeconds=600), namespace
    )

    def progressing() -> dict[str, Any] | None:
        obj = cluster.get("optimizationjob", name, namespace) or {}
        progress = (obj.get("status") or {}).get("progress") or {}
        return progress if progress.get("objective") is not None and "gap" in progress else None

    progress = wait_until(progressing, timeout=180, what="incumbent and gap in status")
    assert progress["bound"] <= progress["objective"]
    [pod] = solver_pods(cluster, namespace, name)
    log = cluster.kubectl("logs", pod["metadata"]["name"], "-n", namespace).stdout
    assert '"event": "progress"' in log and '"event": "solver log"' in log

    cluster.kubectl("annotate", "optjob", name, "-n", namespace, "mcpops.dev/cancel=true")
    obj = wait_until(
        lambda: (
            (o := cluster.get("optimizationjob", name, namespace))
            and (o.get("status") or {}).get("phase") == "Cancelled"
            and o
        ),
        timeout=120,
        what=f"OptimizationJob {name} Cancelled",
    )
    st = obj["status"]
    assert st["cancelled"] is True and st["solverStatus"] == "FEASIBLE", st
    assert st["objective"] <= progress["objective"] + 1e-9  # minimize: never worse
    cm = cluster.get("configmap", st["resultConfigMap"], namespace)
    assert cm is not None
    assert json.loads(cm["data"]["summary.json"])["cancelled"] is True
    values = json.loads(cm["data"]["solution.json"])["values"]
    assert len(values) == instance("pk1")["cols"]
    # Events are posted after the status write seen above: wait for them.
    for reason in ("CancelRequested", "Cancelled"):
        assert cluster.wait_events(namespace, name, kind="OptimizationJob", reason=reason)
