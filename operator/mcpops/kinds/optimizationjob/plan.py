"""Decide what an OptimizationJob needs, from what was observed. Pure: no API calls.

The OptimizationJob and its observed children (the solver Job, its pods, the
result ConfigMaps) in; a Plan (manifests to apply, the status to write, Events
to post, when to look again, the outcome for metrics) out.

Where the outcome comes from, most trusted first: the result ConfigMap's
summary.json (written by the runtime before it exits), the solver container's
termination message (the runtime's short JSON), then the Job's own conditions
and the container's exit code and reason (OOMKilled). A Job that completed but
left no result at all is not a success: after a grace period for the watch to
deliver the ConfigMap, it is Failed with reason NoResult.

Once Succeeded or Failed, the phase never changes, and the Job is never
re-created (ttlSecondsAfterFinished may delete it; the status stays).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from mcpops import SOLVER_IMAGE as DEFAULT_SOLVER_IMAGE
from mcpops.api.base import Condition
from mcpops.api.optimizationjob import OptimizationJobSpec
from mcpops.kinds.optimizationjob import desired
from mcpops.kinds.optimizationjob.desired import CONTAINER, ResourceError
from mcpops.objects.bodies import Body, Manifest
from mcpops.objects.children import up_to_date
from mcpops.objects.conditions import merge_conditions, true_condition, validation_message
from mcpops.objects.effects import EventSpec
from mcpops.objects.timestamps import fmt_time, parse_time
from mcpops_common.optmodel import ScenarioSet
from mcpops_common.results import (
    SOLVED_STATUSES,
    STATUSES,
    result_configmap_name,
    summarize_scenarios,
)

TERMINAL = frozenset({"Succeeded", "Failed"})
# After the Job finished: how long to wait for the watch to deliver what the pod left
# (result ConfigMaps, the pod's final status) before deciding from less.
RESULT_GRACE_SECONDS = 30.0
POD_GRACE_SECONDS = 10.0
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
NO_RESULT_STATUSES = frozenset({"ERROR", "ABNORMAL"})

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
class Observed:
    """Children of one OptimizationJob as the watch caches last saw them."""

    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name
    configmaps: dict[str, dict[str, Any]] = field(default_factory=dict)  # input and results
    service_accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    role_bindings: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """A job that just finished, for the metrics."""

    phase: str
    reason: str
    solver: str
    seconds: tuple[float, ...] = ()
    gaps: tuple[float, ...] = ()


@dataclass
class Plan:
    apply: list[Manifest] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    events: list[EventSpec] = field(default_factory=list)
    requeue_after: float | None = None
    skipped_writes: int = 0
    finished: Outcome | None = None


@dataclass
class Verdict:
    """What the observations say, before it becomes status."""

    phase: str
    reason: str
    message: str
    result: dict[str, Any] | None = None  # summary.json-like: status, objective, solver...
    result_configmap: str | None = None
    parts: list[str] = field(default_factory=list)
    scenarios: dict[str, Any] | None = None
    requeue_after: float | None = None
    seconds: tuple[float, ...] = ()
    gaps: tuple[float, ...] = ()


# ---------------------------------------------------------------- reading the children


def _owned_by(obj: dict[str, Any], uid: str) -> bool:
    """Not left by an earlier OptimizationJob of the same name."""
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    return not owners or any(o.get("uid") == uid for o in owners)


def read_summary(cm: dict[str, Any] | None, uid: str) -> dict[str, Any] | None:
    """summary.json of a result ConfigMap, when it is one of this job's and well formed."""
    if cm is None or not _owned_by(cm, uid):
        return None
    return _status_doc((cm.get("data") or {}).get("summary.json"))


def terminated(pod: dict[str, Any]) -> dict[str, Any] | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == CONTAINER:
            term = (cs.get("state") or {}).get("terminated")
            return dict(term) if term else None
    return None


def read_termination(term: dict[str, Any] | None) -> dict[str, Any] | None:
    """The runtime's termination message (a JSON object with a known status), if any."""
    return _status_doc((term or {}).get("message"))


def _status_doc(raw: str | None) -> dict[str, Any] | None:
    """A JSON object from the runtime with a status it knows (summary or termination)."""
    if not raw:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("status") not in STATUSES:
        return None
    return doc


