"""Decide what an MCPServer needs, from what was observed. Pure: no API calls.

observed cluster state + the MCPServer in, a Plan (manifests to apply, objects
to delete, the status to write, Events to post, when to look again) out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from mcpops.api.base import Condition
from mcpops.api.mcpserver import MCPServerSpec, Rollout
from mcpops.inpod.testrunner import termination_message
from mcpops.kinds.mcpserver import desired, testjobs
from mcpops.kinds.mcpserver.desired import REVISION_LABEL, SERVER_LABEL
from mcpops.kinds.mcpserver.testjobs import SuiteVerdict
from mcpops.objects.children import labels, owner_reference, stamp, up_to_date
from mcpops.objects.conditions import (
    failure_status,
    merge_conditions,
    true_condition,
    validation_message,
)
from mcpops.objects.effects import Delete, EventSpec
from mcpops.objects.timestamps import fmt_time, parse_time

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass
class Observed:
    """Children of one MCPServer as the watch caches last saw them."""

    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)  # by revision
    services: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name
    hpas: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # test Jobs, by name
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)  # test pods, by name
    endpoint_slices: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name


@dataclass
class Plan:
    apply: list[dict[str, Any]] = field(default_factory=list)
    delete: list[Delete] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    events: list[EventSpec] = field(default_factory=list)
    requeue_after: float | None = None
    skipped_writes: int = 0
    outcomes: list[str] = field(default_factory=list)  # rollout outcomes, for metrics
    # For metrics too: phases left (and how long they lasted), suite runs that finished.
    phase_durations: list[tuple[str, float]] = field(default_factory=list)
    test_results: list[str] = field(default_factory=list)
    new_revision: bool = False  # the spec's pod template was seen for the first time


# The phases a rollout goes through; a revision's timeline records when it entered each,
# and when it ended (Healthy or Degraded).
ROLLOUT_PHASES = ("Progressing", "Testing", "Paused", "Promoting", "Verifying")


def deployment_available(dep: dict[str, Any] | None, replicas: int) -> bool:
    """All wanted replicas are updated and available, as of the Deployment's latest spec."""
    if dep is None:
        return False
    status = dep.get("status") or {}
    meta = dep.get("metadata") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 1):
        return False
    if (dep.get("spec") or {}).get("replicas", 1) != replicas:
        return False  # not yet scaled to what we want
    if replicas == 0:
        return True
    return bool(
        status.get("updatedReplicas", 0) >= replicas
        and status.get("availableReplicas", 0) >= replicas
        and status.get("readyReplicas", 0) >= replicas
    )


def serving_ready(dep: dict[str, Any] | None, replicas: int) -> bool:
    """Enough ready pods right now. Unlike deployment_available this ignores a
    not-yet-observed generation (an annotation bumps it) so that it does not flap."""
    if dep is None:
        return False
    status = dep.get("status") or {}
    ready = int(status.get("readyReplicas", 0) or 0)
    available = int(status.get("availableReplicas", 0) or 0)
    return replicas == 0 or (ready >= replicas and available >= replicas)


def settling(dep: dict[str, Any] | None, replicas: int) -> bool:
    """The Deployment controller is still acting on the latest spec (scaling, rolling)."""
    if dep is None:
        return True
    status = dep.get("status") or {}
    meta = dep.get("metadata") or {}
    return bool(
        status.get("observedGeneration", 0) < meta.get("generation", 1)
        or status.get("replicas", 0) != replicas
        or status.get("updatedReplicas", 0) < replicas
    )


