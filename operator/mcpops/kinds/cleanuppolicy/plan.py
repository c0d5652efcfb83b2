"""Decide when a CleanupPolicy runs, what a run may delete, and what status says. Pure.

The reconciler lists and deletes; everything it decides comes from here:

- `parse`: the spec, or why it is refused (naming the field).
- `trigger`: whether a run is due now (schedule, run-now, acknowledgement, a DryRun preview on
  a spec change) and when the next one is.
- `gate`: the circuit breaker. A run with more candidates than the threshold deletes nothing
  and asks for `mcpops.dev/acknowledge=<token>`. The token names the block's time and size,
  so an acknowledgement is for exactly what the person saw: a stale one (an earlier block)
  or one for a smaller block never opens a later, larger one. Once acknowledged, runs delete
  while candidates stay at or below the acknowledged count (draining a backlog under the
  per-run cap); more than that blocks again with a new token; at or below the threshold the
  breaker closes.
- `cap`: maxDeletionsPerRun, oldest first.
- `run_status` / `idle_status` / `invalid_status`: status and Events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from mcpops.api.base import Condition
from mcpops.api.cleanuppolicy import MAX_LISTED, CleanupPolicySpec
from mcpops.kinds.cleanuppolicy import schedule
from mcpops.kinds.cleanuppolicy.select import Candidate, Selection, fmt_age
from mcpops.objects.conditions import merge_conditions, validation_message
from mcpops.objects.effects import EventSpec
from mcpops.objects.timestamps import fmt_time, parse_time
from mcpops_common.names import ACK_ANNOTATION, RUN_NOW_ANNOTATION

# How long a not-due reconcile sleeps at most before looking again (clock changes, restarts).
MAX_WAIT_SECONDS = 3600.0


# ---------------------------------------------------------------- the spec


@dataclass(frozen=True)
class Invalid:
    reason: str  # InvalidSpec | InvalidSchedule
    message: str


def parse(obj: dict[str, Any]) -> CleanupPolicySpec | Invalid:
    try:
        spec = CleanupPolicySpec.model_validate(obj.get("spec") or {})
    except ValidationError as exc:
        return Invalid("InvalidSpec", validation_message(exc))
    problem = schedule.check(spec.schedule)
    if problem is not None:
        return Invalid("InvalidSchedule", f"spec.schedule: {problem}")
    problem = schedule.check_zone(spec.time_zone)
    if problem is not None:
        return Invalid("InvalidSchedule", f"spec.timeZone: {problem}")
    return spec


def resolve_count(value: int | str, matched: int) -> int:
    """A count, or a percentage of the matched objects rounded down (10% of 15 is 1)."""
    if isinstance(value, int):
        return max(0, value)
    text = value.strip()
    if text.endswith("%"):
        return max(0, int(text[:-1] or 0) * matched // 100)
    return max(0, int(text))


# ---------------------------------------------------------------- when


@dataclass(frozen=True)
class Trigger:
    reason: str | None  # acknowledge | run-now | spec | schedule; None: not due
    slot: datetime | None  # the scheduled time this run consumes
    next_run: datetime
    run_now: str | None  # the mcpops.dev/run-now value this run handles


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def acknowledged(obj: dict[str, Any]) -> bool:
    """The person's annotation matches what the Blocked condition asks for."""
    breaker = (obj.get("status") or {}).get("breaker") or {}
    token = _annotations(obj).get(ACK_ANNOTATION)
    return bool(breaker.get("state") == "Blocked" and token and token == breaker.get("token"))


def trigger(obj: dict[str, Any], spec: CleanupPolicySpec, now: datetime) -> Trigger:
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    base = (
        parse_time(status.get("lastScheduleTime"))
        or parse_time(meta.get("creationTimestamp"))
        or now
    )
    tz = schedule.zone(spec.time_zone)  # parse() checked it
    slot = schedule.latest_due(spec.schedule, base, now, tz)
    run_now = _annotations(obj).get(RUN_NOW_ANNOTATION) or None
    fresh_run_now = run_now is not None and run_now != status.get("runNowToken")
    reason: str | None = None
    if acknowledged(obj) and spec.mode == "Enforce":
        reason = "acknowledge"
    elif fresh_run_now:
        reason = "run-now"
    elif spec.mode == "DryRun" and status.get("observedGeneration") != meta.get("generation"):
        reason = "spec"  # a preview: it deletes nothing
    elif slot is not None:
        reason = "schedule"
    next_run = schedule.next_after(spec.schedule, slot or base, tz)
    if reason is not None:
        next_run = schedule.next_after(spec.schedule, max(slot or base, now), tz)
    return Trigger(reason, slot, next_run, run_now if fresh_run_now else None)


