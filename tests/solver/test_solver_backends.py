"""Every backend on problems it supports, limits, infeasible/unbounded, and LP duals.

Instances here are small ones that every backend that takes them solves in
well under a second (measured with bench/solver_bench.py); harder ones are in
test_solver_instances.py or left to the benchmark.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from solverkit import instance_path, rel_close

from mcpops_common.optmodel import OptimizationModel
from mcpops_common.problem import Problem, from_model
from mcpops_solver.backends import (
    BACKENDS,
    SolveParams,
    UnsupportedProblemError,
    canonical_backend,
    check_supported,
)
from mcpops_solver.readers import read_problem
from mcpops_solver.runtime import solve_problem

pytestmark = pytest.mark.process

LP_BACKENDS = ["GLOP", "PDLP", "CLP", "CBC", "SCIP", "HIGHS"]
MIP_BACKENDS = ["CBC", "SCIP", "HIGHS", "CP-SAT", "BOP"]
DUAL_BACKENDS = ["GLOP", "PDLP", "CLP", "HIGHS"]

# Small instances, each backend well under a second on them.
LP_INSTANCES = ["adlittle", "sc50a", "blend", "share2b", "stocfor1"]
# (instance, backends measured to solve it to optimality in about a second):
# egout and gt2 are MIPs with continuous variables / fractional data, p0033,
# lseu, enigma and stein27 are pure 0-1, mod008 is pure 0-1 with fractional
# coefficients (CP-SAT scales them). BOP and CP-SAT cannot close lseu or gt2
# quickly; they are left to the benchmark.
MIP_INSTANCES = [
    ("p0033", ["CBC", "SCIP", "HIGHS", "CP-SAT", "BOP"]),
    ("lseu", ["CBC", "SCIP", "HIGHS", "CP-SAT"]),
    ("enigma", ["HIGHS", "CP-SAT", "BOP"]),
    ("stein27", ["BOP"]),
    ("egout", ["CBC", "SCIP", "HIGHS"]),
    ("gt2", ["CBC", "SCIP", "HIGHS"]),
    ("mod008", ["CBC", "CP-SAT"]),
]
PDLP_TOL = 1e-6  # PDLP is a first-order method; it stops at relative tolerance 1e-8


def _load(opt_data: Path, manifest: dict[str, Any], name: str) -> Problem:
    return read_problem(str(instance_path(opt_data, manifest, name)))[0]


def _model(doc: dict[str, Any]) -> Problem:
    return from_model(OptimizationModel.model_validate(doc))


def test_backend_names() -> None:
    assert canonical_backend("cp_sat") == "CP-SAT" == canonical_backend("CP-SAT")
    assert canonical_backend("highs") == "HIGHS" and canonical_backend("Auto") == "auto"
    with pytest.raises(ValueError, match="unknown solver 'xpress'"):
        canonical_backend("xpress")
    assert set(BACKENDS) == {"GLOP", "PDLP", "CLP", "CBC", "SCIP", "HIGHS", "CP-SAT", "BOP"}


@pytest.mark.parametrize("backend", LP_BACKENDS)
@pytest.mark.parametrize("name", LP_INSTANCES)
def test_lp_backends_reach_the_known_optimum(
    backend: str, name: str, opt_data: Path, manifest: dict[str, Any]
) -> None:
    p = _load(opt_data, manifest, name)
    r = solve_problem(p, backend, SolveParams(time_limit=60, threads=1))
    assert r.status == "OPTIMAL", r.message
    assert r.solver == backend and r.objective is not None
    tol = PDLP_TOL if backend == "PDLP" else 1e-9
    assert rel_close(r.objective, float(manifest[name]["optimal_objective"]), max(tol, 1e-6))
    if BACKENDS[backend].duals:
        assert r.duals is not None and len(r.duals) == p.num_constraints
        assert r.reduced_costs is not None and len(r.reduced_costs) == p.num_vars
    else:
        assert r.duals is None and r.reduced_costs is None


@pytest.mark.parametrize(
    ("name", "backend"),
    [(name, b) for name, backends in MIP_INSTANCES for b in backends],
)
def test_mip_backends_reach_the_known_optimum(
    name: str, backend: str, opt_data: Path, manifest: dict[str, Any]
) -> None:
    p = _load(opt_data, manifest, name)
    r = solve_problem(p, backend, SolveParams(time_limit=60, threads=1, relative_gap=1e-9))
    assert r.status == "OPTIMAL", r.message
    assert r.objective is not None
    assert rel_close(r.objective, float(manifest[name]["optimal_objective"]), 1e-6)
    assert r.bound is not None and r.gap is not None and r.gap <= 1e-6
    assert r.duals is None  # no duals for MIPs
    # The solution is integral where it must be and satisfies the constraints.
    for j, v in enumerate(p.var_names):
        x = r.values[v]
        assert p.var_lb[j] - 1e-6 <= x <= p.var_ub[j] + 1e-6
        if p.var_integer[j]:
            assert abs(x - round(x)) <= 1e-6


@pytest.mark.parametrize(
    ("name", "backend", "reason"),
    [
        ("p0033", "GLOP", "solves linear programs only"),
        ("p0033", "CLP", "solves linear programs only"),
        ("p0033", "PDLP", "solves linear programs only"),
        ("egout", "BOP", "pure 0-1 problems only"),
        ("gt2", "BOP", "pure 0-1 problems only"),
        ("adlittle", "CP-SAT", "needs integer variables"),
        ("egout", "CP-SAT", "continuous variable"),
    ],
)
def test_unsupported_pairs_are_refused_with_a_reason(
    name: str, backend: str, reason: str, opt_data: Path, manifest: dict[str, Any]
) -> None:
    p = _load(opt_data, manifest, name)
    with pytest.raises(UnsupportedProblemError, match=reason):
        check_supported(backend, p.stats())
    with pytest.raises(UnsupportedProblemError, match=reason):
        solve_problem(p, backend, SolveParams())


# --------------------------------------------------------------------------- status


def _infeasible(integer: bool) -> Problem:
    # LP: x + y >= 5 and x + y <= 3. MIP: additionally 2 z = 1 with z integer, which
    # only integrality makes infeasible.
    doc: dict[str, Any] = {
        "variables": [
            {"name": "x", "lowerBound": 0, "upperBound": 10},
            {"name": "y", "lowerBound": 0, "upperBound": 10},
        ],
        "constraints": [
            {"name": "low", "coefficients": {"x": 1, "y": 1}, "lowerBound": 5},
            {"name": "high", "coefficients": {"x": 1, "y": 1}, "upperBound": 3},
        ],
        "objective": {"coefficients": {"x": 1}},
    }
    if integer:
        doc = {
            "variables": [
                {"name": "z", "lowerBound": 0, "upperBound": 5, "type": "integer"},
                {"name": "b", "type": "binary"},
            ],
            "constraints": [
                {"name": "odd", "coefficients": {"z": 2, "b": 2}, "lowerBound": 1, "upperBound": 1}
            ],
            "objective": {"coefficients": {"z": 1}},
        }
    return _model(doc)


def _unbounded(integer: bool) -> Problem:
    vtype = "integer" if integer else "continuous"
    return _model(
        {
            "sense": "maximize",
            "variables": [
                {"name": "x", "lowerBound": 0, "type": vtype},
                {"name": "y", "lowerBound": 0, "type": vtype},
            ],
            "constraints": [{"name": "c", "coefficients": {"x": 1, "y": -1}, "upperBound": 1}],
            "objective": {"coefficients": {"x": 1, "y": 1}},
        }
    )


@pytest.mark.parametrize("backend", LP_BACKENDS)
def test_lp_infeasible_and_unbounded(backend: str) -> None:
    assert solve_problem(_infeasible(False), backend, SolveParams()).status == "INFEASIBLE"
    r = solve_problem(_unbounded(False), backend, SolveParams())
    assert r.status == "UNBOUNDED", r.message


@pytest.mark.parametrize("backend", ["CBC", "SCIP", "HIGHS", "CP-SAT", "BOP"])
def test_mip_infeasible(backend: str) -> None:
    p = _infeasible(True)
    if backend == "BOP":
        p.var_ub[0] = 1.0  # make it 0-1 so that BOP takes it
    r = solve_problem(p, backend, SolveParams())
    assert r.status == "INFEASIBLE", r.message


@pytest.mark.parametrize("backend", ["CBC", "SCIP", "HIGHS", "CP-SAT"])
def test_mip_unbounded(backend: str) -> None:
    r = solve_problem(_unbounded(True), backend, SolveParams(time_limit=20))
    # CP-SAT answers INFEASIBLE_OR_UNBOUNDED here; the runtime then solves the
    # constraints alone, finds them feasible and reports UNBOUNDED.
    assert r.status == "UNBOUNDED", r.message


def test_inverted_bounds_are_infeasible_without_a_solver() -> None:
    p = _infeasible(False)
    p.var_lb[0], p.var_ub[0] = 4.0, 2.0
    r = solve_problem(p, "HIGHS", SolveParams())
    assert r.status == "INFEASIBLE" and "variable 'x'" in r.message and r.seconds == 0


# --------------------------------------------------------------------------- limits


@pytest.mark.parametrize("backend", MIP_BACKENDS)
def test_time_limit_with_an_incumbent_is_feasible(
    backend: str, opt_data: Path, manifest: dict[str, Any]
) -> None:
    # stein45 (pure 0-1): a solution is found at once, proving optimality takes
    # far longer than the limit on every backend (measured).
    p = _load(opt_data, manifest, "stein45")
    r = solve_problem(p, backend, SolveParams(time_limit=1.0, threads=1))
    assert r.status == "FEASIBLE", r.message
    assert r.objective is not None and r.objective >= 30 - 1e-6  # the optimum is 30
    assert r.values and "best solution found" in r.message
    if r.bound is not None:
        assert r.bound <= r.objective + 1e-6 and r.gap is not None


def _planted_equalities(n: int = 60, m: int = 6, seed: int = 1) -> Problem:
    """0-1 equalities with a planted solution: feasible, but a solution is hard to find."""
    rng = random.Random(seed)
    p = Problem(name="planted")
    for j in range(n):
        p.add_variable(f"x{j}", 0.0, 1.0, True, float(rng.randint(0, 10)))
    planted = [rng.randint(0, 1) for _ in range(n)]
    for i in range(m):
        a = [float(rng.randint(0, 99)) for _ in range(n)]
        b = sum(ai * xi for ai, xi in zip(a, planted, strict=True))
        p.add_constraint(f"c{i}", b, b, list(range(n)), a)
    return p


@pytest.mark.parametrize("backend", MIP_BACKENDS)
def test_time_limit_without_an_incumbent_is_not_solved(backend: str) -> None:
    r = solve_problem(_planted_equalities(), backend, SolveParams(time_limit=0.5, threads=1))
    assert r.status == "NOT_SOLVED", r.message
    assert r.objective is None and not r.values
    assert "time limit" in r.message


# --------------------------------------------------------------------------- duals

DUAL_LP = {
    # max 3x + 2y + z  s.t.  c1: x + y + z <= 4,  c2: x + 3y <= 7,  c3: x - z >= -1,
    # 0 <= x <= 3, y, z >= 0.  By hand: x = 3 (at its bound), y = 1, z = 0, objective 11;
    # c1 binds with dual 2 (y is basic: 2 - y1 = 0), c2 and c3 are slack (dual 0);
    # reduced costs c - A'y: x 3 - 2 = 1, y 0, z 1 - 2 = -1.
    "sense": "maximize",
    "variables": [
        {"name": "x", "lowerBound": 0, "upperBound": 3},
        {"name": "y", "lowerBound": 0},
        {"name": "z", "lowerBound": 0},
    ],
    "constraints": [
        {"name": "c1", "coefficients": {"x": 1, "y": 1, "z": 1}, "upperBound": 4},
        {"name": "c2", "coefficients": {"x": 1, "y": 3}, "upperBound": 7},
        {"name": "c3", "coefficients": {"x": 1, "z": -1}, "lowerBound": -1},
    ],
    "objective": {"coefficients": {"x": 3, "y": 2, "z": 1}},
}


def _check_dual_identity(
    p: Problem, duals: dict[str, float], rc: dict[str, float], tol: float
) -> None:
    """Reduced costs are c - A'y (the convention of every LP backend here)."""
    col = [p.objective[j] for j in range(p.num_vars)]
    for r, name in enumerate(p.con_names):
        for j, a in zip(p.row_vars[r], p.row_coefs[r], strict=True):
            col[j] -= a * duals[name]
    for j, v in enumerate(p.var_names):
        assert abs(col[j] - rc[v]) <= tol * max(1.0, abs(p.objective[j])), v