def deadline_exceeded(dep: dict[str, Any] | None) -> str | None:
    """The Deployment controller's own verdict that progress stalled, if any."""
    for cond in ((dep or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return str(cond.get("message", "progress deadline exceeded"))
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            return str(cond.get("message", "replica failure"))
    return None


def _hpa(parent: dict[str, Any], spec: MCPServerSpec, target: str) -> dict[str, Any]:
    assert spec.autoscaling is not None
    target_cpu = spec.autoscaling.target_cpu_utilization_percent
    name = parent["metadata"]["name"]
    return stamp(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {
                "name": name,
                "namespace": parent["metadata"]["namespace"],
                "labels": labels(desired.COMPONENT, name, **{SERVER_LABEL: name}),
                "ownerReferences": [owner_reference(parent)],
            },
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "minReplicas": spec.autoscaling.min_replicas,
                "maxReplicas": spec.autoscaling.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {
                                "type": "Utilization",
                                "averageUtilization": target_cpu,
                            },
                        },
                    }
                ],
            },
        }
    )


# The condition types this operator writes on an MCPServer; others belong to someone else.
CONDITIONS = frozenset({"Ready", "Progressing", "Degraded", "TestsPassed", "RolledBack"})
PAUSE_ANNOTATION = "mcpops.dev/paused"
PROMOTE_ANNOTATION = "mcpops.dev/promote"
ABORT_ANNOTATION = "mcpops.dev/abort"
RETRY_ANNOTATION = "mcpops.dev/retry"


def ready_endpoints(slices: dict[str, dict[str, Any]], service: str) -> int:
    count = 0
    for eps in slices.values():
        if (eps.get("metadata", {}).get("labels") or {}).get(SERVICE_NAME_LABEL) != service:
            continue
        for endpoint in eps.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready"):
                count += 1
    return count


