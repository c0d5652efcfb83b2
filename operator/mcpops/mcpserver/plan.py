"""Decide what an MCPServer needs, from what was observed. Pure: no API calls.

observed cluster state + the MCPServer in, a Plan (manifests to apply, objects
to delete, the status to write, Events to post, when to look again) out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from mcpops.api.base import Condition
from mcpops.api.mcpserver import MCPServerSpec, Rollout
from mcpops.children import labels, owner_reference, stamp, up_to_date
from mcpops.mcpserver import desired
from mcpops.mcpserver.desired import REVISION_LABEL, SERVER_LABEL


@dataclass(frozen=True)
class EventSpec:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Delete:
    api_version: str
    kind: str
    name: str
    uid: str


@dataclass
class Observed:
    """Children of one MCPServer as the watch caches last saw them."""

    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)  # by revision
    services: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name
    hpas: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name


@dataclass
class Plan:
    apply: list[dict[str, Any]] = field(default_factory=list)
    delete: list[Delete] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    events: list[EventSpec] = field(default_factory=list)
    requeue_after: float | None = None
    skipped_writes: int = 0


def fmt_time(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def merge_conditions(
    old: list[dict[str, Any]], new: list[Condition], now: str
) -> list[dict[str, Any]]:
    """Keep lastTransitionTime when a condition's status did not change."""
    previous = {c.get("type"): c for c in old or []}
    out = []
    for cond in new:
        wire = cond.to_wire()
        prior = previous.get(cond.type)
        if prior and prior.get("status") == cond.status and prior.get("lastTransitionTime"):
            wire["lastTransitionTime"] = prior["lastTransitionTime"]
        else:
            wire["lastTransitionTime"] = now
        out.append(wire)
    return out


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


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"spec.{loc}: {err['msg']}")
    return "; ".join(parts)