@pytest.mark.parametrize("backend", DUAL_BACKENDS)
@pytest.mark.parametrize("sense", ["maximize", "minimize"])
def test_duals_of_a_small_lp_are_right(backend: str, sense: str) -> None:
    doc = dict(DUAL_LP, sense=sense)
    sign = 1.0
    if sense == "minimize":  # min -(...): same solution, negated objective, duals, costs
        doc["objective"] = {"coefficients": {"x": -3, "y": -2, "z": -1}}
        sign = -1.0
    p = _model(doc)
    r = solve_problem(p, backend, SolveParams())
    assert r.status == "OPTIMAL" and r.duals is not None and r.reduced_costs is not None
    tol = 1e-5 if backend == "PDLP" else 1e-9
    assert r.objective == pytest.approx(sign * 11.0, rel=tol)
    assert r.values == pytest.approx({"x": 3.0, "y": 1.0, "z": 0.0}, abs=tol)
    assert r.duals == pytest.approx({"c1": sign * 2, "c2": 0.0, "c3": 0.0}, abs=tol)
    assert r.reduced_costs == pytest.approx({"x": sign * 1, "y": 0.0, "z": -sign * 1}, abs=tol)
    _check_dual_identity(p, r.duals, r.reduced_costs, tol)


def _dual_objective(p: Problem, duals: dict[str, float], rc: dict[str, float], tol: float) -> float:
    """The Lagrangian dual bound given by (duals, reduced costs); checks dual feasibility.

    For a minimization a positive multiplier prices the lower bound of its row or
    column and a negative one the upper bound; for a maximization the reverse.
    """
    sense = -1.0 if p.maximize else 1.0
    total = p.objective_offset

    def term(mult: float, lb: float, ub: float, what: str) -> float:
        if abs(mult) <= tol:
            return 0.0
        bound = lb if sense * mult > 0 else ub
        assert bound not in (float("inf"), float("-inf")), f"{what}: dual infeasible"
        return mult * bound

    for r, name in enumerate(p.con_names):
        total += term(duals[name], p.con_lb[r], p.con_ub[r], name)
    for j, v in enumerate(p.var_names):
        total += term(rc[v], p.var_lb[j], p.var_ub[j], v)
    return total