def plan(server: dict[str, Any], observed: Observed, now: datetime) -> Plan:
    meta = server["metadata"]
    name = meta["name"]
    namespace = meta["namespace"]
    generation = meta.get("generation", 1)
    annotations: dict[str, str] = meta.get("annotations") or {}
    old_status: dict[str, Any] = server.get("status") or {}
    now_s = fmt_time(now)
    out = Plan()

    try:
        spec = MCPServerSpec.model_validate(server.get("spec") or {})
    except ValidationError as exc:
        message = validation_message(exc)
        out.status = failure_status(
            {**old_status, "observedGeneration": generation},
            "InvalidSpec",
            message,
            now_s,
            phase="Failed",
            owned=CONDITIONS,
        )
        if old_status.get("observedGeneration") != generation:
            out.events.append(EventSpec("Warning", "InvalidSpec", message))
        return out

    cfg = spec.rollout or Rollout()
    want = spec.replicas
    template = desired.pod_template(name, spec)  # built once: it is also the revision
    revision = desired.revision_for(template)
    preview_name = desired.preview_name(name)
    preview_url = f"http://{preview_name}.{namespace}.svc:{spec.port}{spec.path}"
    ro: dict[str, Any] = dict(old_status.get("rollout") or {})
    active: str | None = old_status.get("activeRevision")
    if active and active not in observed.deployments and active != revision:
        active = None  # its Deployment is gone (deleted by hand); do not point at nothing
    failed: str | None = old_status.get("failedRevision")
    failure: str = ro.get("failureReason", "")
    tests_status: list[dict[str, Any]] = list(old_status.get("tests") or [])
    rolled_back = bool(ro.get("rolledBack"))
    # Copies: the records are edited below and the store's object must stay as observed.
    history: list[dict[str, Any]] = [dict(r) for r in old_status.get("revisions") or []]
    wakeups: list[float] = []

    # The old revision stays up this long after a switch (to verify, and for a fast undo).
    keep_window = max(cfg.verify_seconds, cfg.scale_down_delay_seconds)

    def supersede(stale: str, by: str) -> None:
        out.events.append(
            EventSpec("Normal", "Superseded", f"rollout of {stale} superseded by {by}")
        )
        out.outcomes.append("superseded")
        record(stale, "Superseded")

    def cancel(job: dict[str, Any]) -> None:
        out.delete.append(
            Delete("batch/v1", "Job", job["metadata"]["name"], job["metadata"]["uid"])
        )
        out.test_results.append("cancelled")

    def record(rev: str, outcome: str, **extra: str) -> None:
        for rec in history:
            if rec["revision"] == rev:
                rec["outcome"] = outcome
                rec.update(extra)

    if revision not in {r["revision"] for r in history}:
        history.insert(0, {"revision": revision, "image": spec.image, "createdAt": now_s})
        out.new_revision = True

    # ---- a person's requests, each acted on once per distinct value
    retry = annotations.get(RETRY_ANNOTATION)
    if retry and retry != ro.get("retryToken"):
        ro["retryToken"] = retry
        if failed:
            out.events.append(EventSpec("Normal", "RetryRequested", f"retrying revision {failed}"))
            failed, failure = None, ""
            ro.pop("revision", None)  # a fresh attempt
    abort = annotations.get(ABORT_ANNOTATION)
    abort_now = bool(abort and abort != ro.get("abortToken"))
    if abort:
        ro["abortToken"] = abort
    paused = annotations.get(PAUSE_ANNOTATION, "").lower() == "true"

    # ---- after a switch: verify the new revision, keep the old one for a fast undo
    previous: str | None = ro.get("previous")
    switched_at = parse_time(ro.get("switchedAt"))
    if previous and switched_at and active:
        elapsed = (now - switched_at).total_seconds()
        prev_dep = observed.deployments.get(previous)
        if (
            elapsed < cfg.verify_seconds
            and not serving_ready(observed.deployments.get(active), want)
            and not settling(observed.deployments.get(active), want)
            and want > 0
            and serving_ready(prev_dep, want)  # only back to something that can serve
        ):
            reason = (
                f"revision {active} stopped being ready {elapsed:.0f}s after the switch; "
                f"traffic returned to {previous}"
            )
            out.events.append(EventSpec("Warning", "RolledBack", reason))
            out.outcomes.append("rolled_back")
            record(active, "RolledBack")
            record(previous, "Active")
            failed, failure, rolled_back = active, reason, True
            active, previous = previous, None
            ro.pop("previous", None)
            ro.pop("switchedAt", None)
        else:
            if elapsed >= keep_window:
                ro.pop("previous", None)
                ro.pop("switchedAt", None)
                previous = None
            else:
                wakeups.append(keep_window - elapsed)
    elif previous:
        ro.pop("previous", None)
        previous = None

    # ---- the candidate
    candidate: str | None = None
    jobs_wanted: list[dict[str, Any]] = []
    rollout_phase = ""
    if revision == active:
        stale = ro.pop("revision", None)
        if stale and stale != active:
            supersede(stale, active)
    elif revision == failed:
        ro.pop("revision", None)
    else:
        candidate = revision
        if ro.get("revision") != candidate:
            stale = ro.get("revision")
            if stale:
                supersede(stale, candidate)
            ro.update(
                revision=candidate,
                attempt=int(ro.get("attempt", 0)) + 1,
                startedAt=now_s,
            )
            ro.pop("testsPassedAt", None)
            ro.pop("pausedAt", None)
            rolled_back = False
            for rec in history:  # a revision rolled out again gets a fresh timeline
                if rec["revision"] == candidate:
                    rec.pop("phases", None)
            out.events.append(
                EventSpec(
                    "Normal",
                    "RolloutStarted",
                    f"revision {candidate} ({spec.image}) started"
                    + (f"; {active} keeps serving" if active else ""),
                )
            )
        attempt = int(ro["attempt"])
        started = parse_time(ro.get("startedAt")) or now
        if paused:
            ro.setdefault("pausedAt", now_s)
        elif ro.get("pausedAt"):
            # The deadline does not run while a person holds the rollout.
            held = now - (parse_time(ro.pop("pausedAt")) or now)
            started += held
            ro["startedAt"] = fmt_time(started)
        deadline = started + timedelta(seconds=cfg.progress_deadline_seconds)
        cand_dep = observed.deployments.get(candidate)
        available = (
            deployment_available(cand_dep, want)
            and ready_endpoints(observed.endpoint_slices, preview_name) >= want
        )
        verdicts: dict[str, SuiteVerdict] = {}
        if available and not paused:
            for suite in spec.tests or []:
                jname = testjobs.job_name(name, candidate, suite.name, attempt)
                job = observed.jobs.get(jname)
                pods = [
                    p
                    for p in observed.pods.values()
                    if (p["metadata"].get("labels") or {}).get("job-name") == jname
                ]
                verdicts[suite.name] = testjobs.verdict(suite, job, pods)
                if job is None:
                    baseline = (ro.get("baselines") or {}).get(suite.name)
                    jobs_wanted.append(
                        testjobs.test_job(
                            server,
                            spec,
                            suite,
                            revision=candidate,
                            attempt=attempt,
                            preview_url=preview_url,
                            baseline=baseline,
                        )
                    )
            tests_status = [
                _suite_status(
                    s.name,
                    candidate,
                    verdicts[s.name],
                    testjobs.job_name(name, candidate, s.name, attempt),
                )
                for s in spec.tests or []
            ]
        failures = [f"suite {n}: {v.reason}" for n, v in verdicts.items() if v.verdict == "Failed"]
        all_passed = (
            available and not paused and all(v.verdict == "Passed" for v in verdicts.values())
        )
        fail_reason = ""
        if abort_now:
            fail_reason = "aborted by a person (annotation mcpops.dev/abort)"
        elif failures:
            fail_reason = "; ".join(failures)
        elif not all_passed and not paused and now >= deadline:
            fail_reason = (
                f"not available and tested within progressDeadlineSeconds "
                f"({cfg.progress_deadline_seconds}s)"
            )
            stall = deadline_exceeded(cand_dep)
            if stall:
                fail_reason += f": {stall}"
        if fail_reason:
            failed, failure = candidate, fail_reason
            out.events.append(
                EventSpec("Warning", "RolloutFailed", f"revision {candidate}: {fail_reason}")
            )
            out.outcomes.append("aborted" if abort_now else "failed")
            record(candidate, "Failed")
            # Cancel what still runs of this attempt; keep finished Jobs to inspect.
            for job in observed.jobs.values():
                jl = job["metadata"].get("labels") or {}
                if jl.get(REVISION_LABEL) == candidate and not finished(job):
                    cancel(job)
            jobs_wanted = []
            ro.pop("revision", None)
            candidate = None
        elif all_passed:
            if "testsPassedAt" not in ro:
                ro["testsPassedAt"] = now_s
                if spec.tests:
                    out.events.append(
                        EventSpec(
                            "Normal",
                            "TestsPassed",
                            f"revision {candidate}: {len(spec.tests)} suite(s) passed",
                        )
                    )
            promote = annotations.get(PROMOTE_ANNOTATION) == candidate
            if cfg.auto_promote or promote:
                baselines = {
                    n: termination_message(v.result) for n, v in verdicts.items() if v.result
                }
                previous = active
                active = candidate
                ro.update(previous=previous, switchedAt=now_s, baselines=baselines)
                if previous is None:
                    ro.pop("previous")
                ro.pop("revision", None)
                record(candidate, "Active", promotedAt=now_s)
                if previous:
                    record(previous, "Superseded")
                out.events.append(
                    EventSpec(
                        "Normal",
                        "TrafficSwitched",
                        f"stable Service now sends traffic to revision {candidate}"
                        + (f" (was {previous})" if previous else ""),
                    )
                )
                out.outcomes.append("promoted")
                candidate = None
                failed, failure, rolled_back = None, "", False
                if previous and keep_window > 0:
                    wakeups.append(float(keep_window))
                else:
                    ro.pop("previous", None)
                    ro.pop("switchedAt", None)
                    previous = None
            else:
                rollout_phase = "Promoting"
        else:
            rollout_phase = "Testing" if available and not paused else "Progressing"
            if not paused:
                wakeups.append(max(0.0, (deadline - now).total_seconds()))
        if paused and candidate:
            rollout_phase = "Paused"

    # ---- Deployments: active, candidate and the previous (in its window) run;
    # the rest are kept at zero up to the history limit and deleted beyond it.
    running = {r for r in (active, candidate, previous) if r}
    inactive = [r["revision"] for r in history if r["revision"] not in running]
    kept = set(inactive[: cfg.revision_history_limit])
    for rev in running:
        live = observed.deployments.get(rev)
        if rev == revision:
            manifest = desired.deployment(server, template, rev, want)
        elif live is not None:
            # Another revision keeps its own pod template: rebuild from the live object.
            manifest = _rescale(live, want if rev != previous else _replicas(live, want))
        else:
            continue
        if rev == active and spec.autoscaling:
            manifest["spec"].pop("replicas", None)  # the HPA owns it
            stamp(manifest)
        _apply(out, manifest, live)
    for rev, dep in observed.deployments.items():
        if rev in running:
            continue
        if rev in kept or rev == failed:
            if (dep.get("spec") or {}).get("replicas", 0) != 0:
                _apply(out, _rescale(dep, 0), dep)
                out.events.append(
                    EventSpec("Normal", "ScaledDown", f"revision {rev} scaled to zero")
                )
        else:
            out.delete.append(
                Delete("apps/v1", "Deployment", dep["metadata"]["name"], dep["metadata"]["uid"])
            )
            out.events.append(
                EventSpec("Normal", "RevisionDeleted", f"revision {rev} beyond the history limit")
            )
    history = [r for r in history if r["revision"] in running | kept | {failed}]

    # ---- test Jobs: create what the candidate needs; drop those of superseded revisions
    out.apply.extend(jobs_wanted)
    for job in observed.jobs.values():
        job_rev = (job["metadata"].get("labels") or {}).get(REVISION_LABEL)
        if job_rev not in {candidate, failed, active} and not finished(job):
            cancel(job)

    # ---- Services: stable -> active (nothing before the first switch), preview -> candidate
    stable = desired.service(server, spec, name=name, revision=active, role="active")
    _apply(out, stable, observed.services.get(name))
    preview = desired.service(
        server, spec, name=preview_name, revision=candidate or active, role="preview"
    )
    _apply(out, preview, observed.services.get(preview_name))
    if spec.autoscaling and active:
        hpa = _hpa(server, spec, f"{name}-{active}")
        _apply(out, hpa, observed.hpas.get(name))
    elif not spec.autoscaling and name in observed.hpas:
        live_hpa = observed.hpas[name]
        out.delete.append(
            Delete("autoscaling/v2", "HorizontalPodAutoscaler", name, live_hpa["metadata"]["uid"])
        )
        out.events.append(EventSpec("Normal", "AutoscalingRemoved", "autoscaling turned off"))

    # ---- status
    active_dep = observed.deployments.get(active) if active else None
    active_status = (active_dep or {}).get("status") or {}
    ready = int(active_status.get("readyReplicas", 0) or 0)
    just_switched = "promoted" in out.outcomes
    is_ready = active is not None and (just_switched or serving_ready(active_dep, want))
    scaling = active is not None and not is_ready and settling(active_dep, want)
    conditions: list[Condition] = []
    if active is None:
        conditions.append(
            Condition(
                type="Ready",
                status="False",
                reason="NoActiveRevision",
                message=f"no revision serves traffic yet; {revision} is being rolled out"
                if candidate
                else f"no revision serves traffic: {failure}",
            )
        )
    else:
        conditions.append(
            Condition(
                type="Ready",
                status="True" if is_ready else "False",
                reason="Available" if is_ready else "NotAvailable",
                message=f"revision {active}: {ready}/{want} replicas ready",
            )
        )
    if candidate:
        conditions.append(
            Condition(
                type="Progressing",
                status="True",
                reason={"Paused": "Paused", "Promoting": "AwaitingPromotion"}.get(
                    rollout_phase, "RolloutInProgress"
                ),
                message=(
                    f"revision {candidate}: "
                    + {
                        "Progressing": "waiting for it to become available",
                        "Testing": "running test suites against the preview Service",
                        "Promoting": "tests passed; annotate mcpops.dev/promote="
                        f"{candidate} to switch traffic",
                        "Paused": "paused (annotation mcpops.dev/paused=true)",
                    }.get(rollout_phase, rollout_phase)
                ),
            )
        )
    else:
        conditions.append(
            Condition(
                type="Progressing",
                status="False",
                reason="Complete" if not failed or failed != revision else "RolloutFailed",
                message=f"revision {active} serves traffic" if active else "nothing serves",
            )
        )
    if failed and failed == revision:
        conditions.append(
            Condition(
                type="Degraded",
                status="True",
                reason="RolloutFailed",
                message=f"revision {failed} failed: {failure}. Traffic stays on "
                f"{active or 'no revision'}. Change the spec, or annotate "
                f"mcpops.dev/retry=<any new value> to try it again.",
            )
        )
    elif scaling:
        conditions.append(
            Condition(
                type="Degraded",
                status="False",
                reason="Scaling",
                message=f"revision {active}: {ready}/{want} replicas ready, scaling",
            )
        )
    elif active is not None and not is_ready:
        conditions.append(
            Condition(
                type="Degraded",
                status="True",
                reason="ReplicasUnavailable",
                message=f"revision {active}: {ready}/{want} replicas ready",
            )
        )
    else:
        conditions.append(Condition(type="Degraded", status="False", reason="AsExpected"))
    if spec.tests:
        results = {t.get("result") for t in tests_status}
        if candidate and rollout_phase in {"Progressing", "Paused"}:
            tp = Condition(type="TestsPassed", status="Unknown", reason="Waiting")
        elif "Failed" in results and (failed == revision):
            tp = Condition(
                type="TestsPassed", status="False", reason="SuiteFailed", message=failure
            )
        elif results == {"Passed"}:
            tp = Condition(type="TestsPassed", status="True", reason="AllSuitesPassed")
        elif failed == revision:
            tp = Condition(type="TestsPassed", status="False", reason="NotRun", message=failure)
        else:
            tp = Condition(type="TestsPassed", status="Unknown", reason="Running")
        conditions.append(tp)
    if rolled_back:
        conditions.append(
            Condition(type="RolledBack", status="True", reason="PostSwitchUnready", message=failure)
        )
    for cond in conditions:
        cond.observed_generation = generation

    if paused and candidate:
        phase = "Paused"
    elif candidate:
        phase = rollout_phase or "Progressing"
    elif previous:
        phase = "Verifying"
    elif failed and failed == revision:
        phase = "Degraded"
    elif active is None:
        phase = "Pending"
    elif is_ready:
        phase = "Healthy"
    elif scaling:
        phase = "Progressing"
    else:
        phase = "Degraded"
    if failure:
        ro["failureReason"] = failure
    else:
        ro.pop("failureReason", None)
    if rolled_back:
        ro["rolledBack"] = True
    else:
        ro.pop("rolledBack", None)
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": phase,
        "replicas": int(active_status.get("replicas", 0) or 0),
        "readyReplicas": ready,
        "url": f"http://{name}.{namespace}.svc:{spec.port}{spec.path}",
        "previewUrl": preview_url,
        "conditions": merge_conditions(
            old_status.get("conditions", []), conditions, now_s, CONDITIONS
        ),
        "revisions": history,
        "rollout": ro,
    }
    if active:
        status["activeRevision"] = active
    if candidate:
        status["candidateRevision"] = candidate
    if failed:
        status["failedRevision"] = failed
    if tests_status:
        status["tests"] = tests_status
    _timeline(out, old_status, status, now)
    out.status = status
    if wakeups:
        out.requeue_after = max(1.0, min(wakeups))
    return out


