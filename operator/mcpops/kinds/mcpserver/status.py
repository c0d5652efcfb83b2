"""What an MCPServer's status says of the rollout's state: the phase, the conditions (with
reasons and messages a person can act on), the timeline of each revision, and what the
metrics learn from the step. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mcpops.api.base import Condition, ConditionStatus
from mcpops.kinds.mcpserver import exposure, network, security, verification
from mcpops.kinds.mcpserver.observed import ready_replicas, replicas_of, serving_ready, settling
from mcpops.kinds.mcpserver.rollout import ROLLOUT_PHASES
from mcpops.kinds.mcpserver.state import Inputs, Plan, State
from mcpops.objects.conditions import merge_conditions
from mcpops.objects.timestamps import fmt_time, parse_time

# The condition types this operator writes on an MCPServer; others belong to someone else.
CONDITIONS = frozenset(
    {
        "Ready",
        "Progressing",
        "Degraded",
        "TestsPassed",
        "RolledBack",
        "AnalysisPassed",
        "ReferencesResolved",
        exposure.CONDITION,
        network.CONDITION,
        security.CONDITION,
    }
)

PROGRESSING_REASONS = {"Paused": "Paused", "Promoting": "AwaitingPromotion"}


@dataclass(frozen=True)
class Serving:
    """How the serving revision is doing."""

    active: str | None
    ready: int  # ready pods
    is_ready: bool
    scaling: bool  # not ready, but the Deployment controller is still at work

    @classmethod
    def of(cls, st: State, inp: Inputs, out: Plan) -> Serving:
        dep = inp.deployment(st.active)
        just_switched = "promoted" in out.outcomes
        is_ready = st.active is not None and (just_switched or serving_ready(dep, inp.want))
        scaling = st.active is not None and not is_ready and settling(dep, inp.want)
        return cls(st.active, ready_replicas(dep), is_ready, scaling)


def _failed_now(st: State, inp: Inputs) -> bool:
    """The spec's revision is the failed one (not some earlier revision)."""
    return bool(st.failed and st.failed == inp.revision)


def ready(st: State, inp: Inputs, s: Serving) -> Condition:
    if s.active is None:
        message = (
            f"no revision serves traffic yet; {inp.revision} is being rolled out"
            if st.candidate
            else f"no revision serves traffic: {inp.waiting or st.failure}"
        )
        return Condition(type="Ready", status="False", reason="NoActiveRevision", message=message)
    return Condition(
        type="Ready",
        status="True" if s.is_ready else "False",
        reason="Available" if s.is_ready else "NotAvailable",
        message=f"revision {s.active}: {s.ready}/{inp.want} replicas ready",
    )


def progressing(st: State, inp: Inputs) -> Condition:
    if inp.waiting:
        return Condition(
            type="Progressing",
            status="False",
            reason="MissingReference",
            message=f"the spec's revision waits: {inp.waiting}",
        )
    if not st.candidate:
        return Condition(
            type="Progressing",
            status="False",
            reason="RolloutFailed" if _failed_now(st, inp) else "Complete",
            message=f"revision {st.active} serves traffic" if st.active else "nothing serves",
        )
    scaling = "tests passed; scaling up for the switch" if st.record.tests_passed_at else ""
    what = {
        "Progressing": scaling or "waiting for it to become available",
        "Testing": "running test suites against the preview Service",
        "Promoting": (
            f"tests passed; traffic switches after rollout.autoPromoteSeconds "
            f"({inp.cfg.auto_promote_seconds}s), or now with mcpops.dev/promote={st.candidate}"
            if inp.cfg.auto_promote
            else f"tests passed; annotate mcpops.dev/promote={st.candidate} to switch traffic"
        ),
        "Paused": "paused (annotation mcpops.dev/paused=true)",
    }.get(st.phase, st.phase)
    return Condition(
        type="Progressing",
        status="True",
        reason=PROGRESSING_REASONS.get(st.phase, "RolloutInProgress"),
        message=f"revision {st.candidate}: {what}",
    )


