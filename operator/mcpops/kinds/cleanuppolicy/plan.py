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

What status and Events say of it is in status.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from mcpops.api.cleanuppolicy import CleanupPolicySpec
from mcpops.kinds.cleanuppolicy.select import Candidate, Selection
from mcpops.objects import schedule
from mcpops.objects.conditions import validation_message
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


# ---------------------------------------------------------------- a run's outcome


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
