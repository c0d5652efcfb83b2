"""Continuous verification: test suites re-run on a schedule against the serving revision.
Pure.

A suite with `schedule` (tests[].schedule, cron) runs as a Job against the stable Service
whenever a run is due and no rollout is in progress (no candidate, no revision in its
verify window); runs missed meanwhile collapse into one. A failed run sets Degraded
(reason ScheduledSuiteFailed), posts an Event and counts in
mcpops_scheduled_suite_results_total. Traffic moves only with `onFailure: Rollback`, and
only to a kept revision (its Deployment still exists) that passed the same suite: it is
scaled up first and takes traffic once ready, with an Event.

The state lives in status.scheduledTests (one entry per scheduled suite) and in
status.revisions[].passedSuites (which suites each revision passed).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mcpops.api.base import Condition
from mcpops.api.testsuite import TestSuite
from mcpops.kinds.mcpserver import desired, suites
from mcpops.kinds.mcpserver.observed import finished, serving_ready, settling
from mcpops.kinds.mcpserver.rollout import return_traffic
from mcpops.kinds.mcpserver.state import Inputs, Plan, State
from mcpops.objects import schedule
from mcpops.objects.bodies import Body, Revision
from mcpops.objects.effects import Delete
from mcpops.objects.timestamps import fmt_time, parse_time
from mcpops_common.names import ATTEMPT_LABEL, SCHEDULED_LABEL, SUITE_LABEL

HISTORY = 3  # finished scheduled Jobs kept per suite (the newest), to inspect
# A Running run whose Job is not seen for this long beyond its timeout was deleted by hand.
LOST_AFTER_SECONDS = 120

Entry = dict[str, Any]  # one status.scheduledTests entry (api.mcpserver.ScheduledSuiteStatus)


def scheduled(st: State, inp: Inputs, out: Plan) -> None:
    """The rollout step: record passes, follow and start scheduled runs, act on failures,
    finish a rollback in progress, and clean up old scheduled Jobs."""
    plans = [s for s in inp.spec.tests or [] if s.schedule is not None]
    if not plans:
        st.scheduled = []
        _clean(inp, out, set())
        return
    old = {
        e["suite"]: e
        for e in (inp.server.get("status") or {}).get("scheduledTests") or []
        if isinstance(e, dict) and e.get("suite")
    }
    _note_passes(st, inp, {s.name for s in plans})
    st.scheduled = [_suite(st, inp, out, s, dict(old.get(s.name) or {})) for s in plans]
    _restore(st, inp, out)
    _clean(inp, out, {s.name for s in plans})


def busy(st: State) -> bool:
    """A rollout is in progress: a candidate, or a switch still in its verify window."""
    return st.candidate is not None or st.previous is not None


def due(expr: str, next_run: datetime, now: datetime, tz: Any) -> datetime | None:
    """The scheduled time to run now (the latest one due, missed ones collapsed), or None."""
    if now < next_run:
        return None
    return schedule.latest_due(expr, next_run - timedelta(microseconds=1), now, tz)


def failing(st: State) -> list[Entry]:
    """Scheduled suites whose last run on the serving revision failed."""
    return [
        e for e in st.scheduled if e.get("outcome") == "Failed" and e.get("revision") == st.active
    ]


def degraded(st: State) -> Condition | None:
    """Degraded=True while a scheduled suite's last run on the serving revision failed."""
    bad = failing(st)
    if not bad or st.active is None:
        return None
    names = ", ".join(f"suite {e['suite']}: {e.get('message') or 'failed'}" for e in bad)
    return Condition(
        type="Degraded",
        status="True",
        reason="ScheduledSuiteFailed",
        message=f"revision {st.active} serves traffic but failed its scheduled run of {names}",
    )


def rollback_target(st: State, inp: Inputs, suite: str) -> Revision | None:
    """The newest kept revision (its Deployment exists) other than the serving and the
    failed one that passed `suite`."""
    for rec in st.history.entries:
        rev = rec["revision"]
        if rev in (st.active, st.failed) or rev not in inp.observed.deployments:
            continue
        if suite in (rec.get("passedSuites") or []):
            return Revision(rev)
    return None


