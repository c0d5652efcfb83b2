"""What an OptimizationJob's status says of a Verdict: phase, conditions, the solver's
outcome, and the Events a finished job posts. Once Succeeded or Failed, a later verdict only
adds detail (refines); it never changes the outcome. Pure."""

from __future__ import annotations

from typing import Any

from mcpops.api.base import Condition
from mcpops.kinds.optimizationjob.verdict import Verdict
from mcpops.objects.conditions import merge_conditions
from mcpops.objects.effects import EventSpec
from mcpops_common.results import SOLVED_STATUSES

TERMINAL = frozenset({"Succeeded", "Failed", "Cancelled"})


def conditions(verdict: Verdict, generation: int) -> list[Condition]:
    phase, reason, message = verdict.phase, verdict.reason, verdict.message
    if phase == "Cancelled":
        return _cancelled_conditions(verdict, generation)
    done = phase == "Succeeded"
    failed = phase == "Failed"
    out = [
        Condition(
            type="Ready",
            status="True" if done else "False",
            reason=reason if done or failed else phase,
            message=message,
        ),
        Condition(
            type="Complete",
            status="True" if done else "False",
            reason=reason if done else ("Failed" if failed else phase),
            message=message if done else "",
        ),
        Condition(
            type="Failed",
            status="True" if failed else "False",
            reason=reason if failed else ("Succeeded" if done else phase),
            message=message if failed else "",
        ),
    ]
    for cond in out:
        cond.observed_generation = generation
    return out


def _cancelled_conditions(verdict: Verdict, generation: int) -> list[Condition]:
    """Cancelled is neither complete nor failed; Ready says whether a solution was kept."""
    kept = (verdict.result or {}).get("status") in SOLVED_STATUSES
    out = [
        Condition(
            type="Ready",
            status="True" if kept else "False",
            reason="Cancelled",
            message=verdict.message,
        ),
        Condition(type="Complete", status="False", reason="Cancelled", message=""),
        Condition(type="Failed", status="False", reason="Cancelled", message=""),
    ]
    for cond in out:
        cond.observed_generation = generation
    return out


def status(
    verdict: Verdict,
    old: dict[str, Any],
    generation: int,
    job: dict[str, Any] | None,
    job_name: str | None,
    now_s: str,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": verdict.phase,
        "message": verdict.message[:4096],
        "conditions": merge_conditions(
            old.get("conditions") or [], conditions(verdict, generation), now_s
        ),
    }
    if job_name:
        status["job"] = job_name
    result = verdict.result or {}
    for key, wire in (
        ("solver", "solver"),
        ("solverReason", "solverReason"),
        ("solverChoice", "solverChoice"),
        ("status", "solverStatus"),
        ("objective", "objective"),
        ("bound", "bound"),
        ("gap", "gap"),
    ):
        value = result.get(key)
        if value not in (None, ""):
            status[wire] = value
    if verdict.seconds and result:
        status["solveSeconds"] = round(sum(verdict.seconds), 6)
    if verdict.result_configmap:
        status["resultConfigMap"] = verdict.result_configmap
    if verdict.parts:
        status["resultParts"] = list(verdict.parts)
    if "solutionStored" in result and verdict.phase in {"Succeeded", "Cancelled"}:
        status["solutionStored"] = bool(result["solutionStored"])
    status.update(_live(verdict))
    if verdict.scenarios is not None:
        status["scenarios"] = {k: v for k, v in verdict.scenarios.items() if v is not None}
    job_status = (job or {}).get("status") or {}
    start = job_status.get("startTime") or old.get("startTime")
    if start:
        status["startTime"] = start
    if verdict.phase in TERMINAL:
        end = job_status.get("completionTime")
        if not end:
            for cond in job_status.get("conditions") or []:
                if cond.get("type") in {"Failed", "Complete"} and cond.get("status") == "True":
                    end = cond.get("lastTransitionTime")
        end = end or old.get("completionTime") or now_s
        status["completionTime"] = end
    return status


def _live(verdict: Verdict) -> dict[str, Any]:
    """cancelled, progress (while Running) and queuePosition (while Queued)."""
    out: dict[str, Any] = {}
    if verdict.phase == "Cancelled":
        out["cancelled"] = True
    if verdict.progress and verdict.phase == "Running":
        out["progress"] = {
            k: verdict.progress[k]
            for k in ("objective", "bound", "gap", "solutionsFound", "elapsedSeconds", "updatedAt")
            if verdict.progress.get(k) is not None
        }
    if verdict.queue_position is not None:
        out["queuePosition"] = verdict.queue_position
    return out


