"""OptimizationJob on the control plane: the operator as a real process, solver pods simulated.

Simulated pods (kwok) run no code: they end as their pod-template annotations say
(spec.podAnnotations). Where the real runtime would write its result ConfigMaps,
`write_results` writes them with the runtime's own `build_result_configmaps`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from clusterkit import Cluster, OperatorProcess, wait_other_test_namespaces_gone, wait_until

from mcpops_common.results import SolveResult, build_result_configmaps, termination_message

MODEL: dict[str, Any] = {
    "sense": "maximize",
    "variables": [
        {"name": "x", "lowerBound": 0, "upperBound": 3},
        {"name": "y", "lowerBound": 0, "type": "integer"},
    ],
    "constraints": [{"name": "cap", "coefficients": {"x": 1, "y": 1}, "upperBound": 4}],
    "objective": {"coefficients": {"x": 3, "y": 2}},
}


def optjob(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "OptimizationJob",
        "metadata": {"name": name},
        "spec": {"model": MODEL, "timeLimitSeconds": 30, **spec},
    }


def get(cluster: Cluster, name: str, ns: str) -> dict[str, Any]:
    obj = cluster.get("optimizationjob", name, ns)
    assert obj is not None
    return obj


def cond(status: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in status.get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


def wait_phase(
    cluster: Cluster, name: str, ns: str, phase: str, timeout: float = 60
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        st = get(cluster, name, ns).get("status") or {}
        if st.get("phase") in {"Succeeded", "Failed"} and st["phase"] != phase:
            raise AssertionError(f"ended {st['phase']}, wanted {phase}: {st.get('message')}")
        return st if st.get("phase") == phase else None

    return wait_until(reached, timeout=timeout, what=f"OptimizationJob {name} {phase}")


def write_results(
    cluster: Cluster, ns: str, name: str, result: SolveResult, index: int | None = None
) -> None:
    """What the solver runtime does when a solve ends: its result ConfigMaps, owned by the job."""
    meta = get(cluster, name, ns)["metadata"]
    owner = {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "OptimizationJob",
        "name": name,
        "uid": meta["uid"],
    }
    for cm in build_result_configmaps(result, name=name, namespace=ns, owner=owner, index=index):
        cluster.apply(cm, ns)


def event_reasons(cluster: Cluster, name: str, ns: str, *wanted: str) -> set[str]:
    """The reasons of the Events about OptimizationJob `name`, once all `wanted` are there
    (Events are posted after the status write that is seen first)."""

    def reasons() -> set[str] | None:
        found = {e["reason"] for e in cluster.events(ns, name, kind="OptimizationJob")}
        return found if found >= set(wanted) else None

    return wait_until(reasons, what=f"Events {sorted(wanted)} about {name}")


def test_job_with_limits_deadline_and_restricted_pod(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(
        optjob(
            "shape",
            threads=2,
            timeLimitSeconds=50,
            podAnnotations={"sim.mcpops.dev/outcome": "hang"},
        ),
        namespace,
    )
    job = wait_until(lambda: cluster.get("job", "shape", namespace), what="the solver Job")
    owner = get(cluster, "shape", namespace)
    ref = job["metadata"]["ownerReferences"][0]
    assert ref["uid"] == owner["metadata"]["uid"] and ref["controller"] is True
    for label in ("name", "instance", "managed-by", "part-of"):
        assert f"app.kubernetes.io/{label}" in job["metadata"]["labels"]
    assert job["metadata"]["labels"]["mcpops.dev/optimizationjob"] == "shape"
    spec = job["spec"]
    assert spec["activeDeadlineSeconds"] == math.ceil(50 * 1.2 + 60)
    assert spec["backoffLimit"] == 1
    actions = [r["action"] for r in spec["podFailurePolicy"]["rules"]]
    assert actions == ["Ignore", "FailJob"]
    # The namespace enforces the restricted Pod Security Standard: the pod exists, so it passed.
    pod = wait_until(
        lambda: cluster.list("pods", namespace, "mcpops.dev/optimizationjob=shape"),
        what="the solver pod",
    )[0]
    (container,) = pod["spec"]["containers"]
    assert container["resources"]["requests"]["cpu"] == "2"
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["spec"]["serviceAccountName"] == "shape-solver"
    role = cluster.get("role", "shape-solver", namespace)
    assert role is not None and role["rules"][0]["verbs"] == ["create"]
    assert "shape-result" in role["rules"][1]["resourceNames"]
    assert cluster.get("rolebinding", "shape-solver", namespace) is not None
    st = wait_phase(cluster, "shape", namespace, "Running")
    assert st["job"] == "shape" and "startTime" in st
    assert "JobCreated" in event_reasons(cluster, "shape", namespace, "JobCreated")


def test_simulated_success_reads_the_result_configmap(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(optjob("lp", podAnnotations={"sim.mcpops.dev/delay": "2s"}), namespace)
    write_results(
        cluster,
        namespace,
        "lp",
        SolveResult(
            status="OPTIMAL",
            solver="HIGHS",
            solver_reason="a small MIP: HiGHS",
            solver_choice={
                "backend": "HIGHS",
                "rule": "rule 6: other MIP (50% integer)",
                "raced": False,
            },
            sense="maximize",
            objective=11.0,
            bound=11.0,
            seconds=0.04,
            message="optimal solution found",
            values={"x": 3.0, "y": 1.0},
        ),
    )
    st = wait_phase(cluster, "lp", namespace, "Succeeded")
    assert st["solver"] == "HIGHS" and st["solverStatus"] == "OPTIMAL"
    assert st["solverChoice"] == {
        "backend": "HIGHS",
        "rule": "rule 6: other MIP (50% integer)",
        "raced": False,
    }
    assert st["objective"] == 11.0 and st["gap"] == 0.0 and st["solveSeconds"] == 0.04
    assert st["resultConfigMap"] == "lp-result" and st["solutionStored"] is True
    assert cond(st, "Complete")["status"] == "True" and cond(st, "Complete")["reason"] == "Optimal"
    assert cond(st, "Ready")["status"] == "True" and cond(st, "Failed")["status"] == "False"
    assert st["observedGeneration"] == 1 and "completionTime" in st
    assert {"JobCreated", "Solved", "SolverChosen"} <= event_reasons(
        cluster, "lp", namespace, "JobCreated", "Solved", "SolverChosen"
    )
    finished = {
        dict(labels).get("reason"): v
        for (name, labels), v in operator.metrics().items()
        if name == "mcpops_optimizationjobs_finished_total"
    }
    assert finished.get("Optimal", 0) >= 1
    table = cluster.kubectl("get", "optjob", "lp", "-n", namespace).stdout
    assert "Succeeded" in table and "HIGHS" in table and "OPTIMAL" in table
    solution = json.loads(cluster.get("configmap", "lp-result", namespace)["data"]["solution.json"])  # type: ignore[index]
    assert solution["values"] == {"x": 3.0, "y": 1.0}

    # At rest: a change the operator looks at but that changes nothing makes no write.
    # (Refused writes, e.g. 403 into the terminating namespaces of earlier tests, are not
    # this test's business; but the status writes for objects there whose pods go are
    # accepted, so those namespaces must be gone first.)
    wait_other_test_namespaces_gone(cluster, namespace)
    baseline = operator.wait_quiet(timeout=30, quiet=2, accepted_only=True)
    cluster.kubectl("annotate", "optjob", "lp", "-n", namespace, "note=hello")
    cluster.kubectl("label", "configmap", "lp-result", "-n", namespace, "touched=yes")
    cluster.kubectl("label", "job", "lp", "-n", namespace, "touched=yes")
    assert operator.wait_quiet(timeout=30, quiet=2, accepted_only=True) == baseline


def test_simulated_malformed_input_fails_with_the_runtimes_message(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    report = SolveResult(
        status="ERROR",
        error_kind="malformed-input",
        message="model.mps: line 7: unknown section FOO",
    )
    cluster.apply(
        optjob(
            "bad",
            podAnnotations={
                "sim.mcpops.dev/outcome": "fail",
                "sim.mcpops.dev/exit-code": "3",
                "sim.mcpops.dev/message": termination_message(report, exit_code=3),
            },
        ),
        namespace,
    )
    st = wait_phase(cluster, "bad", namespace, "Failed")
    failed = cond(st, "Failed")
    assert failed["status"] == "True" and failed["reason"] == "MalformedInput"
    assert failed["message"] == "model.mps: line 7: unknown section FOO"
    assert cond(st, "Ready")["status"] == "False"
    # Malformed input is not retried (podFailurePolicy FailJob): one pod only.
    assert len(cluster.list("pods", namespace, "mcpops.dev/optimizationjob=bad")) == 1
    assert "Failed" in event_reasons(cluster, "bad", namespace, "Failed")


def test_simulated_oom_fails_and_says_to_raise_the_memory_limit(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(
        optjob(
            "oom",
            resources={"limits": {"memory": "1Gi"}},
            podAnnotations={"sim.mcpops.dev/outcome": "oom"},
        ),
        namespace,
    )
    st = wait_phase(cluster, "oom", namespace, "Failed")
    failed = cond(st, "Failed")
    assert failed["reason"] == "OOMKilled"
    assert "1Gi" in failed["message"] and "resources.limits.memory" in failed["message"]


def test_simulated_hang_hits_the_deadline(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(
        optjob(
            "slow",
            timeLimitSeconds=1,
            activeDeadlineSeconds=3,
            podAnnotations={"sim.mcpops.dev/outcome": "hang"},
        ),
        namespace,
    )
    st = wait_phase(cluster, "slow", namespace, "Failed", timeout=90)
    assert cond(st, "Failed")["reason"] == "DeadlineExceeded"
    assert "3s" in st["message"]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"configMapRef": {"name": "p", "key": "m.mps"}}, "set exactly one of model"),
        ({"solver": "GUROBI"}, "spec.solver"),
        ({"timeLimitSeconds": 0}, "spec.timeLimitSeconds"),
        ({"threads": 0}, "spec.threads"),
        ({"activeDeadlineSeconds": 10, "timeLimitSeconds": 30}, "spec.activeDeadlineSeconds"),
        ({"parallelism": 2}, "spec.parallelism"),
        ({"model": {"variables": []}}, "spec.model.variables"),
        ({"resources": {"limits": {"memory": "lots"}}}, "spec.resources.limits.memory"),
        ({"format": "mps"}, "spec.format"),
        ({"solver": "HIGHS", "race": True}, "spec.race"),
    ],
)
def test_invalid_spec_is_refused_naming_the_field(
    cluster: Cluster, crds: Cluster, namespace: str, spec: dict[str, Any], field: str
) -> None:
    res = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input_=json.dumps(optjob("bad", **spec)), check=False
    )
    assert res.returncode != 0, res.stdout
    assert field in res.stderr, res.stderr


def test_spec_the_api_cannot_check_fails_with_invalid_spec(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    model = {**MODEL, "objective": {"coefficients": {"x": 1, "z": 2}}}
    cluster.apply(optjob("typo", model=model), namespace)
    st = wait_phase(cluster, "typo", namespace, "Failed")
    assert cond(st, "Failed")["reason"] == "InvalidSpec"
    assert "undeclared variable 'z'" in st["message"]
    assert cluster.get("job", "typo", namespace) is None
    assert "InvalidSpec" in event_reasons(cluster, "typo", namespace, "InvalidSpec")


def test_spec_is_immutable(cluster: Cluster, crds: Cluster, namespace: str) -> None:
    cluster.apply(optjob("fixed"), namespace)
    res = cluster.kubectl(
        "patch", "optjob", "fixed", "-n", namespace, "--type=merge",
        "-p", '{"spec":{"timeLimitSeconds":60}}', check=False,
    )  # fmt: skip
    assert res.returncode != 0 and "spec is immutable" in res.stderr, res.stderr
    # Metadata is not the spec: labels may change.
    cluster.kubectl("label", "optjob", "fixed", "-n", namespace, "team=a")


def test_sweep_runs_as_an_indexed_job_and_summarizes(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(
        optjob(
            "sweep",
            scenarios=[{"rhs": {"cap": 2.0}}, {"rhs": {"cap": 3.0}}, {"rhs": {"cap": 4.0}}],
            sampling={
                "samples": 2,
                "parameters": [
                    {
                        "target": "objectiveCoefficient",
                        "variable": "x",
                        "distribution": "uniform",
                        "low": 1,
                        "high": 2,
                    }
                ],
            },
            parallelism=2,
            podAnnotations={"sim.mcpops.dev/delay": "1s"},
        ),
        namespace,
    )
    job = wait_until(lambda: cluster.get("job", "sweep", namespace), what="the sweep Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == 5 and spec["parallelism"] == 2
    assert spec["backoffLimitPerIndex"] == 1 and spec["maxFailedIndexes"] == 5
    objectives = [7.0, 9.0, 11.0, 8.0, 10.0]
    for i, objective in enumerate(objectives):
        write_results(
            cluster,
            namespace,
            "sweep",
            SolveResult(
                status="OPTIMAL", solver="HIGHS", sense="maximize", objective=objective,
                bound=objective, seconds=0.1, scenario_index=i,
            ),
            index=i,
        )  # fmt: skip
    st = wait_phase(cluster, "sweep", namespace, "Succeeded", timeout=90)
    sc = st["scenarios"]
    assert sc["total"] == 5 and sc["solved"] == 5 and sc["failed"] == 0
    assert sc["best"] == 11.0 and sc["bestIndex"] == 2 and sc["worst"] == 7.0
    assert sc["p50"] == 9.0
    assert st["objective"] == 11.0 and st["resultConfigMap"] == "sweep-result-2"
    assert cond(st, "Complete")["reason"] == "SweepComplete"
