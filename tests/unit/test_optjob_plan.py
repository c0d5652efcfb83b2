"""The OptimizationJob decision function, over plain data: Job shape, status from outcomes."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcpops import settings as operator_settings
from mcpops.api.kinds import OPTIMIZATIONJOB
from mcpops.api.optimizationjob import OptimizationJobSpec, OptimizationJobStatus
from mcpops.gen import crds as crdgen
from mcpops.kinds.optimizationjob import desired
from mcpops.kinds.optimizationjob.plan import (
    POD_GRACE_SECONDS,
    RESULT_GRACE_SECONDS,
    Observed,
    parse_indexes,
    plan,
)
from mcpops.kinds.optimizationjob.reconciler import child_key, resolve_parent
from mcpops.kinds.optimizationjob.reconciler import trim as slim
from mcpops.machinery.store import Store
from mcpops.objects.patch import status_patch
from mcpops_common.names import HASH_ANNOTATION
from mcpops_common.optmodel import ScenarioSet
from mcpops_common.results import (
    SolveResult,
    build_result_configmaps,
    summarize_scenarios,
    termination_message,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
UID = "uid-1"
MODEL: dict[str, Any] = {
    "sense": "maximize",
    "variables": [
        {"name": "x", "lowerBound": 0, "upperBound": 3},
        {"name": "y", "lowerBound": 0, "type": "integer"},
    ],
    "constraints": [{"name": "cap", "coefficients": {"x": 1, "y": 1}, "upperBound": 4}],
    "objective": {"coefficients": {"x": 3, "y": 2}},
}


def optjob(spec: dict[str, Any] | None = None, name: str = "lp", **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "OptimizationJob",
        "metadata": {"name": name, "namespace": "ns", "uid": UID, "generation": 1},
        "spec": {"model": MODEL, "timeLimitSeconds": 10} if spec is None else spec,
        "status": status,
    }


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def the_job(obj: dict[str, Any]) -> dict[str, Any]:
    jobs = [m for m in plan(obj, Observed(), T0).apply if m["kind"] == "Job"]
    assert len(jobs) == 1
    return jobs[0]


def finished_job(
    job: dict[str, Any], cond: str, reason: str = "", message: str = "", at: datetime = T0
) -> dict[str, Any]:
    live = copy.deepcopy(job)
    live["status"] = {
        "startTime": ts(at - timedelta(seconds=5)),
        "conditions": [
            {
                "type": cond,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastTransitionTime": ts(at),
            }
        ],
    }
    if cond == "Complete":
        live["status"]["completionTime"] = ts(at)
    return live


def pod(
    name: str,
    phase: str,
    *,
    exit_code: int = 0,
    reason: str = "Completed",
    message: str = "",
    index: int | None = None,
    created: datetime = T0,
) -> dict[str, Any]:
    labels = {"job-name": "lp"}
    if index is not None:
        labels["batch.kubernetes.io/job-completion-index"] = str(index)
    term = {"exitCode": exit_code, "reason": reason}
    if message:
        term["message"] = message
    return {
        "metadata": {"name": name, "labels": labels, "creationTimestamp": ts(created)},
        "status": {
            "phase": phase,
            "containerStatuses": [{"name": "solver", "state": {"terminated": term}}],
        },
    }


def result_cms(result: SolveResult, index: int | None = None) -> dict[str, dict[str, Any]]:
    owner = {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "OptimizationJob",
        "name": "lp",
        "uid": UID,
    }
    cms = build_result_configmaps(result, name="lp", namespace="ns", owner=owner, index=index)
    return {cm["metadata"]["name"]: cm for cm in cms}


def cond(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


OPTIMAL = SolveResult(
    status="OPTIMAL",
    solver="HIGHS",
    solver_reason="a MIP",
    sense="maximize",
    objective=11.0,
    bound=11.0,
    seconds=0.25,
    message="optimal solution found",
    values={"x": 3.0, "y": 1.0},
)


# ---------------------------------------------------------------- the Job and its companions


def test_single_job_shape_limits_deadline_policy_and_security() -> None:
    obj = optjob({"model": MODEL, "timeLimitSeconds": 100, "threads": 2, "seed": 7})
    out = plan(obj, Observed(), T0)
    kinds = [m["kind"] for m in out.apply]
    assert kinds == ["ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Job"]
    for m in out.apply:
        meta = m["metadata"]
        assert meta["ownerReferences"][0]["uid"] == UID
        assert meta["ownerReferences"][0]["controller"] is True
        for label in ("name", "instance", "managed-by", "part-of"):
            assert f"app.kubernetes.io/{label}" in meta["labels"]
        assert meta["labels"]["mcpops.dev/optimizationjob"] == "lp"
        assert HASH_ANNOTATION in meta["annotations"]
    job = out.apply[-1]
    spec = job["spec"]
    assert spec["activeDeadlineSeconds"] == math.ceil(100 * 1.2 + 60)
    assert spec["backoffLimit"] == 1 and spec["completions"] == 1
    assert "completionMode" not in spec
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    assert rules[1]["action"] == "FailJob"
    assert set(rules[1]["onExitCodes"]["values"]) == {2, 3, 4, 137}
    pod_spec = spec["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Never"
    assert pod_spec["serviceAccountName"] == "lp-solver"
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert pod_spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = pod_spec["containers"]
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert c["resources"] == {
        "requests": {"cpu": "2", "memory": "512Mi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    assert c["args"][:2] == ["/input/model.json", "--solver"]
    args = dict(zip(c["args"][1::2], c["args"][2::2], strict=False))
    assert args["--time-limit"] == "100" and args["--threads"] == "2" and args["--seed"] == "7"
    env = {e["name"]: e for e in c["env"]}
    assert env["MCPOPS_RESULT_NAME"]["value"] == "lp"
    assert env["MCPOPS_OWNER_UID"]["value"] == UID
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    # The inline model reaches the pod through the input ConfigMap, in the runtime's form.
    cm = out.apply[3]
    assert json.loads(cm["data"]["model.json"])["variables"][0]["name"] == "x"
    assert out.status["phase"] == "Pending"
    assert [e.reason for e in out.events] == ["JobCreated"]


def test_gaps_and_deterministic_mode_reach_the_solver_flags() -> None:
    obj = optjob({"model": MODEL, "relativeGap": 0.01, "absoluteGap": 2.5, "deterministic": True})
    (c,) = plan(obj, Observed(), T0).apply[-1]["spec"]["template"]["spec"]["containers"]
    args = c["args"]
    assert args[args.index("--relative-gap") + 1] == "0.01"
    assert args[args.index("--absolute-gap") + 1] == "2.5"
    assert "--deterministic" in args
    (c,) = plan(optjob({"model": MODEL}), Observed(), T0).apply[-1]["spec"]["template"]["spec"][
        "containers"
    ]
    assert "--absolute-gap" not in c["args"] and "--deterministic" not in c["args"]


def test_role_may_only_write_configmaps_of_its_own_results() -> None:
    out = plan(optjob(), Observed(), T0)
    role = next(m for m in out.apply if m["kind"] == "Role")
    create, write = role["rules"]
    assert create == {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}
    assert write["verbs"] == ["get", "update", "patch"]
    assert write["resourceNames"][0] == "lp-result"
    assert "lp-result-part-20" in write["resourceNames"]
    binding = next(m for m in out.apply if m["kind"] == "RoleBinding")
    assert binding["subjects"][0]["name"] == "lp-solver"
    sa = next(m for m in out.apply if m["kind"] == "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False


def test_problem_from_a_secret_or_configmap_key() -> None:
    job = the_job(
        optjob({"secretRef": {"name": "p", "key": "model.mps"}, "format": "mps", "solver": "SCIP"})
    )
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert c["args"][0] == "/problem/model.mps"
    assert "--format" in c["args"] and "mps" in c["args"] and "SCIP" in c["args"]
    vols = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert vols["problem"]["secret"]["items"] == [{"key": "model.mps", "path": "model.mps"}]
    assert "input" not in vols  # nothing inline
    out = plan(optjob({"configMapRef": {"name": "p", "key": "m.lp"}}), Observed(), T0)
    assert [m["kind"] for m in out.apply] == ["ServiceAccount", "Role", "RoleBinding", "Job"]
    c = out.apply[-1]["spec"]["template"]["spec"]["containers"][0]
    assert c["args"][0] == "/problem/m.lp" and "--format" not in c["args"]


def test_resources_given_override_defaults_and_contradictions_are_refused() -> None:
    job = the_job(
        optjob(
            {
                "model": MODEL,
                "threads": 4,
                "resources": {"requests": {"memory": "4Gi"}, "limits": {"cpu": "6"}},
            }
        )
    )
    res = job["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert res["requests"] == {"cpu": "4", "memory": "4Gi"}
    assert res["limits"] == {"cpu": "6", "memory": "4Gi"}  # raised to the request
    out = plan(
        optjob(
            {"model": MODEL, "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}}
        ),
        Observed(),
        T0,
    )
    assert not out.apply
    assert out.status["phase"] == "Failed"
    assert cond(out.status, "Failed")["reason"] == "InvalidSpec"
    assert "limits.cpu" in out.status["message"]


def test_sweep_is_an_indexed_job_with_bounded_parallelism() -> None:
    scenarios = [{"rhs": {"cap": float(k)}} for k in range(5)]
    spec = {
        "model": MODEL,
        "timeLimitSeconds": 10,
        "scenarios": scenarios,
        "sampling": {
            "samples": 3,
            "seed": 1,
            "parameters": [
                {"target": "objectiveCoefficient", "variable": "x", "distribution": "uniform",
                 "low": 1, "high": 2}
            ],
        },
        "parallelism": 3,
        "backoffLimit": 2,
    }  # fmt: skip
    out = plan(optjob(spec), Observed(), T0)
    job = out.apply[-1]["spec"]
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == 8 and job["parallelism"] == 3
    assert job["backoffLimitPerIndex"] == 2 and job["maxFailedIndexes"] == 8
    assert "backoffLimit" not in job
    assert job["podFailurePolicy"]["rules"][1]["action"] == "FailIndex"
    assert job["activeDeadlineSeconds"] == math.ceil(10 * 1.2 + 60) * 3  # three waves
    c = job["template"]["spec"]["containers"][0]
    assert c["args"][-2:] == ["--scenarios", "/input/scenarios.json"]
    cm = next(m for m in out.apply if m["kind"] == "ConfigMap")
    sset = ScenarioSet.model_validate_json(cm["data"]["scenarios.json"])
    assert sset.count() == 8
    role = next(m for m in out.apply if m["kind"] == "Role")
    names = role["rules"][1]["resourceNames"]
    assert "lp-result-7" in names and "lp-result-7-part-20" in names


def test_large_sweep_role_is_not_restricted_by_name() -> None:
    spec = {"model": MODEL, "scenarios": [{"rhs": {"cap": 1.0}}] * 200, "parallelism": 1000}
    out = plan(optjob(spec), Observed(), T0)
    role = next(m for m in out.apply if m["kind"] == "Role")
    assert "resourceNames" not in role["rules"][1]
    assert "too many" in role["metadata"]["annotations"]["mcpops.dev/note"]
    assert out.apply[-1]["spec"]["parallelism"] == 200


def test_scenario_naming_an_unknown_variable_is_refused_before_any_pod() -> None:
    out = plan(optjob({"model": MODEL, "scenarios": [{"rhs": {"nope": 1.0}}]}), Observed(), T0)
    assert not out.apply
    assert cond(out.status, "Failed")["reason"] == "InvalidSpec"
    assert "spec.scenarios[0]" in out.status["message"] and "nope" in out.status["message"]


def test_invalid_model_is_reported_once_and_creates_nothing() -> None:
    bad = copy.deepcopy(MODEL)
    bad["constraints"][0]["coefficients"]["z"] = 1
    out = plan(optjob({"model": bad}), Observed(), T0)
    assert not out.apply and out.status["phase"] == "Failed"
    assert "undeclared variable 'z'" in out.status["message"]
    assert [e.reason for e in out.events] == ["InvalidSpec"]
    again = plan(optjob({"model": bad}, **out.status), Observed(), T0)
    assert not again.events and status_patch(out.status, again.status) is None


def solver_image() -> str:
    """The solver image the operator takes from its environment."""
    return operator_settings.Settings.from_env().solver_image


def test_image_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCPOPS_SOLVER_IMAGE", raising=False)
    monkeypatch.delenv("MCPOPS_IMAGE", raising=False)
    assert solver_image() == operator_settings.DEFAULT_SOLVER_IMAGE
    monkeypatch.setenv("MCPOPS_IMAGE", "registry:5000/team/mcpops:1.2.3")
    assert solver_image() == "registry:5000/team/mcpops-solver:1.2.3"
    monkeypatch.setenv("MCPOPS_SOLVER_IMAGE", "solver:dev")
    assert solver_image() == "solver:dev"
    assert (
        operator_settings.derived_solver_image("r/mcpops")
        == f"r/mcpops-solver:{operator_settings.__version__}"
    )
    assert operator_settings.derived_solver_image("r/mcpops:1@sha256:ab") == "r/mcpops-solver:1"
    job = the_job(optjob({"model": MODEL, "image": "mine:1", "imagePullPolicy": "Never"}))
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "mine:1" and c["imagePullPolicy"] == "Never"


def test_pod_annotations_labels_ttl_and_deadline_override() -> None:
    job = the_job(
        optjob(
            {
                "model": MODEL,
                "podAnnotations": {"sim.mcpops.dev/outcome": "oom"},
                "podLabels": {"team": "ops"},
                "ttlSecondsAfterFinished": 60,
                "activeDeadlineSeconds": 99,
            }
        )
    )
    tmpl = job["spec"]["template"]["metadata"]
    assert tmpl["annotations"] == {"sim.mcpops.dev/outcome": "oom"}
    assert tmpl["labels"]["team"] == "ops"
    assert tmpl["labels"]["mcpops.dev/optimizationjob"] == "lp"
    assert job["spec"]["ttlSecondsAfterFinished"] == 60
    assert job["spec"]["activeDeadlineSeconds"] == 99


# ---------------------------------------------------------------- status from outcomes


def settled(obj: dict[str, Any]) -> tuple[dict[str, Any], Observed]:
    """The job after its children exist as the plan wants them."""
    out = plan(obj, Observed(), T0)
    obs = Observed()
    for m in out.apply:
        target = {
            "ServiceAccount": obs.service_accounts,
            "Role": obs.roles,
            "RoleBinding": obs.role_bindings,
            "ConfigMap": obs.configmaps,
            "Job": obs.jobs,
        }[m["kind"]]
        target[m["metadata"]["name"]] = copy.deepcopy(m)
    return {**obj, "status": out.status}, obs


def test_no_writes_when_nothing_changed() -> None:
    obj, obs = settled(optjob())
    obs.pods["lp-abc"] = {"metadata": {"name": "lp-abc"}, "status": {"phase": "Running"}}
    first = plan(obj, obs, T0)
    assert not first.apply and first.status["phase"] == "Running"
    obj = {**obj, "status": first.status}
    again = plan(obj, obs, T0 + timedelta(minutes=5))
    assert not again.apply and not again.events
    assert status_patch(obj["status"], again.status) is None
    assert again.skipped_writes == 5


def test_success_from_the_result_configmap() -> None:
    obj, obs = settled(optjob())
    obs.jobs["lp"] = finished_job(obs.jobs["lp"], "Complete")
    obs.configmaps.update(result_cms(OPTIMAL))
    obs.pods["lp-1"] = pod("lp-1", "Succeeded")
    out = plan(obj, obs, T0 + timedelta(seconds=1))
    st_ = out.status
    assert st_["phase"] == "Succeeded"
    assert st_["solver"] == "HIGHS" and st_["solverStatus"] == "OPTIMAL"
    assert st_["objective"] == 11.0 and st_["gap"] == 0.0 and st_["solveSeconds"] == 0.25
    assert st_["resultConfigMap"] == "lp-result" and st_["solutionStored"] is True
    assert st_["completionTime"] == ts(T0) and "startTime" in st_
    assert cond(st_, "Complete")["status"] == "True"
    assert cond(st_, "Complete")["reason"] == "Optimal"
    assert cond(st_, "Ready")["status"] == "True"
    assert cond(st_, "Failed")["status"] == "False"
    assert [e.reason for e in out.events] == ["Solved"]
    assert out.finished is not None and out.finished.reason == "Optimal"
    assert out.finished.seconds == (0.25,) and out.finished.gaps == (0.0,)
    # Once recorded, the same observations change nothing and post nothing.
    again = plan({**obj, "status": st_}, obs, T0 + timedelta(minutes=1))
    assert status_patch(st_, again.status) is None and not again.events and not again.apply
    assert again.finished is None


def test_auto_choice_race_and_fallback_are_in_the_status_and_an_event() -> None:
    obj, obs = settled(optjob({"model": MODEL, "timeLimitSeconds": 10, "race": True, "threads": 2}))
    assert "--race" in obs.jobs["lp"]["spec"]["template"]["spec"]["containers"][0]["args"]
    choice = {
        "backend": "CBC",
        "rule": "rule 3: pure 0-1, 53.2 >= 10 columns per row",
        "raced": True,
        "racedAgainst": ["SCIP"],
        "cpuSeconds": 1.5,
        "fallbackFrom": ["CP-SAT"],
    }
    raced = dataclasses.replace(OPTIMAL, solver="CBC", solver_choice=choice)
    obs.jobs["lp"] = finished_job(obs.jobs["lp"], "Complete")
    obs.configmaps.update(result_cms(raced))
    out = plan(obj, obs, T0)
    assert out.status["solverChoice"] == choice
    OptimizationJobStatus.model_validate(out.status)  # the CRD's status schema takes it
    chosen = next(e for e in out.events if e.reason == "SolverChosen")
    assert "auto chose CBC (rule 3: pure 0-1, 53.2 >= 10 columns per row)" in chosen.message
    assert "raced against SCIP" in chosen.message and "fell back from CP-SAT" in chosen.message
    assert [e.reason for e in out.events] == ["SolverChosen", "Solved"]


def test_time_limited_feasible_is_a_result_not_an_error() -> None:
    obj, obs = settled(optjob())
    feasible = SolveResult(
        status="FEASIBLE", solver="CP-SAT", objective=10.0, bound=12.0, sense="maximize",
        message="a limit was reached; returning the best solution found, gap 0.2",
    )  # fmt: skip
    obs.jobs["lp"] = finished_job(obs.jobs["lp"], "Complete")
    obs.configmaps.update(result_cms(feasible))
    out = plan(obj, obs, T0)
    assert out.status["phase"] == "Succeeded"
    assert out.status["solverStatus"] == "FEASIBLE"
    assert out.status["gap"] == pytest.approx(0.2)
    assert cond(out.status, "Complete")["reason"] == "Feasible"
    assert out.events[0].reason == "Solved"


def test_infeasible_is_succeeded_with_a_warning() -> None:
    obj, obs = settled(optjob())
    obs.jobs["lp"] = finished_job(obs.jobs["lp"], "Complete")
    obs.configmaps.update(result_cms(SolveResult(status="INFEASIBLE", solver="GLOP")))
    out = plan(obj, obs, T0)
    assert out.status["phase"] == "Succeeded" and out.status["solverStatus"] == "INFEASIBLE"
    assert cond(out.status, "Complete")["reason"] == "Infeasible"
    assert [(e.type, e.reason) for e in out.events] == [("Warning", "NoSolution")]


def test_success_read_from_the_termination_message_then_refined_by_the_configmap() -> None:
    obj, obs = settled(optjob())
    obs.jobs["lp"] = finished_job(obs.jobs["lp"], "Complete")
    msg = termination_message(OPTIMAL, exit_code=0, configmaps=["lp-result"])
    obs.pods["lp-1"] = pod("lp-1", "Succeeded", message=msg)
    out = plan(obj, obs, T0)
    assert out.status["phase"] == "Succeeded" and out.status["objective"] == 11.0
    assert out.status["resultConfigMap"] == "lp-result"
    obs.configmaps.update(result_cms(OPTIMAL))
    later = plan({**obj, "status": out.status}, obs, T0 + timedelta(seconds=2))
    assert later.status["solutionStored"] is True and not later.events


def test_completed_without_any_result_is_not_a_success() -> None:
    obj, obs = settled(optjob())
    obs.jobs["lp"] = finished_job(obs.jobs["lp"], "Complete")
    obs.pods["lp-1"] = pod("lp-1", "Succeeded")
    early = plan(obj, obs, T0 + timedelta(seconds=1))
    assert early.status["phase"] == "Running"
    assert early.requeue_after == pytest.approx(RESULT_GRACE_SECONDS - 1)
    late = plan(obj, obs, T0 + timedelta(seconds=RESULT_GRACE_SECONDS + 1))
    assert late.status["phase"] == "Failed"
    assert cond(late.status, "Failed")["reason"] == "NoResult"
    assert "lp-result" in late.status["message"]


def test_oom_killed() -> None:
    obj, obs = settled(optjob({"model": MODEL, "resources": {"limits": {"memory": "1Gi"}}}))
    obs.jobs["lp"] = finished_job(obs.jobs["lp"], "Failed", "PodFailurePolicy")
    obs.pods["lp-1"] = pod("lp-1", "Failed", exit_code=137, reason="OOMKilled")
    out = plan(obj, obs, T0)
    assert out.status["phase"] == "Failed"
    failed = cond(out.status, "Failed")
    assert failed["status"] == "True" and failed["reason"] == "OOMKilled"
    assert "1Gi" in failed["message"] and "resources.limits.memory" in failed["message"]
    assert cond(out.status, "Ready")["status"] == "False"
    assert [e.reason for e in out.events] == ["Failed"] and "OOMKilled" in out.events[0].message


def test_deadline_exceeded() -> None:
    obj, obs = settled(optjob())
    obs.jobs["lp"] = finished_job(obs.jobs["lp"], "Failed", "DeadlineExceeded")
    out = plan(obj, obs, T0)
    assert cond(out.status, "Failed")["reason"] == "DeadlineExceeded"
    assert "72s" in out.status["message"]


def test_malformed_input_carries_the_runtimes_message() -> None:
    obj, obs = settled(optjob({"configMapRef": {"name": "p", "key": "m.mps"}}))
    report = SolveResult(
        status="ERROR", error_kind="malformed-input", message="m.mps: line 3: bad ROWS section"
    )
    obs.jobs["lp"] = finished_job(obs.jobs["lp"], "Failed", "PodFailurePolicy")
    obs.pods["lp-1"] = pod(
        "lp-1",
        "Failed",
        exit_code=3,
        reason="Error",
        message=termination_message(report, exit_code=3),
    )
    out = plan(obj, obs, T0)
    failed = cond(out.status, "Failed")
    assert failed["reason"] == "MalformedInput"
    assert failed["message"] == "m.mps: line 3: bad ROWS section"
    assert out.status["solverStatus"] == "ERROR"


def test_failed_job_waits_briefly_for_its_pod_then_reads_the_exit_code() -> None:
    obj, obs = settled(optjob())
    message = "Container solver for pod ns/lp-x failed with exit code 137 matching FailJob rule"
    obs.jobs["lp"] = finished_job(obs.jobs["lp"], "Failed", "PodFailurePolicy", message)
    early = plan(obj, obs, T0 + timedelta(seconds=1))
    assert early.status["phase"] == "Running" and early.requeue_after is not None
    late = plan(obj, obs, T0 + timedelta(seconds=POD_GRACE_SECONDS + 1))
    assert cond(late.status, "Failed")["reason"] == "OOMKilled"
    # A pod that shows up later with the runtime's own report refines a generic reason.
    obs.jobs["lp"] = finished_job(obs.jobs["lp"], "Failed", "BackoffLimitExceeded", "")
    generic = plan(obj, obs, T0 + timedelta(seconds=POD_GRACE_SECONDS + 1))
    assert cond(generic.status, "Failed")["reason"] == "BackoffLimitExceeded"
    report = SolveResult(status="ABNORMAL", error_kind="solver-failure", message="SCIP crashed")
    obs.pods["lp-1"] = pod(
        "lp-1",
        "Failed",
        exit_code=5,
        reason="Error",
        message=termination_message(report, exit_code=5),
    )
    refined = plan({**obj, "status": generic.status}, obs, T0 + timedelta(seconds=20))
    assert cond(refined.status, "Failed")["reason"] == "SolverFailed"
    assert not refined.events  # the Failed event was posted once


def test_finished_is_final_even_when_the_job_is_gone() -> None:
    obj, obs = settled(optjob({"model": MODEL, "ttlSecondsAfterFinished": 0}))
    obs.jobs["lp"] = finished_job(obs.jobs["lp"], "Complete")
    obs.configmaps.update(result_cms(OPTIMAL))
    done = plan(obj, obs, T0)
    obj = {**obj, "status": done.status}
    obs.jobs.clear()  # deleted by ttlSecondsAfterFinished
    obs.pods.clear()
    del obs.configmaps["lp-result"]
    later = plan(obj, obs, T0 + timedelta(hours=1))
    assert not later.apply and not later.events
    assert status_patch(done.status, later.status) is None


def test_waiting_reasons() -> None:
    obj, obs = settled(optjob())
    obs.pods["lp-1"] = {
        "metadata": {"name": "lp-1", "labels": {"job-name": "lp"}},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "message": "0/1 nodes: Insufficient cpu",
                }
            ],
        },
    }
    out = plan(obj, obs, T0)
    assert out.status["phase"] == "Pending"
    assert cond(out.status, "Ready")["reason"] == "Pending"
    assert "Insufficient cpu" in out.status["message"]


# ---------------------------------------------------------------- sweeps


SWEEP = {"model": MODEL, "scenarios": [{"rhs": {"cap": float(k)}} for k in range(4)]}


def scenario_result(i: int, status: str, objective: float | None) -> SolveResult:
    return SolveResult(
        status=status, solver="HIGHS", sense="maximize", objective=objective, bound=objective,
        scenario_index=i, seconds=0.5,
    )  # fmt: skip


def test_sweep_summary_while_running_and_when_done() -> None:
    obj, obs = settled(optjob(SWEEP))
    obs.configmaps.update(result_cms(scenario_result(0, "OPTIMAL", 4.0), 0))
    obs.configmaps.update(result_cms(scenario_result(2, "INFEASIBLE", None), 2))
    running = plan(obj, obs, T0)
    assert running.status["phase"] == "Running"
    sc = running.status["scenarios"]
    assert sc["total"] == 4 and sc["reported"] == 2 and sc["pending"] == 2
    assert sc["solved"] == 1 and sc["infeasible"] == 1 and sc["best"] == 4.0
    obs.configmaps.update(result_cms(scenario_result(1, "OPTIMAL", 9.0), 1))
    job = obs.jobs["lp"]
    job["status"] = {
        "completedIndexes": "0-2",
        "failedIndexes": "3",
        "conditions": [
            {"type": "Failed", "status": "True", "reason": "FailedIndexes",
             "lastTransitionTime": ts(T0)}
        ],
    }  # fmt: skip
    obs.pods["lp-3-x"] = pod("lp-3-x", "Failed", exit_code=137, reason="OOMKilled", index=3)
    done = plan(obj, obs, T0 + timedelta(seconds=1))
    st_ = done.status
    assert st_["phase"] == "Succeeded"
    assert cond(st_, "Complete")["reason"] == "SomeScenariosFailed"
    sc = st_["scenarios"]
    expected = summarize_scenarios(
        [
            {"status": "OPTIMAL", "objective": 4.0, "sense": "maximize", "scenarioIndex": 0},
            {"status": "OPTIMAL", "objective": 9.0, "sense": "maximize", "scenarioIndex": 1},
            {"status": "INFEASIBLE", "sense": "maximize", "scenarioIndex": 2},
            None,
        ]
    )
    for key in ("solved", "infeasible", "failed", "best", "worst", "p5", "p50", "p95"):
        assert sc[key] == expected[key], key
    assert sc["bestIndex"] == 1 and sc["failedIndexes"] == "3" and sc["pending"] == 0
    assert st_["objective"] == 9.0 and st_["resultConfigMap"] == "lp-result-1"
    assert st_["solveSeconds"] == 1.5
    assert {e.reason for e in done.events} == {"Solved", "ScenariosFailed"}


def test_sweep_waits_for_results_of_completed_indexes() -> None:
    obj, obs = settled(optjob(SWEEP))
    obs.jobs["lp"]["status"] = {
        "completedIndexes": "0-3",
        "completionTime": ts(T0),
        "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": ts(T0)}],
    }
    out = plan(obj, obs, T0 + timedelta(seconds=2))
    assert out.status["phase"] == "Running" and out.requeue_after is not None
    late = plan(obj, obs, T0 + timedelta(seconds=RESULT_GRACE_SECONDS + 1))
    assert late.status["phase"] == "Failed"
    assert late.status["scenarios"]["failed"] == 4


def test_sweep_results_from_termination_messages() -> None:
    obj, obs = settled(optjob(SWEEP))
    obs.jobs["lp"] = finished_job(obs.jobs["lp"], "Complete")
    obs.jobs["lp"]["status"]["completedIndexes"] = "0-3"
    for i in range(4):
        msg = termination_message(
            scenario_result(i, "OPTIMAL", float(i)), exit_code=0, configmaps=[f"lp-result-{i}"]
        )
        obs.pods[f"lp-{i}"] = pod(f"lp-{i}", "Succeeded", message=msg, index=i)
    out = plan(obj, obs, T0)
    assert out.status["phase"] == "Succeeded"
    assert cond(out.status, "Complete")["reason"] == "SweepComplete"
    assert out.status["scenarios"]["p50"] == 1.5
    assert out.status["resultConfigMap"] == "lp-result-3"


def test_sweep_ranks_termination_messages_by_their_sense() -> None:
    # The problem is in a ConfigMap, so only the runtime knows it is a maximization.
    spec = {"configMapRef": {"name": "p", "key": "m.mps"}, "scenarios": SWEEP["scenarios"]}
    obj, obs = settled(optjob(spec))
    obs.jobs["lp"] = finished_job(obs.jobs["lp"], "Complete")
    obs.jobs["lp"]["status"]["completedIndexes"] = "0-3"
    for i in range(4):
        msg = termination_message(scenario_result(i, "OPTIMAL", float(i)), exit_code=0)
        obs.pods[f"lp-{i}"] = pod(f"lp-{i}", "Succeeded", message=msg, index=i)
    out = plan(obj, obs, T0)
    assert out.status["scenarios"]["best"] == 3.0 and out.status["scenarios"]["bestIndex"] == 3
    assert out.status["objective"] == 3.0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    outcomes=st.lists(
        st.one_of(
            st.none(),
            st.tuples(
                st.sampled_from(["OPTIMAL", "FEASIBLE", "INFEASIBLE", "NOT_SOLVED", "ERROR"]),
                st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
            ),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_sweep_status_agrees_with_the_runtimes_summary(
    outcomes: list[tuple[str, float] | None],
) -> None:
    n = len(outcomes)
    obj, obs = settled(optjob({"model": MODEL, "scenarios": [{}] * n}))
    summaries: list[dict[str, Any] | None] = []
    failed = []
    for i, outcome in enumerate(outcomes):
        if outcome is None:
            failed.append(str(i))
            summaries.append(None)
            continue
        status, objective = outcome
        solved = status in {"OPTIMAL", "FEASIBLE"}
        res = scenario_result(i, status, objective if solved else None)
        obs.configmaps.update(result_cms(res, i))
        summaries.append({"status": status, "objective": res.objective, "sense": "maximize"})
    obs.jobs["lp"] = finished_job(
        obs.jobs["lp"], "Failed" if failed else "Complete", "FailedIndexes"
    )
    obs.jobs["lp"]["status"]["failedIndexes"] = ",".join(failed)
    out = plan(obj, obs, T0)
    expected = summarize_scenarios(summaries)
    sc = out.status["scenarios"]
    for key in ("total", "solved", "optimal", "infeasible", "notSolved", "failed"):
        assert sc[key] == expected[key], key
    for key in ("best", "worst", "p50"):
        assert sc.get(key) == expected[key], key
    recorded = any(o is not None and o[0] != "ERROR" for o in outcomes)
    assert out.status["phase"] == ("Succeeded" if recorded else "Failed")
    if expected["best"] is not None:
        assert out.status["objective"] == expected["best"]


# ---------------------------------------------------------------- properties of the Job


@settings(max_examples=80, deadline=None)
@given(
    limit=st.floats(min_value=0.001, max_value=7 * 24 * 3600),
    threads=st.one_of(st.none(), st.integers(1, 256)),
    scenarios=st.integers(0, 50),
    parallelism=st.one_of(st.none(), st.integers(1, 1000)),
    name=st.from_regex(r"[a-z][a-z0-9-]{0,200}[a-z0-9]", fullmatch=True),
)
def test_job_invariants(
    limit: float, threads: int | None, scenarios: int, parallelism: int | None, name: str
) -> None:
    spec: dict[str, Any] = {"model": MODEL, "timeLimitSeconds": limit}
    if threads:
        spec["threads"] = threads
    if scenarios:
        spec["scenarios"] = [{}] * scenarios
        if parallelism:
            spec["parallelism"] = parallelism
    obj = optjob(spec, name=name)
    job = the_job(obj)
    js = job["spec"]
    assert len(job["metadata"]["name"]) <= 52
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", job["metadata"]["name"])
    for value in job["metadata"]["labels"].values():
        assert len(value) <= 63
    res = js["template"]["spec"]["containers"][0]["resources"]
    for r in ("cpu", "memory"):
        assert desired.parse_quantity(r, res["requests"][r]) <= desired.parse_quantity(
            r, res["limits"][r]
        )
    assert res["requests"]["cpu"] == str(threads or 1)
    waves = math.ceil(scenarios / js["parallelism"]) if scenarios else 1
    assert js["activeDeadlineSeconds"] >= limit * waves + 60
    if scenarios:
        assert js["completions"] == scenarios and 1 <= js["parallelism"] <= scenarios
        assert js["maxFailedIndexes"] == scenarios
    # Deterministic: the same spec gives the same manifest (no write at rest).
    assert the_job(obj) == job


def test_parse_indexes() -> None:
    assert parse_indexes("1,3-5,9") == {1, 3, 4, 5, 9}
    assert parse_indexes("") == set() and parse_indexes(None) == set()


def test_children_are_found_under_a_long_parents_short_label() -> None:
    store = Store()
    long_name = "x" * 100
    store.put_parent("OptimizationJob", optjob(name=long_name))
    label = desired.child_labels(long_name)["mcpops.dev/optimizationjob"]
    assert len(label) <= 63
    pod_body = {"metadata": {"name": "p", "namespace": "ns", "labels": {
        "mcpops.dev/optimizationjob": label}}}  # fmt: skip
    key, parent = resolve_parent(store, pod_body)
    assert key == child_key("ns", long_name) and parent == ("ns", long_name)
    owned = {"metadata": {"name": "c", "namespace": "ns", "labels": {}, "ownerReferences": [
        {"kind": "OptimizationJob", "name": "other"}]}}  # fmt: skip
    assert resolve_parent(store, owned)[1] == ("ns", "other")


def test_crd_names_columns_and_immutability() -> None:
    crd = crdgen.crd(OPTIMIZATIONJOB)
    version = crd["spec"]["versions"][0]
    assert crd["spec"]["names"]["shortNames"] == ["optjob"]
    assert "mcpops" in crd["spec"]["names"]["categories"]
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns[:5] == ["Phase", "Solver", "Status", "Objective", "Gap"]
    assert "Age" in columns
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = {v["rule"]: v["message"] for v in spec["x-kubernetes-validations"]}
    assert "immutable" in rules["self == oldSelf"]
    assert any("configMapRef" in r for r in rules)
    assert spec["properties"]["solver"]["enum"][0] == "auto"
    assert spec["properties"]["model"]["properties"]["variables"]["items"]["required"] == ["name"]
    OptimizationJobSpec.model_validate({"model": MODEL})


def test_store_keeps_only_the_summary_of_configmaps() -> None:
    big = SolveResult(status="OPTIMAL", objective=1.0, values={f"v{i}": 1.0 for i in range(200)})
    owner = {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "OptimizationJob",
        "name": "lp",
        "uid": UID,
    }
    summary, *parts = build_result_configmaps(
        big, name="lp", namespace="ns", owner=owner, max_bytes=1500
    )
    assert parts
    assert slim("ConfigMap", summary)["data"] == {"summary.json": summary["data"]["summary.json"]}
    assert "data" not in slim("ConfigMap", parts[0])
    assert slim("ConfigMap", parts[0])["metadata"] == parts[0]["metadata"]
    job = {"kind": "Job", "spec": {"x": 1}}
    assert slim("Job", job) is job
