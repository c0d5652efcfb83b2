"""The MPS reader, one edge case at a time: what each file means, and what is refused.

The files are those of readercases.py, which test_solver_differential.py also
has HiGHS read; here each meaning is spelled out, so a change that made both
readers wrong the same way would still fail.
"""

from __future__ import annotations

import pytest
from readercases import MPS_CASES, fixed_line

from mcpops_common.problem import INF, Problem
from mcpops_solver.mpsformat import MpsError, MpsResult, parse_mps
from mcpops_solver.readers import ReadError, parse_problem

pytestmark = pytest.mark.process


def _read(case: str) -> MpsResult:
    return parse_mps(MPS_CASES[case])


def _bounds(p: Problem, name: str) -> tuple[float, float]:
    j = p.var_names.index(name)
    return p.var_lb[j], p.var_ub[j]


def _row(p: Problem, name: str) -> tuple[float, float]:
    r = p.con_names.index(name)
    return p.con_lb[r], p.con_ub[r]


def test_text_after_endata_is_ignored() -> None:
    p = _read("after_endata").problem
    assert (p.num_vars, p.num_constraints, p.con_ub) == (1, 1, [4.0])


@pytest.mark.parametrize(
    ("case", "maximize"),
    [
        ("objsense_next_line", True),
        ("objsense_same_line", True),
        ("objsense_maximize_word", True),
        ("objsense_min", False),
        ("after_endata", False),
    ],
)
def test_objective_sense(case: str, maximize: bool) -> None:
    assert _read(case).problem.maximize is maximize


def test_ranges_on_every_row_type() -> None:
    result = _read("ranges_all_rows")
    p = result.problem
    assert _row(p, "lrow") == (6, 10)  # L: [rhs - |R|, rhs]
    assert _row(p, "grow") == (2, 8)  # G: [rhs, rhs + |R|]
    assert _row(p, "epos") == (5, 7)  # E, R > 0: [rhs, rhs + R]
    assert _row(p, "eneg") == (3, 5)  # E, R < 0: [rhs + R, rhs]
    assert _row(p, "ezero") == (7, 7)  # E, R = 0: still an equality
    assert _row(p, "lneg") == (1.5, 3)  # L with a negative R: |R| all the same
    assert "ignored 1 ranges on N rows" in result.warnings


def test_negative_upper_bounds_keep_the_default_lower_bound_as_highs_does() -> None:
    result = _read("negative_upper_bounds")
    p = result.problem
    assert _bounds(p, "n") == (0, -5) and p.var_integer[p.var_names.index("n")]
    assert _bounds(p, "y") == (0, -2)
    assert _bounds(p, "m") == (-INF, -3)  # MI first: the lower bound was given
    said = " ".join(result.warnings)
    assert "'n' has upper bound -5" in said and "'y' has upper bound -2" in said
    assert "'m'" not in said
    assert p.inverted_bounds() is not None  # so the runtime reports INFEASIBLE


def test_marker_blocks_make_integer_columns_binary_unless_bounded() -> None:
    p = _read("marker_blocks").problem
    integer = dict(zip(p.var_names, p.var_integer, strict=True))
    assert integer == {
        "a": False,
        "b": True,
        "c": True,
        "d": True,
        "e": True,
        "f": False,
        "g": True,
    }
    assert _bounds(p, "a") == (0, INF)
    assert _bounds(p, "b") == (0, 1)  # no bound entry: binary
    assert _bounds(p, "c") == (2, INF)  # a bound entry ends the binary default
    assert _bounds(p, "d") == (-INF, INF)
    assert _bounds(p, "e") == (0, 7)
    assert _bounds(p, "g") == (0, 1)  # any marker name, 'MARKER' is what counts


def test_every_bound_type() -> None:
    p = _read("bound_types").problem
    expected = {
        "up": (0, 4.5),
        "lo": (-2, INF),
        "fx": (3, 3),
        "fr": (-INF, INF),
        "mi": (-INF, INF),
        "pl": (0, INF),
        "bv": (0, 1),
        "li": (-3, INF),
        "ui": (0, 9),
        "both": (-1, 1),
    }
    assert {n: _bounds(p, n) for n in expected} == expected
    integers = {n for n, i in zip(p.var_names, p.var_integer, strict=True) if i}
    assert integers == {"bv", "li", "ui"}


def test_rhs_on_the_objective_row_is_minus_the_constant() -> None:
    p = _read("objective_constant").problem
    assert p.objective_offset == -12.5 and p.con_ub == [3.0]


def test_repeated_entries_keep_the_first_value() -> None:
    result = _read("repeated_entries")
    p = result.problem
    assert p.objective == [1.0] and p.objective_offset == -4.0
    assert p.row_coefs[p.con_names.index("c1")] == [2.0]
    assert _row(p, "c1") == (7, 10)
    assert _bounds(p, "x") == (1, 8)
    assert sorted(result.warnings) == sorted(
        [
            "ignored 1 repeated coefficients",
            "ignored 1 repeated objective coefficients",
            "ignored 2 repeated right-hand sides",
            "ignored 1 repeated ranges",
            "ignored 1 repeated bounds",
        ]
    )


def test_empty_sections_free_rows_and_columns_only_in_bounds() -> None:
    p = _read("empty_sections").problem
    assert (p.num_vars, p.con_lb, p.con_ub) == (1, [-INF], [0.0])
    p = _read("free_rows").problem
    assert p.con_names == ["c1"] and p.num_nonzeros == 2 and p.objective == [1.0, 0.0]
    p = _read("column_only_in_bounds").problem
    assert p.var_names == ["x", "ghost", "ghost2"]
    assert _bounds(p, "ghost") == (0, 3) and _bounds(p, "ghost2") == (1, INF)


