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

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from mcpops import SOLVER_IMAGE as DEFAULT_SOLVER_IMAGE
from mcpops.api.optimizationjob import OptimizationJobSpec
from mcpops.kinds.optimizationjob import desired
from mcpops.kinds.optimizationjob.observed import Observed, parse_indexes
from mcpops.kinds.optimizationjob.status import TERMINAL, events_for, refines, status
from mcpops.kinds.optimizationjob.sweep import sweep_verdict
from mcpops.kinds.optimizationjob.verdict import (
    POD_GRACE_SECONDS,
    RESULT_GRACE_SECONDS,
    Verdict,
    single_verdict,
)
from mcpops.objects.bodies import Body, Manifest
from mcpops.objects.children import up_to_date
from mcpops.objects.conditions import validation_message
from mcpops.objects.effects import EventSpec
from mcpops.objects.timestamps import fmt_time
from mcpops_common.optmodel import ScenarioSet


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
    manifest = desired.job(obj, spec, desired.layout(spec, sweep), image)
    out.apply.append(manifest)
    res = manifest["spec"]["template"]["spec"]["containers"][0]["resources"]
    what = f"a sweep of {count} scenarios, parallelism {desired.parallelism(spec, count)}, "
    out.events.append(
        EventSpec(
            "Normal",
            "JobCreated",
            f"created Job {desired.job_name(name)}: "
            + (what if count else "")
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
        out.status = status(verdict, old, generation, None, None, now_s)
        if old_phase != "Failed":
            out.events.append(EventSpec("Warning", "InvalidSpec", message))
            out.finished = Outcome("Failed", "InvalidSpec", "")
        return out

    jname = desired.job_name(name)
    job = observed.jobs.get(jname)
    count = sweep.count() if sweep is not None else 0
    terminal = old_phase in TERMINAL

    if not terminal:
        _children(out, obj, spec, sweep, observed, job, spec.image or image)

    pods = list(observed.pods.values())
    if count:
        verdict = sweep_verdict(name, uid, spec, count, job, pods, observed.configmaps, now)
    else:
        verdict = single_verdict(name, uid, spec, job, pods, observed.configmaps, now)

    if terminal and not refines(verdict, old):
        # Finished is final: what the Job left may be gone (ttlSecondsAfterFinished), so a
        # later look may know less. Only more detail for the same outcome is taken.
        out.status = dict(old)
        return out
    out.status = status(verdict, old, generation, job, jname, now_s)
    out.events.extend(events_for(verdict, old_phase))
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
    "POD_GRACE_SECONDS",
    "RESULT_GRACE_SECONDS",
    "Observed",
    "Outcome",
    "Plan",
    "Verdict",
    "parse_indexes",
    "plan",
    "single_verdict",
    "sweep_verdict",
]
