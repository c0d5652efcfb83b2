"""The solver benchmark survives an instance it cannot read: a row says why, the rest runs."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest
from solverkit import REPO

pytestmark = pytest.mark.process

GOOD = """NAME GOOD
ROWS
 N obj
 G c1
COLUMNS
 x obj 1 c1 1
 y obj 1 c1 1
RHS
 RHS c1 2
ENDATA
"""
# Cut off before ENDATA, as a failed download would be.
BROKEN = GOOD.split("RHS\n")[0]


def test_an_unreadable_instance_is_recorded_and_the_benchmark_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    (data / "netlib").mkdir(parents=True)
    (data / "miplib3").mkdir()
    (data / "netlib" / "good.mps.gz").write_bytes(gzip.compress(GOOD.encode()))
    (data / "miplib3" / "broken.mps.gz").write_bytes(gzip.compress(BROKEN.encode()))
    manifest = {
        "instances": [
            {"name": "broken", "set": "miplib3", "file": "miplib3/broken.mps.gz",
             "type": "MIP", "optimal_objective": 2.0, "proven_optimal": True},
            {"name": "good", "set": "netlib", "file": "netlib/good.mps.gz",
             "type": "LP", "optimal_objective": 2.0, "proven_optimal": True},
        ]
    }  # fmt: skip
    (data / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("MCPOPS_OPT_DATA", str(data))
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    sys.modules.pop("solver_bench", None)
    import solver_bench

    out = tmp_path / "out"
    code = solver_bench.main(["--out", str(out), "--backends", "GLOP", "--time-limit", "10"])

    assert code == 0
    report = json.loads((out / "solver.json").read_text())
    assert report["instances"] == ["good"]
    [unreadable] = report["unreadable"]
    assert unreadable["instance"] == "broken"
    assert "ends without ENDATA" in unreadable["reason"]
    [run] = report["runs"]
    assert run["instance"] == "good" and run["solved"], run
    markdown = (out / "solver.md").read_text()
    assert "## Unreadable instances" in markdown
    assert "| broken | " in markdown and "ends without ENDATA" in markdown


def test_generated_set_is_deterministic_and_reads_back_as_generated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    sys.modules.pop("gen_instances", None)
    import gen_instances

    from mcpops_solver.readers import read_problem

    first = gen_instances.generate(tmp_path / "a", count=6, seed=3, scale=0.3)
    again = gen_instances.generate(tmp_path / "b", count=6, seed=3, scale=0.3)
    assert first["instances"] == again["instances"] and not first["rejected"]
    assert {i["shape"] for i in first["instances"]} == {s[0] for s in gen_instances.SHAPES}
    for inst in first["instances"]:
        a = (tmp_path / "a" / inst["file"]).read_bytes()
        assert a == (tmp_path / "b" / inst["file"]).read_bytes()
        problem = read_problem(str(tmp_path / "a" / inst["file"]))[0]
        stats = problem.stats()
        assert (stats.variables, stats.constraints) == (inst["cols"], inst["rows"])
        assert stats.is_lp == (inst["type"] == "LP")
        # The file solves to the optimum the two backends agreed on.
        value, why = gen_instances.reference_optimum(problem)
        assert why == "agreed" and value == pytest.approx(inst["optimal_objective"], rel=1e-6)
