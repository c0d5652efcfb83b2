"""What one solve's Job and pod say: a Verdict (phase, reason, message, the result).

Where the outcome comes from, most trusted first: the result ConfigMap's summary.json
(written by the runtime before it exits), the solver container's termination message (the
runtime's short JSON), then the Job's own conditions and the container's exit code and
reason (OOMKilled). A Job that completed but left no result at all is not a success: after
a grace period for the watch to deliver the ConfigMap, it is Failed with reason NoResult.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mcpops.api.optimizationjob import OptimizationJobSpec
from mcpops.kinds.optimizationjob import desired
from mcpops.kinds.optimizationjob.desired import ResourceError
from mcpops.kinds.optimizationjob.observed import (
    NO_RESULT_STATUSES,
    Report,
    created,
    finished_pods,
    read_summary,
    read_termination,
)
from mcpops.objects.bodies import Body, ConditionBody, ContainerTerminated
from mcpops.objects.conditions import true_condition
from mcpops.objects.timestamps import parse_time
from mcpops_common.results import result_configmap_name

# After the Job finished: how long to wait for the watch to deliver what the pod left
# (result ConfigMaps, the pod's final status) before deciding from less.
RESULT_GRACE_SECONDS = 30.0
POD_GRACE_SECONDS = 10.0

# The runtime's errorKind (and exit code) -> the Failed condition's reason.
ERROR_REASONS = {
    "usage": "InvalidArguments",
    "malformed-input": "MalformedInput",
    "unsupported": "Unsupported",
    "solver-failure": "SolverFailed",
    "write-failed": "ResultNotWritten",
    "internal": "InternalError",
}
EXIT_CODE_KINDS = {
    1: "internal",
    2: "usage",
    3: "malformed-input",
    4: "unsupported",
    5: "solver-failure",
    6: "write-failed",
}
OOM_EXIT_CODE = 137


@dataclass
class Verdict:
    """What the observations say, before it becomes status."""

    phase: str
    reason: str
    message: str
    result: Report | None = None  # what the runtime reported (of the best scenario)
    result_configmap: str | None = None
    parts: list[str] = field(default_factory=list)
    scenarios: dict[str, Any] | None = None
    requeue_after: float | None = None
    seconds: tuple[float, ...] = ()
    gaps: tuple[float, ...] = ()
    progress: dict[str, Any] | None = None  # while Running: the pod's progress.json
    queue_position: int | None = None  # while Queued


# While a cancel is being carried out: how often to look again.
CANCEL_POLL_SECONDS = 5.0


def cancelled_verdict(
    base: Verdict, summary: Report | None, cm_name: str | None, job: Body | None, now: datetime
) -> Verdict:
    """What a job whose cancel was asked for is: Cancelled with the solution the pod kept,
    finished anyway (the solve ended before the cancel reached it), or still stopping."""
    from mcpops.kinds.optimizationjob.queue import job_holds_slots

    if summary is not None and summary.get("cancelled"):
        kept = summary.get("status") in {"OPTIMAL", "FEASIBLE"}
        return Verdict(
            "Cancelled",
            "Cancelled",
            str(summary.get("message") or "cancelled"),
            result=summary,
            result_configmap=cm_name,
            parts=list(summary.get("solutionParts") or []) if kept else [],
        )
    if base.phase in {"Succeeded", "Failed"}:
        return base
    if job is None or not job_holds_slots(job):
        stopped = true_condition(job, "Suspended")
        since = parse_time((stopped or {}).get("lastTransitionTime")) or now
        waited = (now - since).total_seconds()
        if job is None or waited >= POD_GRACE_SECONDS:
            if job is None:
                return Verdict("Cancelled", "Cancelled", "cancelled before it started")
            # A sweep keeps the scenarios that had reported, and its best one.
            return Verdict(
                "Cancelled",
                "Cancelled",
                f"cancelled; {base.message}"
                if base.scenarios is not None
                else "cancelled before the solver reported a solution",
                result=base.result,
                result_configmap=base.result_configmap,
                parts=base.parts,
                scenarios=base.scenarios,
            )
        return Verdict(
            "Running",
            "Cancelling",
            "cancel requested: the solver pod has stopped; reading what it left",
            requeue_after=POD_GRACE_SECONDS - waited,
        )
    return Verdict(
        "Running",
        "Cancelling",
        "cancel requested: the solver pod is being stopped (SIGTERM) and writes the best "
        "solution found so far",
        requeue_after=CANCEL_POLL_SECONDS,
        progress=base.progress,
    )


_EXIT_CODE = re.compile(r"exit code (\d+)")


def _camel(status: str) -> str:
    return "".join(w.capitalize() for w in status.lower().split("_"))


def _memory_limit(spec: OptimizationJobSpec) -> str:
    try:
        return desired.resources(spec)["limits"]["memory"]
    except ResourceError:
        return "?"


# ---------------------------------------------------------------- one solve


def failure_from_pod(
    spec: OptimizationJobSpec, term: ContainerTerminated
) -> tuple[str, str, Report | None] | None:
    """(reason, message, runtime report) for a failed solver container, if it says why."""
    code = term.get("exitCode")
    if term.get("reason") == "OOMKilled":
        return (
            "OOMKilled",
            f"the solver ran out of memory and was killed (memory limit "
            f"{_memory_limit(spec)}); raise spec.resources.limits.memory",
            None,
        )
    report = read_termination(term)
    if report is not None and report.get("status") in NO_RESULT_STATUSES:
        kind = str(report.get("errorKind") or EXIT_CODE_KINDS.get(int(code or 1), "internal"))
        reason = ERROR_REASONS.get(kind, "SolverFailed")
        text = str(report.get("message") or f"mcpops-solver exited with code {code}")
        return reason, text, report
    if isinstance(code, int) and code in EXIT_CODE_KINDS:
        reason = ERROR_REASONS[EXIT_CODE_KINDS[code]]
        return reason, f"mcpops-solver exited with code {code} ({EXIT_CODE_KINDS[code]})", None
    return None


def deadline_message(spec: OptimizationJobSpec, scenario_count: int) -> str:
    deadline = desired.deadline_seconds(spec, scenario_count)
    return (
        f"the solver Job ran past its deadline of {deadline}s (activeDeadlineSeconds; time "
        f"limit {spec.time_limit_seconds:g}s) and was stopped. Raise timeLimitSeconds or "
        "activeDeadlineSeconds, or check that the image runs mcpops-solver, which stops at "
        "its time limit"
    )


def _success(result: Report, cm: str | None, parts: list[str]) -> Verdict:
    status = str(result["status"])
    message = str(result.get("message") or status)
    if result.get("solutionStored") is False:
        message += f"; solution not stored: {result.get('solutionRefusedReason') or 'too large'}"
    gap = result.get("gap")
    return Verdict(
        "Succeeded",
        _camel(status),
        message,
        result=result,
        result_configmap=cm,
        parts=parts,
        seconds=(float(result.get("seconds") or 0.0),),
        gaps=(float(gap),) if isinstance(gap, int | float) else (),
    )


def waiting(pods: list[dict[str, Any]], job: dict[str, Any] | None) -> Verdict:
    """Pending or Running, while the Job has not finished."""
    if job is None:
        return Verdict("Pending", "JobCreated", "the solver Job is being created")
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    if running:
        return Verdict("Running", "Running", "the solver is running")
    for pod in sorted(pods, key=created, reverse=True):
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                return Verdict(
                    "Pending",
                    "Unschedulable",
                    f"the solver pod cannot be scheduled: "
                    f"{cond.get('message') or cond.get('reason') or 'no node fits'}",
                )
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in {"ErrImagePull", "ImagePullBackOff", "InvalidImageName"}:
                return Verdict(
                    "Pending",
                    str(waiting["reason"]),
                    f"the solver image cannot be pulled: {waiting.get('message') or ''}".strip(),
                )
    if any(((p.get("status") or {}).get("phase")) in {"Succeeded", "Failed"} for p in pods):
        return Verdict("Running", "Running", "the solver is running (a retry)")
    return Verdict("Pending", "PodPending", "waiting for the solver pod to start")


def single_verdict(
    name: str,
    uid: str,
    spec: OptimizationJobSpec,
    job: Body | None,
    pods: list[Body],
    configmaps: dict[str, Body],
    now: datetime,
) -> Verdict:
    cm_name = result_configmap_name(name)
    summary = read_summary(configmaps.get(cm_name), uid)
    finished = finished_pods(pods)
    failed = true_condition(job, "Failed")
    if failed is not None:
        return _single_failed(spec, failed, finished, summary, cm_name, now)
    complete = true_condition(job, "Complete")
    if complete is not None:
        return _single_complete(job, complete, finished, summary, cm_name, now)
    return waiting(pods, job)


def _runtime_failure(summary: Report, cm_name: str) -> Verdict:
    """The runtime recorded that it could not solve (status ERROR or ABNORMAL)."""
    kind = str(summary.get("errorKind") or "solver-failure")
    return Verdict(
        "Failed",
        ERROR_REASONS.get(kind, "SolverFailed"),
        str(summary.get("message") or kind),
        result=summary,
        result_configmap=cm_name,
    )


def _single_failed(
    spec: OptimizationJobSpec,
    failed: ConditionBody,
    finished: list[tuple[Body, ContainerTerminated]],
    summary: Report | None,
    cm_name: str,
    now: datetime,
) -> Verdict:
    """The Job failed: why, most trusted source first."""
    reason = str(failed.get("reason") or "Failed")
    if reason == "DeadlineExceeded":
        return Verdict("Failed", "DeadlineExceeded", deadline_message(spec, 0))
    last_failed = next(
        (t for p, t in finished if (p.get("status") or {}).get("phase") == "Failed"), None
    )
    found = failure_from_pod(spec, last_failed) if last_failed is not None else None
    if found is not None:
        why, text, report = found
        return Verdict("Failed", why, text, result=report)
    if summary is not None and summary.get("status") in NO_RESULT_STATUSES:
        return _runtime_failure(summary, cm_name)
    failed_at = parse_time(failed.get("lastTransitionTime")) or now
    if not finished and (now - failed_at).total_seconds() < POD_GRACE_SECONDS:
        wait = POD_GRACE_SECONDS - (now - failed_at).total_seconds()
        return Verdict(
            "Running", "Finishing", "the solver Job failed; reading why", requeue_after=wait
        )
    return _failure_from_job_message(spec, reason, str(failed.get("message") or reason))


def _failure_from_job_message(spec: OptimizationJobSpec, reason: str, message: str) -> Verdict:
    """All that is left is the Job's own message (it may name the exit code)."""
    match = _EXIT_CODE.search(message)
    code = int(match.group(1)) if match else None
    if code == OOM_EXIT_CODE:
        return Verdict(
            "Failed",
            "OOMKilled",
            f"the solver was killed with exit code 137, most likely out of memory (memory "
            f"limit {_memory_limit(spec)}); raise spec.resources.limits.memory",
        )
    if code in EXIT_CODE_KINDS:
        kind = EXIT_CODE_KINDS[code]
        return Verdict("Failed", ERROR_REASONS[kind], f"{kind}: {message}")
    return Verdict("Failed", reason, message)


