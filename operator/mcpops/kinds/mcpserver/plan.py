"""Decide what an MCPServer needs, from what was observed. Pure: no API calls.

The MCPServer and its observed children in; a Plan (manifests to apply, objects to
delete, the status to write, Events to post, when to look again) out. `plan()` only
sequences: read the rollout's state from status, run the rollout's steps
(rollout.STEPS: requests, verify, the candidate's progress, tests, the switch), then the
children's (children.STEPS: Deployments, scale-down, test Jobs, Services, autoscaler;
exposure.expose: the HTTPRoute or Ingress; network.network: the NetworkPolicy),
and write the state back as status (status.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from mcpops import OPERATOR_IMAGE as DEFAULT_OPERATOR_IMAGE
from mcpops import PROXY_IMAGE as DEFAULT_PROXY_IMAGE
from mcpops.api.mcpserver import MCPServerSpec, RolloutRecord
from mcpops.kinds.mcpserver import (
    children,
    desired,
    exposure,
    network,
    references,
    rollout,
    secured,
    updates,
    verification,
)
from mcpops.kinds.mcpserver import status as status_
from mcpops.kinds.mcpserver.netcontext import NetworkContext
from mcpops.kinds.mcpserver.observed import Observed, deployment_available
from mcpops.kinds.mcpserver.rollout import ROLLOUT_PHASES
from mcpops.kinds.mcpserver.state import History, Inputs, Plan, State
from mcpops.objects.bodies import Body, Revision
from mcpops.objects.conditions import failure_status, validation_message
from mcpops.objects.timestamps import fmt_time

# Scheduled suites act between the rollout and the children: they may start Jobs, and
# (onFailure: Rollback) bring a kept revision up and move traffic to it.
STEPS = (
    *rollout.STEPS,
    verification.scheduled,
    *children.STEPS,
    exposure.expose,
    network.network,
    secured.secure,
)


def plan(
    server: Body,
    observed: Observed,
    now: datetime,
    *,
    image: str = DEFAULT_OPERATOR_IMAGE,
    proxy_image: str = DEFAULT_PROXY_IMAGE,
    found: updates.Found | None = None,
    net: NetworkContext | None = None,
) -> Plan:
    """`image`: the operator image (test runner; sse servers' health sidecar);
    `proxy_image`: the in-pod proxy's; `found`: what the last lookup of spec.updates'
    source found; `net`: where cluster DNS and the operator are (spec.network)."""
    try:
        spec = MCPServerSpec.model_validate(server.get("spec") or {})
    except ValidationError as exc:
        return invalid(server, exc, now)
    # spec.updates: the version decided on is pinned in what the pods run (and the revision)
    spec, update = updates.prepare(server, spec, found, now)
    refs = references.resolve(references.references(spec.to_wire()), observed.configs)
    template = desired.pod_template(
        server["metadata"]["name"], spec, image, refs.hash, proxy_image=proxy_image,
        namespace=server["metadata"].get("namespace") or "",
    )  # fmt: skip
    revision = desired.revision_for(template)
    inp = Inputs(
        server, spec, observed, now, image, template, revision, refs,
        net or NetworkContext(), proxy_image,
    )  # fmt: skip
    st = load(inp)
    out = Plan()
    for step in STEPS:
        step(st, inp, out)
    out.status = status_.status(st, inp, out)
    if update is not None:
        updates.finish(update, out, inp.revision, now)
    if out.wakeups:
        out.requeue_after = max(1.0, min(out.wakeups))
    return out


def load(inp: Inputs) -> State:
    """The rollout's state as the last status left it (of any version of mcpops: what
    cannot be read is left out, never an error)."""
    old: dict[str, Any] = inp.server.get("status") or {}
    active = old.get("activeRevision")
    if active and active not in inp.observed.deployments and active != inp.revision:
        active = None  # its Deployment is gone (deleted by hand); do not point at nothing
    failed = old.get("failedRevision")
    return State(
        record=RolloutRecord.load(old.get("rollout")),
        active=Revision(active) if active else None,
        failed=Revision(failed) if failed else None,
        history=History.load(old.get("revisions")),
        tests=[dict(t) for t in old.get("tests") or [] if isinstance(t, dict)],  # type: ignore[misc]
    )


def invalid(server: Body, exc: ValidationError, now: datetime) -> Plan:
    """A spec the schema let through but the model refuses: say which field, touch nothing."""
    out = Plan()
    old: dict[str, Any] = server.get("status") or {}
    generation = server["metadata"].get("generation", 1)
    message = validation_message(exc)
    out.status = failure_status(
        {**old, "observedGeneration": generation},
        "InvalidSpec",
        message,
        fmt_time(now),
        phase="Failed",
        owned=status_.CONDITIONS,
    )
    if old.get("observedGeneration") != generation:
        out.event("Warning", "InvalidSpec", message)
    return out


__all__ = ["ROLLOUT_PHASES", "Observed", "Plan", "deployment_available", "plan"]
