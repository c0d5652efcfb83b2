"""The OR-Tools backends and how each one is driven.

Every backend of the OR-Tools pip wheel that works in it is here. Each is
driven through the API that gives it the most complete results:

=========  ==========  =====================================================
backend    API         notes
=========  ==========  =====================================================
GLOP       MathOpt     primal/dual simplex (LP only); duals, reduced costs
PDLP       MathOpt     first-order LP method; optimality tolerances set to
                       1e-8 (with its defaults it missed Netlib optima by up
                       to 2.4e-6 relative)
HIGHS      MathOpt     simplex/IPM for LPs (duals), branch-and-cut for MIPs.
                       Through pywraplp the wheel reports row activities as
                       duals and the incumbent as the bound; MathOpt is right.
SCIP       MathOpt     branch-and-cut, LPs and MIPs (no duals)
CP-SAT     MathOpt     pure integer programs. A model with continuous variables
                       is refused: CP-SAT scales them to integers, which is
                       approximate (measured: wrong INFEASIBLE on the feasible
                       arki001, gesa2_o, rgn and vpm2, MODEL_INVALID on egout).
                       Fractional coefficients of pure integer programs are
                       scaled by CP-SAT's MIP presolve (mod008 solves exactly)
CLP        pywraplp    simplex (LP only); duals, reduced costs
CBC        pywraplp    branch-and-cut, LPs and MIPs (no duals). Its time limit
                       is not wall-clock time: on a busy machine a 5 s limit
                       ran to 13.8 s (the Job deadline stays the hard stop)
BOP        pywraplp    pure 0-1 programs only
=========  ==========  =====================================================

MathOpt and pywraplp report duals with the same sign convention (checked on
Netlib: GLOP, CLP and HiGHS agree to 1e-11).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from mcpops_common.problem import Problem, ProblemStats
from mcpops_solver.progress import (
    Control,
    parse_cpsat_line,
    parse_highs_line,
    read_highs_solution,
)

__all__ = [
    "BACKENDS",
    "BackendInfo",
    "RawSolution",
    "SolveParams",
    "SolverError",
    "UnsupportedProblemError",
    "canonical_backend",
    "check_supported",
    "default_threads",
    "solve",
]

DEFAULT_RELATIVE_GAP = 1e-4
PDLP_TOLERANCE = 1e-8


class UnsupportedProblemError(Exception):
    """The chosen backend cannot solve this kind of problem."""


class SolverError(Exception):
    """The backend failed in a way that is not an answer about the problem."""


@dataclass(frozen=True)
class BackendInfo:
    name: str
    summary: str
    engine: Literal["mathopt", "mpsolver"]
    integer: bool  # honours integer variables
    continuous: bool  # accepts continuous variables
    binary_only: bool = False
    needs_integer: bool = False  # refuses a model without integer variables
    duals: bool = False  # duals and reduced costs for LPs


BACKENDS: dict[str, BackendInfo] = {
    b.name: b
    for b in (
        BackendInfo("GLOP", "Google's simplex LP solver", "mathopt", False, True, duals=True),
        BackendInfo(
            "PDLP", "first-order LP solver for very large LPs", "mathopt", False, True, duals=True
        ),
        BackendInfo("CLP", "COIN-OR simplex LP solver", "mpsolver", False, True, duals=True),
        BackendInfo("CBC", "COIN-OR branch-and-cut MIP solver", "mpsolver", True, True),
        BackendInfo("SCIP", "SCIP branch-and-cut MIP solver", "mathopt", True, True),
        BackendInfo("HIGHS", "HiGHS LP and MIP solver", "mathopt", True, True, duals=True),
        BackendInfo(
            "CP-SAT",
            "OR-Tools CP-SAT solver for pure integer programs",
            "mathopt",
            True,
            False,
            needs_integer=True,
        ),
        BackendInfo(
            "BOP",
            "OR-Tools Boolean optimizer for 0-1 programs",
            "mpsolver",
            True,
            False,
            binary_only=True,
        ),
    )
}

_ALIASES = {
    "cpsat": "CP-SAT",
    "cp_sat": "CP-SAT",
    "sat": "CP-SAT",
    "gscip": "SCIP",
    "highs_lp": "HIGHS",
    "highs_mip": "HIGHS",
}


def canonical_backend(name: str) -> str:
    """Map a user-written solver name (any case, common aliases) to its canonical name."""
    key = name.strip()
    if key.lower() == "auto":
        return "auto"
    for canon in BACKENDS:
        if key.upper() == canon:
            return canon
    alias = _ALIASES.get(key.lower().replace("-", "_"))
    if alias is None:
        alias = _ALIASES.get(key.lower())
    if alias is None:
        known = ", ".join(["auto", *BACKENDS])
        raise ValueError(f"unknown solver {name!r}; choose one of {known}")
    return alias


@dataclass
class SolveParams:
    time_limit: float | None = None
    relative_gap: float | None = None
    # Stop a MIP once |objective - bound| <= absolute_gap too (whichever gap is met first).
    absolute_gap: float | None = None
    threads: int | None = None
    seed: int | None = None
    # Same problem, settings and seed give the same result: the seed defaults to 0,
    # CP-SAT searches interleaved, PDLP runs on one thread. The others are deterministic
    # as they run here (single-threaded, or HiGHS, deterministic at any thread count).
    deterministic: bool = False
    # Warm start: values by variable name from an earlier solution (a MIP start / hint).
    hint: dict[str, float] | None = None

    def effective_seed(self) -> int | None:
        return 0 if self.seed is None and self.deterministic else self.seed


@dataclass
class RawSolution:
    """What a backend returned, indexed like the problem's variables/constraints."""

    status: str  # OPTIMAL FEASIBLE INFEASIBLE UNBOUNDED INFEASIBLE_OR_UNBOUNDED ABNORMAL NOT_SOLVED
    objective: float | None = None
    bound: float | None = None
    values: list[float] | None = None
    duals: list[float] | None = None
    reduced_costs: list[float] | None = None
    seconds: float = 0.0
    detail: str = ""
    warnings: list[str] = field(default_factory=list)