def wait_seconds(trig: Trigger, now: datetime) -> float:
    return max(1.0, min(MAX_WAIT_SECONDS, (trig.next_run - now).total_seconds()))


# ---------------------------------------------------------------- the circuit breaker, the cap


@dataclass(frozen=True)
class Gate:
    allowed: bool  # deletions may go ahead (Enforce only)
    breaker: dict[str, Any] | None  # the breaker status to write
    threshold: int
    would_block: bool  # candidates exceed the threshold (reported in DryRun too)
    tripped: bool  # a block this run started or changed: post a Warning
    acknowledged: bool  # this run consumed an acknowledgement


def _token(now: datetime, candidates: int) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{candidates}"


def gate(
    obj: dict[str, Any], spec: CleanupPolicySpec, candidates: int, matched: int, now: datetime
) -> Gate:
    old: dict[str, Any] | None = (obj.get("status") or {}).get("breaker") or None
    threshold = resolve_count(spec.circuit_breaker.max_candidates, matched)
    over = candidates > threshold
    if spec.mode == "DryRun":
        return Gate(False, old, threshold, over, False, False)
    acked_now = acknowledged(obj)
    if old is not None and (old.get("state") == "Acknowledged" or acked_now):
        allowance = int(old.get("candidates", 0))
        if not over:
            return Gate(True, None, threshold, False, False, acked_now)
        if candidates <= allowance:
            state = {**old, "state": "Acknowledged", "threshold": threshold}
            return Gate(True, state, threshold, True, False, acked_now)
    elif not over:
        return Gate(True, None, threshold, False, False, False)
    # Blocked: keep the token while the block is unchanged, so an acknowledgement in flight
    # still matches; a different size is a different question with a new token.
    if old is not None and old.get("state") == "Blocked" and old.get("candidates") == candidates:
        return Gate(False, {**old, "threshold": threshold}, threshold, True, False, False)
    since = old.get("since") if old is not None and old.get("state") == "Blocked" else None
    state = {
        "state": "Blocked",
        "token": _token(now, candidates),
        "candidates": candidates,
        "threshold": threshold,
        "since": since or fmt_time(now),
    }
    return Gate(False, state, threshold, True, True, False)


def cap(
    spec: CleanupPolicySpec, candidates: list[Candidate], matched: int
) -> tuple[list[Candidate], list[Candidate]]:
    """(delete now, left for a later run): the oldest first, at most maxDeletionsPerRun."""
    limit = resolve_count(spec.max_deletions_per_run, matched)
    return candidates[:limit], candidates[limit:]


# ---------------------------------------------------------------- status


@dataclass(frozen=True)
class Problem:
    """Something a run could not do: Degraded says it, naming the kind and the verb."""

    reason: str  # Forbidden | ListFailed | DeleteFailed | UnknownKind
    message: str


@dataclass
class RunResult:
    trigger: Trigger
    mode: str
    selection: Selection
    gate: Gate
    deleted: list[tuple[Candidate, datetime]] = field(default_factory=list)
    failed: list[tuple[Candidate, str]] = field(default_factory=list)
    skipped: int = 0  # gone, or re-created with a new UID, before the delete
    deferred: list[Candidate] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    duration: float = 0.0


def _entry(c: Candidate, when: datetime | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rule": c.rule,
        "kind": c.record.kind,
        "name": c.record.name,
        "age": fmt_age(c.age),
    }
    if when is not None:
        out["time"] = fmt_time(when)
    return out


def _names(cands: list[Candidate], n: int = 5) -> str:
    shown = ", ".join(f"{c.record.kind}/{c.record.name}" for c in cands[:n])
    return shown + (f" and {len(cands) - n} more" if len(cands) > n else "")


def _base(obj: dict[str, Any], trig: Trigger) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    status = dict(obj.get("status") or {})
    status.pop("runStarted", None)
    status["observedGeneration"] = meta.get("generation")
    status["nextRunTime"] = fmt_time(trig.next_run)
    return status