def _single_complete(
    job: Body | None,
    complete: ConditionBody,
    finished: list[tuple[Body, ContainerTerminated]],
    summary: Report | None,
    cm_name: str,
    now: datetime,
) -> Verdict:
    """The Job completed: the result, from the ConfigMap or else the termination message;
    a Job that left neither, after a grace period, failed."""
    if summary is not None:
        if summary.get("status") in NO_RESULT_STATUSES:
            return _runtime_failure(summary, cm_name)
        return _success(summary, cm_name, list(summary.get("solutionParts") or []))
    for pod, term in finished:
        if (pod.get("status") or {}).get("phase") != "Succeeded":
            continue
        report = read_termination(term)
        if report is not None and report.get("status") not in NO_RESULT_STATUSES:
            names = [str(n) for n in report.get("configMaps") or []]
            parts = names[1:] if len(names) == int(report.get("parts") or 0) + 1 else []
            return _success(report, names[0] if names else None, parts)
    done_at = parse_time((job or {}).get("status", {}).get("completionTime")) or parse_time(
        complete.get("lastTransitionTime")
    )
    waited = (now - (done_at or now)).total_seconds()
    if waited < RESULT_GRACE_SECONDS:
        return Verdict(
            "Running",
            "Finishing",
            f"the solver Job completed; waiting for its result ConfigMap {cm_name}",
            requeue_after=RESULT_GRACE_SECONDS - waited,
        )
    return Verdict(
        "Failed",
        "NoResult",
        f"the solver Job completed but left no result: no ConfigMap {cm_name} and no "
        "result in the pod's termination message. Does the image run mcpops-solver?",
    )
