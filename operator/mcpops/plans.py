"""The vocabulary every kind's pure plan shares: Events, deletes, conditions, times,
and the status merge patch. No API calls here (mcpops.writer writes plans)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from mcpops.api.base import Condition

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


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


def fmt_time(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as written by fmt_time (or the API server); None if not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def true_condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    """The condition of this type when its status is True (Job Complete/Failed and the like)."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_ and cond.get("status") == "True":
            return dict(cond)
    return None


def merge_conditions(
    old: list[dict[str, Any]],
    new: list[Condition],
    now: str,
    owned: frozenset[str] | None = None,
) -> list[dict[str, Any]]:
    """Keep lastTransitionTime when a condition's status did not change.

    With `owned` (the condition types this operator writes), conditions of other types
    that someone else added are kept, after ours: they are not ours to remove.
    """
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
    if owned is not None:
        ours = owned | {c.type for c in new}
        out += [dict(c) for c in old or [] if c.get("type") not in ours]
    return out


def merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The RFC 7386 JSON merge patch that turns old into new.

    Nested maps merge on the server, so a key dropped at any depth must be sent
    as null, or it would come back on the next read.
    """
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            sub = merge_patch(before, value)
            if sub:
                patch[key] = sub
        elif value != before or key not in old:
            patch[key] = value
    for gone in set(old) - set(new):
        patch[gone] = None
    return patch


def status_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """A merge patch from old to new status, or None when they are equal."""
    if old == new:
        return None
    return merge_patch(old, new) or None


# The two conditions every failure sets, and the operator's to replace.
FAILURE_CONDITIONS = frozenset({"Ready", "Degraded"})


def failure_status(
    base: dict[str, Any],
    reason: str,
    message: str,
    now: str,
    *,
    generation: int | None = None,
    phase: str | None = None,
    owned: frozenset[str] = FAILURE_CONDITIONS,
) -> dict[str, Any]:
    """`base` with Ready False and Degraded True for one reason (and the phase, if given).

    Conditions of other types are kept unless `owned` names them.
    """
    conditions = [
        Condition(type=t, status=s, reason=reason, message=message, observed_generation=generation)
        for t, s in (("Ready", "False"), ("Degraded", "True"))
    ]
    status = {
        **base,
        "conditions": merge_conditions(base.get("conditions") or [], conditions, now, owned),
    }
    if phase is not None:
        status["phase"] = phase
    return status


def validation_message(exc: ValidationError) -> str:
    """The first errors of a spec that failed validation, each naming its field."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"spec.{loc}: {msg}" if loc else f"spec: {msg}")
    return "; ".join(parts)