def test_fortran_exponents_tabs_zeros_and_comments() -> None:
    p = _read("fortran_numbers_zeros_comments").problem
    assert p.objective == [15.0, 0.0]
    assert p.row_coefs == [[2.0, -0.1], [3.0]]  # zeros are not stored
    assert _row(p, "c1") == (-INF, 100) and _row(p, "c2") == (-0.25, INF)


def test_set_names_may_be_left_out() -> None:
    p = _read("rhs_without_set_name").problem
    assert _row(p, "c1") == (2, 4) and _row(p, "c2") == (1, INF)
    # HiGHS refuses a RANGES line without a set name; it is unambiguous, so read it.
    text = MPS_CASES["rhs_without_set_name"].replace(" RNG c1 2", " c1 2")
    assert _row(parse_mps(text).problem, "c1") == (2, 4)


def test_lower_case_sections_and_no_objective_row() -> None:
    p = _read("lower_case_sections_no_objective").problem
    assert p.objective == [0.0, 0.0] and p.con_names == ["c1", "c2"]


def test_keywords_as_names() -> None:
    p = _read("keyword_named_columns").problem
    assert p.var_names == ["RANGES", "RHS"] and p.con_names == ["BOUNDS"]
    assert _bounds(p, "RANGES") == (0, 3)


def test_fixed_format_with_spaces_in_names() -> None:
    result = _read("fixed_names_with_spaces")
    p = result.problem
    assert result.fixed_format
    assert p.maximize
    assert p.var_names == ["X ONE", "Y TWO", "Z"]
    assert p.con_names == ["LIM 1", "LIM 2", "MY EQ"]
    assert p.var_integer == [False, True, False]
    assert _bounds(p, "X ONE") == (0, 3) and _bounds(p, "Z") == (-INF, INF)
    assert _row(p, "LIM 1") == (2, 4) and _row(p, "MY EQ") == (1, 2)
    assert p.objective_offset == 1.5


def test_free_format_files_are_not_read_as_fixed() -> None:
    assert not _read("bound_types").fixed_format


_HEAD = "NAME BAD\nROWS\n N obj\n L c1\nCOLUMNS\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_HEAD + " x obj 1 c1 1\nBOUNDS\n SC BND x 4\nENDATA\n", "'x' is semi-continuous"),
        (_HEAD + " x obj 1 c1 1\nBOUNDS\n SI BND x 4\nENDATA\n", "'x' is semi-integer"),
        (_HEAD + " x obj zz\nENDATA\n", "coefficient of 'x' in row 'obj' 'zz' is not a number"),
        (_HEAD + " x obj nan\nENDATA\n", "is NaN"),
        (_HEAD + " x obj 1 c9 1\nENDATA\n", "row 'c9' in COLUMNS is not declared"),
        (_HEAD + " x obj 1\nRHS\n RHS c9 1\nENDATA\n", "row 'c9' in RHS is not declared"),
        (_HEAD + " x obj 1 c1 1\n", "ends without ENDATA"),
        (_HEAD + " x obj 1\n y obj 1\n x c1 1\nENDATA\n", "'x' appears again"),
        ("NAME BAD\nROWS\n N obj\n L c1\n G c1\nENDATA\n", "row 'c1' is declared twice"),
        ("NAME BAD\nROWS\n N obj\n X c1\nENDATA\n", "row type 'X'"),
        (_HEAD + " x obj 1\nQUADOBJ\n x x 1\nENDATA\n", "quadratic objective"),
        (_HEAD + " x obj 1\nSOS\nENDATA\n", "SOS constraints"),
        (_HEAD + " x obj 1\nINDICATORS\nENDATA\n", "indicator constraints"),
        (_HEAD + " M 'MARKER' 'INTEND'\nENDATA\n", "unexpected MARKER 'INTEND'"),
        (_HEAD + " x obj 1\nBOUNDS\n XX BND x 4\nENDATA\n", "bound type 'XX'"),
        (_HEAD + " x obj 1\nBOUNDS\n UP BND x\nENDATA\n", "UP of column 'x' has no value"),
        ("NAME BAD\nOBJSENSE\n    BIGGEST\nROWS\n N obj\nENDATA\n", "MAX or MIN"),
    ],
)
def test_what_is_refused_names_the_reason(text: str, message: str) -> None:
    with pytest.raises(MpsError, match=message):
        parse_mps(text)


def test_refusals_reach_the_user_as_read_errors_with_the_source() -> None:
    text = _HEAD + " x obj 1 c1 1\nBOUNDS\n SC BND x 4\nENDATA\n"
    with pytest.raises(ReadError, match=r"model.mps: not a valid MPS file: line 8: column 'x'"):
        parse_problem(text, "mps", source="model.mps")


def test_a_free_format_error_is_reported_even_when_fixed_format_is_tried() -> None:
    # A typo'd row makes the free reading fail; the fixed reading fails too, and the
    # message is the free one (the format the file is in).
    text = _HEAD + fixed_line("", "x", "obj", "1", "c2", "1") + "\nENDATA\n"
    with pytest.raises(MpsError, match="row 'c2' in COLUMNS is not declared"):
        parse_mps(text)