def check_supported(backend: str, stats: ProblemStats) -> None:
    """Raise UnsupportedProblemError, naming what is wrong, if `backend` cannot take the problem."""
    info = BACKENDS[backend]
    if stats.integer_variables and not info.integer:
        raise UnsupportedProblemError(
            f"{backend} solves linear programs only, and this problem has "
            f"{stats.integer_variables} integer variable(s); choose auto, HIGHS, SCIP or CBC"
        )
    if info.binary_only and not stats.pure_binary:
        non_binary = stats.variables - stats.binary_variables
        raise UnsupportedProblemError(
            f"{backend} solves pure 0-1 problems only, and this problem has {non_binary} "
            "variable(s) that are not binary; choose auto, CP-SAT, HIGHS or SCIP"
        )
    if info.needs_integer and stats.integer_variables == 0:
        raise UnsupportedProblemError(
            f"{backend} needs integer variables and this is a linear program "
            "(all variables continuous); choose auto, GLOP, HIGHS or CLP"
        )
    if info.needs_integer and stats.continuous_variables:
        raise UnsupportedProblemError(
            f"{backend} takes pure integer programs only, and this problem has "
            f"{stats.continuous_variables} continuous variable(s). CP-SAT would scale them "
            "to integers, which is approximate: on the feasible MIPLIB instances arki001 "
            "and gesa2_o it reported INFEASIBLE. Choose auto, HIGHS, SCIP or CBC"
        )