def events_for(verdict: Verdict, old_phase: str | None) -> list[EventSpec]:
    if verdict.phase == old_phase:
        return []
    if verdict.phase == "Queued":
        return [EventSpec("Normal", "Queued", verdict.message)]
    if verdict.phase not in TERMINAL:
        return []
    if verdict.phase == "Cancelled":
        return [EventSpec("Normal", "Cancelled", _cancel_detail(verdict))]
    if verdict.phase == "Failed":
        return [EventSpec("Warning", "Failed", f"{verdict.reason}: {verdict.message}")]
    result = verdict.result or {}
    events: list[EventSpec] = []
    solver_status = str(result.get("status") or "")
    if verdict.scenarios is not None:
        events.append(EventSpec("Normal", "Solved", f"sweep finished: {verdict.message}"))
        if verdict.scenarios.get("failed"):
            events.append(
                EventSpec(
                    "Warning",
                    "ScenariosFailed",
                    f"{verdict.scenarios['failed']} scenario(s) failed; failed indexes: "
                    f"{verdict.scenarios.get('failedIndexes') or 'see the Job'}",
                )
            )
        return events
    detail = f"{solver_status} by {result.get('solver') or 'the solver'}"
    if result.get("objective") is not None:
        detail += f", objective {result['objective']:g}"
    if result.get("seconds") is not None:
        detail += f" in {float(result['seconds']):.3g}s"
    detail += f": {verdict.message}"
    events = choice_events(dict(result))
    if solver_status in SOLVED_STATUSES:
        return [*events, EventSpec("Normal", "Solved", detail)]
    return [*events, EventSpec("Warning", "NoSolution", detail)]


def choice_events(result: dict[str, Any]) -> list[EventSpec]:
    """SolverChosen: which features led auto to which backend, and whether it raced or
    fell back (only when auto chose)."""
    choice = result.get("solverChoice")
    if not isinstance(choice, dict) or not choice.get("backend"):
        return []
    text = f"auto chose {choice['backend']}"
    if choice.get("rule"):
        text += f" ({choice['rule']})"
    if choice.get("raced"):
        against = ", ".join(choice.get("racedAgainst") or []) or "another backend"
        text += f"; raced against {against}"
        if choice.get("cpuSeconds") is not None:
            text += f", {choice['cpuSeconds']} CPU-seconds in all"
    if choice.get("fallbackFrom"):
        text += f"; fell back from {', '.join(choice['fallbackFrom'])}, which refused the model"
    return [EventSpec("Normal", "SolverChosen", text[:1024])]


def _cancel_detail(verdict: Verdict) -> str:
    result = verdict.result or {}
    if result.get("status") in SOLVED_STATUSES and result.get("objective") is not None:
        gap = result.get("gap")
        return (
            f"cancelled; kept the best solution found so far: objective "
            f"{result['objective']:g} by {result.get('solver') or 'the solver'}"
            + (f", gap {gap:.3g}" if isinstance(gap, int | float) else "")
            + (" (not proven optimal)" if result.get("status") != "OPTIMAL" else " (optimal)")
        )
    return verdict.message


# Reasons that say less than the pod or the result would: a later look may improve them.
GENERIC_REASONS = frozenset({"BackoffLimitExceeded", "PodFailurePolicy", "Failed"})


def refines(verdict: Verdict, old: dict[str, Any]) -> bool:
    """Whether a verdict on a finished job adds to its recorded status without contradicting it."""
    if verdict.phase != old.get("phase"):
        return False
    if verdict.phase == "Cancelled":
        # A solution read after a first verdict without one (the pod's result came late).
        return verdict.result is not None and old.get("solverStatus") is None
    kind = "Complete" if verdict.phase == "Succeeded" else "Failed"
    old_reason = next(
        (c.get("reason") for c in old.get("conditions") or [] if c.get("type") == kind), None
    )
    if old_reason in GENERIC_REASONS:
        return True
    # A success first read from the termination message gains the ConfigMap's detail.
    return verdict.phase == "Succeeded" and verdict.reason == old_reason
