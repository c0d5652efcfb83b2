"""Solve a Problem with a named backend or ``auto`` and describe the outcome."""

from __future__ import annotations

from mcpops_common.problem import Problem
from mcpops_common.results import SolveResult, compute_gap
from mcpops_solver import auto, backends
from mcpops_solver.backends import SolveParams
from mcpops_solver.progress import Control

__all__ = ["cancelled_result", "choose_backend", "solve_problem"]


def choose_backend(problem: Problem, solver: str) -> tuple[str, str]:
    """Resolve ``auto`` or a requested backend to (backend, reason); checks support."""
    stats = problem.stats()
    if solver == "auto":
        backend, reason = auto.choose(stats)
    else:
        backend = backends.canonical_backend(solver)
        reason = f"{backend} was requested"
    backends.check_supported(backend, stats)
    return backend, reason


def _message(status: str, raw: backends.RawSolution, gap: float | None, limit: bool) -> str:
    if status == "OPTIMAL":
        return "optimal solution found" + (f" (gap {gap:.3g})" if gap else "")
    if status == "FEASIBLE":
        base = "a limit was reached; returning the best solution found"
        return base + (f", gap {gap:.3g}" if gap is not None else ", no bound known")
    if status == "INFEASIBLE":
        return "the problem is infeasible"
    if status == "UNBOUNDED":
        return "the problem is unbounded"
    if status == "INFEASIBLE_OR_UNBOUNDED":
        return "the problem is infeasible or unbounded; the solver could not tell which"
    if status == "NOT_SOLVED":
        return (
            "the time limit was reached before any solution was found"
            if limit
            else ("the solver stopped before finding any solution")
        )
    return "the solver failed" + (f": {raw.detail}" if raw.detail else "")


def solve_problem(
    problem: Problem,
    solver: str,
    params: SolveParams,
    control: Control | None = None,
) -> SolveResult:
    """Solve and return a SolveResult (values keyed by name).

    Raises backends.UnsupportedProblemError or backends.SolverError.
    """
    stats = problem.stats()
    backend, reason = choose_backend(problem, solver)
    sense = "maximize" if problem.maximize else "minimize"
    common = {
        "solver": backend,
        "solver_reason": reason,
        "sense": sense,
        "problem_name": problem.name,
        "counts": stats.as_counts(),
    }
    inverted = problem.inverted_bounds()
    if inverted is not None:
        return SolveResult(
            status="INFEASIBLE",
            message=f"the problem is infeasible: {inverted}",
            **common,  # type: ignore[arg-type]
        )
    raw = backends.solve(problem, backend, params, control)
    gap = compute_gap(raw.objective, raw.bound)
    cancelled = control is not None and control.cancelled.is_set()
    values: dict[str, float] = {}
    duals = reduced = None
    if raw.values is not None:
        values = dict(zip(problem.var_names, raw.values, strict=True))
    if raw.duals is not None:
        duals = dict(zip(problem.con_names, raw.duals, strict=True))
    if raw.reduced_costs is not None:
        reduced = dict(zip(problem.var_names, raw.reduced_costs, strict=True))
    return SolveResult(
        status=raw.status,
        objective=raw.objective,
        bound=raw.bound,
        gap=gap,
        seconds=raw.seconds,
        message=(
            _cancel_message(raw.status, gap)
            if cancelled
            else _message(raw.status, raw, gap, params.time_limit is not None)
        ),
        values=values,
        duals=duals,
        reduced_costs=reduced,
        warnings=list(raw.warnings),
        cancelled=cancelled,
        **common,  # type: ignore[arg-type]
    )


def _cancel_message(status: str, gap: float | None) -> str:
    if status == "OPTIMAL":
        return "cancelled, but the solver had already proven the solution optimal"
    if status == "FEASIBLE":
        return "cancelled; the best solution found so far is kept, not proven optimal" + (
            f" (gap {gap:.3g})" if gap is not None else " (no bound known)"
        )
    return "cancelled before any solution was found"


def cancelled_result(
    problem: Problem, backend: str, reason: str, control: Control, seconds: float
) -> SolveResult:
    """The result of a cancelled solve whose backend cannot be interrupted: the incumbent the
    runtime last saw (values from the solver's callbacks or HiGHS's improving-solution
    file), while the native solve is abandoned."""
    objective, values = control.progress.incumbent()
    snapshot = control.progress.snapshot()
    status = "FEASIBLE" if objective is not None and values is not None else "NOT_SOLVED"
    message = _cancel_message(status, snapshot["gap"])
    if objective is not None and values is None:
        message += (
            f"; {backend} reported an incumbent of {objective:g} but its values were not available"
        )
    return SolveResult(
        status=status,
        objective=objective if status == "FEASIBLE" else None,
        bound=snapshot["bound"],
        seconds=seconds,
        message=message,
        values=dict(zip(problem.var_names, values, strict=True)) if values else {},
        cancelled=True,
        solver=backend,
        solver_reason=reason,
        sense="maximize" if problem.maximize else "minimize",
        problem_name=problem.name,
        counts=problem.stats().as_counts(),
    )
