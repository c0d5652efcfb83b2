"""What a sweep's Indexed Job and its pods say, scenario by scenario: a Verdict with the
sweep's summary (status.scenarios) and its best scenario's result. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mcpops.api.optimizationjob import OptimizationJobSpec
from mcpops.kinds.optimizationjob.observed import (
    NO_RESULT_STATUSES,
    Report,
    finished_pods,
    parse_indexes,
    pod_index,
    read_summary,
    read_termination,
)
from mcpops.kinds.optimizationjob.verdict import (
    RESULT_GRACE_SECONDS,
    Verdict,
    deadline_message,
    failure_from_pod,
    waiting,
)
from mcpops.objects.bodies import Body, ContainerTerminated
from mcpops.objects.conditions import true_condition
from mcpops.objects.timestamps import parse_time
from mcpops_common.results import result_configmap_name, summarize_scenarios


@dataclass
class Scenarios:
    """What a sweep's children say of its scenarios so far, by scenario index."""

    reports: dict[int, Report] = field(default_factory=dict)  # runtime reports
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
    for pod, term in finished_pods(pods):
        index = pod_index(pod)
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
    term: ContainerTerminated,
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
        failure = failure_from_pod(spec, term)
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
    known: list[Report | None] = [reports[i] for i in sorted(reports)]
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
        if reports or failed_indexes:
            return verdict("Running", "Running", f"sweep running: {summary_text}")
        pending = waiting(pods, job)
        return verdict(pending.phase, pending.reason, pending.message)
    if failed is not None and failed.get("reason") == "DeadlineExceeded":
        return verdict(
            "Failed", "DeadlineExceeded", f"{deadline_message(spec, count)}; {summary_text}"
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
