"""`solver: auto`: hand-written rules (and the choice-tree fitter used to evaluate
alternatives), pure functions of the problem's counts."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcpops_common.problem import ProblemStats
from mcpops_solver.auto import BACKENDS_BY_KIND, CLP_MAX_NONZEROS, RANKINGS, choice, choose
from mcpops_solver.backends import check_supported
from mcpops_solver.choicetree import (
    FEATURES,
    Leaf,
    Sample,
    Split,
    cross_validate,
    decide,
    features_of,
    fit,
    pick,
)


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


def test_large_lps_go_to_highs_and_small_ones_to_clp() -> None:
    big = stats(60_000, 20_000, nonzeros=CLP_MAX_NONZEROS + 1)
    backend, reason = choose(big)
    assert backend == "HIGHS" and "rule 1" in reason and "> 100,000 nonzeros" in reason
    assert choose(stats(2594, 244, nonzeros=70_215))[0] == "CLP"  # wood1p's shape


def test_the_reason_names_the_rule_and_the_counts_that_matched() -> None:
    # mod008's shape: 319 binary columns on 6 rows, fractional data.
    c = choice(stats(319, 6, binary=319, nonzeros=1243))
    assert c.backend == "CBC"
    assert "rule 3" in c.reason and "53.2 >= 10 columns per row" in c.reason
    assert "319 variables" in c.reason
    assert c.rule in c.reason and c.candidates[0] == "CBC" and len(c.candidates) >= 2


@pytest.mark.parametrize(
    ("shape", "backend", "rule"),
    [
        # p0033's shape: small pure integer, whole-number data.
        (dict(variables=33, constraints=16, binary=33, integral_data=True), "CP-SAT", "rule 2"),
        # 10teams' shape: large, all binary, short rows.
        (dict(variables=2025, constraints=230, binary=2025), "CBC", "rule 4"),
        # fixnet6's shape: mixed 0-1, 43 % binary, no equality rows.
        (dict(variables=878, constraints=478, binary=378), "CBC", "rule 5"),
        # the same with flow-conservation equalities (pp08a-like): HiGHS.
        (dict(variables=878, constraints=478, binary=378, equalities=230), "HIGHS", "rule 6"),
        # bell5's shape: general integers with continuous variables.
        (dict(variables=104, constraints=91, binary=30, general=28), "HIGHS", "rule 6"),
    ],
)
def test_each_mip_rule_decides_its_shape(shape: dict[str, Any], backend: str, rule: str) -> None:
    c = choice(stats(**shape))
    assert (c.backend, c.rule.split(":")[0]) == (backend, rule)


def test_every_ranking_is_of_backends_of_its_kind() -> None:
    for key, ranking in RANKINGS.items():
        kind = "LP" if key.endswith("lp") else "MIP"
        assert set(ranking) <= set(BACKENDS_BY_KIND[kind]) and len(set(ranking)) == len(ranking)


def test_a_leaf_backend_that_refuses_the_problem_is_skipped() -> None:
    tree = Leaf(("CP-SAT", "HIGHS"), 1)
    features = features_of(stats(100, 50, binary=50))  # continuous variables: CP-SAT refuses
    leaf, path = decide(tree, features)
    assert path == [] and pick(leaf, {"HIGHS", "CBC"}) == "HIGHS"
    assert pick(leaf, {"CP-SAT", "HIGHS"}) == "CP-SAT"


def _sample(name: str, x: float, fast: str) -> Sample:
    return Sample(
        name,
        {f: x for f in FEATURES},
        {"A": 0.1 if fast == "A" else 3.0, "B": 0.1 if fast == "B" else 3.0},
        frozenset({"A", "B"}),
    )


def test_fit_finds_the_threshold_that_separates_the_faster_backend() -> None:
    data = [_sample(f"s{i}", float(i), "A" if i < 10 else "B") for i in range(20)]
    tree = fit(data, ["A", "B"], max_depth=1, min_leaf=3)
    assert isinstance(tree, Split) and tree.threshold == pytest.approx(9.5)
    assert decide(tree, data[0].features)[0].ranking[0] == "A"
    assert decide(tree, data[-1].features)[0].ranking[0] == "B"
    # Too few instances per side: no split, one leaf ranking the overall best first.
    assert isinstance(fit(data, ["A", "B"], max_depth=1, min_leaf=11), Leaf)


def test_cross_validation_never_uses_the_held_out_group() -> None:
    # Group "odd" is the only one where B is faster: a tree fitted without it never
    # learns that, so its held-out choices are A -- in-sample it would have said B.
    data = [_sample(f"a{i}", float(i), "A") for i in range(10)]
    data += [_sample(f"b{i}", 100.0 + i, "B") for i in range(10)]
    groups = ["even"] * 10 + ["odd"] * 10
    fitter = partial(fit, backends=["A", "B"], max_depth=1, min_leaf=3)
    in_sample = fitter(data)
    assert decide(in_sample, data[-1].features)[0].ranking[0] == "B"
    held_out = cross_validate(data, groups, fitter)
    assert {held_out[f"b{i}"] for i in range(10)} == {"A"}
    assert {held_out[f"a{i}"] for i in range(10)} == {"B"}


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


def test_no_rows_does_not_divide_by_zero() -> None:
    for s in (stats(50, 0, binary=50), stats(50, 0, binary=20), stats(50, 0)):
        backend, reason = choose(s)
        check_supported(backend, s)
        assert "50 variables" in reason


def test_fit_splits_only_on_the_features_it_is_given() -> None:
    data = [_sample(f"s{i}", float(i), "A" if i < 10 else "B") for i in range(20)]
    assert isinstance(fit(data, ["A", "B"], max_depth=1, min_leaf=3, features=()), Leaf)
    # A feature outside FEATURES (a hand-written rule's condition, when candidates are
    # compared) can be split on, and the reason names it as given.
    extra = [
        Sample(s.name, {"my rule": float(i >= 10)}, s.seconds, s.supported)
        for i, s in enumerate(data)
    ]
    tree = fit(extra, ["A", "B"], max_depth=1, min_leaf=3, features=("my rule",))
    assert isinstance(tree, Split) and tree.feature == "my rule"
    leaf, path = decide(tree, {"my rule": 1.0})
    assert leaf.ranking[0] == "B" and path == ["my rule 1 > 0.5"]