def _timeline(out: Plan, old_status: dict[str, Any], status: dict[str, Any], now: datetime) -> None:
    """Phase timestamps in status, and what the metrics learn from this step."""
    now_s = fmt_time(now)
    phase, before = status["phase"], old_status.get("phase")
    since = old_status.get("phaseSince")
    if before != phase or not since:
        since = now_s
        entered = parse_time(old_status.get("phaseSince"))
        if before and entered:
            out.phase_durations.append((before, max(0.0, (now - entered).total_seconds())))
    status["phaseSince"] = since

    # The revision the phase is about: the candidate, the one being verified, or the spec's.
    subject = status.get("candidateRevision") or status.get("activeRevision")
    if phase == "Degraded" and status.get("failedRevision"):
        subject = status["failedRevision"]
    for rec in status["revisions"]:
        if rec["revision"] != subject:
            continue
        phases = dict(rec.get("phases") or {})
        # A revision that never rolled out (adopted) gets no timeline at rest.
        if phase in ROLLOUT_PHASES or (phases and phase in {"Healthy", "Degraded"}):
            phases.setdefault(phase, now_s)
            rec["phases"] = phases

    # Suite runs that reached a verdict in this step (each Job counted once).
    seen = {(t.get("job"), t.get("result")) for t in old_status.get("tests") or []}
    for t in status.get("tests") or []:
        result = t.get("result")
        if result in {"Passed", "Failed", "Error"} and (t.get("job"), result) not in seen:
            timed_out = any(m.startswith("timed out") for m in t.get("messages") or [])
            out.test_results.append(
                "passed" if result == "Passed" else "timeout" if timed_out else "failed"
            )