def _blocked_condition(res: RunResult) -> Condition:
    g = res.gate
    count = len(res.selection.candidates)
    if g.breaker is not None and g.breaker["state"] == "Blocked":
        return Condition(
            type="Blocked",
            status="True",
            reason="CircuitBreakerTripped",
            message=(
                f"{count} candidates exceed circuitBreaker.maxCandidates ({g.threshold}); nothing "
                "was deleted. Review status.candidates, then acknowledge with: kubectl annotate "
                f"cleanuppolicy {{name}} {ACK_ANNOTATION}={g.breaker['token']} --overwrite"
            ),
        )
    if g.breaker is not None:
        return Condition(
            type="Blocked",
            status="False",
            reason="Acknowledged",
            message=(
                f"acknowledged up to {g.breaker['candidates']} candidates (token "
                f"{g.breaker['token']}); more than that blocks again"
            ),
        )
    if res.mode == "DryRun" and g.would_block:
        return Condition(
            type="Blocked",
            status="False",
            reason="WouldBlock",
            message=(
                f"{count} candidates exceed circuitBreaker.maxCandidates ({g.threshold}): in "
                "Enforce this run would be blocked until acknowledged"
            ),
        )
    return Condition(type="Blocked", status="False", reason="BelowThreshold")


def _problems(type_: str, status: Literal["True", "False"], problems: list[Problem]) -> Condition:
    """What the run could not do, first problem's reason, the first few messages."""
    return Condition(
        type=type_,
        status=status,
        reason=problems[0].reason,
        message="; ".join(p.message for p in problems[:5]),
    )


def _ready_condition(res: RunResult) -> Condition:
    sel = res.selection
    if res.problems:
        return _problems("Ready", "False", res.problems)
    if not sel.matched:
        return Condition(
            type="Ready",
            status="True",
            reason="NoMatches",
            message=(
                "the rules matched no objects in this namespace: check their targets, selectors "
                "and phases"
            ),
        )
    counts = f"{len(sel.candidates)} candidates of {len(sel.matched)} matched objects"
    if sel.protected:
        counts += f" ({len(sel.protected)} more kept as protected)"
    if res.mode == "DryRun":
        message = f"DryRun: {counts} would be deleted (see status.candidates); set mode: Enforce"
    else:
        message = (
            f"{counts}; deleted {len(res.deleted)}, failed {len(res.failed)}, "
            f"left for later runs {len(res.deferred)}"
        )
    return Condition(type="Ready", status="True", reason="Succeeded", message=message)


def _degraded_condition(res: RunResult) -> Condition:
    if res.problems:
        return _problems("Degraded", "True", res.problems)
    return Condition(type="Degraded", status="False", reason="AsExpected")


def claim_status(obj: dict[str, Any], trig: Trigger, g: Gate, now: datetime) -> dict[str, Any]:
    """Written before an Enforce run deletes anything: the trigger (schedule slot, run-now
    value, acknowledgement) is spent first, so that if the run's final status write fails
    the retry does not run again and delete past maxDeletionsPerRun."""
    status = dict(obj.get("status") or {})
    status["runStarted"] = fmt_time(now)
    if trig.slot is not None:
        status["lastScheduleTime"] = fmt_time(trig.slot)
    if trig.run_now is not None:
        status["runNowToken"] = trig.run_now
    if g.breaker is None:
        status.pop("breaker", None)
    else:
        status["breaker"] = g.breaker
    return status


