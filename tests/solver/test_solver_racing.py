"""Racing auto's candidates as real processes, and the fallback when a backend refuses."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from solverkit import instance_path, run_cli

from mcpops_common.problem import Problem
from mcpops_solver import auto, racing, runtime
from mcpops_solver.backends import SolveParams
from mcpops_solver.readers import read_problem

pytestmark = pytest.mark.process


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_first_proven_answer_wins_and_the_other_process_is_killed(
    opt_data: Path, manifest: dict[str, Any]
) -> None:
    # forplan: CLP proves it optimal in about 0.01 s; PDLP did not within 5 s (solver.md).
    problem = read_problem(str(instance_path(opt_data, manifest, "forplan")))[0]
    started = time.monotonic()
    out = racing.race(problem, ["PDLP", "CLP"], SolveParams(time_limit=60, threads=2))
    elapsed = time.monotonic() - started
    assert out is not None and out.backend == "CLP" and out.raw.status == "OPTIMAL"
    assert elapsed < 20, elapsed  # PDLP's 60 s were not waited for
    assert len(out.stopped) == 1 and not _alive(out.stopped[0])
    assert "PDLP stopped" in out.how and out.cpu_seconds > 0


def _lp() -> Problem:
    p = Problem(name="small")
    x = p.add_variable("x", 0.0, 4.0)
    y = p.add_variable("y", 0.0, 4.0)
    p.objective = [-1.0, -2.0]
    p.add_constraint("c", float("-inf"), 5.0, [x, y], [1.0, 1.0])
    return p


def test_a_contestant_that_refuses_does_not_stop_the_race() -> None:
    out = racing.race(_lp(), ["CP-SAT", "HIGHS"], SolveParams(time_limit=30, threads=2))
    assert out is not None and out.backend == "HIGHS"
    assert out.raw.objective == pytest.approx(-9.0)
    assert out.reports["CP-SAT"].startswith("refused")


def _refused_by_cp_sat() -> Problem:
    # Whole-number data, but an objective coefficient CP-SAT cannot scale (MODEL_INVALID)
    # and SCIP calls infinite (> 1e20); HiGHS solves it.
    p = Problem(name="huge-cost")
    x = p.add_variable("x", 0.0, 10.0, integer=True)
    y = p.add_variable("y", 0.0, 10.0, integer=True)
    p.objective = [1e40, 1.0]
    p.add_constraint("c", 1.0, float("inf"), [x, y], [1.0, 1.0])
    return p


def test_auto_falls_back_along_the_ranking_when_backends_refuse_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two integer variables, whole-number data: rule 2 (CP-SAT) decides.
    monkeypatch.setitem(
        auto.RANKINGS, "small-whole-integer", ("CP-SAT", "SCIP", "HIGHS", "CBC", "BOP")
    )
    result = runtime.solve_problem(
        _refused_by_cp_sat(), "auto", SolveParams(time_limit=30, threads=1)
    )
    assert result.status == "OPTIMAL" and result.objective == pytest.approx(1.0)
    assert result.solver == "HIGHS"
    assert result.solver_choice is not None
    assert result.solver_choice["fallbackFrom"] == ["CP-SAT", "SCIP"]
    assert (
        "refused the model" in result.solver_reason and "fell back to HIGHS" in result.solver_reason
    )


def test_cli_race_reports_the_choice_in_the_summary(
    opt_data: Path, manifest: dict[str, Any], tmp_path: Path
) -> None:
    args = [str(instance_path(opt_data, manifest, "adlittle")), "--time-limit", "30"]
    run = run_cli(*args, "--threads", "2", "--race")
    assert run.code == 0, run.stderr
    choice = run.summary["solverChoice"]
    first, second = runtime.rivals(auto.RANKINGS["lp"], is_lp=True)
    assert choice["raced"] is True and choice["backend"] in {first, second}
    assert choice["racedAgainst"] == [({first, second} - {choice["backend"]}).pop()]
    assert "raced" in run.summary["solverReason"]
    # One thread: no race, whatever --race says.
    single = run_cli(*args, "--threads", "1", "--race")
    assert single.code == 0 and single.summary["solverChoice"]["raced"] is False


def test_rivals_never_race_the_same_solver_underneath() -> None:
    assert runtime.rivals(("CLP", "CBC", "GLOP", "HIGHS"), is_lp=True) == ("CLP", "GLOP")
    assert runtime.rivals(("CBC", "CLP", "HIGHS"), is_lp=True) == ("CBC", "HIGHS")
    assert runtime.rivals(("CBC", "HIGHS"), is_lp=False) == ("CBC", "HIGHS")
    assert runtime.rivals(("HIGHS",), is_lp=False) == ("HIGHS",)
