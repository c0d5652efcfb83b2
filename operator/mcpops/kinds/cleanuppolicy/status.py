"""What a CleanupPolicy's status and Events say: of a run (run_status), of the claim a run
writes before it deletes (claim_status), of a policy waiting for its next run (idle_status)
and of a spec that cannot run (invalid_status). Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from mcpops.api.base import Condition
from mcpops.api.cleanuppolicy import MAX_LISTED
from mcpops.kinds.cleanuppolicy.plan import Gate, Invalid, Problem, RunResult, Trigger
from mcpops.kinds.cleanuppolicy.select import Candidate, fmt_age
from mcpops.objects.conditions import merge_conditions
from mcpops.objects.effects import EventSpec
from mcpops.objects.timestamps import fmt_time
from mcpops_common.names import ACK_ANNOTATION


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