def _created(pod: dict[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("creationTimestamp") or "")


def _finished_pods(pods: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod, terminated state) of finished pods, newest first."""
    out = []
    for pod in sorted(pods, key=_created, reverse=True):
        term = terminated(pod)
        if term is not None and (pod.get("status") or {}).get("phase") in {"Succeeded", "Failed"}:
            out.append((pod, term))
    return out


def _pod_index(pod: dict[str, Any]) -> int | None:
    meta = pod.get("metadata") or {}
    raw = (meta.get("labels") or {}).get(INDEX_LABEL) or (meta.get("annotations") or {}).get(
        INDEX_LABEL
    )
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def parse_indexes(text: str | None) -> set[int]:
    """The Job API's interval form, e.g. "1,3-5" -> {1, 3, 4, 5}."""
    out: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            out.update(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            continue
    return out


_EXIT_CODE = re.compile(r"exit code (\d+)")


def _camel(status: str) -> str:
    return "".join(w.capitalize() for w in status.lower().split("_"))


def _memory_limit(spec: OptimizationJobSpec) -> str:
    try:
        return desired.resources(spec)["limits"]["memory"]
    except ResourceError:
        return "?"


# ---------------------------------------------------------------- one solve


def _failure_from_pod(
    spec: OptimizationJobSpec, term: dict[str, Any]
) -> tuple[str, str, dict[str, Any] | None] | None:
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


def _deadline_message(spec: OptimizationJobSpec, scenario_count: int) -> str:
    deadline = desired.deadline_seconds(spec, scenario_count)
    return (
        f"the solver Job ran past its deadline of {deadline}s (activeDeadlineSeconds; time "
        f"limit {spec.time_limit_seconds:g}s) and was stopped. Raise timeLimitSeconds or "
        "activeDeadlineSeconds, or check that the image runs mcpops-solver, which stops at "
        "its time limit"
    )


def _success(result: dict[str, Any], cm: str | None, parts: list[str]) -> Verdict:
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


def _waiting(pods: list[dict[str, Any]], job: dict[str, Any] | None) -> Verdict:
    """Pending or Running, while the Job has not finished."""
    if job is None:
        return Verdict("Pending", "JobCreated", "the solver Job is being created")
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    if running:
        return Verdict("Running", "Running", "the solver is running")
    for pod in sorted(pods, key=_created, reverse=True):
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
    finished = _finished_pods(pods)
    failed = true_condition(job, "Failed")
    if failed is not None:
        return _single_failed(spec, failed, finished, summary, cm_name, now)
    complete = true_condition(job, "Complete")
    if complete is not None:
        return _single_complete(job, complete, finished, summary, cm_name, now)
    return _waiting(pods, job)


def _runtime_failure(summary: dict[str, Any], cm_name: str) -> Verdict:
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
    failed: dict[str, Any],
    finished: list[tuple[Body, dict[str, Any]]],
    summary: dict[str, Any] | None,
    cm_name: str,
    now: datetime,
) -> Verdict:
    """The Job failed: why, most trusted source first."""
    reason = str(failed.get("reason") or "Failed")
    if reason == "DeadlineExceeded":
        return Verdict("Failed", "DeadlineExceeded", _deadline_message(spec, 0))
    last_failed = next(
        (t for p, t in finished if (p.get("status") or {}).get("phase") == "Failed"), None
    )
    found = _failure_from_pod(spec, last_failed) if last_failed is not None else None
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
    complete: dict[str, Any],
    finished: list[tuple[Body, dict[str, Any]]],
    summary: dict[str, Any] | None,
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


# ---------------------------------------------------------------- a sweep


@dataclass
class Scenarios:
    """What a sweep's children say of its scenarios so far, by scenario index."""

    reports: dict[int, dict[str, Any]] = field(default_factory=dict)  # runtime reports
    sources: dict[int, str] = field(default_factory=dict)  # the result ConfigMap of each
    pod_failures: dict[int, tuple[str, str]] = field(default_factory=dict)  # reason, message


def _read_scenarios(
    name: str,
    uid: str,
    spec: OptimizationJobSpec,
    count: int,
    pods: list[Body],
    configmaps: dict[str, Body],
) -> Scenarios:
    """Each scenario's outcome: its result ConfigMap, else its pod's termination message."""
    found = Scenarios()
    for i in range(count):
        cm = result_configmap_name(name, i)
        summary = read_summary(configmaps.get(cm), uid)
        if summary is not None:
            found.reports[i] = {**summary, "scenarioIndex": i}
            found.sources[i] = cm
    for pod, term in _finished_pods(pods):
        index = _pod_index(pod)
        if index is None or index >= count or index in found.reports:
            continue
        if index not in found.pod_failures:
            _read_scenario_pod(found, name, spec, index, pod, term)
    return found


def _read_scenario_pod(
    found: Scenarios,
    name: str,
    spec: OptimizationJobSpec,
    index: int,
    pod: Body,
    term: dict[str, Any],
) -> None:
    phase = (pod.get("status") or {}).get("phase")
    report = read_termination(term)
    if phase == "Succeeded" and report is not None:
        # The runtime's termination message names the sense; for one from an older
        # runtime without it, the inline model tells it.
        sense = spec.model.sense if spec.model is not None else "minimize"
        found.reports[index] = {"sense": sense, **report, "scenarioIndex": index}
        names = report.get("configMaps") or []
        found.sources[index] = str(names[0]) if names else result_configmap_name(name, index)
    elif phase == "Failed":
        failure = _failure_from_pod(spec, term)
        if failure is not None:
            found.pod_failures[index] = (failure[0], failure[1])
            if failure[2] is not None:
                found.reports[index] = {**failure[2], "scenarioIndex": index}


def _aggregate(
    found: Scenarios, count: int, failed_indexes: set[int], done: bool
) -> dict[str, Any]:
    """The sweep's summary (status.scenarios): counts, best, median, worst."""
    reports = found.reports
    # Indexes known to have failed count as failed even before the sweep ends.
    known: list[dict[str, Any] | None] = [reports[i] for i in sorted(reports)]
    known += [None for i in sorted(failed_indexes) if i not in reports]
    if done:
        missing = [i for i in range(count) if i not in reports and i not in failed_indexes]
        known += [None for _ in missing]
    agg = summarize_scenarios(known)
    pending = max(0, count - len(reports) - len(failed_indexes - set(reports)))
    agg.update(total=count, reported=len(reports), pending=0 if done else pending)
    return agg


def _summary_text(agg: dict[str, Any], count: int) -> str:
    text = (
        f"{agg['solved']}/{count} scenarios solved ({agg['optimal']} optimal, "
        f"{agg['feasible']} feasible, {agg['infeasible']} infeasible, "
        f"{agg['unbounded']} unbounded, {agg['notSolved']} not solved, {agg['failed']} failed)"
    )
    if agg.get("best") is not None:
        text += (
            f"; best {agg['best']:g} (scenario {agg['bestIndex']}), median {agg['p50']:g}, "
            f"worst {agg['worst']:g}"
        )
    return text


def sweep_verdict(
    name: str,
    uid: str,
    spec: OptimizationJobSpec,
    count: int,
    job: Body | None,
    pods: list[Body],
    configmaps: dict[str, Body],
    now: datetime,
) -> Verdict:
    found = _read_scenarios(name, uid, spec, count, pods, configmaps)
    reports = found.reports
    job_status = (job or {}).get("status") or {}
    failed_indexes = parse_indexes(job_status.get("failedIndexes"))
    failed = true_condition(job, "Failed")
    complete = true_condition(job, "Complete")
    done = failed is not None or complete is not None
    agg = _aggregate(found, count, failed_indexes, done)
    if failed_indexes:
        agg["failedIndexes"] = job_status.get("failedIndexes")
    recorded = [i for i, r in reports.items() if r.get("status") not in NO_RESULT_STATUSES]
    best = agg.get("bestIndex")
    best_report = reports.get(best) if isinstance(best, int) else None
    if best_report is None and recorded:
        best_report = reports[min(recorded)]
    summary_text = _summary_text(agg, count)

    def verdict(phase: str, reason: str, message: str, **extra: Any) -> Verdict:
        index = best_report.get("scenarioIndex") if best_report else None
        return Verdict(
            phase,
            reason,
            message,
            result=best_report,
            result_configmap=found.sources.get(index) if isinstance(index, int) else None,
            parts=list((best_report or {}).get("solutionParts") or []),
            scenarios=agg,
            seconds=tuple(float(reports[i].get("seconds") or 0.0) for i in sorted(reports)),
            gaps=tuple(
                float(g)
                for i in sorted(reports)
                if isinstance(g := reports[i].get("gap"), int | float)
            ),
            **extra,
        )

    if not done:
        waiting = _waiting(pods, job)
        if reports or failed_indexes:
            return verdict("Running", "Running", f"sweep running: {summary_text}")
        return verdict(waiting.phase, waiting.reason, waiting.message)
    if failed is not None and failed.get("reason") == "DeadlineExceeded":
        return verdict(
            "Failed", "DeadlineExceeded", f"{_deadline_message(spec, count)}; {summary_text}"
        )
    # Finished: give the watch a moment to deliver results of completed scenarios.
    unseen = [i for i in parse_indexes(job_status.get("completedIndexes")) if i not in reports]
    cond = failed or complete or {}
    done_at = parse_time(job_status.get("completionTime")) or parse_time(
        cond.get("lastTransitionTime")
    )
    waited = (now - (done_at or now)).total_seconds()
    if unseen and waited < RESULT_GRACE_SECONDS:
        return verdict(
            "Running",
            "Finishing",
            f"the sweep finished; waiting for the results of {len(unseen)} scenario(s)",
            requeue_after=RESULT_GRACE_SECONDS - waited,
        )
    if failed is not None and failed.get("reason") == "MaxFailedIndexesExceeded":
        return verdict(
            "Failed",
            "TooManyScenariosFailed",
            f"more than {spec.max_failed_scenarios} scenario(s) failed, so the sweep was "
            f"stopped: {summary_text}",
        )
    if not recorded:
        failures = found.pod_failures.values()
        reasons = sorted({why for why, _ in failures})
        detail = "; ".join(sorted({text for _, text in failures})[:3])
        return verdict(
            "Failed",
            reasons[0] if len(reasons) == 1 else "AllScenariosFailed",
            f"no scenario recorded a result: {summary_text}" + (f". {detail}" if detail else ""),
        )
    reason = "SweepComplete" if agg["failed"] == 0 else "SomeScenariosFailed"
    return verdict("Succeeded", reason, summary_text)


# ---------------------------------------------------------------- the plan


def _check_overrides(spec: OptimizationJobSpec, sweep: ScenarioSet) -> None:
    """With an inline model, every name a scenario overrides must exist (else each pod fails)."""
    if spec.model is None:
        return
    from mcpops_common.problem import from_model
    from mcpops_common.scenarios import sample

    problem = from_model(spec.model)
    for i, override in enumerate(sweep.scenarios):
        try:
            problem.apply_override(override)
        except ValueError as exc:
            raise ValueError(f"spec.scenarios[{i}]: {exc}") from exc
    if sweep.sampling is not None:
        try:
            problem.apply_override(sample(sweep.sampling, 0))
        except ValueError as exc:
            raise ValueError(f"spec.sampling: {exc}") from exc


def _conditions(verdict: Verdict, generation: int) -> list[Condition]:
    phase, reason, message = verdict.phase, verdict.reason, verdict.message
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


def _status(
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
            old.get("conditions") or [], _conditions(verdict, generation), now_s
        ),
    }
    if job_name:
        status["job"] = job_name
    result = verdict.result or {}
    for key, wire in (
        ("solver", "solver"),
        ("solverReason", "solverReason"),
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
    if "solutionStored" in result and verdict.phase == "Succeeded":
        status["solutionStored"] = bool(result["solutionStored"])
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


def _events_for(verdict: Verdict, old_phase: str | None) -> list[EventSpec]:
    if verdict.phase == old_phase or verdict.phase not in TERMINAL:
        return []
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
    if solver_status in SOLVED_STATUSES:
        return [EventSpec("Normal", "Solved", detail)]
    return [EventSpec("Warning", "NoSolution", detail)]


# Reasons that say less than the pod or the result would: a later look may improve them.
GENERIC_REASONS = frozenset({"BackoffLimitExceeded", "PodFailurePolicy", "Failed"})


def _refines(verdict: Verdict, old: dict[str, Any]) -> bool:
    """Whether a verdict on a finished job adds to its recorded status without contradicting it."""
    if verdict.phase != old.get("phase"):
        return False
    kind = "Complete" if verdict.phase == "Succeeded" else "Failed"
    old_reason = next(
        (c.get("reason") for c in old.get("conditions") or [] if c.get("type") == kind), None
    )
    if old_reason in GENERIC_REASONS:
        return True
    # A success first read from the termination message gains the ConfigMap's detail.
    return verdict.phase == "Succeeded" and verdict.reason == old_reason


def plan(
    obj: dict[str, Any],
    observed: Observed,
    now: datetime,
    *,
    image: str = DEFAULT_SOLVER_IMAGE,
) -> Plan:
    """`image`: the solver image, unless the spec names one."""
    meta = obj["metadata"]
    name = meta["name"]
    uid = meta.get("uid", "")
    generation = int(meta.get("generation", 1))
    old: dict[str, Any] = obj.get("status") or {}
    old_phase = old.get("phase") if old.get("observedGeneration") == generation else None
    now_s = fmt_time(now)
    out = Plan()

    try:
        spec = OptimizationJobSpec.model_validate(obj.get("spec") or {})
        sweep = desired.scenario_set(spec)
        desired.resources(spec)
        if sweep is not None and not observed.jobs.get(desired.job_name(name)):
            _check_overrides(spec, sweep)
    except (ValidationError, ValueError) as exc:
        message = (
            validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
        ) or "invalid spec"
        verdict = Verdict("Failed", "InvalidSpec", message)
        out.status = _status(verdict, old, generation, None, None, now_s)
        if old_phase != "Failed":
            out.events.append(EventSpec("Warning", "InvalidSpec", message))
            out.finished = Outcome("Failed", "InvalidSpec", "")
        return out

    jname = desired.job_name(name)
    job = observed.jobs.get(jname)
    count = sweep.count() if sweep is not None else 0
    where = desired.layout(spec, sweep)
    terminal = old_phase in TERMINAL

    if not terminal:
        wanted: list[tuple[Manifest, dict[str, Body]]] = [
            (desired.service_account(obj), observed.service_accounts),
            (desired.role(obj, count), observed.roles),
            (desired.role_binding(obj), observed.role_bindings),
        ]
        cm = desired.input_configmap(obj, spec, sweep)
        if cm is not None:
            wanted.append((cm, observed.configmaps))
        for manifest, live in wanted:
            if up_to_date(manifest, live.get(manifest["metadata"]["name"])):
                out.skipped_writes += 1
            else:
                out.apply.append(manifest)
        if job is None:
            manifest = desired.job(obj, spec, where, spec.image or image)
            out.apply.append(manifest)
            res = manifest["spec"]["template"]["spec"]["containers"][0]["resources"]
            what = f"a sweep of {count} scenarios, parallelism {desired.parallelism(spec, count)}"
            out.events.append(
                EventSpec(
                    "Normal",
                    "JobCreated",
                    f"created Job {jname}: "
                    + (what + ", " if count else "")
                    + f"solver {spec.solver}, time limit {spec.time_limit_seconds:g}s, deadline "
                    f"{manifest['spec']['activeDeadlineSeconds']}s, limits cpu "
                    f"{res['limits']['cpu']} memory {res['limits']['memory']}",
                )
            )
        else:
            # A Job's pod template is immutable: an existing Job is never re-applied.
            out.skipped_writes += 1

    pods = list(observed.pods.values())
    if count:
        verdict = sweep_verdict(name, uid, spec, count, job, pods, observed.configmaps, now)
    else:
        verdict = single_verdict(name, uid, spec, job, pods, observed.configmaps, now)

    if terminal and not _refines(verdict, old):
        # Finished is final: what the Job left may be gone (ttlSecondsAfterFinished), so a
        # later look may know less. Only more detail for the same outcome is taken.
        out.status = dict(old)
        return out
    out.status = _status(verdict, old, generation, job, jname, now_s)
    out.events.extend(_events_for(verdict, old_phase))
    if verdict.phase in TERMINAL and old_phase not in TERMINAL:
        out.finished = Outcome(
            verdict.phase,
            verdict.reason,
            str((verdict.result or {}).get("solver") or ""),
            verdict.seconds,
            verdict.gaps,
        )
    out.requeue_after = verdict.requeue_after
    return out


__all__ = [
    "Observed",
    "Outcome",
    "Plan",
    "Verdict",
    "parse_indexes",
    "plan",
    "single_verdict",
    "sweep_verdict",
]
