"""Status conditions: merging them (keeping lastTransitionTime), the failure pair every
kind sets, reading a child's conditions, and the message for a spec that failed validation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from pydantic import ValidationError

from mcpops.api.base import Condition
from mcpops.objects.bodies import Body, ConditionBody


def true_condition(obj: Body | None, type_: str) -> ConditionBody | None:
    """The condition of this type when its status is True (Job Complete/Failed and the like)."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_ and cond.get("status") == "True":
            return cast(ConditionBody, dict(cond))
    return None


def merge_conditions(
    old: Sequence[Any],
    new: list[Condition],
    now: str,
    owned: frozenset[str] | None = None,
) -> list[ConditionBody]:
    """Keep lastTransitionTime when a condition's status did not change.

    With `owned` (the condition types this operator writes), conditions of other types
    that someone else added are kept, after ours: they are not ours to remove.
    """
    previous = {c.get("type"): c for c in old or []}
    out: list[ConditionBody] = []
    for cond in new:
        wire = cast(ConditionBody, cond.to_wire())
        prior = previous.get(cond.type)
        if prior and prior.get("status") == cond.status and prior.get("lastTransitionTime"):
            wire["lastTransitionTime"] = prior["lastTransitionTime"]
        else:
            wire["lastTransitionTime"] = now
        out.append(wire)
    if owned is not None:
        ours = owned | {c.type for c in new}
        out += [cast(ConditionBody, dict(c)) for c in old or [] if c.get("type") not in ours]
    return out


# The two conditions every failure sets, and the operator's to replace.
FAILURE_CONDITIONS = frozenset({"Ready", "Degraded"})


def failure_status(
    base: Body,
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
