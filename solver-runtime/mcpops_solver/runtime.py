"""Solve a Problem with a named backend or ``auto`` and describe the outcome."""

from __future__ import annotations

from typing import Any

from mcpops_common.problem import Problem, ProblemStats
from mcpops_common.results import SolveResult, compute_gap
from mcpops_solver import auto, backends
from mcpops_solver.backends import SolveParams
from mcpops_solver.progress import Control

__all__ = ["cancelled_result", "choose_backend", "rivals", "solve_problem"]


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


# On an LP, CBC runs CLP's simplex: racing one against the other would run the same
# algorithm twice.
_SAME_ON_LP = {frozenset({"CLP", "CBC"})}


def rivals(candidates: tuple[str, ...], is_lp: bool) -> tuple[str, ...]:
    """The two backends a race runs: the best candidate and the next that is not the same
    solver underneath."""
    if not candidates:
        return ()
    first = candidates[0]
    for other in candidates[1:]:
        if not (is_lp and frozenset({first, other}) in _SAME_ON_LP):
            return (first, other)
    return (first,)


def _solve_auto(
    problem: Problem,
    stats: ProblemStats,
    params: SolveParams,
    race: bool,
    control: Control | None = None,
) -> tuple[backends.RawSolution, str, str, dict[str, Any]]:
    """Solve with auto's choice: race its two best candidates when allowed and there are
    CPUs for both; else the first candidate, falling back along the ranking when a
    backend refuses the model (CP-SAT does for some). (raw, backend, reason, record)."""
    c = auto.choice(stats)
    record: dict[str, Any] = {"backend": c.backend, "rule": c.rule, "raced": False}
    threads = params.threads or 1
    pair = rivals(c.candidates, stats.is_lp)
    if race and threads > 1 and len(pair) > 1:
        from mcpops_solver import racing

        outcome = racing.race(problem, pair, params)
        if outcome is not None:
            record.update(
                backend=outcome.backend,
                raced=True,
                racedAgainst=[b for b in pair if b != outcome.backend],
                cpuSeconds=round(outcome.cpu_seconds, 3),
            )
            reason = (
                f"{c.reason}; raced {' and '.join(pair)} on "
                f"{threads} CPUs: {outcome.backend} {outcome.how}"
            )
            # The race's wall-clock time to the kept answer, not the winner's own solve time.
            outcome.raw.seconds = outcome.wall_seconds
            return outcome.raw, outcome.backend, reason, record
    refused: list[str] = []
    for backend in c.candidates:
        try:
            raw = backends.solve(problem, backend, params, control)
        except backends.UnsupportedProblemError as exc:
            refused.append(backend)
            last = exc
            continue
        reason = c.reason
        if refused:
            reason += f"; {', '.join(refused)} refused the model ({last}); fell back to {backend}"
            record.update(backend=backend, fallbackFrom=refused)
        return raw, backend, reason, record
    raise backends.UnsupportedProblemError(
        f"every backend auto would use refused the problem ({', '.join(refused)}): {last}"
    )


def _described(
    problem: Problem, backend: str, reason: str, stats: ProblemStats | None = None
) -> dict[str, Any]:
    """What every result says of the problem and the backend, solved or cancelled."""
    return {
        "solver": backend,
        "solver_reason": reason,
        "sense": "maximize" if problem.maximize else "minimize",
        "problem_name": problem.name,
        "counts": (stats or problem.stats()).as_counts(),
    }


def solve_problem(
    problem: Problem,
    solver: str,
    params: SolveParams,
    control: Control | None = None,
    *,
    race: bool = False,
) -> SolveResult:
    """Solve and return a SolveResult (values keyed by name).

    With ``race`` (auto only, more than one thread), auto's two best candidates run at
    once in separate processes and the first proven answer is kept.
    Raises backends.UnsupportedProblemError or backends.SolverError.
    """
    stats = problem.stats()  # one pass over the matrix, shared by auto and the result
    backend, reason = choose_backend(problem, solver)
    common = _described(problem, backend, reason, stats)
    inverted = problem.inverted_bounds()
    if inverted is not None:
        return SolveResult(
            status="INFEASIBLE",
            message=f"the problem is infeasible: {inverted}",
            **common,
        )
    if solver == "auto":
        raw, backend, reason, record = _solve_auto(problem, stats, params, race, control)
        common.update(solver=backend, solver_reason=reason, solver_choice=record)
    else:
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
        **common,
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
        **_described(problem, backend, reason),
    )
