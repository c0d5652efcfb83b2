"""The CPLEX LP reader, one edge case at a time, each from a small inline file.

test_solver_differential.py has HiGHS read the files of readercases.LP_CASES
too; here each meaning is spelled out.
"""

from __future__ import annotations

import pytest

from mcpops_common.problem import INF, Problem
from mcpops_solver.lpformat import parse_lp

pytestmark = pytest.mark.process


def _bounds(p: Problem, name: str) -> tuple[float, float]:
    j = p.var_names.index(name)
    return p.var_lb[j], p.var_ub[j]


@pytest.mark.parametrize(
    ("word", "maximize"),
    [
        ("Minimize", False),
        ("MINIMISE", False),
        ("minimum", False),
        ("min", False),
        ("Maximize", True),
        ("maximise", True),
        ("MAXIMUM", True),
        ("max", True),
    ],
)
def test_objective_sense_spellings(word: str, maximize: bool) -> None:
    p = parse_lp(f"{word}\n obj: x + 2 y\nSubject To\n c: x + y <= 1\nEnd\n")
    assert p.maximize is maximize and p.objective == [1, 2]


@pytest.mark.parametrize("word", ["Subject To", "subject  to", "SUCH THAT", "st", "ST", "s.t."])
def test_constraint_section_spellings(word: str) -> None:
    p = parse_lp(f"Minimize\n x\n{word}\n c: x >= 1\nEnd\n")
    assert p.con_names == ["c"] and (p.con_lb, p.con_ub) == ([1], [INF])


def test_bounds_with_infinities_and_free() -> None:
    p = parse_lp(
        "Minimize\n x + y + z + w + v\nSubject To\n c: x + y >= 0\nBounds\n"
        " -infinity <= x <= 5\n y >= -inf\n z free\n -INF <= w <= +Infinity\n"
        " v <= infinity\nEnd\n"
    )
    assert _bounds(p, "x") == (-INF, 5)
    assert _bounds(p, "y") == (-INF, INF)
    assert _bounds(p, "z") == (-INF, INF)
    assert _bounds(p, "w") == (-INF, INF)
    assert _bounds(p, "v") == (0, INF)


def test_one_sided_and_fixed_bounds_in_both_orders() -> None:
    p = parse_lp(
        "Minimize\n x + y + z\nSubject To\n c: x + y + z >= 0\nBounds\n"
        " x >= -2\n x <= 6\n 4 >= y\n -1 <= y\n z = 3\n u <= -2\nEnd\n"
    )
    assert _bounds(p, "x") == (-2, 6) and _bounds(p, "y") == (-1, 4)
    assert _bounds(p, "z") == (3, 3)
    # A negative upper bound leaves the default lower bound 0 (as HiGHS reads it).
    assert _bounds(p, "u") == (0, -2)


@pytest.mark.parametrize("word", ["General", "Generals", "GEN", "Integer", "Integers"])
def test_integer_section_spellings(word: str) -> None:
    p = parse_lp(f"Minimize\n x + y\nSubject To\n c: x + y >= 1\n{word}\n x\nEnd\n")
    assert p.var_integer == [True, False] and _bounds(p, "x") == (0, INF)


@pytest.mark.parametrize("word", ["Binary", "Binaries", "BIN"])
def test_binary_section_spellings(word: str) -> None:
    p = parse_lp(f"Minimize\n x + y\nSubject To\n c: x + y >= 1\n{word}\n x y\nEnd\n")
    assert p.var_integer == [True, True] and _bounds(p, "x") == (0, 1)


def test_binary_keeps_bounds_the_bounds_section_gives() -> None:
    # HiGHS's reading, whatever the order of the sections: only a missing upper bound is 1.
    p = parse_lp("Minimize\n a + b + c\nBinary\n a b c\nBounds\n b <= 5\n -3 <= c <= inf\nEnd\n")
    assert _bounds(p, "a") == (0, 1) and _bounds(p, "b") == (0, 5) and _bounds(p, "c") == (-3, 1)


def test_columns_keep_the_order_of_first_mention() -> None:
    p = parse_lp("Minimize\n x\nSubject To\n c: x + y >= 1\nBinary\n b\nGeneral\n g\nEnd\n")
    assert p.var_names == ["x", "y", "b", "g"]


def test_constants_on_the_left_move_to_the_right() -> None:
    p = parse_lp(
        "Minimize\n obj: x + 4\nSubject To\n c1: 2 + x - y >= 1\n c2: x + 3 - 1 <= 10\nEnd\n"
    )
    assert (p.con_lb, p.con_ub) == ([-1, -INF], [INF, 8])
    assert p.objective_offset == 4


@pytest.mark.parametrize(
    ("op", "lo", "hi"),
    [(">=", 1, INF), ("=>", 1, INF), (">", 1, INF), ("<=", -INF, 1), ("=<", -INF, 1),
     ("<", -INF, 1), ("=", 1, 1)],
)  # fmt: skip
def test_relation_spellings(op: str, lo: float, hi: float) -> None:
    p = parse_lp(f"Minimize\n x\nSubject To\n c: x + y {op} 1\nEnd\n")
    assert (p.con_lb, p.con_ub) == ([lo], [hi])


def test_constraint_names_and_unnamed_rows() -> None:
    p = parse_lp(
        "Minimize\n x\nSubject To\n first: x >= 1\n x + y <= 4\n s.t.x: x - y <= 1\n"
        " R1: y >= 0\n x <= 9\nEnd\n"
    )
    # Unnamed rows are R<k>, skipping names the file uses; a name may look like a keyword.
    assert p.con_names == ["first", "R2", "s.t.x", "R1", "R3"]


def test_expressions_over_several_lines() -> None:
    p = parse_lp(
        "Maximize\n obj: 3 x\n   + 2 y\n   - z\nSubject To\n c1: x\n   + y\n   + z\n   <= 10\nEnd\n"
    )
    assert p.objective == [3, 2, -1]
    assert p.row_coefs == [[1, 1, 1]] and p.con_ub == [10]


def test_comments_anywhere() -> None:
    p = parse_lp(
        "\\ header\nMinimize \\ the objective\n x \\ cost\nSubject To\n c: x >= 1 \\ demand\nEnd\n"
    )
    assert p.objective == [1] and p.con_lb == [1]