def run_status(
    obj: dict[str, Any], res: RunResult, now: datetime
) -> tuple[dict[str, Any], list[EventSpec]]:
    meta = obj.get("metadata") or {}
    old = obj.get("status") or {}
    status = _base(obj, res.trigger)
    sel = res.selection
    events: list[EventSpec] = []
    status["lastRunTime"] = fmt_time(now)
    if res.trigger.slot is not None:
        status["lastScheduleTime"] = fmt_time(res.trigger.slot)
    if res.trigger.run_now is not None:
        status["runNowToken"] = res.trigger.run_now
    status["lastRun"] = {
        "mode": res.mode,
        "trigger": res.trigger.reason or "",
        "matched": len(sel.matched),
        "candidates": len(sel.candidates),
        "deleted": len(res.deleted),
        "protected": len(sel.protected),
        "failed": len(res.failed),
        "deferred": len(res.deferred),
        "skipped": res.skipped,
        "durationSeconds": round(res.duration, 3),
    }
    # What is still to go: everything in DryRun or while blocked, else what this run left.
    if res.mode == "DryRun" or not res.gate.allowed:
        pending = sel.candidates
    else:
        pending = [c for c, _ in res.failed] + res.deferred
    status["candidates"] = [_entry(c) for c in pending[:MAX_LISTED]] or None
    recent = [_entry(c, when) for c, when in reversed(res.deleted)]
    status["deletions"] = (recent + list(old.get("deletions") or []))[:MAX_LISTED] or None
    status["breaker"] = res.gate.breaker
    for key in ("candidates", "deletions", "breaker"):
        if status[key] is None:
            status.pop(key)
    blocked = _blocked_condition(res)
    blocked.message = blocked.message.replace("{name}", str(meta.get("name", "")))
    conditions = [_ready_condition(res), blocked, _degraded_condition(res)]
    for cond in conditions:
        cond.observed_generation = meta.get("generation")
    status["conditions"] = merge_conditions(old.get("conditions") or [], conditions, fmt_time(now))

    # ---- Events: one per deletion, and each decision a person would ask about
    if res.gate.tripped:
        events.append(EventSpec("Warning", "CircuitBreakerTripped", blocked.message))
    if res.gate.acknowledged:
        events.append(
            EventSpec("Normal", "Acknowledged", "circuit breaker acknowledged; deleting resumes")
        )
    for c, _ in res.deleted:
        events.append(
            EventSpec(
                "Normal",
                "Deleted",
                f"deleted {c.record.kind} {c.record.name} (rule {c.rule}, age {fmt_age(c.age)})",
            )
        )
    if res.failed:
        failed = [c for c, _ in res.failed]
        events.append(
            EventSpec(
                "Warning",
                "DeleteFailed",
                f"{len(failed)} deletions failed: {_names(failed)}: {res.failed[0][1]}",
            )
        )
    old_problems = {
        c.get("message") for c in old.get("conditions") or [] if c.get("type") == "Degraded"
    }
    degraded = _degraded_condition(res)
    if res.problems and degraded.message not in old_problems:
        events.append(EventSpec("Warning", degraded.reason, degraded.message))
    if res.mode == "DryRun":
        before = old.get("lastRun") or {}
        changed = (before.get("candidates"), before.get("matched")) != (
            len(sel.candidates),
            len(sel.matched),
        )
        if changed or res.trigger.reason in {"run-now", "spec"}:
            what = _names(sel.candidates) if sel.candidates else "nothing"
            events.append(
                EventSpec(
                    "Normal",
                    "DryRun",
                    f"would delete {len(sel.candidates)} of {len(sel.matched)} matched objects: "
                    f"{what}",
                )
            )
    return status, events


def idle_status(obj: dict[str, Any], trig: Trigger, now: datetime) -> dict[str, Any]:
    """Not due: say when the next run is; a spec that became valid says so."""
    meta = obj.get("metadata") or {}
    old = obj.get("status") or {}
    status = _base(obj, trig)
    ready = next((c for c in old.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None or ready.get("reason", "") in {"Scheduled", "InvalidSpec", "InvalidSchedule"}:
        cond = Condition(
            type="Ready",
            status="True",
            reason="Scheduled",
            message=f"first run at {fmt_time(trig.next_run)}",
            observed_generation=meta.get("generation"),
        )
        status["conditions"] = merge_conditions(
            old.get("conditions") or [], [cond], fmt_time(now), owned=frozenset()
        )
    return status


def invalid_status(
    obj: dict[str, Any], invalid: Invalid, now: datetime
) -> tuple[dict[str, Any], list[EventSpec]]:
    meta = obj.get("metadata") or {}
    old = obj.get("status") or {}
    status = dict(old)
    status["observedGeneration"] = meta.get("generation")
    status.pop("nextRunTime", None)
    cond = Condition(
        type="Ready",
        status="False",
        reason=invalid.reason,
        message=invalid.message,
        observed_generation=meta.get("generation"),
    )
    status["conditions"] = merge_conditions(
        old.get("conditions") or [], [cond], fmt_time(now), owned=frozenset()
    )
    events = []
    if old.get("observedGeneration") != meta.get("generation"):
        events.append(EventSpec("Warning", invalid.reason, invalid.message))
    return status, events