def test_lp_duals_agree_across_backends(opt_data: Path, manifest: dict[str, Any]) -> None:
    # The simplex backends end at the same optimal basis of adlittle, so they must give
    # the same numbers. (PDLP, an interior first-order method, may end at another
    # optimal dual point; the next test checks its duals by what they prove.)
    p = _load(opt_data, manifest, "adlittle")
    results = {b: solve_problem(p, b, SolveParams()) for b in ("GLOP", "CLP", "HIGHS")}
    ref = results["GLOP"]
    assert ref.duals is not None
    scale = max(1.0, max(abs(v) for v in ref.duals.values()))
    for backend, r in results.items():
        assert r.status == "OPTIMAL" and r.duals is not None, backend
        for c in p.con_names:
            assert abs(r.duals[c] - ref.duals[c]) <= 1e-7 * scale, (backend, c)


@pytest.mark.parametrize("backend", DUAL_BACKENDS)
@pytest.mark.parametrize("name", ["adlittle", "sc50a", "blend", "share2b", "stocfor1"])
def test_lp_duals_prove_the_optimum_of_another_backend(
    backend: str, name: str, opt_data: Path, manifest: dict[str, Any]
) -> None:
    # Degenerate LPs have many optimal duals; whichever a backend returns must be
    # dual feasible and its dual bound must equal the optimum found by another
    # backend (HiGHS; GLOP checks HiGHS' duals).
    p = _load(opt_data, manifest, name)
    other = "GLOP" if backend == "HIGHS" else "HIGHS"
    primal = solve_problem(p, other, SolveParams())
    r = solve_problem(p, backend, SolveParams())
    assert primal.status == r.status == "OPTIMAL"
    assert r.duals is not None and r.reduced_costs is not None
    assert primal.objective is not None
    tol = 1e-5 if backend == "PDLP" else 1e-7
    _check_dual_identity(p, r.duals, r.reduced_costs, tol)
    scale = max(1.0, *map(abs, r.duals.values()), *map(abs, r.reduced_costs.values()))
    # PDLP stops at relative residuals of 1e-8: its multipliers are that far from exact.
    zero = (1e-6 if backend == "PDLP" else 1e-9) * scale
    bound = _dual_objective(p, r.duals, r.reduced_costs, zero)
    assert rel_close(bound, primal.objective, 1e-5 if backend == "PDLP" else 1e-8)