def _replicas(live: dict[str, Any], default: int) -> int:
    return int((live.get("spec") or {}).get("replicas", default))


def finished(job: dict[str, Any]) -> bool:
    return bool(true_condition(job, "Complete") or true_condition(job, "Failed"))


def _suite_status(suite: str, revision: str, v: SuiteVerdict, job: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"suite": suite, "revision": revision, "result": v.verdict, "job": job}
    if v.result is not None:
        entry.update(
            passed=v.result.passed,
            failed=v.result.failed,
            skipped=v.result.skipped,
            durationSeconds=round(v.result.duration_seconds, 3),
        )
        messages = [f"{c.name}: {c.message}"[:500] for c in v.result.checks if c.status == "failed"]
        if messages:
            entry["messages"] = messages[:5]
    if v.verdict == "Failed" and "messages" not in entry:
        entry["messages"] = [v.reason[:500]]
    return entry


def _rescale(live: dict[str, Any], replicas: int | None) -> dict[str, Any]:
    """An apply manifest for an existing Deployment, keeping its template, new replica count."""
    manifest: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": live["metadata"]["name"],
            "namespace": live["metadata"]["namespace"],
            "labels": dict(live["metadata"].get("labels") or {}),
            "ownerReferences": live["metadata"].get("ownerReferences") or [],
        },
        "spec": {
            "revisionHistoryLimit": 0,
            "selector": live["spec"]["selector"],
            "strategy": live["spec"].get("strategy")
            or {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": live["spec"]["template"],
        },
    }
    if replicas is not None:
        manifest["spec"]["replicas"] = replicas
    return stamp(manifest)


def _apply(out: Plan, manifest: dict[str, Any], live: dict[str, Any] | None) -> None:
    if up_to_date(manifest, live):
        out.skipped_writes += 1
        return
    out.apply.append(manifest)


__all__ = [
    "REVISION_LABEL",
    "SERVER_LABEL",
    "Delete",
    "EventSpec",
    "Observed",
    "Plan",
    "deployment_available",
    "plan",
]
