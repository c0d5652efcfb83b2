"""Continuous verification (kinds/mcpserver/verification.py): scheduled suite runs against
the serving revision, driven through plan() on the fake cluster of the rollout tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_mcpserver_plan import T0, server
from test_rollout_properties import JobCluster

from mcpops.kinds.mcpserver import verification
from mcpops.objects.timestamps import parse_time
from mcpops_common.names import REVISION_LABEL, SCHEDULED_LABEL, SUITE_LABEL

EVERY_10 = "*/10 * * * *"


def spec(image: str = "img:1", on_failure: str | None = None, **suite: Any) -> dict[str, Any]:
    smoke: dict[str, Any] = {
        "name": "smoke",
        "builtin": {"requiredTools": ["add"]},
        "timeoutSeconds": 30,
        "schedule": EVERY_10,
        **suite,
    }
    if on_failure:
        smoke["onFailure"] = on_failure
    return {
        "image": image,
        "tests": [smoke],
        "rollout": {"verifySeconds": 20, "scaleDownDelaySeconds": 5},
    }


class World:
    """An MCPServer on the fake cluster, reconciled at a moving clock."""

    def __init__(self, s: dict[str, Any]) -> None:
        self.cluster = JobCluster()
        self.srv = server(s)
        self.now = T0
        self.events: list[tuple[str, str, str]] = []
        self.results: list[str] = []
        self.outcomes: list[str] = []

    def step(self, seconds: float = 1, *, jobs: str | None = None) -> dict[str, Any]:
        result = self.cluster.run(self.srv, self.now)
        self.events += [(e.type, e.reason, e.message) for e in result.events]
        self.results += result.scheduled_results
        self.outcomes += result.outcomes
        for name in self.cluster.deployments:
            self.cluster.settle(name, ready=True)
        if jobs:
            for name in list(self.cluster.jobs):
                self.cluster.end_job(name, jobs)
        self.now += timedelta(seconds=seconds)
        return dict(result.status)

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.srv["status"])

    def until(self, phase: str, *, jobs: str = "pass") -> None:
        for _ in range(30):
            if self.step(2, jobs=jobs)["phase"] == phase and not self.status.get("rollout", {}).get(
                "previous"
            ):
                return
        raise AssertionError(f"never {phase}: {self.status.get('phase')}")

    def roll(self, image: str) -> str:
        self.srv["spec"] = {**self.srv["spec"], "image": image}
        self.srv["metadata"]["generation"] += 1
        self.until("Healthy")
        return str(self.status["activeRevision"])

    def scheduled_jobs(self) -> dict[str, dict[str, Any]]:
        return {
            n: j
            for n, j in self.cluster.jobs.items()
            if j["metadata"]["labels"].get(SCHEDULED_LABEL) == "true"
        }

    def entry(self) -> dict[str, Any]:
        (e,) = self.status["scheduledTests"]
        return dict(e)

    def to(self, when: datetime) -> None:
        self.now = when


def test_a_scheduled_run_hits_the_stable_service_and_a_failure_degrades() -> None:
    w = World(spec())
    w.until("Healthy")
    active = w.status["activeRevision"]
    e = w.entry()
    assert e["revision"] == active and e["nextRunAt"] == "2026-01-01T00:10:00Z"
    assert not w.scheduled_jobs(), "nothing runs before the scheduled time"

    w.to(T0 + timedelta(minutes=10, seconds=5))
    w.step()
    (job,) = w.scheduled_jobs().values()
    labels = job["metadata"]["labels"]
    assert labels[REVISION_LABEL] == active and labels[SUITE_LABEL] == "smoke"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0] == {"name": "MCP_SERVER_URL", "value": "http://s.ns.svc:8080/mcp"}
    e = w.entry()
    assert e["running"] and e["lastRunAt"] == "2026-01-01T00:10:00Z"
    assert e["nextRunAt"] == "2026-01-01T00:20:00Z"

    w.cluster.end_job(job["metadata"]["name"], "fail")
    status = w.step()
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "ScheduledSuiteFailed"
    assert "smoke" in degraded["message"] and "check(s) failed" in degraded["message"]
    assert status["phase"] == "Degraded" and status["activeRevision"] == active
    assert w.results == ["failed"]
    assert any(r == "ScheduledSuiteFailed" and "traffic stays" in m for _, r, m in w.events)
    assert w.cluster.services["s"]["spec"]["selector"][REVISION_LABEL] == active

    # The next run passes: Degraded clears, with an Event.
    w.to(T0 + timedelta(minutes=20))
    w.step(jobs="pass")
    status = w.step()
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert degraded["status"] == "False" and status["phase"] == "Healthy"
    assert w.results == ["failed", "passed"]
    assert any(r == "ScheduledSuiteRecovered" for _, r, _ in w.events)


def test_no_scheduled_run_while_a_rollout_is_in_progress() -> None:
    w = World(spec())
    w.until("Healthy")
    w.srv["spec"] = {**w.srv["spec"], "image": "img:2"}
    w.srv["metadata"]["generation"] += 1
    w.to(T0 + timedelta(minutes=10))
    phases = []
    for _ in range(30):
        phases.append(w.step(2, jobs="pass")["phase"])
        if phases[-1] == "Healthy" and not w.status["rollout"].get("previous"):
            break
        assert not w.scheduled_jobs(), f"scheduled run during {phases[-1]}"
    assert "Testing" in phases and "Verifying" in phases
    # The new serving revision's first run is at the next scheduled time after the switch.
    assert w.entry()["nextRunAt"] == "2026-01-01T00:20:00Z"


def test_missed_runs_collapse_into_one() -> None:
    w = World(spec())
    w.until("Healthy")
    w.to(T0 + timedelta(hours=2, minutes=3))  # the operator was away for 12 runs
    w.step()
    assert len(w.scheduled_jobs()) == 1
    assert w.entry()["lastRunAt"] == "2026-01-01T02:00:00Z"
    assert w.entry()["nextRunAt"] == "2026-01-01T02:10:00Z"


def fail_scheduled_run(w: World, minutes: int) -> None:
    w.to(T0 + timedelta(minutes=minutes))
    w.step(jobs="fail")
    w.step()  # the failure is seen (with Rollback: the kept revision is scaled up)
    w.step()  # (with Rollback: it is ready, traffic moves)


def two_revisions(on_failure: str | None = "Rollback") -> tuple[World, str, str]:
    """img:1 rolled out and passed, then img:2 (serving): the first kept at zero."""
    w = World(spec(on_failure=on_failure))
    w.until("Healthy")
    first = w.status["activeRevision"]
    w.to(T0 + timedelta(minutes=1))
    second = w.roll("img:2")
    assert first != second
    return w, first, second


def test_rollback_returns_traffic_to_a_kept_revision_that_passed() -> None:
    w, first, second = two_revisions()
    assert w.cluster.deployments[f"s-{first}"]["spec"]["replicas"] == 0, "kept, scaled down"
    history = {r["revision"]: r for r in w.status["revisions"]}
    assert history[first]["passedSuites"] == ["smoke"]

    fail_scheduled_run(w, 10)
    # The kept revision is scaled up first; traffic moves once it is ready.
    assert any(r == "RolledBack" for _, r, _ in w.events)
    status = w.status
    assert status["activeRevision"] == first and status["failedRevision"] == second
    assert w.cluster.services["s"]["spec"]["selector"][REVISION_LABEL] == first
    assert w.outcomes[-1] == "rolled_back"
    # The failed revision is not rolled out again until the spec changes.
    for _ in range(5):
        assert not w.step(2).get("candidateRevision")
    assert "passedSuites" not in {r["revision"]: r for r in w.status["revisions"]}[second]


def test_rollback_waits_for_the_kept_revision_to_be_ready() -> None:
    w, first, second = two_revisions()
    w.to(T0 + timedelta(minutes=10))
    w.step(jobs="fail")
    result = w.cluster.run(w.srv, w.now)  # no settle: the kept revision is not ready yet
    assert w.cluster.deployments[f"s-{first}"]["spec"]["replicas"] == 1
    assert result.status["activeRevision"] == second
    assert w.entry()["restoring"] == first
    assert w.cluster.services["s"]["spec"]["selector"][REVISION_LABEL] == second


def test_no_rollback_without_a_kept_revision_that_passed() -> None:
    w = World(spec(on_failure="Rollback"))
    w.until("Healthy")
    fail_scheduled_run(w, 10)
    assert w.status["phase"] == "Degraded"
    assert any("no kept revision passed smoke" in m for _, _, m in w.events)
    assert "RolledBack" not in {r for _, r, _ in w.events}


def test_degrade_only_never_moves_traffic() -> None:
    w, _, second = two_revisions(on_failure=None)
    fail_scheduled_run(w, 10)
    assert w.status["activeRevision"] == second
    assert "RolledBack" not in {r for _, r, _ in w.events}


def test_finished_scheduled_jobs_beyond_the_history_are_deleted() -> None:
    w = World(spec())
    w.until("Healthy")
    for run in range(1, 7):
        w.to(T0 + timedelta(minutes=10 * run))
        w.step(jobs="pass")
        w.step()
    assert len(w.scheduled_jobs()) == verification.HISTORY
    minutes = sorted(int(n.rsplit("-", 1)[1]) for n in w.scheduled_jobs())
    assert minutes[-1] == int((T0 + timedelta(minutes=60)).timestamp() // 60)
    # The suite loses its schedule: its scheduled Jobs go.
    smoke = {k: v for k, v in w.srv["spec"]["tests"][0].items() if k != "schedule"}
    w.srv["spec"] = {**w.srv["spec"], "tests": [smoke]}
    w.step()
    assert not w.scheduled_jobs() and "scheduledTests" not in w.status


def test_an_invalid_schedule_is_named_with_its_field() -> None:
    w = World(spec(schedule="61 * * * *"))
    w.until("Healthy")
    e = w.entry()
    assert e["outcome"] == "Invalid" and e["message"].startswith("spec.tests[smoke].schedule:")
    assert [r for _, r, _ in w.events].count("InvalidSchedule") == 1


def test_due_is_the_latest_time_reached() -> None:
    nxt = datetime(2026, 1, 1, 0, 10, tzinfo=T0.tzinfo)
    assert verification.due(EVERY_10, nxt, nxt - timedelta(seconds=1), T0.tzinfo) is None
    assert verification.due(EVERY_10, nxt, nxt, T0.tzinfo) == nxt
    later = nxt + timedelta(minutes=25)
    assert verification.due(EVERY_10, nxt, later, T0.tzinfo) == nxt + timedelta(minutes=20)


event = st.tuples(
    st.sampled_from(["wait", "wait", "img:1", "img:2", "img:3"]),  # spec change?
    st.sampled_from(["pass", "fail", "fail", "deadline", "hang"]),  # how Jobs end
    st.integers(min_value=1, max_value=900),  # seconds to the next reconcile
)


@settings(max_examples=150, deadline=None)
@given(events=st.lists(event, min_size=1, max_size=25), on_failure=st.booleans())
def test_scheduled_runs_keep_their_promises(
    events: list[tuple[str, str, int]], on_failure: bool
) -> None:
    """Whatever happens: no scheduled Job starts during a rollout, at most one runs per
    suite, traffic only moves back to a revision that passed the suite, at most
    HISTORY finished scheduled Jobs are kept, and Degraded says so while the last run of
    the serving revision failed."""
    w = World(spec(on_failure="Rollback" if on_failure else None))
    for change, how, gap in events:
        if change != "wait" and change != w.srv["spec"]["image"]:
            w.srv["spec"] = {**w.srv["spec"], "image": change}
            w.srv["metadata"]["generation"] += 1
        old = w.status
        before = set(w.scheduled_jobs())
        passed = {
            r["revision"] for r in old.get("revisions") or [] if r.get("passedSuites") == ["smoke"]
        }
        status = w.step(gap, jobs=how)
        started = set(w.scheduled_jobs()) - before
        if started:  # by a reconcile that ended with no rollout in progress
            assert not status.get("candidateRevision")
            assert not (status.get("rollout") or {}).get("previous")
        running = [j for j in w.scheduled_jobs().values() if not j["status"].get("conditions")]
        assert len(running) <= 1
        finished = [j for j in w.scheduled_jobs().values() if j["status"].get("conditions")]
        assert len(finished) <= verification.HISTORY + 1  # +1: ended after this plan
        if "rolled_back" in w.outcomes[-1:] and status.get("activeRevision") != old.get(
            "activeRevision"
        ):
            assert on_failure and status["activeRevision"] in passed
            w.outcomes.clear()
        for e in status.get("scheduledTests") or []:
            if e.get("nextRunAt") and e.get("revision") == status.get("activeRevision"):
                assert parse_time(e["nextRunAt"]) is not None
        degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
        failed_now = any(
            e.get("outcome") == "Failed" and e.get("revision") == status.get("activeRevision")
            for e in status.get("scheduledTests") or []
        )
        if failed_now:
            assert degraded["status"] == "True"


def test_a_run_whose_job_was_deleted_is_given_up() -> None:
    w = World(spec())
    w.until("Healthy")
    w.to(T0 + timedelta(minutes=10))
    result = w.cluster.run(w.srv, w.now)
    assert w.entry()["running"]
    # Woken by the time the run counts as lost even if no Job event comes.
    assert result.requeue_after is not None and result.requeue_after <= 30 + 120
    w.cluster.jobs.clear()  # deleted by hand
    w.to(T0 + timedelta(minutes=10, seconds=151))
    w.step()
    e = w.entry()
    assert "running" not in e and "deleted before it finished" in e["message"]
    assert w.status["phase"] == "Healthy"  # not a failure of the server
