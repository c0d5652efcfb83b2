"""The solver benchmark survives an instance it cannot read: a row says why, the rest runs."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

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


def test_compare_scores_rules_as_written_and_trees_held_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    sys.modules.pop("auto_eval", None)
    import auto_eval

    from mcpops_common.problem import ProblemStats
    from mcpops_solver import auto

    def mip(variables: int, rows: int) -> ProblemStats:
        return ProblemStats(
            variables=variables, constraints=rows, nonzeros=3 * variables,
            integer_variables=variables // 2, binary_variables=variables // 2,
            continuous_variables=variables - variables // 2, integral_data=False,
            bounded_variables=False, max_abs_coefficient=10.0, equality_constraints=rows,
        )  # fmt: skip

    def report(times: dict[str, dict[str, float]]) -> dict[str, Any]:
        runs = [
            {"instance": n, "solver": b, "solved": True, "seconds": t}
            for n, per in times.items()
            for b, t in per.items()
        ]
        return {"timeLimit": 5.0, "instances": list(times), "runs": runs}

    # Shared: HiGHS fastest on every instance; generated: CBC fastest on every one.
    shared_stats = {f"fam{c}{i}": mip(100 + 10 * i, 80) for c in "abcd" for i in range(3)}
    shared = report({n: {"HIGHS": 0.1, "CBC": 1.0, "SCIP": 2.0} for n in shared_stats})
    gen_stats = {f"g1-{i:03d}-shape": mip(120, 90) for i in range(4)}
    gen = report({n: {"HIGHS": 1.0, "CBC": 0.1, "SCIP": 2.0} for n in gen_stats})
    rows = {r["candidate"]: r for r in auto_eval.compare(shared, shared_stats, gen, gen_stats)}
    assert set(rows) == {
        "hand-written rules (shipped)",
        *auto_eval.TREE_CANDIDATES,
        *auto_eval.FIXED_CANDIDATES,
    }
    rules = rows["hand-written rules (shipped)"]
    assert rules["sharedHow"] == "in-sample"
    expected = auto.choose(mip(100, 80))[0]  # rule 6 (mixed 0-1, all rows equalities)
    assert expected == "HIGHS" and rules["shared"]["ratio"] == pytest.approx(1.0)
    always_highs = rows["always HiGHS"]
    assert always_highs["generated"]["ratio"] == pytest.approx(10.0)  # 1.0 s over 0.1 s
    # A tree fitted on the shared set alone picks HiGHS for the generated set (unseen) ...
    tree = rows["tree depth 0 (best single backend per kind, fitted)"]
    assert tree["generated"]["ratio"] == pytest.approx(10.0)  # 1.0 s over 0.1 s
    # ... and cross-validated over both sets, the one generated family is held out too.
    assert tree["unionGenerated"]["ratio"] == pytest.approx(10.0)  # 1.0 s over 0.1 s
    assert tree["unionShared"]["ratio"] == pytest.approx(1.0)