def plan(server: dict[str, Any], observed: Observed, now: datetime) -> Plan:
    meta = server["metadata"]
    name = meta["name"]
    generation = meta.get("generation", 1)
    old_status: dict[str, Any] = server.get("status") or {}
    now_s = fmt_time(now)
    out = Plan()

    try:
        spec = MCPServerSpec.model_validate(server.get("spec") or {})
    except ValidationError as exc:
        message = _validation_message(exc)
        invalid = [
            Condition(type="Ready", status="False", reason="InvalidSpec", message=message),
            Condition(type="Degraded", status="True", reason="InvalidSpec", message=message),
        ]
        out.status = {
            **old_status,
            "observedGeneration": generation,
            "phase": "Failed",
            "conditions": merge_conditions(old_status.get("conditions", []), invalid, now_s),
        }
        if old_status.get("observedGeneration") != generation:
            out.events.append(EventSpec("Warning", "InvalidSpec", message))
        return out

    rollout = spec.rollout or Rollout()
    revision = desired.revision_of(name, spec)
    active: str | None = old_status.get("activeRevision")
    if active and active not in observed.deployments and active != revision:
        active = None  # its Deployment is gone (deleted by hand); do not point at nothing
    history: list[dict[str, Any]] = list(old_status.get("revisions") or [])
    known = {r["revision"] for r in history}
    if revision not in known:
        history.insert(0, {"revision": revision, "image": spec.image, "createdAt": now_s})
        if active is not None or history[1:]:
            out.events.append(
                EventSpec("Normal", "RevisionCreated", f"new revision {revision} ({spec.image})")
            )

    candidate = revision if revision != active else None
    candidate_dep = observed.deployments.get(revision)
    switched = False
    if candidate and deployment_available(candidate_dep, spec.replicas):
        # Until test gates exist, an available revision takes traffic.
        previous = active
        active, candidate, switched = revision, None, True
        for rec in history:
            if rec["revision"] == revision:
                rec["promotedAt"] = now_s
                rec["outcome"] = "Active"
            elif rec["revision"] == previous:
                rec["outcome"] = "Superseded"
        out.events.append(
            EventSpec(
                "Normal",
                "TrafficSwitched",
                f"stable Service now sends traffic to revision {revision}"
                + (f" (was {previous})" if previous else ""),
            )
        )

    # Deployments: the active and the candidate run; the rest are kept at zero
    # up to the history limit and deleted beyond it.
    keep_inactive = rollout.revision_history_limit
    inactive_order = [r["revision"] for r in history if r["revision"] not in {active, candidate}]
    kept_inactive = set(inactive_order[:keep_inactive])
    running = {r for r in (active, candidate) if r}
    for rev in running:
        replicas = spec.replicas
        manifest = desired.deployment(server, spec, rev, replicas)
        if rev == active and spec.autoscaling:
            manifest["spec"].pop("replicas")  # the HPA owns it
            stamp(manifest)
        if rev != revision:
            # An older active revision keeps its own pod template: rebuild it from
            # the live object rather than from today's spec.
            live = observed.deployments.get(rev)
            if live is not None:
                manifest = _rescale(live, replicas if not spec.autoscaling else None)
        _apply(out, manifest, observed.deployments.get(rev))
    for rev, dep in observed.deployments.items():
        if rev in running:
            continue
        if rev in kept_inactive:
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
    history = [r for r in history if r["revision"] in running or r["revision"] in kept_inactive]

    stable = desired.service(server, spec, name=name, revision=active, role="active")
    _apply(out, stable, observed.services.get(name))
    preview_name = desired.preview_name(name)
    preview = desired.service(
        server, spec, name=preview_name, revision=candidate or active, role="preview"
    )
    _apply(out, preview, observed.services.get(preview_name))
    if spec.autoscaling and active:
        hpa = _hpa(server, spec, f"{name}-{active}")
        _apply(out, hpa, observed.hpas.get(name))

    # ---- status
    active_dep = observed.deployments.get(active) if active else None
    active_status = (active_dep or {}).get("status") or {}
    ready = int(active_status.get("readyReplicas", 0) or 0)
    replicas_now = int(active_status.get("replicas", 0) or 0)
    want = spec.replicas
    is_ready = active is not None and (switched or serving_ready(active_dep, want))
    scaling = active is not None and not is_ready and settling(active_dep, want)
    stall = deadline_exceeded(candidate_dep) if candidate else None
    conditions: list[Condition] = []
    if active is None:
        conditions.append(
            Condition(
                type="Ready",
                status="False",
                reason="NoActiveRevision",
                message=f"waiting for revision {revision} to become available",
            )
        )
    elif is_ready:
        conditions.append(
            Condition(
                type="Ready",
                status="True",
                reason="Available",
                message=f"revision {active}: {ready}/{want} replicas ready",
            )
        )
    else:
        conditions.append(
            Condition(
                type="Ready",
                status="False",
                reason="NotAvailable",
                message=f"revision {active}: {ready}/{want} replicas ready",
            )
        )
    if candidate:
        conditions.append(
            Condition(
                type="Progressing",
                status="True",
                reason="RolloutInProgress",
                message=f"bringing up revision {candidate}",
            )
        )
    else:
        conditions.append(
            Condition(
                type="Progressing",
                status="False",
                reason="Complete",
                message=f"revision {active} serves traffic" if active else "nothing to roll out",
            )
        )
    if stall:
        conditions.append(
            Condition(
                type="Degraded", status="True", reason="ProgressDeadlineExceeded", message=stall
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
    for cond in conditions:
        cond.observed_generation = generation

    if candidate or scaling:
        phase = "Progressing"
    elif active is None:
        phase = "Pending"
    elif is_ready:
        phase = "Healthy"
    else:
        phase = "Degraded"
    namespace = meta["namespace"]
    status: dict[str, Any] = {
        **{k: v for k, v in old_status.items() if k not in {"candidateRevision"}},
        "observedGeneration": generation,
        "phase": phase,
        "replicas": replicas_now,
        "readyReplicas": ready,
        "url": f"http://{name}.{namespace}.svc:{spec.port}{spec.path}",
        "previewUrl": f"http://{preview_name}.{namespace}.svc:{spec.port}{spec.path}",
        "conditions": merge_conditions(old_status.get("conditions", []), conditions, now_s),
        "revisions": history,
    }
    if active:
        status["activeRevision"] = active
    else:
        status.pop("activeRevision", None)
    if candidate:
        status["candidateRevision"] = candidate
    out.status = status
    if candidate and not stall:
        out.requeue_after = 30.0  # the Deployment watch wakes us sooner; this is a backstop
    return out


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
            "template": _strip_template_defaults(live["spec"]["template"]),
        },
    }
    if replicas is not None:
        manifest["spec"]["replicas"] = replicas
    return stamp(manifest)


def _strip_template_defaults(template: dict[str, Any]) -> dict[str, Any]:
    """Keep the live template as is; the API server ignores defaulted fields on apply."""
    return template


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
