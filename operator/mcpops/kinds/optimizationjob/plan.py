"""Decide what an OptimizationJob needs, from what was observed. Pure: no API calls.

The OptimizationJob and its observed children (the solver Job, its pods, the result
ConfigMaps) in; a Plan (manifests to apply, the status to write, Events to post, when to
look again, the outcome for metrics) out: the spec is checked, the children it still needs
are built (desired.py), the children are read into a Verdict (verdict.py, or sweep.py for a
sweep of scenarios), and the verdict becomes status (status.py).

Once Succeeded or Failed, the phase never changes, and the Job is never
re-created (ttlSecondsAfterFinished may delete it; the status stays).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from mcpops import SOLVER_IMAGE as DEFAULT_SOLVER_IMAGE
from mcpops.api.optimizationjob import OptimizationJobSpec
from mcpops.kinds.optimizationjob import desired
from mcpops.kinds.optimizationjob.observed import (
    Observed,
    parse_indexes,
    read_progress,
    read_summary,
)
from mcpops.kinds.optimizationjob.queue import job_holds_slots
from mcpops.kinds.optimizationjob.status import TERMINAL, events_for, refines, status
from mcpops.kinds.optimizationjob.sweep import sweep_verdict
from mcpops.kinds.optimizationjob.verdict import (
    POD_GRACE_SECONDS,
    RESULT_GRACE_SECONDS,
    Verdict,
    cancelled_verdict,
    single_verdict,
)
from mcpops.objects.bodies import Body, Manifest
from mcpops.objects.children import up_to_date
from mcpops.objects.conditions import validation_message
from mcpops.objects.effects import EventSpec
from mcpops.objects.timestamps import fmt_time
from mcpops_common.names import CANCEL_ANNOTATION
from mcpops_common.optmodel import ScenarioSet
from mcpops_common.results import progress_configmap_name, result_configmap_name

# How often a Queued job, or one waiting for its warm start, looks again (a slot that
# frees also wakes the queue, see the reconciler; this is the backstop).
WAIT_POLL_SECONDS = 10.0


@dataclass(frozen=True)
class Outcome:
    """A job that just finished, for the metrics."""

    phase: str
    reason: str
    solver: str
    seconds: tuple[float, ...] = ()
    gaps: tuple[float, ...] = ()
    solution: bool = False  # a solution was recorded (OPTIMAL or FEASIBLE)


@dataclass
class Plan:
    apply: list[Manifest] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    events: list[EventSpec] = field(default_factory=list)
    requeue_after: float | None = None
    skipped_writes: int = 0
    finished: Outcome | None = None
    suspend: str | None = None  # a Job to suspend: the cancel stops its pod
    started: bool = False  # the Job is created by this plan (it now holds a slot)


@dataclass(frozen=True)
class Slot:
    """The namespace queue's word on this job (queue.admit), when it has no Job yet."""

    admitted: bool = True
    position: int | None = None
    used: int = 0
    limit: int = 0  # 0: no limit


def cancel_requested(obj: Body) -> bool:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(CANCEL_ANNOTATION, "")
    return str(value).strip().lower() in {"true", "1", "yes"}


def warm_start_sources(source: Body | None) -> tuple[str, ...] | None:
    """The ConfigMaps with a finished job's solution; None if it left none to start from."""
    st = (source or {}).get("status") or {}
    if st.get("solverStatus") not in {"OPTIMAL", "FEASIBLE"} or st.get("solutionStored") is False:
        return None
    if st.get("scenarios") is not None or not st.get("resultConfigMap"):
        return None  # a sweep's best scenario: not one solution to seed a solve with
    return tuple(st.get("resultParts") or [st["resultConfigMap"]])


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


def _children(
    out: Plan,
    obj: Body,
    spec: OptimizationJobSpec,
    sweep: ScenarioSet | None,
    observed: Observed,
    job: Body | None,
    image: str,
    where: desired.Layout | None,
) -> None:
    """What an unfinished job needs: the solver's ServiceAccount, Role and RoleBinding, the
    input ConfigMap, and the Job (created once: its pod template is immutable)."""
    name = obj["metadata"]["name"]
    count = sweep.count() if sweep is not None else 0
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
    if job is not None:
        out.skipped_writes += 1  # an existing Job is never re-applied
        return
    if where is None:
        return  # not started yet: queued, or waiting for its warm start
    manifest = desired.job(obj, spec, where, image)
    out.apply.append(manifest)
    out.started = True
    res = manifest["spec"]["template"]["spec"]["containers"][0]["resources"]
    what = f"a sweep of {count} scenarios, parallelism {desired.parallelism(spec, count)}, "
    out.events.append(
        EventSpec(
            "Normal",
            "JobCreated",
            f"created Job {desired.job_name(name)}: "
            + (what if count else "")
            + (f"warm start from {spec.warm_start_from}, " if where.warm_start else "")
            + f"solver {spec.solver}, time limit {spec.time_limit_seconds:g}s, deadline "
            f"{manifest['spec']['activeDeadlineSeconds']}s, limits cpu "
            f"{res['limits']['cpu']} memory {res['limits']['memory']}",
        )
    )


