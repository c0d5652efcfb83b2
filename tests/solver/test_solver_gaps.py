"""absoluteGap stops a MIP early; deterministic mode gives the same answer run after run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from solverkit import instance_path, run_cli

from mcpops_solver.backends import SolveParams, _mathopt_params
from mcpops_solver.readers import read_problem
from mcpops_solver.runtime import solve_problem

pytestmark = pytest.mark.process

P0201_OPTIMUM = 7615.0


@pytest.mark.parametrize("backend", ["HIGHS", "SCIP", "CP-SAT"])
def test_a_wide_absolute_gap_stops_at_a_worse_solution(
    backend: str, opt_data: Path, manifest: dict[str, Any]
) -> None:
    p = read_problem(str(instance_path(opt_data, manifest, "p0201")))[0]
    tight = solve_problem(p, backend, SolveParams(relative_gap=0, threads=1, time_limit=60))
    loose = solve_problem(
        p, backend, SolveParams(relative_gap=0, absolute_gap=1e9, threads=1, time_limit=60)
    )
    assert tight.objective == pytest.approx(P0201_OPTIMUM)
    assert loose.objective is not None and loose.objective > P0201_OPTIMUM + 1, loose


def test_absolute_gap_reaches_mathopt_and_defaults_to_zero() -> None:
    sp, _ = _mathopt_params("HIGHS", SolveParams(absolute_gap=2.5), is_mip=True)
    assert sp.absolute_gap_tolerance == 2.5
    sp, _ = _mathopt_params("HIGHS", SolveParams(), is_mip=True)
    assert sp.absolute_gap_tolerance == 0.0


def test_cbc_says_it_ignores_the_absolute_gap(opt_data: Path, manifest: dict[str, Any]) -> None:
    p = read_problem(str(instance_path(opt_data, manifest, "p0033")))[0]
    r = solve_problem(p, "CBC", SolveParams(absolute_gap=5, threads=1, time_limit=60))
    assert any("absolute gap" in w for w in r.warnings), r.warnings


def test_deterministic_mode_settings() -> None:
    sp, _ = _mathopt_params("CP-SAT", SolveParams(deterministic=True, threads=2), is_mip=True)
    assert sp.cp_sat.interleave_search and sp.random_seed == 0 and sp.threads == 2
    sp, _ = _mathopt_params("SCIP", SolveParams(deterministic=True, seed=9), is_mip=True)
    assert sp.random_seed == 9
    sp, warnings = _mathopt_params("PDLP", SolveParams(deterministic=True, threads=4), False)
    assert sp.threads == 1 and "PDLP runs on 1 thread" in warnings[0]
    sp, _ = _mathopt_params("CP-SAT", SolveParams(threads=2), is_mip=True)
    assert not sp.cp_sat.interleave_search and not sp.HasField("random_seed")


def test_deterministic_cp_sat_on_two_threads_repeats_itself(
    opt_data: Path, manifest: dict[str, Any]
) -> None:
    p = read_problem(str(instance_path(opt_data, manifest, "p0201")))[0]
    # A loose gap stops mid-search, where a non-deterministic parallel search would differ.
    params = SolveParams(deterministic=True, threads=2, absolute_gap=1000, time_limit=60)
    first = solve_problem(p, "CP-SAT", params)
    second = solve_problem(p, "CP-SAT", params)
    assert first.objective is not None
    assert (first.objective, first.values) == (second.objective, second.values)


def test_cli_takes_absolute_gap_and_deterministic(opt_data: Path, manifest: dict[str, Any]) -> None:
    path = str(instance_path(opt_data, manifest, "p0201"))
    run = run_cli(path, "--solver", "HIGHS", "--absolute-gap", "1e9", "--relative-gap", "0",
                  "--deterministic", "--threads", "1")  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.summary["objective"] > P0201_OPTIMUM + 1
    bad = run_cli(path, "--absolute-gap", "-1")
    assert bad.code == 2 and "must be a finite number >= 0" in bad.stderr
