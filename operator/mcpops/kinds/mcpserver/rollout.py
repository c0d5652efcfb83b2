"""The blue-green rollout of an MCPServer as an explicit state machine. Pure.

A candidate revision (the spec's, when it is neither serving nor the failed one) moves
through these phases; traffic moves only at the switch, and only to a tested revision:

    Progressing --available--> Testing --all suites passed--> [Promoting] --switch-->
    Verifying --window over, and the previous revision's sessions ended or
              drainSeconds passed--> (Healthy; the previous revision scaled down)

    Progressing/Testing/Promoting --aborted, a suite failed, deadline--> (Degraded: failed)
    Verifying --the new revision turned unready, or rollout.analysis found a breach in
              what its proxies counted--> rolled back to the previous one
    any phase --mcpops.dev/paused=true--> Paused (the deadline clock stops)

The state lives in status between reconciles (state.State: the typed RolloutRecord, the
serving and failed revisions, the history). Each reconcile runs STEPS in order; a step is
one small function that acts only in the phase it is about and leaves the others alone.
Adding a step (drain sessions before scale-down, analysis after the switch, scheduled
suites) is writing one more function and putting it in its place in STEPS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from mcpops.api.testresult import termination_message
from mcpops.kinds.mcpserver import analysis, desired, suites
from mcpops.kinds.mcpserver.observed import (
    deadline_exceeded,
    deployment_available,
    finished,
    ready_endpoints,
    serving_ready,
    settling,
)
from mcpops.kinds.mcpserver.state import Inputs, Plan, State
from mcpops.objects.bodies import Body, Revision
from mcpops.objects.effects import Delete
from mcpops.objects.timestamps import fmt_time, parse_time
from mcpops_common.names import (
    ABORT_ANNOTATION,
    PAUSE_ANNOTATION,
    PROMOTE_ANNOTATION,
    RETRY_ANNOTATION,
    REVISION_LABEL,
)

Step = Callable[[State, Inputs, Plan], None]

# The phases a rollout goes through; a revision's timeline records when it entered each,
# and when it ended (Healthy or Degraded).
ROLLOUT_PHASES = ("Progressing", "Testing", "Paused", "Promoting", "Verifying")


# ---------------------------------------------------------------- requests from people


def note_revision(st: State, inp: Inputs, out: Plan) -> None:
    """The spec's revision joins the history the first time it is seen (not while a
    ConfigMap or Secret it reads is missing: there is no such revision yet)."""
    if inp.waiting:
        _report_missing(inp, out)
        return
    if not st.history.known(inp.revision):
        st.history.add(inp.revision, inp.spec.image, inp.now_s)
        out.new_revision = True


def _report_missing(inp: Inputs, out: Plan) -> None:
    """One Event when a reference goes missing (not one per reconcile while it is)."""
    for cond in (inp.server.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "ReferencesResolved" and cond.get("message") == inp.waiting:
            return
    out.event("Warning", "MissingReference", f"{inp.waiting}; the new revision waits for it")


def requests(st: State, inp: Inputs, out: Plan) -> None:
    """Retry, abort and pause, each request acted on once per distinct value."""
    notes = inp.annotations
    retry = notes.get(RETRY_ANNOTATION)
    if retry and retry != st.record.retry_token:
        st.record.retry_token = retry
        if st.failed:
            out.event("Normal", "RetryRequested", f"retrying revision {st.failed}")
            st.failed = None
            st.record.failure_reason = None
            st.record.revision = None  # a fresh attempt
    abort = notes.get(ABORT_ANNOTATION)
    st.abort = bool(abort and abort != st.record.abort_token)
    if abort:
        st.record.abort_token = abort
    st.paused = notes.get(PAUSE_ANNOTATION, "").lower() == "true"


# ---------------------------------------------------------------- after a switch: Verifying


# While the previous revision drains, its sessions are counted again this often.
DRAIN_RECHECK_SECONDS = 5.0


@dataclass(frozen=True)
class Drain:
    """Whether the previous revision stays up now, and when to look again."""

    keep: bool
    wake: float | None = None  # seconds until the next look (keep)
    draining: bool = False  # kept for its open sessions (past the keep window)
    timed_out: bool = False  # released with sessions still open (drainSeconds passed)


def drain(elapsed: float, keep_window: float, drain_seconds: int, sessions: int | None) -> Drain:
    """The previous revision after a switch, `elapsed` seconds ago: kept for the verify and
    scale-down window; past it, kept while it has open sessions, until drainSeconds after
    the switch. `sessions` None: no proxy of it answered (gone, sse, unreachable), so there
    is nothing known to wait for."""
    if elapsed < keep_window:
        return Drain(True, keep_window - elapsed)
    if not sessions:
        return Drain(False)
    if elapsed < drain_seconds:
        return Drain(True, min(DRAIN_RECHECK_SECONDS, drain_seconds - elapsed), draining=True)
    return Drain(False, timed_out=True)


def verify(st: State, inp: Inputs, out: Plan) -> None:
    """Watch the revision that just took traffic: send traffic back if it turns unready
    within verifySeconds; keep the previous one up until the window is over and its open
    sessions have ended (or drainSeconds passed)."""
    previous = st.previous
    if previous is None:
        return
    switched_at = parse_time(st.record.switched_at)
    if switched_at is None or st.active is None:
        st.record.previous = None
        return
    elapsed = (inp.now - switched_at).total_seconds()
    if elapsed < inp.cfg.verify_seconds and _turned_unready(st.active, previous, inp):
        _roll_back(st, inp, out, elapsed)
        return
    if analyze(st, inp, out, elapsed):
        return
    sessions = inp.observed.sessions.get(previous)
    decision = drain(elapsed, inp.keep_window, inp.cfg.drain_seconds, sessions)
    if decision.keep:
        if decision.draining:
            _draining(st, inp, out, previous, sessions or 0)
        assert decision.wake is not None
        out.wakeups.append(decision.wake)
        return
    if st.record.drain_started_at:
        _drained(st, inp, out, previous, decision, sessions or 0)
    st.forget_switch()


def analyzes(inp: Inputs, previous: Revision | None) -> bool:
    """Whether the switch to the spec's revision starts a rollout.analysis window: thresholds
    set, a window to judge in, a revision to return to, and proxies that count calls."""
    return bool(
        inp.cfg.analysis is not None
        and inp.cfg.verify_seconds > 0
        and previous
        and desired.uses_proxy(inp.spec.transport)
    )


def analyze(st: State, inp: Inputs, out: Plan, elapsed: float) -> bool:
    """rollout.analysis over what the new revision's proxies counted since the switch:
    traffic returns to the previous revision on a breach (True); Passed or Inconclusive
    when the verify window is over; looked at again every intervalSeconds until then."""
    cfg, active, previous = inp.cfg.analysis, st.active, st.previous
    if cfg is None or st.record.analysis_result != "Running" or not active or not previous:
        return False
    window = inp.cfg.verify_seconds
    verdict = analysis.judge(cfg, inp.observed.traffic.get(active), over=elapsed >= window)
    st.record.analysis_message = verdict.message
    if verdict.result == "Running":
        out.wakeups.append(max(1.0, min(float(cfg.interval_seconds), window - elapsed)))
        return False
    st.record.analysis_result = verdict.result
    out.analyses.append((active, verdict.result, verdict.message))
    if verdict.result != "Failed":
        out.event("Normal", f"Analysis{verdict.result}", f"revision {active}: {verdict.message}")
        return False
    if not serving_ready(inp.deployment(previous), inp.want):
        st.record.analysis_message = (
            f"{verdict.message}; traffic stays on {active}: {previous} is not ready"
        )
        out.event("Warning", "AnalysisFailed", f"revision {active}: {st.record.analysis_message}")
        return False
    out.event("Warning", "AnalysisFailed", f"revision {active}: {verdict.message}")
    reason = (
        f"rollout.analysis {elapsed:.0f}s after the switch: {verdict.message}; "
        f"traffic returned to {previous}"
    )
    return_traffic(st, inp, out, previous, reason)
    st.record.rolled_back = True
    return True


def _draining(st: State, inp: Inputs, out: Plan, previous: Revision, sessions: int) -> None:
    if st.record.drain_started_at is None:
        st.record.drain_started_at = inp.now_s
        out.event(
            "Normal",
            "Draining",
            f"revision {previous} stays up for its {sessions} open session(s): scaled down "
            f"when they end, at the latest {inp.cfg.drain_seconds}s after the switch "
            "(rollout.drainSeconds)",
        )
    st.record.drain_sessions = sessions


def _drained(
    st: State, inp: Inputs, out: Plan, previous: Revision, decision: Drain, sessions: int
) -> None:
    started = parse_time(st.record.drain_started_at) or inp.now
    waited = max(0.0, (inp.now - started).total_seconds())
    if decision.timed_out:
        outcome = "timeout"
        message = (
            f"revision {previous} scaled down with {sessions} session(s) still open: "
            f"rollout.drainSeconds ({inp.cfg.drain_seconds}s) passed; their clients get "
            "HTTP 404 and start new sessions"
        )
    else:
        outcome = "ended"
        message = f"revision {previous} scaled down: its open sessions ended ({waited:.0f}s)"
    out.event("Normal", "DrainFinished", message)
    out.drains.append((outcome, waited))


def _turned_unready(active: Revision, previous: Revision, inp: Inputs) -> bool:
    """The new revision stopped being ready (not merely scaling), and the previous one
    can serve: only then is going back better than staying."""
    dep = inp.deployment(active)
    return (
        not serving_ready(dep, inp.want)
        and not settling(dep, inp.want)
        and inp.want > 0
        and serving_ready(inp.deployment(previous), inp.want)
    )


def _roll_back(st: State, inp: Inputs, out: Plan, elapsed: float) -> None:
    active, previous = st.active, st.previous
    assert active is not None and previous is not None
    reason = (
        f"revision {active} stopped being ready {elapsed:.0f}s after the switch; "
        f"traffic returned to {previous}"
    )
    return_traffic(st, inp, out, previous, reason)
    st.record.rolled_back = True


def return_traffic(st: State, inp: Inputs, out: Plan, to: Revision, reason: str) -> None:
    """Traffic goes back to `to`; the serving revision is the failed one (not retried)."""
    failed = st.active
    assert failed is not None
    out.event("Warning", "RolledBack", reason)
    out.outcomes.append("rolled_back")
    st.history.record(failed, "RolledBack")
    st.history.record(to, "Active")
    st.fail(failed, reason)
    st.record.failed_at = inp.now_s
    st.active = to
    st.forget_switch()


# ---------------------------------------------------------------- the candidate


def choose_candidate(st: State, inp: Inputs, out: Plan) -> None:
    """The spec's revision is the candidate unless it serves already or it failed; a
    candidate other than the one being rolled out starts a new attempt."""
    revision = inp.revision
    if inp.waiting:  # no candidate until what it reads exists; what serves keeps serving
        stale, st.record.revision = st.record.revision, None
        if stale and stale != st.active:
            _supersede(st, out, stale, "a spec that reads a missing ConfigMap or Secret")
        return
    if revision == st.active:
        stale, st.record.revision = st.record.revision, None
        if stale and stale != st.active:
            _supersede(st, out, stale, revision)
        return
    if revision == st.failed:
        st.record.revision = None  # not retried until the spec changes or a retry
        return
    st.candidate = revision
    if st.record.revision != revision:
        _start(st, inp, out)


def _supersede(st: State, out: Plan, stale: str, by: str) -> None:
    out.event("Normal", "Superseded", f"rollout of {stale} superseded by {by}")
    out.outcomes.append("superseded")
    st.history.record(stale, "Superseded")


def _start(st: State, inp: Inputs, out: Plan) -> None:
    candidate = inp.revision
    if st.record.revision:
        _supersede(st, out, st.record.revision, candidate)
    st.record.revision = candidate
    st.record.attempt = (st.record.attempt or 0) + 1
    st.record.started_at = inp.now_s
    st.record.tests_passed_at = None
    st.record.paused_at = None
    st.record.rolled_back = None
    st.history.restart_timeline(candidate)
    serving = f"; {st.active} keeps serving" if st.active else ""
    out.event(
        "Normal", "RolloutStarted", f"revision {candidate} ({inp.spec.image}) started{serving}"
    )


def pause_clock(st: State, inp: Inputs, out: Plan) -> None:
    """The progress deadline does not run while a person holds the rollout: the start is
    moved later by the time it was held."""
    if st.candidate is None:
        return
    started = parse_time(st.record.started_at) or inp.now
    if st.paused:
        st.record.paused_at = st.record.paused_at or inp.now_s
    elif st.record.paused_at:
        held = inp.now - (parse_time(st.record.paused_at) or inp.now)
        st.record.paused_at = None
        started += held
        st.record.started_at = fmt_time(started)
    st.started = started


def _deadline(st: State, inp: Inputs) -> datetime:
    assert st.started is not None
    return st.started + timedelta(seconds=inp.cfg.progress_deadline_seconds)


# ---------------------------------------------------------------- Progressing, Testing


def full_size(st: State, inp: Inputs) -> int:
    """The candidate's size when it takes traffic: spec.replicas or, when an autoscaler has
    scaled the serving revision beyond that, its current scale (within maxReplicas), so that
    a switch never shrinks what serves."""
    want = inp.want
    scaling = inp.spec.autoscaling
    serving = inp.deployment(st.active)
    if scaling is None or serving is None:
        return want
    scaled = int((serving.get("spec") or {}).get("replicas", want) or 0)
    return max(want, min(scaled, scaling.max_replicas))


def candidate_size(st: State, inp: Inputs) -> int:
    """rollout.previewReplicas while it is tested, full size once the tests passed."""
    full = full_size(st, inp)
    preview = inp.cfg.preview_replicas
    if preview is None or st.record.tests_passed_at or preview >= full:
        return full
    return preview


def progress(st: State, inp: Inputs, out: Plan) -> None:
    """Progressing: is the candidate available at its size, through the preview too?"""
    if st.candidate is None:
        return
    size = candidate_size(st, inp)
    st.available = (
        deployment_available(inp.deployment(st.candidate), size)
        and ready_endpoints(inp.observed.endpoint_slices, inp.preview_name) >= size
    )


def run_tests(st: State, inp: Inputs, out: Plan) -> None:
    """Testing: each suite runs as a Job against the preview; read what they said."""
    candidate = st.candidate
    if candidate is None or not st.available or st.paused:
        return
    attempt = st.record.attempt or 0
    for suite in inp.spec.tests or []:
        name = desired.job_name(inp.name, candidate, suite.name, attempt)
        job = inp.observed.jobs.get(name)
        st.verdicts[suite.name] = suites.verdict(suite, job, inp.observed.pods_of(name))
        if job is None:
            st.jobs.append(
                desired.test_job(
                    inp.server,
                    inp.spec,
                    suite,
                    revision=candidate,
                    attempt=attempt,
                    preview_url=inp.preview_url,
                    baseline=(st.record.baselines or {}).get(suite.name),
                    image=inp.image,
                )
            )
    st.tests = [
        suites.entry(
            s.name,
            candidate,
            st.verdicts[s.name],
            desired.job_name(inp.name, candidate, s.name, attempt),
        )
        for s in inp.spec.tests or []
    ]


def _all_passed(st: State) -> bool:
    return (
        st.available and not st.paused and all(v.verdict == "Passed" for v in st.verdicts.values())
    )


def judge(st: State, inp: Inputs, out: Plan) -> None:
    """The rollout fails when a person aborts it, a suite fails, or the deadline passes."""
    if st.candidate is None:
        return
    reason = _failure(st, inp)
    if reason:
        _fail(st, inp, out, st.candidate, reason)


def _failure(st: State, inp: Inputs) -> str:
    if st.abort:
        return "aborted by a person (annotation mcpops.dev/abort)"
    failures = [f"suite {n}: {v.reason}" for n, v in _failed(st)]
    if failures:
        return "; ".join(failures)
    if _all_passed(st) or st.paused or inp.now < _deadline(st, inp):
        return ""
    reason = (
        f"not available and tested within progressDeadlineSeconds "
        f"({inp.cfg.progress_deadline_seconds}s)"
    )
    stall = deadline_exceeded(inp.deployment(st.candidate))
    return f"{reason}: {stall}" if stall else reason


def _failed(st: State) -> list[tuple[str, suites.SuiteVerdict]]:
    return [(n, v) for n, v in st.verdicts.items() if v.verdict == "Failed"]


def _fail(st: State, inp: Inputs, out: Plan, candidate: Revision, reason: str) -> None:
    st.fail(candidate, reason)
    st.record.failed_at = inp.now_s
    out.event("Warning", "RolloutFailed", f"revision {candidate}: {reason}")
    out.outcomes.append("aborted" if st.abort else "failed")
    st.history.record(candidate, "Failed")
    # Cancel what still runs of this attempt; keep finished Jobs to inspect.
    for job in inp.observed.jobs.values():
        labels = job["metadata"].get("labels") or {}
        if labels.get(REVISION_LABEL) == candidate and not finished(job):
            cancel(out, job)
    st.jobs = []
    st.record.revision = None
    st.candidate = None


def cancel(out: Plan, job: Body) -> None:
    meta = job["metadata"]
    out.delete.append(Delete("batch/v1", "Job", meta["name"], meta["uid"]))
    out.test_results.append("cancelled")


# ---------------------------------------------------------------- Promoting, the switch


def promote(st: State, inp: Inputs, out: Plan) -> None:
    """Every suite passed: switch traffic now (autoPromote), or wait in Promoting for a
    person to name this revision in mcpops.dev/promote."""
    candidate = st.candidate
    if candidate is None or not _all_passed(st):
        return
    if st.record.tests_passed_at is None:
        st.record.tests_passed_at = inp.now_s
        if inp.spec.tests:
            count = len(inp.spec.tests)
            out.event("Normal", "TestsPassed", f"revision {candidate}: {count} suite(s) passed")
    full = full_size(st, inp)
    if not deployment_available(inp.deployment(candidate), full):
        # Tested at previewReplicas: first to full size (children.run), then the switch.
        out.event("Normal", "ScalingUp", f"revision {candidate} to {full} replicas for the switch")
        st.available = False  # at its new size it is not, yet: Progressing until it is
        return
    by_person = inp.annotations.get(PROMOTE_ANNOTATION) == candidate
    if by_person or (inp.cfg.auto_promote and _promote_delay(st, inp) <= 0):
        switch(st, inp, out)
    else:
        st.phase = "Promoting"
        if inp.cfg.auto_promote:
            out.wakeups.append(_promote_delay(st, inp))


def _promote_delay(st: State, inp: Inputs) -> float:
    """Seconds left of rollout.autoPromoteSeconds after the tests passed (0: due)."""
    delay = inp.cfg.auto_promote_seconds or 0
    passed = parse_time(st.record.tests_passed_at) or inp.now
    return max(0.0, delay - (inp.now - passed).total_seconds())


def abort_window(st: State, inp: Inputs) -> float:
    """Seconds the failed revision still stays up (rollout.abortScaleDownDelaySeconds)."""
    failed_at = parse_time(st.record.failed_at)
    if st.failed is None or failed_at is None:
        return 0.0
    delay = inp.cfg.abort_scale_down_delay_seconds
    return max(0.0, delay - (inp.now - failed_at).total_seconds())


def switch(st: State, inp: Inputs, out: Plan) -> None:
    """The stable Service moves to the candidate, in one write; the previous revision stays
    up for the verify and scale-down window."""
    candidate, previous = st.candidate, st.active
    assert candidate is not None
    st.record.baselines = {
        n: termination_message(v.result) for n, v in st.verdicts.items() if v.result
    }
    st.active = candidate
    st.record.previous = previous
    st.record.switched_at = inp.now_s
    st.record.revision = None
    st.history.record(candidate, "Active", promoted_at=inp.now_s)
    if previous:
        st.history.record(previous, "Superseded")
    was = f" (was {previous})" if previous else ""
    message = f"stable Service now sends traffic to revision {candidate}{was}"
    out.event("Normal", "TrafficSwitched", message)
    out.outcomes.append("promoted")
    st.candidate = None
    st.failed = None
    st.record.failure_reason = None
    st.record.rolled_back = None
    st.record.analysis_message = None
    st.record.analysis_result = "Running" if analyzes(inp, previous) else None
    if st.record.analysis_result and inp.cfg.analysis:
        out.wakeups.append(float(inp.cfg.analysis.interval_seconds))
    if previous and (inp.keep_window > 0 or inp.cfg.drain_seconds > 0):
        # Kept at least until its proxies are asked for open sessions (the next look).
        out.wakeups.append(float(max(inp.keep_window, 1)))
    else:
        st.forget_switch()


def wait(st: State, inp: Inputs, out: Plan) -> None:
    """A candidate still on its way: say where it is, and wake up by its deadline."""
    if st.candidate is None or st.phase:
        return
    if st.paused:
        st.phase = "Paused"
        return
    st.phase = "Testing" if st.available else "Progressing"
    out.wakeups.append(max(0.0, (_deadline(st, inp) - inp.now).total_seconds()))


STEPS: tuple[Step, ...] = (
    note_revision,
    requests,
    verify,
    choose_candidate,
    pause_clock,
    progress,
    run_tests,
    judge,
    promote,
    wait,
)