def default_threads() -> int:
    """CPUs this process may use: the cgroup CPU limit if any, else its CPU affinity.

    Solvers left to their own default count the host's cores, which in a pod
    with a CPU limit means more threads than CPU time.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


_SAVED_STDOUT: list[int] = []  # the real fd 1 while a native solve writes to fd 2


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send native solver output written to fd 1 to fd 2, keeping stdout for results."""
    try:
        saved = os.dup(1)
    except OSError:
        yield
        return
    _SAVED_STDOUT.append(saved)
    try:
        os.dup2(2, 1)
        yield
    finally:
        if saved in _SAVED_STDOUT:
            os.dup2(saved, 1)
            _SAVED_STDOUT.remove(saved)
        os.close(saved)


def restore_stdout() -> None:
    """Give fd 1 back while an abandoned native solve (a cancel) is still inside
    stdout_to_stderr, so that the summary reaches standard output."""
    while _SAVED_STDOUT:
        os.dup2(_SAVED_STDOUT.pop(0), 1)


def ortools_module(name: str) -> Any:
    """Import an OR-Tools module untyped (its stubs do not cover every module)."""
    return importlib.import_module(name)


def _integer_bounds(lb: float, ub: float) -> tuple[float, float]:
    if math.isfinite(lb):
        lb = float(math.ceil(lb - 1e-9))
    if math.isfinite(ub):
        ub = float(math.floor(ub + 1e-9))
    return lb, ub