def plan(
    obj: dict[str, Any],
    observed: Observed,
    now: datetime,
    *,
    image: str = DEFAULT_SOLVER_IMAGE,
    slot: Slot | None = None,
    warm_source: Body | None = None,
) -> Plan:
    """`image`: the solver image, unless the spec names one. `slot`: whether the namespace
    queue lets a job without a Job start (queue.admit). `warm_source`: the OptimizationJob
    named by spec.warmStartFrom, if it exists."""
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
        out.status = status(verdict, old, generation, None, None, now_s)
        if old_phase != "Failed":
            out.events.append(EventSpec("Warning", "InvalidSpec", message))
            out.finished = Outcome("Failed", "InvalidSpec", "")
        return out

    jname = desired.job_name(name)
    job = observed.jobs.get(jname)
    count = sweep.count() if sweep is not None else 0
    terminal = old_phase in TERMINAL
    cancel = cancel_requested(obj)
    slot = slot or Slot()
    if slot.limit > 0 and count:
        # A sweep runs at most `limit` pods at once, so that it fits the namespace alone.
        spec = spec.model_copy(
            update={"parallelism": min(desired.parallelism(spec, count), slot.limit)}
        )

    waiting: Verdict | None = None
    where: desired.Layout | None = None
    if not terminal and job is None and not cancel:
        where, waiting = _start(out, spec, sweep, slot, warm_source, old_phase)
    if not terminal and not (cancel and job is None):
        _children(out, obj, spec, sweep, observed, job, spec.image or image, where)

    verdict = waiting or _verdict(name, uid, spec, count, job, observed, now)
    if cancel and not terminal:
        summary = (
            None
            if count
            else read_summary(observed.configmaps.get(result_configmap_name(name)), uid)
        )
        cm = None if count else result_configmap_name(name)
        verdict = cancelled_verdict(verdict, summary, cm, job, now)
        if job is not None and job_holds_slots(job) and not (job.get("spec") or {}).get("suspend"):
            out.suspend = jname
            out.events.append(
                EventSpec(
                    "Normal",
                    "CancelRequested",
                    f"cancel requested ({CANCEL_ANNOTATION}): suspending Job {jname}; its "
                    "solver pod gets SIGTERM and writes the best solution found so far",
                )
            )

    if terminal and not refines(verdict, old):
        # Finished is final: what the Job left may be gone (ttlSecondsAfterFinished), so a
        # later look may know less. Only more detail for the same outcome is taken.
        out.status = dict(old)
        return out
    out.status = status(verdict, old, generation, job, jname if job or where else None, now_s)
    if where is not None and where.warm_start:
        out.status["warmStartFrom"] = spec.warm_start_from
    elif old.get("warmStartFrom"):
        out.status["warmStartFrom"] = old["warmStartFrom"]
    out.events.extend(events_for(verdict, old_phase))
    if verdict.phase in TERMINAL and old_phase not in TERMINAL:
        out.finished = Outcome(
            verdict.phase,
            verdict.reason,
            str((verdict.result or {}).get("solver") or ""),
            verdict.seconds,
            verdict.gaps,
            (verdict.result or {}).get("status") in {"OPTIMAL", "FEASIBLE"},
        )
    out.requeue_after = verdict.requeue_after
    return out


def _verdict(
    name: str,
    uid: str,
    spec: OptimizationJobSpec,
    count: int,
    job: Body | None,
    observed: Observed,
    now: datetime,
) -> Verdict:
    pods = list(observed.pods.values())
    if count:
        return sweep_verdict(name, uid, spec, count, job, pods, observed.configmaps, now)
    verdict = single_verdict(name, uid, spec, job, pods, observed.configmaps, now)
    if verdict.phase == "Running":
        verdict.progress = read_progress(
            observed.configmaps.get(progress_configmap_name(name)), uid
        )
    return verdict


def _start(
    out: Plan,
    spec: OptimizationJobSpec,
    sweep: ScenarioSet | None,
    slot: Slot,
    warm_source: Body | None,
    old_phase: str | None,
) -> tuple[desired.Layout | None, Verdict | None]:
    """A job without a Job: where its pod finds its inputs if it may start now, else why
    it waits (its warm start has not finished, or no solver slot is free)."""
    where = desired.layout(spec, sweep)
    if spec.warm_start_from:
        source_phase = ((warm_source or {}).get("status") or {}).get("phase")
        if source_phase not in TERMINAL:
            what = "does not exist" if warm_source is None else f"is {source_phase or 'new'}"
            return None, Verdict(
                "Pending",
                "WaitingForWarmStart",
                f"waiting for OptimizationJob {spec.warm_start_from} (spec.warmStartFrom), "
                f"which {what}, to finish: its solution seeds this solve",
                requeue_after=WAIT_POLL_SECONDS,
            )
    if not slot.admitted:
        return None, Verdict(
            "Queued",
            "Queued",
            f"waiting for a solver slot: {slot.used} of {slot.limit} in use in this "
            f"namespace (MCPOPS_MAX_SOLVER_PODS_PER_NAMESPACE); place {slot.position or '?'} "
            "in the queue, started in creation order",
            requeue_after=WAIT_POLL_SECONDS,
            queue_position=slot.position,
        )
    if spec.warm_start_from:
        sources = warm_start_sources(warm_source)
        if sources is None:
            out.events.append(
                EventSpec(
                    "Warning",
                    "WarmStartUnavailable",
                    f"OptimizationJob {spec.warm_start_from} left no single stored solution "
                    "to start from; solving without a warm start",
                )
            )
        else:
            where = replace(where, warm_start=sources)
    return where, None


__all__ = [
    "POD_GRACE_SECONDS",
    "RESULT_GRACE_SECONDS",
    "Observed",
    "Outcome",
    "Plan",
    "Slot",
    "Verdict",
    "parse_indexes",
    "plan",
    "single_verdict",
    "sweep_verdict",
]
