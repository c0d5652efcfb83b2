"""Why a solution is what it is, from what the solver runtime already reported.

Nothing is solved again: the runtime's solution.json gives the variable values and, for
linear programs solved to optimality by GLOP, PDLP, CLP or HiGHS, the duals and reduced
costs. With the model in the OptimizationJob's own form (spec.model), each constraint's
activity (its left-hand side at the solution) is a sum of products, so its slack and
whether it binds follow; so do the variable bounds that bind. For a problem given as an
MPS or LP file the operator does not parse the file, so only the duals (a nonzero dual
means the constraint binds) and reduced costs (a nonzero one means the variable sits at
a bound) are there to explain with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

DEFAULT_TOLERANCE = 1e-6


def _near(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


def _finite(x: Any) -> float | None:
    if isinstance(x, int | float) and math.isfinite(x):
        return float(x)
    return None


def _bound_at(x: float, lo: float | None, hi: float | None, tol: float) -> str | None:
    """Which finite bound `x` sits at (upper first), if any."""
    if hi is not None and _near(x, hi, tol):
        return "upper"
    if lo is not None and _near(x, lo, tol):
        return "lower"
    return None


def _terms(constraint: Mapping[str, Any]) -> dict[str, float]:
    if constraint.get("coefficients") is not None:
        return {k: float(v) for k, v in constraint["coefficients"].items()}
    return {t["var"]: float(t["coef"]) for t in constraint.get("terms") or []}


def constraint_rows(
    model: Mapping[str, Any],
    values: Mapping[str, float],
    duals: Mapping[str, float | None] | None,
    tol: float = DEFAULT_TOLERANCE,
) -> list[dict[str, Any]]:
    """Each constraint at the solution: activity, bounds, slack (to the nearer finite
    bound), whether it binds, and its dual when the solver gave one."""
    rows = []
    for c in model.get("constraints") or []:
        activity = math.fsum(coef * values.get(var, 0.0) for var, coef in _terms(c).items())
        lo, hi = _finite(c.get("lowerBound")), _finite(c.get("upperBound"))
        slacks = [
            s
            for s in (None if hi is None else hi - activity, None if lo is None else activity - lo)
            if s is not None
        ]
        slack = min(slacks) if slacks else None
        binding_side = _bound_at(activity, lo, hi, tol)
        row: dict[str, Any] = {
            "name": c["name"],
            "activity": activity,
            "lowerBound": lo,
            "upperBound": hi,
            "slack": slack,
            "binding": binding_side is not None,
            "bindingSide": binding_side,
        }
        if duals is not None:
            row["dual"] = duals.get(c["name"])
        rows.append(row)
    return rows


def _variable_bounds(v: Mapping[str, Any]) -> tuple[float | None, float | None]:
    lo, hi = _finite(v.get("lowerBound")), _finite(v.get("upperBound"))
    if v.get("type") == "binary":
        lo = 0.0 if lo is None else max(lo, 0.0)
        hi = 1.0 if hi is None else min(hi, 1.0)
    return lo, hi


def variable_rows(
    model: Mapping[str, Any],
    values: Mapping[str, float],
    reduced_costs: Mapping[str, float | None] | None,
    tol: float = DEFAULT_TOLERANCE,
) -> list[dict[str, Any]]:
    """Each variable: value, bounds, which bound it sits at, reduced cost if given."""
    rows = []
    for v in model.get("variables") or []:
        value = float(values.get(v["name"], 0.0))
        lo, hi = _variable_bounds(v)
        at = _bound_at(value, lo, hi, tol)
        row: dict[str, Any] = {
            "name": v["name"],
            "value": value,
            "lowerBound": lo,
            "upperBound": hi,
            "type": v.get("type", "continuous"),
            "atBound": at,
        }
        if reduced_costs is not None:
            row["reducedCost"] = reduced_costs.get(v["name"])
        rows.append(row)
    return rows


def _by_dual(duals: Mapping[str, float | None], tol: float) -> list[dict[str, Any]]:
    """Without the model: the constraints whose dual is nonzero (they bind)."""
    rows = [
        {"name": k, "dual": d, "binding": True}
        for k, d in duals.items()
        if d is not None and abs(d) > tol
    ]
    return sorted(rows, key=lambda r: -abs(r["dual"]))


def _by_reduced_cost(
    reduced: Mapping[str, float | None], values: Mapping[str, float], tol: float
) -> list[dict[str, Any]]:
    rows = [
        {"name": k, "value": values.get(k), "reducedCost": r, "atBound": "a bound"}
        for k, r in reduced.items()
        if r is not None and abs(r) > tol
    ]
    return sorted(rows, key=lambda r: -abs(r["reducedCost"]))


def _importance(row: Mapping[str, Any]) -> tuple[int, float]:
    dual = row.get("dual")
    return (0 if row.get("binding") else 1, -abs(dual) if isinstance(dual, float) else 0.0)


def explain(
    job: Mapping[str, Any],
    solution: Mapping[str, Any] | None,
    *,
    max_items: int = 50,
    tol: float = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """The explanation get back by the `explain` tool. Pure."""
    meta, spec, st = job.get("metadata") or {}, job.get("spec") or {}, job.get("status") or {}
    out: dict[str, Any] = {
        "name": meta.get("name"),
        "phase": st.get("phase"),
        "solverStatus": st.get("solverStatus"),
        "solver": st.get("solver"),
        "objective": st.get("objective"),
        "bound": st.get("bound"),
        "gap": st.get("gap"),
        "notes": [],
    }
    notes: list[str] = out["notes"]
    if solution is None:
        notes.append(
            "no stored solution to explain (the job has not finished, found none, or its "
            "solution was too large to store: see get_status)"
        )
        return out
    values = {k: float(v) for k, v in (solution.get("values") or {}).items() if v is not None}
    duals, reduced = solution.get("duals"), solution.get("reducedCosts")
    if st.get("cancelled"):
        notes.append("cancelled: the solution is the best found until then, not proven optimal")
    if duals is None:
        notes.append(
            "no duals or reduced costs: the solver gives them only for linear programs solved "
            "to optimality by GLOP, PDLP, CLP or HIGHS"
        )
    else:
        notes.append(
            "dual: the change of the objective per unit the constraint's bound is relaxed; "
            "reduced cost: the change per unit a variable at a bound is moved into the problem"
        )
    model = spec.get("model")
    if spec.get("scenarios") or spec.get("sampling"):
        model = None
        notes.append(
            "a sweep: the solution is the best scenario's, whose bounds and coefficients differ "
            "from the base model, so slacks are not computed"
        )
    if model is None:
        if not (spec.get("scenarios") or spec.get("sampling")):
            notes.append(
                "the problem came as a file (MPS/LP), which the server does not parse: binding "
                "constraints are those with a nonzero dual, and slacks are not computed"
            )
        rows = _by_dual(duals or {}, tol)
        out["constraints"] = rows[:max_items]
        out["bindingConstraints"] = [r["name"] for r in rows][:max_items]
        out["variables"] = _by_reduced_cost(reduced or {}, values, tol)[:max_items]
        out["truncated"] = len(rows) > max_items
        return out
    crows = sorted(constraint_rows(model, values, duals, tol), key=_importance)
    vrows = variable_rows(model, values, reduced, tol)
    out["constraints"] = crows[:max_items]
    out["bindingConstraints"] = [r["name"] for r in crows if r["binding"]][:max_items]
    out["bindingBounds"] = [
        {"variable": r["name"], "bound": r["atBound"], "value": r["value"]}
        for r in vrows
        if r["atBound"] is not None
    ][:max_items]
    out["variables"] = vrows[:max_items]
    out["truncated"] = len(crows) > max_items or len(vrows) > max_items
    return out