def _finite(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(x)


# ---------------------------------------------------------------------------
# MathOpt


_MATHOPT_SOLVER = {"GLOP": 3, "CP-SAT": 4, "PDLP": 5, "HIGHS": 10, "SCIP": 1}


def to_mathopt_proto(p: Problem) -> Any:
    """Translate a Problem into a MathOpt ModelProto."""
    from ortools.math_opt import model_pb2

    mp = model_pb2.ModelProto(name=p.name)
    n = p.num_vars
    v = mp.variables
    v.ids.extend(range(n))
    lbs, ubs = list(p.var_lb), list(p.var_ub)
    for i in range(n):
        if p.var_integer[i]:
            lbs[i], ubs[i] = _integer_bounds(lbs[i], ubs[i])
    v.lower_bounds.extend(lbs)
    v.upper_bounds.extend(ubs)
    v.integers.extend(p.var_integer)
    v.names.extend(p.var_names)
    obj = mp.objective
    obj.maximize = p.maximize
    obj.offset = p.objective_offset
    nz = [(i, c) for i, c in enumerate(p.objective) if c != 0.0]
    obj.linear_coefficients.ids.extend(i for i, _ in nz)
    obj.linear_coefficients.values.extend(c for _, c in nz)
    lc = mp.linear_constraints
    m = p.num_constraints
    lc.ids.extend(range(m))
    lc.lower_bounds.extend(p.con_lb)
    lc.upper_bounds.extend(p.con_ub)
    lc.names.extend(p.con_names)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for r in range(m):
        pairs = sorted(
            (j, c) for j, c in zip(p.row_vars[r], p.row_coefs[r], strict=True) if c != 0.0
        )
        rows.extend([r] * len(pairs))
        cols.extend(j for j, _ in pairs)
        vals.extend(c for _, c in pairs)
    mat = mp.linear_constraint_matrix
    mat.row_ids.extend(rows)
    mat.column_ids.extend(cols)
    mat.coefficients.extend(vals)
    return mp


def _mathopt_params(backend: str, params: SolveParams, is_mip: bool) -> tuple[Any, list[str]]:
    from ortools.math_opt import parameters_pb2

    warnings: list[str] = []
    sp = parameters_pb2.SolveParametersProto(enable_output=False)
    if params.time_limit is not None:
        whole = math.floor(params.time_limit)
        sp.time_limit.seconds = int(whole)
        sp.time_limit.nanos = min(999_999_999, round((params.time_limit - whole) * 1e9))
    if is_mip:
        gap = DEFAULT_RELATIVE_GAP if params.relative_gap is None else params.relative_gap
        sp.relative_gap_tolerance = gap
        # An absolute gap of 0 unless asked for, so that the relative gap alone decides
        # (some solvers default to an absolute gap that stops early on small objectives).
        sp.absolute_gap_tolerance = params.absolute_gap or 0.0
    threads = params.threads
    if params.deterministic and backend == "PDLP" and (threads or 1) > 1:
        # PDLP's multi-threaded sums may add in a different order from run to run.
        warnings.append(f"deterministic mode: PDLP runs on 1 thread, not {threads}")
        threads = 1
    if params.deterministic and backend == "CP-SAT":
        sp.cp_sat.interleave_search = True
    if threads is not None:
        if backend == "HIGHS":
            # MathOpt refuses its generic threads parameter for HiGHS.
            sp.highs.int_options["threads"] = threads
        else:
            sp.threads = threads
    seed = params.effective_seed()
    if seed is not None:
        if backend == "PDLP":
            warnings.append("PDLP has no random seed; the seed is ignored")
        else:
            sp.random_seed = seed
    if backend == "PDLP":
        crit = sp.pdlp.termination_criteria.simple_optimality_criteria
        crit.eps_optimal_relative = PDLP_TOLERANCE
        crit.eps_optimal_absolute = PDLP_TOLERANCE
    return sp, warnings


def _solve_mathopt(
    p: Problem, backend: str, params: SolveParams, control: Control | None = None
) -> RawSolution:
    from ortools.math_opt import solution_pb2

    is_mip = any(p.var_integer)
    model = to_mathopt_proto(p)
    sp, warnings = _mathopt_params(backend, params, is_mip)
    live = _mathopt_live(p, backend, sp, control, is_mip)
    live.model_params = _mathopt_hints(p, backend, params, is_mip, warnings)
    start = time.perf_counter()
    res = _mathopt_call(model, backend, sp, live)
    seconds = time.perf_counter() - start
    term = res.termination
    out = RawSolution(status="ABNORMAL", seconds=seconds, detail=term.detail, warnings=warnings)
    feasible = next(
        (
            sol
            for sol in res.solutions
            if sol.HasField("primal_solution")
            and sol.primal_solution.feasibility_status == solution_pb2.SOLUTION_STATUS_FEASIBLE
        ),
        None,
    )
    out.status = _mathopt_status(term.reason, feasible is not None)
    if term.reason == _mathopt_reason("IMPRECISE"):
        out.warnings.append(
            f"{backend} stopped with an imprecise solution (tolerances not met): {term.detail}"
        )
    if feasible is not None and out.status in {"OPTIMAL", "FEASIBLE"}:
        _mathopt_solution(out, feasible, term, p, backend, is_mip)
    return out


# Backends whose MathOpt solve stops on its interrupter (HiGHS ignores it in this build).
MATHOPT_INTERRUPTIBLE = frozenset({"SCIP", "CP-SAT", "GLOP", "PDLP"})
# Backends that take a MIP start (solution hint): through MathOpt, and BOP through pywraplp.
WARM_START_BACKENDS = frozenset({"SCIP", "CP-SAT", "HIGHS", "BOP"})
# MathOpt callback events (CallbackEventProto).
_MIP_SOLUTION = 4
_MIP_NODE = 5


@dataclass
class _Live:
    """The callbacks, log handler, interrupter and hints of one MathOpt solve."""

    registration: Any = None
    callback: Any = None
    messages: Any = None
    interrupter: Any = None
    model_params: Any = None


def _mathopt_live(
    p: Problem, backend: str, sp: Any, control: Control | None, is_mip: bool
) -> _Live:
    """Wire a solve to its Control: progress from callbacks and log lines, the interrupter."""
    from ortools.math_opt import callback_pb2

    live = _Live(registration=callback_pb2.CallbackRegistrationProto())
    if control is None:
        return live
    from ortools.util.python import pybind_solve_interrupter

    from mcpops_solver.logs import get_logger

    progress = control.progress
    progress.maximize = p.maximize
    interrupter = pybind_solve_interrupter.PySolveInterrupter()
    live.interrupter = interrupter
    control.interruptible(interrupter.interrupt if backend in MATHOPT_INTERRUPTIBLE else None)
    solver_log = get_logger("mcpops_solver.solver")
    parse: Callable[[str], tuple[float | None, float | None] | None] | None = None
    if backend == "HIGHS":
        parse = parse_highs_line
    elif backend == "CP-SAT":
        parse = functools.partial(parse_cpsat_line, maximize=p.maximize)

    def messages(lines: list[str]) -> None:
        for line in lines:
            if line.strip():
                solver_log.info("solver log", solver=backend, line=line.rstrip())
            found = parse(line) if parse is not None and is_mip else None
            if found is not None:
                bound, incumbent = found
                if bound is not None:
                    progress.bound_at(bound)
                if incumbent is not None:
                    progress.solution(incumbent)

    live.messages = messages
    if not is_mip:
        return live
    if backend == "HIGHS":
        import tempfile

        path = os.path.join(tempfile.mkdtemp(prefix="mcpops-highs-"), "improving.sol")
        sp.highs.bool_options["mip_improving_solution_save"] = True
        sp.highs.string_options["mip_improving_solution_file"] = path
        progress.values_source = lambda: read_highs_solution(path, p.num_vars)
    if backend in {"SCIP", "CP-SAT"}:
        live.registration.request_registration.append(_MIP_SOLUTION)
        if backend == "SCIP":
            live.registration.request_registration.append(_MIP_NODE)
        live.callback = _progress_callback(p, progress)
    return live


def _progress_callback(p: Problem, progress: Any) -> Any:
    from ortools.math_opt import callback_pb2

    def callback(data: Any) -> Any:
        if data.event == _MIP_SOLUTION and data.HasField("primal_solution_vector"):
            values = _dense(data.primal_solution_vector, p.num_vars)
            objective = p.objective_offset + math.fsum(
                c * x for c, x in zip(p.objective, values, strict=True)
            )
            progress.solution(objective, values)
        elif data.event == _MIP_NODE:
            progress.bound_at(data.mip_stats.dual_bound)
        return callback_pb2.CallbackResultProto()

    return callback


def _mathopt_hints(
    p: Problem, backend: str, params: SolveParams, is_mip: bool, warnings: list[str]
) -> Any:
    """The model parameters: the warm start as a solution hint, where the backend takes one."""
    from ortools.math_opt import model_parameters_pb2

    mpp = model_parameters_pb2.ModelSolveParametersProto()
    pairs = _hint_pairs(p, backend, params, is_mip, warnings)
    if pairs:
        hint = mpp.solution_hints.add()
        hint.variable_values.ids.extend(i for i, _ in pairs)
        hint.variable_values.values.extend(v for _, v in pairs)
    return mpp


def _hint_pairs(
    p: Problem, backend: str, params: SolveParams, is_mip: bool, warnings: list[str]
) -> list[tuple[int, float]]:
    """(variable index, value) of the warm start, or [] with a warning saying why not."""
    if not params.hint:
        return []
    if not is_mip:
        warnings.append(
            "warm start ignored: it seeds mixed-integer solves; a linear program is solved "
            "from scratch (no basis is kept between jobs)"
        )
        return []
    if backend not in WARM_START_BACKENDS:
        warnings.append(
            f"warm start ignored: {backend} takes no MIP start through OR-Tools "
            f"(SCIP, CP-SAT, HIGHS and BOP do)"
        )
        return []
    index = {name: i for i, name in enumerate(p.var_names)}
    pairs = sorted((index[n], float(v)) for n, v in params.hint.items() if n in index)
    if len(pairs) < len(params.hint):
        warnings.append(
            f"warm start: {len(params.hint) - len(pairs)} of {len(params.hint)} values name "
            "no variable of this problem and were ignored"
        )
    return pairs


def _mathopt_call(model: Any, backend: str, sp: Any, live: _Live | None = None) -> Any:
    """Run MathOpt; what it refuses (an invalid model) is Unsupported, the rest a failure."""
    from ortools.math_opt import model_parameters_pb2, parameters_pb2
    from ortools.math_opt.core.python import solver as mo_solver

    live = live or _mathopt_live_none()
    try:
        with stdout_to_stderr():
            return mo_solver.solve(
                model,
                _MATHOPT_SOLVER[backend],
                parameters_pb2.SolverInitializerProto(),
                sp,
                live.model_params or model_parameters_pb2.ModelSolveParametersProto(),
                live.messages,
                live.registration,
                live.callback,
                live.interrupter,
            )
    except Exception as exc:  # pybind11 StatusNotOk and friends
        message = str(exc)
        if backend == "CP-SAT" and "MODEL_INVALID" in message:
            raise UnsupportedProblemError(
                "CP-SAT could not represent this problem: it scales fractional coefficients "
                "to integers and the scaled model is invalid. Choose auto, HIGHS or SCIP"
            ) from exc
        if "INVALID_ARGUMENT" in message or "MODEL_INVALID" in message:
            raise UnsupportedProblemError(f"{backend} refused the problem: {message}") from exc
        raise SolverError(f"{backend} failed: {message}") from exc


def _mathopt_live_none() -> _Live:
    from ortools.math_opt import callback_pb2

    return _Live(registration=callback_pb2.CallbackRegistrationProto())


# MathOpt's termination reasons (TERMINATION_REASON_<name>) -> our status.
_MATHOPT_STATUS = {
    "OPTIMAL": "OPTIMAL",
    "INFEASIBLE": "INFEASIBLE",
    "UNBOUNDED": "UNBOUNDED",
    "INFEASIBLE_OR_UNBOUNDED": "INFEASIBLE_OR_UNBOUNDED",
    "FEASIBLE": "FEASIBLE",
    "NO_SOLUTION_FOUND": "NOT_SOLVED",
}


def _mathopt_reason(name: str) -> int:
    from ortools.math_opt import result_pb2

    value: int = getattr(result_pb2.TerminationReasonProto, f"TERMINATION_REASON_{name}")
    return value


def _mathopt_status(reason: int, has_solution: bool) -> str:
    """Our status for a termination reason; a solved status needs a feasible solution."""
    status = next(
        (ours for name, ours in _MATHOPT_STATUS.items() if reason == _mathopt_reason(name)),
        "ABNORMAL",
    )
    if reason == _mathopt_reason("IMPRECISE"):
        status = "FEASIBLE" if has_solution else "ABNORMAL"
    if status in {"OPTIMAL", "FEASIBLE"} and not has_solution:
        status = "NOT_SOLVED" if status == "FEASIBLE" else "ABNORMAL"
    return status


def _mathopt_solution(
    out: RawSolution, feasible: Any, term: Any, p: Problem, backend: str, is_mip: bool
) -> None:
    """Values, the bound and, for an LP from a backend that has them, duals and reduced
    costs."""
    from ortools.math_opt import solution_pb2

    ps = feasible.primal_solution
    out.objective = ps.objective_value
    out.values = _dense(ps.variable_values, p.num_vars)
    if feasible.HasField("dual_solution") and not is_mip and BACKENDS[backend].duals:
        ds = feasible.dual_solution
        if ds.feasibility_status == solution_pb2.SOLUTION_STATUS_FEASIBLE:
            out.duals = _dense(ds.dual_values, p.num_constraints)
            out.reduced_costs = _dense(ds.reduced_costs, p.num_vars)
    bound = _finite(term.objective_bounds.dual_bound)
    out.bound = bound
    if out.status == "OPTIMAL" and not is_mip and bound is None:
        out.bound = out.objective


def _dense(vec: Any, n: int) -> list[float]:
    values = [0.0] * n
    for i, v in zip(vec.ids, vec.values, strict=True):
        values[i] = v
    return values


# ---------------------------------------------------------------------------
# pywraplp (MPSolver)

_MPSOLVER_NAME = {"CLP": "CLP", "CBC": "CBC", "BOP": "BOP"}
_MP_STATUS = {
    0: "OPTIMAL",
    1: "FEASIBLE",
    2: "INFEASIBLE",
    3: "UNBOUNDED",
    4: "ABNORMAL",
    5: "MODEL_INVALID",
    6: "NOT_SOLVED",
}


def to_mpmodel_proto(p: Problem) -> Any:
    """Translate a Problem into a linear_solver MPModelProto."""
    linear_solver_pb2 = ortools_module("ortools.linear_solver.linear_solver_pb2")
    mp = linear_solver_pb2.MPModelProto(
        name=p.name, maximize=p.maximize, objective_offset=p.objective_offset
    )
    for i in range(p.num_vars):
        lb, ub = p.var_lb[i], p.var_ub[i]
        if p.var_integer[i]:
            lb, ub = _integer_bounds(lb, ub)
        mp.variable.add(
            name=p.var_names[i],
            lower_bound=lb,
            upper_bound=ub,
            is_integer=p.var_integer[i],
            objective_coefficient=p.objective[i],
        )
    for r in range(p.num_constraints):
        c = mp.constraint.add(name=p.con_names[r], lower_bound=p.con_lb[r], upper_bound=p.con_ub[r])
        c.var_index.extend(p.row_vars[r])
        c.coefficient.extend(p.row_coefs[r])
    return mp


def _mpsolver_params(
    solver: Any, pywraplp: Any, backend: str, params: SolveParams, is_mip: bool, warnings: list[str]
) -> Any:
    """Apply the limits and seed to `solver`; the MPSolverParameters to solve with."""
    if params.time_limit is not None:
        solver.SetTimeLimit(max(1, round(params.time_limit * 1000)))
    if params.threads is not None and params.threads > 1:
        # CBC in the OR-Tools wheel is built without threads (it answers "No match for
        # threads"); CLP and BOP are single-threaded.
        warnings.append(f"{backend} runs single-threaded here; threads={params.threads} ignored")
    seed = params.effective_seed()
    if seed is not None:
        if backend == "BOP":
            solver.SetSolverSpecificParametersAsString(f"random_seed: {seed}")
        elif params.seed is not None:
            warnings.append(f"{backend} takes no random seed through OR-Tools; seed ignored")
    if is_mip and params.absolute_gap:
        warnings.append(
            f"{backend} takes no absolute gap through OR-Tools; the relative gap alone stops it"
        )
    mpp = pywraplp.MPSolverParameters()
    if is_mip:
        gap = DEFAULT_RELATIVE_GAP if params.relative_gap is None else params.relative_gap
        mpp.SetDoubleParam(mpp.RELATIVE_MIP_GAP, gap)
    return mpp


def _solve_mpsolver(
    p: Problem, backend: str, params: SolveParams, control: Control | None = None
) -> RawSolution:
    linear_solver_pb2 = ortools_module("ortools.linear_solver.linear_solver_pb2")
    pywraplp = ortools_module("ortools.linear_solver.pywraplp")

    is_mip = any(p.var_integer)
    warnings: list[str] = []
    model = to_mpmodel_proto(p)
    # Timed from here, like MathOpt's solve which also loads the model into the solver.
    start = time.perf_counter()
    solver = pywraplp.Solver.CreateSolver(_MPSOLVER_NAME[backend])
    if solver is None:
        raise SolverError(f"{backend} is not available in this OR-Tools build")
    err = solver.LoadModelFromProto(model)
    if err:
        raise UnsupportedProblemError(f"{backend} refused the problem: {err}")
    mpp = _mpsolver_params(solver, pywraplp, backend, params, is_mip, warnings)
    pairs = _hint_pairs(p, backend, params, is_mip, warnings)
    if pairs:
        variables = solver.variables()
        solver.SetHint([variables[i] for i, _ in pairs], [v for _, v in pairs])
    if control is not None:
        control.progress.maximize = p.maximize
        # Only BOP stops on InterruptSolve in this build (CBC and CLP answer False).
        control.interruptible(solver.InterruptSolve if backend == "BOP" else None)
    with stdout_to_stderr():
        code = solver.Solve(mpp)
    seconds = time.perf_counter() - start
    resp = linear_solver_pb2.MPSolutionResponse()
    solver.FillSolutionResponseProto(resp)
    status = _MP_STATUS.get(code, "ABNORMAL")
    if status == "MODEL_INVALID":
        raise UnsupportedProblemError(
            f"{backend} found the model invalid: {resp.status_str or 'no detail given'}"
        )
    out = RawSolution(status=status, seconds=seconds, detail=resp.status_str, warnings=warnings)
    if status in {"OPTIMAL", "FEASIBLE"}:
        if len(resp.variable_value) != p.num_vars:
            out.status = "NOT_SOLVED" if status == "FEASIBLE" else "ABNORMAL"
            return out
        out.objective = resp.objective_value
        out.values = list(resp.variable_value)
        if resp.HasField("best_objective_bound"):
            out.bound = _finite(resp.best_objective_bound)
        if not is_mip:
            out.bound = out.objective if status == "OPTIMAL" else out.bound
            if BACKENDS[backend].duals and len(resp.dual_value) == p.num_constraints:
                out.duals = list(resp.dual_value)
                out.reduced_costs = list(resp.reduced_cost)
    return out


# ---------------------------------------------------------------------------


def solve(
    p: Problem, backend: str, params: SolveParams, control: Control | None = None
) -> RawSolution:
    """Solve `p` with `backend`. Raises UnsupportedProblemError or SolverError.

    `control`: progress reporting and interruption of a running solve (progress.py)."""
    info = BACKENDS[backend]
    check_supported(backend, p.stats())
    if info.engine == "mathopt":
        out = _solve_mathopt(p, backend, params, control)
    else:
        out = _solve_mpsolver(p, backend, params, control)
    if out.status == "INFEASIBLE_OR_UNBOUNDED" and not (control and control.cancelled.is_set()):
        _disambiguate(p, backend, params, out)
    return out


def _disambiguate(p: Problem, backend: str, params: SolveParams, out: RawSolution) -> None:
    """Tell infeasible from unbounded by solving the same constraints without objective.

    If the constraints have a solution the problem is unbounded (true for
    linear and, with rational data, mixed-integer problems); if they have
    none it is infeasible.
    """
    probe = p.copy()
    probe.objective = [0.0] * p.num_vars
    sub = SolveParams(
        time_limit=None if params.time_limit is None else max(1.0, params.time_limit / 4),
        relative_gap=params.relative_gap,
        absolute_gap=params.absolute_gap,
        threads=params.threads,
        seed=params.seed,
        deterministic=params.deterministic,
    )
    info = BACKENDS[backend]
    try:
        res = (_solve_mathopt if info.engine == "mathopt" else _solve_mpsolver)(probe, backend, sub)
    except (UnsupportedProblemError, SolverError):
        return
    out.seconds += res.seconds
    if res.status in {"OPTIMAL", "FEASIBLE"}:
        out.status = "UNBOUNDED"
        out.detail = (out.detail + "; " if out.detail else "") + (
            "the constraints are feasible, so the objective is unbounded"
        )
    elif res.status == "INFEASIBLE":
        out.status = "INFEASIBLE"
        out.detail = (out.detail + "; " if out.detail else "") + "the constraints are infeasible"
