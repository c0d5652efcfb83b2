"""The rollout state machine under arbitrary test outcomes, clocks and spec changes.

A fake cluster applies each plan the way the API server would and lets test Jobs end
however the generated scenario says (pass, fail, eviction, hang until the deadline).
For every sequence the invariants the blue-green contract promises must hold.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from suitekit import result_message
from test_mcpserver_plan import T0, FakeCluster, server

from mcpops.kinds.mcpserver.plan import Observed, plan
from mcpops.objects.timestamps import parse_time
from mcpops_common.names import REVISION_LABEL

SUITES = ("smoke", "tools")
DEADLINE = 120
VERIFY = 20


def suite_spec(name: str) -> dict[str, Any]:
    return {"name": name, "builtin": {"requiredTools": ["add"]}, "timeoutSeconds": 30}


@dataclass
class JobCluster(FakeCluster):
    """FakeCluster plus test Jobs and their pods, ending as the scenario dictates."""

    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__()

    def observed(self) -> Observed:
        base = super().observed()
        base.jobs = copy.deepcopy(self.jobs)
        base.pods = copy.deepcopy(self.pods)
        return base

    def apply(self, manifest: dict[str, Any]) -> None:
        if manifest["kind"] != "Job":
            super().apply(manifest)
            return
        name = manifest["metadata"]["name"]
        if name not in self.jobs:
            self.uid += 1
            body = copy.deepcopy(manifest)
            body["metadata"]["uid"] = f"uid-{self.uid}"
            body["status"] = {}
            self.jobs[name] = body

    def delete(self, kind: str, name: str) -> None:
        if kind == "Job":
            self.jobs.pop(name, None)
            self.pods = {
                k: p for k, p in self.pods.items() if p["metadata"]["labels"]["job-name"] != name
            }
        else:
            super().delete(kind, name)

    def end_job(self, name: str, how: str) -> None:
        """pass | fail | evict | deadline | hang (nothing happens)."""
        job = self.jobs[name]
        if how == "hang" or job["status"].get("conditions"):
            return
        suite = job["metadata"]["name"].split("-")[-2]
        pod_name = f"{name}-{len(self.pods)}"
        exit_code = 0 if how == "pass" else 137 if how == "evict" else 1
        pod = {
            "metadata": {
                "name": pod_name,
                "labels": {"job-name": name},
                "creationTimestamp": f"2026-01-01T00:00:{len(self.pods):02d}Z",
            },
            "status": {
                "phase": "Succeeded" if how == "pass" else "Failed",
                "containerStatuses": [
                    {
                        "name": "test",
                        "state": {
                            "terminated": {
                                "exitCode": exit_code,
                                "message": result_message(how == "pass", suite)
                                if how in {"pass", "fail"}
                                else "",
                            }
                        },
                    }
                ],
                "conditions": [{"type": "DisruptionTarget", "status": "True"}]
                if how == "evict"
                else [],
            },
        }
        self.pods[pod_name] = pod
        # An evicted pod is ignored by the podFailurePolicy: the Job runs on.
        if how == "pass":
            job["status"]["conditions"] = [{"type": "Complete", "status": "True"}]
        elif how == "fail":
            job["status"]["conditions"] = [{"type": "Failed", "status": "True"}]
        elif how == "deadline":
            job["status"]["conditions"] = [
                {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}
            ]


def suites_passed(cluster: JobCluster, revision: str) -> bool:
    """Every suite has a Complete Job for this revision with a passing pod."""
    for suite in SUITES:
        ok = False
        for name, job in cluster.jobs.items():
            labels = job["metadata"].get("labels") or {}
            if labels.get(REVISION_LABEL) != revision or f"-{suite}-" not in name:
                continue
            complete = any(
                c["type"] == "Complete" and c["status"] == "True"
                for c in job["status"].get("conditions") or []
            )
            if complete:
                ok = True
        if not ok:
            return False
    return True


step = st.tuples(
    st.sampled_from(["keep", "keep", "keep", "img:1", "img:2", "img:3"]),  # spec change?
    st.sampled_from(["pass", "pass", "fail", "evict", "deadline", "hang"]),  # job outcome
    st.booleans(),  # do the newest Deployment's pods become ready?
    st.integers(min_value=0, max_value=90),  # seconds until the next reconcile
)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=30))
def test_rollout_invariants_hold_for_any_history(
    steps: list[tuple[str, str, bool, int]],
) -> None:
    cluster = JobCluster()
    spec = {
        "image": "img:1",
        "tests": [suite_spec(s) for s in SUITES],
        "rollout": {
            "progressDeadlineSeconds": DEADLINE,
            "verifySeconds": VERIFY,
            "scaleDownDelaySeconds": 5,
        },
    }
    srv = server(spec)
    tested: set[str] = set()  # revisions whose suites all passed, as observed
    switches: set[tuple[str, int]] = set()  # (revision, attempt) that got traffic
    now = T0
    generation = 1
    for change, outcome, ready, gap in steps:
        if change != "keep" and change != srv["spec"]["image"]:
            generation += 1
            srv["spec"] = {**srv["spec"], "image": change}
            srv["metadata"]["generation"] = generation
        for rev in {d["metadata"]["labels"][REVISION_LABEL] for d in cluster.deployments.values()}:
            if suites_passed(cluster, rev):
                tested.add(rev)

        before = copy.deepcopy(srv)
        old = before["status"]
        result = plan(srv, cluster.observed(), now)
        assert srv == before, "plan() must not modify what it was given"
        cluster.commit(srv, result)
        new = srv["status"]

        # Traffic is only ever on a tested revision, and the Service agrees with status.
        active = new.get("activeRevision")
        if active is not None:
            assert active in tested, f"traffic on untested revision {active}"
        selector = cluster.services["s"]["spec"]["selector"][REVISION_LABEL]
        assert selector == (active or "none")

        # At most one switch per rollout attempt.
        if "promoted" in result.outcomes:
            key = (active, int((old.get("rollout") or {}).get("attempt", 0)))
            assert key not in switches, f"second switch in rollout {key}"
            switches.add(key)

        # Every phase ends by its deadline: a rollout past it is over after this step,
        # and while one runs the plan asks to be woken no later than its deadline.
        ro = new.get("rollout") or {}
        if new.get("candidateRevision"):
            started = ro.get("startedAt")
            assert started is not None
            deadline_at = parse_time(started) + timedelta(seconds=DEADLINE)  # type: ignore[operator]
            assert now < deadline_at, "a rollout outlived progressDeadlineSeconds"
            if new["phase"] in {"Progressing", "Testing"}:
                assert result.requeue_after is not None
                assert result.requeue_after <= max(1.0, (deadline_at - now).total_seconds())
        if new["phase"] == "Verifying":
            assert result.requeue_after is not None and result.requeue_after <= VERIFY
        # A failed revision is not retried until the spec changes.
        if old.get("failedRevision") and old.get("failedRevision") == new.get("failedRevision"):
            assert new.get("candidateRevision") != new["failedRevision"]

        # The world moves on: pods get ready (or not), running Jobs end as told.
        for name in cluster.deployments:
            newest = name.endswith(new.get("candidateRevision") or "~")
            cluster.settle(name, ready=ready or not newest)
        for name in list(cluster.jobs):
            cluster.end_job(name, outcome)
        now += timedelta(seconds=gap)


def test_a_rollout_leaves_a_timeline_and_phase_durations() -> None:
    """Pass rollout from img:1 to img:2: each phase is timestamped on the revision, each
    phase left is reported with how long it lasted, each finished suite once."""
    cluster = JobCluster()
    spec = {
        "image": "img:1",
        "tests": [suite_spec(s) for s in SUITES],
        "rollout": {"verifySeconds": VERIFY, "scaleDownDelaySeconds": 5},
    }
    srv = server(spec)
    durations: list[tuple[str, float]] = []
    results: list[str] = []
    now = T0

    def step(seconds: int) -> dict[str, Any]:
        nonlocal now
        result = cluster.run(srv, now)
        durations.extend(result.phase_durations)
        results.extend(result.test_results)
        for name in cluster.deployments:
            cluster.settle(name, ready=True)
        now += timedelta(seconds=seconds)
        return dict(result.status)

    def until_healthy(seconds: int) -> list[str]:
        seen = [step(seconds)["phase"]]
        while seen[-1] != "Healthy":
            assert len(seen) < 20, f"no convergence: {seen}"
            for name in list(cluster.jobs):
                cluster.end_job(name, "pass")
            seen.append(step(seconds)["phase"])
        return seen

    until_healthy(3)
    srv["spec"] = {**srv["spec"], "image": "img:2"}
    srv["metadata"]["generation"] = 2
    durations.clear()
    results.clear()
    seen = until_healthy(4)
    assert "Testing" in seen and "Verifying" in seen
    assert results == ["passed", "passed"]
    left = [p for p, _ in durations]
    assert left[:1] == ["Healthy"] and "Testing" in left and left[-1] == "Verifying"
    assert all(seconds >= 0 for _, seconds in durations)
    st = srv["status"]
    newest = st["revisions"][0]
    assert newest["revision"] == st["activeRevision"]
    assert {"Progressing", "Testing", "Verifying", "Healthy"} <= newest["phases"].keys()
    assert parse_time(newest["phases"]["Testing"]) <= parse_time(newest["phases"]["Healthy"])  # type: ignore[operator]
    assert st["phaseSince"] == newest["phases"]["Healthy"]
