"""`solver: auto` rules as pure functions of the problem's counts (no solving)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcpops_common.problem import ProblemStats
from mcpops_solver.auto import (
    CLP_MAX_NONZEROS,
    CP_SAT_MAX_VARIABLES,
    KNAPSACK_MIN_COLUMNS_PER_ROW,
    MIXED_BINARY_MAX_EQUALITY_SHARE,
    choose,
)
from mcpops_solver.backends import check_supported


def stats(
    variables: int = 1000,
    constraints: int = 500,
    *,
    binary: int = 0,
    general: int = 0,
    equalities: int = 0,
    integral_data: bool = False,
    nonzeros: int | None = None,
) -> ProblemStats:
    integer = binary + general
    return ProblemStats(
        variables=variables,
        constraints=constraints,
        nonzeros=3 * variables if nonzeros is None else nonzeros,
        integer_variables=integer,
        binary_variables=binary,
        continuous_variables=variables - integer,
        integral_data=integral_data,
        bounded_variables=False,
        max_abs_coefficient=100.0,
        equality_constraints=equalities,
    )


# Shapes of the MIPLIB 3 instances each rule was measured on (counts from the files).
CASES: list[tuple[str, ProblemStats, str]] = [
    ("LP", stats(2594, 244, nonzeros=70_215), "CLP"),
    ("large LP", stats(60_000, 20_000, nonzeros=CLP_MAX_NONZEROS + 1), "HIGHS"),
    ("small integral 0-1 (p0201)", stats(201, 133, binary=201, integral_data=True), "CP-SAT"),
    ("small 0-1 with fractional data, few rows (mod008)", stats(319, 6, binary=319), "CBC"),
    ("large 0-1, few rows (air03)", stats(10_757, 124, binary=10_757, equalities=124), "CBC"),
    ("small 0-1, fractional data, many rows (p0282-like)", stats(282, 241, binary=282), "HIGHS"),
    ("large mostly integer (fiber)", stats(1298, 363, binary=1254, equalities=363), "CBC"),
    ("mixed 0-1, 21% equalities (fixnet6)", stats(878, 478, binary=378, equalities=100), "CBC"),
    ("mixed 0-1, 18% equalities (vpm2)", stats(378, 234, binary=168, equalities=42), "CBC"),
    ("mixed 0-1, 47% equalities (pp08a)", stats(240, 136, binary=64, equalities=64), "HIGHS"),
    ("mixed 0-1, 33% equalities (modglob)", stats(422, 291, binary=98, equalities=95), "HIGHS"),
    ("0-1 plus one continuous (misc03)", stats(160, 96, binary=159, equalities=27), "HIGHS"),
    ("general integers (gesa2)", stats(1224, 1392, binary=240, general=168, equalities=48),
     "HIGHS"),
    ("small pure general integer, fractional data (gt2)", stats(188, 29, binary=24, general=164),
     "HIGHS"),
]  # fmt: skip


@pytest.mark.parametrize(("s", "backend"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_choice_by_shape(s: ProblemStats, backend: str) -> None:
    chosen, reason = choose(s)
    assert chosen == backend, reason
    assert reason.startswith("auto: ") and f"{s.variables} variables" in reason


def test_knapsack_rule_boundary() -> None:
    n = 300
    rows = n // KNAPSACK_MIN_COLUMNS_PER_ROW
    assert choose(stats(n, rows, binary=n))[0] == "CBC"
    assert choose(stats(n, rows + 1, binary=n))[0] == "HIGHS"
    # Small whole-number 0-1 problems stay with CP-SAT even when knapsack-shaped.
    assert choose(stats(CP_SAT_MAX_VARIABLES, 3, binary=250, integral_data=True))[0] == "CP-SAT"
    # A general integer makes it no longer a 0-1 problem.
    assert choose(stats(n, 3, binary=n - 1, general=1))[0] == "HIGHS"


def test_mixed_binary_rule_boundary() -> None:
    rows = 400
    at_bound = int(MIXED_BINARY_MAX_EQUALITY_SHARE * rows)
    assert choose(stats(800, rows, binary=300, equalities=at_bound))[0] == "CBC"
    assert choose(stats(800, rows, binary=300, equalities=at_bound + 1))[0] == "HIGHS"
    # Needs a real continuous part (at least a quarter of the variables) ...
    assert choose(stats(800, rows, binary=600))[0] == "CBC"
    assert choose(stats(800, rows, binary=601))[0] == "HIGHS"
    # ... and binary integers only.
    assert choose(stats(800, rows, binary=299, general=1))[0] == "HIGHS"


def test_no_rows_does_not_divide_by_zero() -> None:
    assert choose(stats(50, 0, binary=50))[0] == "CBC"
    assert choose(stats(50, 0, binary=20))[0] == "CBC"
    assert choose(stats(50, 0))[0] == "CLP"


@given(
    variables=st.integers(1, 50_000),
    rows=st.integers(0, 50_000),
    parts=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
    integral=st.booleans(),
)
def test_choice_is_always_a_backend_that_accepts_the_problem(
    variables: int, rows: int, parts: tuple[float, float, float], integral: bool
) -> None:
    binary = int(parts[0] * variables)
    general = int(parts[1] * (variables - binary))
    s = stats(
        variables,
        rows,
        binary=binary,
        general=general,
        equalities=int(parts[2] * rows),
        integral_data=integral,
    )
    backend, _ = choose(s)
    check_supported(backend, s)  # raises if the backend would refuse it


def test_equality_rows_are_counted() -> None:
    from mcpops_common.problem import Problem

    p = Problem(name="t")
    x = p.add_variable("x", 0.0, 1.0, integer=True)
    y = p.add_variable("y", 0.0, 10.0)
    p.add_constraint("eq", 1.0, 1.0, [x, y], [1.0, 1.0])
    p.add_constraint("le", float("-inf"), 0.0, [x, y], [1.0, -1.0])
    s = p.stats()
    assert s.equality_constraints == 1 and s.equality_share == 0.5