def degraded(st: State, inp: Inputs, s: Serving) -> Condition:
    if _failed_now(st, inp):
        return Condition(
            type="Degraded",
            status="True",
            reason="RolloutFailed",
            message=f"revision {st.failed} failed: {st.failure}. Traffic stays on "
            f"{st.active or 'no revision'}. Change the spec, or annotate "
            f"mcpops.dev/retry=<any new value> to try it again.",
        )
    serving = f"revision {s.active}: {s.ready}/{inp.want} replicas ready"
    if s.scaling:
        return Condition(
            type="Degraded", status="False", reason="Scaling", message=f"{serving}, scaling"
        )
    if s.active is not None and not s.is_ready:
        return Condition(
            type="Degraded", status="True", reason="ReplicasUnavailable", message=serving
        )
    return verification.degraded(st) or Condition(
        type="Degraded", status="False", reason="AsExpected"
    )


def tests_passed(st: State, inp: Inputs) -> Condition | None:
    if not inp.spec.tests:
        return None
    results = {t.get("result") for t in st.tests}
    failed_now = _failed_now(st, inp)
    if st.candidate and st.phase in {"Progressing", "Paused"}:
        return Condition(type="TestsPassed", status="Unknown", reason="Waiting")
    if "Failed" in results and failed_now:
        return Condition(
            type="TestsPassed", status="False", reason="SuiteFailed", message=st.failure
        )
    if results == {"Passed"}:
        return Condition(type="TestsPassed", status="True", reason="AllSuitesPassed")
    if failed_now:
        return Condition(type="TestsPassed", status="False", reason="NotRun", message=st.failure)
    return Condition(type="TestsPassed", status="Unknown", reason="Running")


ANALYSIS_CONDITION: dict[str, tuple[ConditionStatus, str]] = {
    "Running": ("Unknown", "Running"),
    "Passed": ("True", "WithinThresholds"),
    "Inconclusive": ("Unknown", "TooFewCalls"),
    "Failed": ("False", "ThresholdBreached"),
}


def analysis_passed(st: State) -> Condition | None:
    """rollout.analysis of the revision that took traffic at the last switch."""
    result = st.record.analysis_result
    if result is None:
        return None
    status, reason = ANALYSIS_CONDITION[result]
    return Condition(
        type="AnalysisPassed",
        status=status,
        reason=reason,
        message=st.record.analysis_message or "",
    )


def references_resolved(inp: Inputs) -> Condition | None:
    """Whether every ConfigMap and Secret the pods read exists (when they read any)."""
    if inp.waiting:
        return Condition(
            type="ReferencesResolved",
            status="False",
            reason="MissingReference",
            message=inp.waiting,
        )
    if inp.refs.hash is None:
        return None
    found = ", ".join(f"{k} {n}" for k, n, _ in inp.refs.found) or "optional ones only"
    return Condition(
        type="ReferencesResolved",
        status="True",
        reason="Resolved",
        message=f"revision {inp.revision} reads {found}",
    )


def conditions(
    st: State, inp: Inputs, s: Serving, exposed: exposure.Verdict | None
) -> list[Condition]:
    out = [ready(st, inp, s), progressing(st, inp), degraded(st, inp, s)]
    for extra in (
        tests_passed(st, inp),
        references_resolved(inp),
        exposed.condition if exposed else None,
        network.condition(inp),
        analysis_passed(st),
        security.condition(inp.spec, inp.namespace, inp.name),
    ):
        if extra is not None:
            out.append(extra)
    if st.record.rolled_back:
        out.append(
            Condition(
                type="RolledBack",
                status="True",
                reason="AnalysisFailed"
                if st.record.analysis_result == "Failed"
                else "PostSwitchUnready",
                message=st.failure,
            )
        )
    generation = inp.server["metadata"].get("generation", 1)
    for cond in out:
        cond.observed_generation = generation
    return out


def phase(st: State, inp: Inputs, s: Serving) -> str:
    if st.candidate:
        return st.phase or "Progressing"
    if st.previous and not st.record.drain_started_at:
        # Draining is the previous revision's business (status.draining): the new one
        # is verified by then, and the phase says how it serves.
        return "Verifying"
    if _failed_now(st, inp):
        return "Degraded"
    if s.active is None:
        return "Pending"
    if s.is_ready:
        return "Degraded" if verification.failing(st) else "Healthy"
    return "Progressing" if s.scaling else "Degraded"