# ---------------------------------------------------------------- one suite


def _suite(st: State, inp: Inputs, out: Plan, suite: TestSuite, e: Entry) -> Entry:
    assert suite.schedule is not None
    why = schedule.check(suite.schedule) or schedule.check_zone(suite.time_zone)
    if why:
        message = f"spec.tests[{suite.name}].schedule: {why}"
        if e.get("message") != message:
            out.event("Warning", "InvalidSchedule", message)
        return {
            "suite": suite.name,
            "schedule": suite.schedule,
            "outcome": "Invalid",
            "message": message,
        }
    tz = schedule.zone(suite.time_zone)
    if (
        e.get("revision") != st.active
        or e.get("schedule") != suite.schedule
        or e.get("outcome") == "Invalid"
    ):
        # A new serving revision (or schedule): its first run is at the next scheduled time.
        e = {"suite": suite.name, "schedule": suite.schedule}
        if st.active:
            e["revision"] = st.active
            e["nextRunAt"] = fmt_time(schedule.next_after(suite.schedule, inp.now, tz))
    if not st.active:
        e["message"] = "no revision serves traffic yet"
        return e
    if e.get("running"):
        _follow(st, inp, out, suite, e)
    next_run = parse_time(e.get("nextRunAt")) or inp.now
    if not e.get("running") and not e.get("restoring") and not busy(st):
        when = due(suite.schedule, next_run, inp.now, tz)
        if when is not None:
            _start(st, inp, out, suite, e, when)
            next_run = schedule.next_after(suite.schedule, when, tz)
            e["nextRunAt"] = fmt_time(next_run)
        out.wakeups.append(max(1.0, (next_run - inp.now).total_seconds()))
    if e.get("running"):
        # Job events wake us; this only catches a Job deleted before it finished.
        started = parse_time(e.get("lastRunAt")) or inp.now
        lost_at = started + timedelta(seconds=suite.timeout_seconds + LOST_AFTER_SECONDS)
        out.wakeups.append(max(1.0, (lost_at - inp.now).total_seconds()))
    return e


