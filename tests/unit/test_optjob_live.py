"""OptimizationJob as a solver service, over plain data: progress copied into status, cancel,
warm start, and the namespace queue (hypothesis: the limit is never exceeded and jobs start
in creation order)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from test_optjob_plan import OPTIMAL, T0, UID, cond, optjob, result_cms, settled, ts

from mcpops.kinds.optimizationjob import queue
from mcpops.kinds.optimizationjob.plan import Observed, Slot, plan
from mcpops.kinds.optimizationjob.reconciler import CHILD_KINDS, child_key, namespace_queue
from mcpops.kinds.optimizationjob.reconciler import trim as slim
from mcpops.machinery.store import Store
from mcpops_common.names import CANCEL_ANNOTATION
from mcpops_common.results import SolveResult, build_progress_configmap

OWNER = {"apiVersion": "mcpops.dev/v1alpha1", "kind": "OptimizationJob", "name": "lp", "uid": UID}


def running(obj: dict[str, Any]) -> tuple[dict[str, Any], Observed]:
    obj, obs = settled(obj)
    obs.pods["lp-abc"] = {
        "metadata": {"name": "lp-abc", "labels": {"job-name": "lp"}},
        "status": {"phase": "Running"},
    }
    first = plan(obj, obs, T0)
    return {**obj, "status": first.status}, obs


def cancelled(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"]["annotations"] = {CANCEL_ANNOTATION: "true"}
    return out


# ---------------------------------------------------------------- progress


def test_progress_from_the_pod_is_copied_into_status_while_running() -> None:
    obj, obs = running(optjob())
    doc = {"objective": 12.0, "bound": 10.0, "gap": 1 / 6, "solutionsFound": 3}
    doc |= {"elapsedSeconds": 7.5, "updatedAt": ts(T0), "solver": "SCIP"}
    cm = build_progress_configmap(doc, name="lp", namespace="ns", owner=OWNER)
    obs.configmaps[cm["metadata"]["name"]] = slim("ConfigMap", cm)  # what the store keeps
    out = plan(obj, obs, T0 + timedelta(seconds=8))
    assert out.status["phase"] == "Running"
    assert out.status["progress"] == {
        "objective": 12.0,
        "bound": 10.0,
        "gap": 1 / 6,
        "solutionsFound": 3,
        "elapsedSeconds": 7.5,
        "updatedAt": ts(T0),
    }
    # Another job's ConfigMap of the same name (an earlier uid) is not read.
    stale = copy.deepcopy(cm)
    stale["metadata"]["ownerReferences"][0]["uid"] = "other"
    obs.configmaps[cm["metadata"]["name"]] = stale
    assert "progress" not in plan(obj, obs, T0).status


def test_progress_is_dropped_once_finished() -> None:
    obj, obs = running(optjob())
    cm = build_progress_configmap({"objective": 9.0}, name="lp", namespace="ns", owner=OWNER)
    obs.configmaps[cm["metadata"]["name"]] = cm
    obj = {**obj, "status": plan(obj, obs, T0).status}
    assert obj["status"]["progress"]["objective"] == 9.0
    job = obs.jobs["lp"]
    job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    obs.configmaps.update(result_cms(OPTIMAL))
    out = plan(obj, obs, T0 + timedelta(seconds=1))
    assert out.status["phase"] == "Succeeded" and "progress" not in out.status


# ---------------------------------------------------------------- cancel


def test_cancel_suspends_the_job_once_then_keeps_the_pods_incumbent() -> None:
    obj, obs = running(optjob())
    obj = cancelled(obj)
    out = plan(obj, obs, T0)
    assert out.suspend == "lp"
    assert out.status["phase"] == "Running"
    assert cond(out.status, "Ready")["reason"] == "Running"
    assert [e.reason for e in out.events] == ["CancelRequested"]
    # The Job is suspended: not asked again.
    obs.jobs["lp"]["spec"]["suspend"] = True
    obs.jobs["lp"]["status"] = {"active": 1}
    obj = {**obj, "status": out.status}
    again = plan(obj, obs, T0 + timedelta(seconds=1))
    assert again.suspend is None and not again.events
    # The pod wrote the best solution it had, marked cancelled.
    kept = SolveResult(
        status="FEASIBLE",
        solver="SCIP",
        sense="maximize",
        objective=10.0,
        bound=11.0,
        message="cancelled; the best solution found so far is kept, not proven optimal",
        values={"x": 3.0, "y": 0.5},
        cancelled=True,
    )
    obs.configmaps.update(result_cms(kept))
    done = plan(obj, obs, T0 + timedelta(seconds=3))
    st_ = done.status
    assert st_["phase"] == "Cancelled" and st_["cancelled"] is True
    assert st_["solverStatus"] == "FEASIBLE" and st_["objective"] == 10.0
    assert st_["resultConfigMap"] == "lp-result" and st_["solutionStored"] is True
    assert cond(st_, "Ready")["status"] == "True"
    assert cond(st_, "Complete")["status"] == "False"
    assert cond(st_, "Failed")["status"] == "False"
    assert [e.reason for e in done.events] == ["Cancelled"]
    assert "not proven optimal" in done.events[0].message
    assert done.finished is not None and done.finished.phase == "Cancelled"
    # Final: nothing more happens.
    after = plan({**obj, "status": st_}, obs, T0 + timedelta(minutes=1))
    assert after.status == st_ and not after.events and after.suspend is None


def test_cancel_without_any_solution_after_the_pod_is_gone() -> None:
    obj, obs = running(optjob())
    obj = cancelled(obj)
    job = obs.jobs["lp"]
    job["spec"]["suspend"] = True
    stopped_at = T0 + timedelta(seconds=2)
    job["status"] = {
        "conditions": [
            {"type": "Suspended", "status": "True", "lastTransitionTime": ts(stopped_at)}
        ]
    }
    obs.pods.clear()
    early = plan(obj, obs, stopped_at + timedelta(seconds=1))
    assert early.status["phase"] == "Running" and early.requeue_after
    late = plan(obj, obs, stopped_at + timedelta(seconds=60))
    assert late.status["phase"] == "Cancelled"
    assert cond(late.status, "Ready")["status"] == "False"
    assert "objective" not in late.status


def test_cancel_of_a_job_not_started_creates_nothing() -> None:
    obj = cancelled(optjob())
    out = plan(obj, Observed(), T0, slot=Slot(admitted=False, position=1, used=2, limit=2))
    assert not out.apply and out.status["phase"] == "Cancelled"
    assert out.status["message"] == "cancelled before it started"


def test_a_solve_that_finished_before_the_cancel_stays_succeeded() -> None:
    obj, obs = running(optjob())
    obj = cancelled(obj)
    obs.jobs["lp"]["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    obs.configmaps.update(result_cms(OPTIMAL))
    out = plan(obj, obs, T0)
    assert out.status["phase"] == "Succeeded" and out.suspend is None


# ---------------------------------------------------------------- warm start


def _source(phase: str, **status: Any) -> dict[str, Any]:
    return optjob(name="first", phase=phase, **status)


def test_warm_start_waits_for_its_source_then_mounts_its_solution() -> None:
    spec = {"model": optjob()["spec"]["model"], "warmStartFrom": "first"}
    obj = optjob(spec)
    missing = plan(obj, Observed(), T0, warm_source=None)
    assert missing.status["phase"] == "Pending"
    assert cond(missing.status, "Ready")["reason"] == "Pending"
    assert "does not exist" in missing.status["message"]
    assert not [m for m in missing.apply if m["kind"] == "Job"]
    busy = plan(obj, Observed(), T0, warm_source=_source("Running"))
    assert "is Running" in busy.status["message"] and busy.requeue_after
    done = _source(
        "Succeeded", solverStatus="OPTIMAL", resultConfigMap="first-result", solutionStored=True
    )
    out = plan(obj, Observed(), T0, warm_source=done)
    job = next(m for m in out.apply if m["kind"] == "Job")
    pod = job["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[args.index("--warm-start") + 1] == "/warmstart/0.json"
    volume = next(v for v in pod["volumes"] if v["name"] == "warmstart")
    source = volume["projected"]["sources"][0]["configMap"]
    assert source == {"name": "first-result", "items": [{"key": "solution.json", "path": "0.json"}]}
    assert out.status["warmStartFrom"] == "first"
    assert "warm start from first" in out.events[0].message


def test_warm_start_from_parts_and_from_a_job_without_a_solution() -> None:
    spec = {"model": optjob()["spec"]["model"], "warmStartFrom": "first"}
    parts = _source(
        "Cancelled",
        solverStatus="FEASIBLE",
        resultConfigMap="first-result",
        resultParts=["first-result-part-1", "first-result-part-2"],
    )
    out = plan(optjob(spec), Observed(), T0, warm_source=parts)
    args = next(m for m in out.apply if m["kind"] == "Job")["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    assert args.count("--warm-start") == 2
    failed = _source("Failed")
    cold = plan(optjob(spec), Observed(), T0, warm_source=failed)
    job = next(m for m in cold.apply if m["kind"] == "Job")
    assert "--warm-start" not in job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [e.reason for e in cold.events] == ["WarmStartUnavailable", "JobCreated"]


# ---------------------------------------------------------------- the queue


def test_queued_job_creates_no_job_and_says_where_it_stands() -> None:
    out = plan(optjob(), Observed(), T0, slot=Slot(admitted=False, position=2, used=3, limit=3))
    assert not [m for m in out.apply if m["kind"] == "Job"]
    assert out.status["phase"] == "Queued" and out.status["queuePosition"] == 2
    assert "3 of 3" in out.status["message"]
    assert [e.reason for e in out.events] == ["Queued"]
    again = plan({**optjob(), "status": out.status}, Observed(), T0, slot=Slot(False, 1, 3, 3))
    assert not again.events and again.status["queuePosition"] == 1
    started = plan(
        {**optjob(), "status": again.status}, Observed(), T0, slot=Slot(True, None, 3, 3)
    )
    assert started.started and "queuePosition" not in started.status


def test_a_sweep_runs_at_most_the_limit_of_pods() -> None:
    scenarios = [{"rhs": {"cap": float(k)}} for k in range(20)]
    spec = {"model": optjob()["spec"]["model"], "scenarios": scenarios, "parallelism": 8}
    out = plan(optjob(spec), Observed(), T0, slot=Slot(True, None, 0, 3))
    job = next(m for m in out.apply if m["kind"] == "Job")
    assert job["spec"]["parallelism"] == 3


entries = st.lists(
    st.builds(
        queue.Entry,
        name=st.text("abcdef", min_size=1, max_size=3),
        created=st.sampled_from(["2026-01-01T00:00:0" + str(i) + "Z" for i in range(5)]),
        slots=st.integers(1, 6),
        holding=st.booleans(),
        waiting=st.booleans(),
    ),
    max_size=12,
    unique_by=lambda e: e.name,
)


@given(entries, st.integers(1, 8))
def test_queue_never_exceeds_the_limit_and_starts_in_creation_order(
    jobs: list[queue.Entry], limit: int
) -> None:
    held = sum(e.slots for e in jobs if e.holding)
    admission = queue.admit(jobs, limit)
    started = [e for e in jobs if e.name in admission.started]
    added = sum(queue.slots(e.slots, limit) for e in started)
    assert admission.used == held + added
    if started:
        assert admission.used <= max(limit, held)
    # Creation order: no queued job was created before a started one.
    waiting = sorted(
        (e for e in jobs if e.waiting and not e.holding), key=lambda e: (e.created, e.name)
    )
    names = [e.name for e in waiting]
    assert names == sorted(admission.started, key=names.index) + list(admission.queued)
    # Every waiting job is either started or queued, and a started one is never holding.
    assert not any(e.holding for e in started)


@given(entries)
def test_no_limit_starts_every_waiting_job(jobs: list[queue.Entry]) -> None:
    admission = queue.admit(jobs, 0)
    assert admission.started == {e.name for e in jobs if e.waiting and not e.holding}
    assert not admission.queued


def test_namespace_queue_reads_the_store() -> None:
    store = Store()
    for i, name in enumerate(["a", "b", "c"]):
        obj = optjob(name=name)
        obj["metadata"]["creationTimestamp"] = ts(T0 + timedelta(seconds=i))
        store.put_parent("OptimizationJob", obj)
    running_job = {"metadata": {"name": "a", "resourceVersion": "1"}, "spec": {}, "status": {}}
    store.put_child(CHILD_KINDS["Job"], child_key("ns", "a"), running_job)
    admission = namespace_queue(store, "ns", 2, starting=set())
    assert admission.started == {"b"} and admission.queued == ("c",) and admission.used == 2
    # A job just created (not yet seen by the watch) holds its slot too.
    assert namespace_queue(store, "ns", 2, starting={"b"}).started == frozenset()


def test_cancel_of_a_sweep_suspends_it_and_keeps_the_scenarios_reported() -> None:
    scenarios = [{"rhs": {"cap": float(k)}} for k in range(4)]
    obj, obs = settled(optjob({"model": optjob()["spec"]["model"], "scenarios": scenarios}))
    obj = cancelled(obj)
    out = plan(obj, obs, T0)
    assert out.suspend == "lp" and out.status["phase"] == "Running"
    job = obs.jobs["lp"]
    job["spec"]["suspend"] = True
    job["status"] = {
        "conditions": [{"type": "Suspended", "status": "True", "lastTransitionTime": ts(T0)}]
    }
    one = SolveResult(status="OPTIMAL", solver="HIGHS", sense="maximize", objective=5.0)
    obs.configmaps.update(result_cms(one, index=0))
    done = plan({**obj, "status": out.status}, obs, T0 + timedelta(seconds=30))
    assert done.status["phase"] == "Cancelled"
    assert done.status["scenarios"]["total"] == 4 and done.status["scenarios"]["reported"] == 1
    assert done.status["objective"] == 5.0 and done.status["resultConfigMap"] == "lp-result-0"
    assert done.finished is not None and done.finished.solution is True


def test_a_job_waiting_for_its_warm_start_takes_no_place_in_the_line() -> None:
    store = Store()
    for i, (name, spec) in enumerate([("w", {"warmStartFrom": "src"}), ("x", {}), ("src", {})]):
        obj = optjob({"model": optjob()["spec"]["model"], **spec}, name=name)
        obj["metadata"]["creationTimestamp"] = ts(T0 + timedelta(seconds=i))
        store.put_parent("OptimizationJob", obj)
    admission = namespace_queue(store, "ns", 1, starting=set())
    assert admission.started == {"x"} and admission.queued == ("src",)