def status(st: State, inp: Inputs, out: Plan) -> dict[str, Any]:
    """The whole status, from the state after the steps."""
    old: dict[str, Any] = inp.server.get("status") or {}
    s = Serving.of(st, inp, out)
    exposed = exposure.verdict(inp)
    new: dict[str, Any] = {
        "observedGeneration": inp.server["metadata"].get("generation", 1),
        "phase": phase(st, inp, s),
        "replicas": replicas_of(inp.deployment(st.active)),
        "readyReplicas": s.ready,
        "url": inp.url,
        "previewUrl": inp.preview_url,
        "conditions": merge_conditions(
            old.get("conditions", []), conditions(st, inp, s, exposed), inp.now_s, CONDITIONS
        ),
        "revisions": st.history.entries,
        "rollout": st.record.to_wire(),
        "network": network.summary(inp),
    }
    for key, value in (
        ("activeRevision", st.active),
        ("candidateRevision", st.candidate),
        ("failedRevision", st.failed),
        ("tests", st.tests),
        ("scheduledTests", st.scheduled),
        ("references", inp.refs.status()),
        ("externalUrl", exposed.url if exposed else None),
    ):
        if value:
            new[key] = value
    if st.previous and st.record.drain_started_at:
        switched = parse_time(st.record.switched_at) or inp.now
        new["draining"] = {
            "revision": st.previous,
            "openSessions": st.record.drain_sessions or 0,
            "since": st.record.drain_started_at,
            "deadline": fmt_time(switched + timedelta(seconds=inp.cfg.drain_seconds)),
        }
    protocol = protocol_version(old, st.active, inp.observed.protocols)
    if protocol:
        new["protocolVersion"] = protocol
    _protocol_event(out, old, new)
    timeline(out, old, new, inp.now)
    return new


def protocol_version(old: dict[str, Any], active: str | None, known: dict[str, str]) -> str | None:
    """The active revision's protocol revision: as its proxies classified it, else what the
    last status said of the same revision (the operator asks once per revision, and a
    restarted operator has not asked yet)."""
    if active is None:
        return None
    if active in known:
        return known[active]
    if old.get("activeRevision") == active and isinstance(old.get("protocolVersion"), str):
        return str(old["protocolVersion"])
    return None


def _protocol_event(out: Plan, old: dict[str, Any], new: dict[str, Any]) -> None:
    """An Event when the serving revision's protocol becomes known or changes."""
    protocol = new.get("protocolVersion")
    if protocol and protocol != old.get("protocolVersion"):
        before = old.get("protocolVersion")
        out.event(
            "Normal",
            "ProtocolVersion",
            f"revision {new.get('activeRevision')} speaks MCP {protocol}"
            + (f" (was {before})" if before else ""),
        )


def timeline(out: Plan, old: dict[str, Any], new: dict[str, Any], now: datetime) -> None:
    """Phase timestamps in status, and what the metrics learn from this step."""
    _phase_since(out, old, new, now)
    _revision_phases(new, now)
    _finished_suites(out, old, new)


def _phase_since(out: Plan, old: dict[str, Any], new: dict[str, Any], now: datetime) -> None:
    phase, before = new["phase"], old.get("phase")
    since = old.get("phaseSince")
    if before != phase or not since:
        since = fmt_time(now)
        entered = parse_time(old.get("phaseSince"))
        if before and entered:
            out.phase_durations.append((before, max(0.0, (now - entered).total_seconds())))
    new["phaseSince"] = since


def _revision_phases(new: dict[str, Any], now: datetime) -> None:
    """The revision the phase is about (the candidate, the one being verified, or the
    failed one) gets the phase's start in its timeline."""
    phase = new["phase"]
    subject = new.get("candidateRevision") or new.get("activeRevision")
    if phase == "Degraded" and new.get("failedRevision"):
        subject = new["failedRevision"]
    for rec in new["revisions"]:
        if rec["revision"] != subject:
            continue
        phases = dict(rec.get("phases") or {})
        # A revision that never rolled out (adopted) gets no timeline at rest.
        if phase in ROLLOUT_PHASES or (phases and phase in {"Healthy", "Degraded"}):
            phases.setdefault(phase, fmt_time(now))
            rec["phases"] = phases


def _finished_suites(out: Plan, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Suite runs that reached a verdict in this step (each Job counted once)."""
    seen = {(t.get("job"), t.get("result")) for t in old.get("tests") or []}
    for t in new.get("tests") or []:
        result = t.get("result")
        if result in {"Passed", "Failed", "Error"} and (t.get("job"), result) not in seen:
            timed_out = any(m.startswith("timed out") for m in t.get("messages") or [])
            out.test_results.append(
                "passed" if result == "Passed" else "timeout" if timed_out else "failed"
            )