def _start(st: State, inp: Inputs, out: Plan, suite: TestSuite, e: Entry, when: datetime) -> None:
    assert st.active is not None
    minute = int(when.timestamp() // 60)  # the run's identity: its scheduled minute
    name = desired.job_name(inp.name, st.active, suite.name, minute)
    if name not in inp.observed.jobs:
        out.apply.append(
            desired.test_job(
                inp.server,
                inp.spec,
                suite,
                revision=st.active,
                attempt=minute,
                preview_url=inp.url,  # the stable Service: what serves
                baseline=None,  # the same revision: nothing to compare against
                image=inp.image,
                scheduled=True,
            )
        )
    e.update({"lastRunAt": fmt_time(when), "job": name, "running": True})


def _follow(st: State, inp: Inputs, out: Plan, suite: TestSuite, e: Entry) -> None:
    """A run in progress: its verdict once its Job finished."""
    name = str(e.get("job") or "")
    job = inp.observed.jobs.get(name)
    if job is None:
        started = parse_time(e.get("lastRunAt")) or inp.now
        if (inp.now - started).total_seconds() > suite.timeout_seconds + LOST_AFTER_SECONDS:
            e.pop("running", None)
            e["message"] = f"Job {name} was deleted before it finished"
        return
    v = suites.verdict(suite, job, inp.observed.pods_of(name))
    if v.verdict == "Running":
        return
    before = e.get("outcome")
    e.pop("running", None)
    e.update({"outcome": v.verdict, "finishedAt": inp.now_s})
    revision = Revision(str(e["revision"]))
    if v.verdict == "Passed":
        e.pop("message", None)
        out.scheduled_results.append("passed")
        _passed(st, revision, suite.name, add=True)
        if before == "Failed":
            out.event(
                "Normal",
                "ScheduledSuiteRecovered",
                f"suite {suite.name} passes again on revision {revision}",
            )
        return
    e["message"] = v.reason[:500]
    out.scheduled_results.append("timeout" if v.reason.startswith("timed out") else "failed")
    _passed(st, revision, suite.name, add=False)
    what = f"scheduled run of suite {suite.name} failed on serving revision {revision}: {v.reason}"
    if suite.on_failure != "Rollback":
        out.event("Warning", "ScheduledSuiteFailed", f"{what}; traffic stays (onFailure: Degrade)")
        return
    target = rollback_target(st, inp, suite.name)
    if target is None:
        out.event(
            "Warning",
            "ScheduledSuiteFailed",
            f"{what}; no kept revision passed {suite.name}, so traffic stays",
        )
        return
    e["restoring"] = target
    out.event(
        "Warning",
        "ScheduledSuiteFailed",
        f"{what}; scaling up revision {target}, which passed "
        f"it, to take traffic back (onFailure: Rollback)",
    )


def _note_passes(st: State, inp: Inputs, names: set[str]) -> None:
    """The scheduled suites a revision passed before its switch (status.tests), noted in
    the step the pass is first seen (later, scheduled runs decide)."""
    old = inp.server.get("status") or {}
    seen = {(t.get("job"), t.get("result")) for t in old.get("tests") or [] if isinstance(t, dict)}
    for t in st.tests:
        suite, rev = t.get("suite"), t.get("revision")
        if t.get("result") != "Passed" or suite not in names or not rev:
            continue
        if (t.get("job"), "Passed") not in seen:
            _passed(st, Revision(rev), str(suite), add=True)


def _passed(st: State, revision: Revision, suite: str, *, add: bool) -> None:
    for rec in st.history.entries:
        if rec["revision"] != revision:
            continue
        have = [s for s in rec.get("passedSuites") or [] if s != suite]
        if add:
            have.append(suite)
        if have:
            rec["passedSuites"] = sorted(have)
        else:
            rec.pop("passedSuites", None)


# ---------------------------------------------------------------- rollback, cleanup


def _restore(st: State, inp: Inputs, out: Plan) -> None:
    """onFailure: Rollback: the target runs at full size (children.run); once ready, the
    stable Service moves to it and the failed revision is remembered as failed."""
    for e in st.scheduled:
        target = e.get("restoring")
        if not target:
            continue
        if target not in inp.observed.deployments or e.get("revision") != st.active:
            e.pop("restoring", None)
            e["message"] = (
                f"{e.get('message') or 'failed'}; revision {target} is gone, traffic stays"
            )
            continue
        dep = inp.deployment(target)
        if not (serving_ready(dep, inp.want) and not settling(dep, inp.want)):
            st.restoring = Revision(target)
            return
        _switch_back(st, inp, out, e, Revision(target))
        return


def _switch_back(st: State, inp: Inputs, out: Plan, e: Entry, target: Revision) -> None:
    failed = st.active
    assert failed is not None
    reason = (
        f"scheduled suite {e['suite']} failed on revision {failed} ({e.get('message')}); "
        f"traffic returned to {target}, which passed it"
    )
    return_traffic(st, inp, out, target, reason)
    st.restoring = None
    e.pop("restoring", None)


def _clean(inp: Inputs, out: Plan, scheduled_suites: set[str]) -> None:
    """Scheduled Jobs: the newest HISTORY finished ones of each scheduled suite are kept;
    older ones, and those of suites no longer scheduled, are deleted (a run still going
    of a suite no longer scheduled is cancelled)."""
    by_suite: dict[str, list[Body]] = {}
    for job in inp.observed.jobs.values():
        labels = job["metadata"].get("labels") or {}
        if labels.get(SCHEDULED_LABEL) == "true":
            by_suite.setdefault(labels.get(SUITE_LABEL, ""), []).append(job)
    for suite, jobs in by_suite.items():
        done = [j for j in jobs if finished(j)]
        done.sort(key=_minute, reverse=True)
        keep = HISTORY if suite in scheduled_suites else 0
        gone = done[keep:] + ([j for j in jobs if not finished(j)] if not keep else [])
        for job in gone:
            meta = job["metadata"]
            out.delete.append(Delete("batch/v1", "Job", meta["name"], meta["uid"]))


def _minute(job: Body) -> int:
    value = (job["metadata"].get("labels") or {}).get(ATTEMPT_LABEL, "0")
    return int(value) if value.isdigit() else 0
