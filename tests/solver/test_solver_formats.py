"""Reading problems: MPS (plain/gzip), CPLEX LP, lp-solve LP, JSON/YAML; detection; errors.

The CPLEX LP reader is checked against HiGHS (``highspy``) reading the same
files, and the JSON model and MPS forms of one problem must solve alike.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solverkit import EXAMPLE, instance_path, problems, rel_close, same_problem

from mcpops_common.optmodel import OptimizationModel
from mcpops_common.problem import INF, Problem, from_model, to_model
from mcpops_solver.backends import SolveParams, to_mathopt_proto
from mcpops_solver.lpformat import LpSyntaxError, lp_safe_name, parse_lp, write_lp
from mcpops_solver.readers import ReadError, detect_format, parse_problem, read_problem
from mcpops_solver.runtime import solve_problem

pytestmark = pytest.mark.process

LP_SAMPLE = r"""\ a CPLEX LP file with most of the syntax
Maximize
 profit: 3 x1 + 2 x2 - 0.5 x3 + 4 y + 10
Subject To
 cap: x1 + x2 + x3 <= 40
 demand: x1 + x2 >= 5
 -x1 + 2 x2
   + y = 3
 rng: -2 <= x1 - x3 <= 12
 c5: 2 x1 + 3 y >= -1e1
Bounds
 x1 <= 20
 -inf <= x3 <= 30
 x2 free
 y >= -3
 y <= 8
Generals
 y
End
"""


_HIGHS_SCRIPT = """
import json, sys
import highspy
h = highspy.Highs()
h.setOptionValue("output_flag", False)
status = h.readModel(sys.argv[1])
if status == highspy.HighsStatus.kError:
    print(json.dumps({"status": "ReadError", "objective": None}))
    sys.exit(0)
h.run()
print(json.dumps({"status": h.modelStatusToString(h.getModelStatus()),
                  "objective": h.getInfo().objective_function_value}))
"""


def _highs_objective(path: Path) -> tuple[str, float]:
    """Solve a file with HiGHS through highspy, in its own process.

    highspy and OR-Tools each bundle a different HiGHS; loaded in one process,
    the second library resolves symbols against the first and fails to load.
    """
    proc = subprocess.run(
        [sys.executable, "-c", _HIGHS_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    return str(doc["status"]), float(doc["objective"] or "nan")


def test_lp_sample_parses_as_written() -> None:
    p = parse_lp(LP_SAMPLE)
    assert p.maximize and p.objective_offset == 10
    assert p.var_names == ["x1", "x2", "x3", "y"]
    assert p.objective == [3, 2, -0.5, 4]
    assert p.con_names == ["cap", "demand", "R1", "rng", "c5"]
    assert (p.con_lb[2], p.con_ub[2]) == (3, 3)
    assert (p.con_lb[3], p.con_ub[3]) == (-2, 12)
    assert (p.con_lb[4], p.con_ub[4]) == (-10, INF)
    assert p.var_lb == [0, -INF, -INF, -3] and p.var_ub == [20, INF, 30, 8]
    assert p.var_integer == [False, False, False, True]


def test_lp_sample_agrees_with_highs(tmp_path: Path) -> None:
    # HiGHS (like CPLEX) takes no "lo <= expr <= hi" rows: give it the range as two rows.
    text = LP_SAMPLE.replace(
        " rng: -2 <= x1 - x3 <= 12", " rng1: x1 - x3 >= -2\n rng2: x1 - x3 <= 12"
    )
    path = tmp_path / "sample.lp"
    path.write_text(text)
    status, expected = _highs_objective(path)
    p, fmt = read_problem(str(path))
    assert fmt == "lp"
    result = solve_problem(p, "auto", SolveParams(relative_gap=1e-9))
    assert status == "Optimal" and result.status == "OPTIMAL"
    assert result.objective is not None and rel_close(result.objective, expected, 1e-9)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Minimize\n obj: x + [ x ^ 2 ] / 2\nEnd\n", "quadratic"),
        ("Minimize\n obj: x\nSubject To\n c: x + <= 3\nEnd\n", "expected a term"),
        ("Minimize\n obj: x\nSubject To\n c: x + y 3\nEnd\n", "expected \\+ or - between"),
        ("Minimize\n obj: x\nSubject To\n c: x + y\nEnd\n", "expected <=, >= or ="),
        ("Minimize\n obj: x\nSubject To\n c: x >= y\nEnd\n", "right-hand side"),
        ("Minimize\n obj: x\nSemi-continuous\n x\nEnd\n", "semi-continuous"),
        ("Minimize\n obj: x\nSubject To\n c: b = 1 -> x >= 1\nEnd\n", "indicator"),
        ("obj: x\n", "expected Minimize or Maximize before"),
        ("Minimize\n obj: x\nSubject To\n c: 1 <= x >= 2\nEnd\n", "ranged constraint"),
    ],
)
def test_bad_lp_files_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(LpSyntaxError, match=message):
        parse_lp(text)


def _lp_safe(p: Problem) -> bool:
    return all(lp_safe_name(n) for n in [*p.var_names, *p.con_names])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_lp_writer_and_reader_round_trip(p: Problem) -> None:
    if not _lp_safe(p):
        return
    p.validate()
    back = parse_lp(write_lp(p))
    same_problem(p, back)


@pytest.mark.parametrize("name", ["sc50a", "blend", "share2b", "p0033", "flugpl"])
def test_lp_files_written_from_instances_agree_with_highs(
    name: str, tmp_path: Path, opt_data: Path, manifest: dict[str, dict[str, Any]]
) -> None:
    if name not in manifest:
        pytest.skip(f"{name} is not in the shared set")
    p, _ = read_problem(str(instance_path(opt_data, manifest, name)))
    # Netlib names are not always LP-safe ("...100"): rename, keep the structure.
    p.var_names = [f"x{i}" for i in range(p.num_vars)]
    p.con_names = [f"c{i}" for i in range(p.num_constraints)]
    path = tmp_path / f"{name}.lp"
    path.write_text(write_lp(p, split_ranges=True))
    status, expected = _highs_objective(path)
    q, _ = read_problem(str(path))
    result = solve_problem(q, "auto", SolveParams(relative_gap=1e-9))
    assert status == "Optimal" and result.status == "OPTIMAL"
    assert result.objective is not None
    assert rel_close(result.objective, expected, 1e-7)
    assert rel_close(result.objective, float(manifest[name]["optimal_objective"]), 1e-6)


def test_mps_gzip_and_plain_read_thesame_problem(
    tmp_path: Path, opt_data: Path, manifest: dict[str, dict[str, Any]]
) -> None:
    src = instance_path(opt_data, manifest, "p0033")
    plain = tmp_path / "model"  # no telling extension: detected from content
    plain.write_bytes(gzip.decompress(src.read_bytes()))
    a, fa = read_problem(str(src))
    b, fb = read_problem(str(plain))
    assert fa == fb == "mps"
    b.name = a.name
    same_problem(a, b)
    assert a.num_vars == 33 and sum(a.var_integer) == 33


def test_json_model_and_mps_forms_solve_alike(tmp_path: Path) -> None:
    from ortools.math_opt.io.python import mps_converter

    model = from_model(OptimizationModel.model_validate(EXAMPLE))
    json_path = tmp_path / "m.json"
    json_path.write_text(json.dumps(EXAMPLE))
    mps_path = tmp_path / "m.mps.gz"
    mps_path.write_bytes(
        gzip.compress(mps_converter.model_proto_to_mps(to_mathopt_proto(model)).encode())
    )
    a, _ = read_problem(str(json_path))
    b, fmt = read_problem(str(mps_path))
    assert fmt == "mps"
    b.name = a.name
    same_problem(a, b)
    ra = solve_problem(a, "auto", SolveParams())
    rb = solve_problem(b, "auto", SolveParams())
    assert ra.status == rb.status == "OPTIMAL"
    assert ra.objective == pytest.approx(16.0) and rb.objective == pytest.approx(16.0)
    assert ra.values == pytest.approx(rb.values)


@pytest.mark.parametrize("name", ["adlittle", "p0033", "egout"])
def test_instance_as_json_model_solves_like_the_mps(
    name: str, tmp_path: Path, opt_data: Path, manifest: dict[str, dict[str, Any]]
) -> None:
    p, _ = read_problem(str(instance_path(opt_data, manifest, name)))
    doc = to_model(p).model_dump(mode="json", by_alias=True, exclude_none=True)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    q, fmt = read_problem(str(path))
    assert fmt == "yaml"
    r1 = solve_problem(p, "HIGHS", SolveParams(relative_gap=1e-9))
    r2 = solve_problem(q, "HIGHS", SolveParams(relative_gap=1e-9))
    assert r1.status == r2.status == "OPTIMAL"
    assert r1.objective is not None and r2.objective is not None
    assert rel_close(r1.objective, r2.objective, 1e-9)
    assert rel_close(r2.objective, float(manifest[name]["optimal_objective"]), 1e-6)


def test_lp_solve_dialect_is_read_by_ortools(tmp_path: Path) -> None:
    path = tmp_path / "m.lp"
    path.write_text(
        "max: 3 x + 2 y;\nc1: x + y <= 4;\nc2: x + 3 y <= 6;\nx <= 3;\nx >= 0; y >= 0;\n"
    )
    p, fmt = read_problem(str(path))
    assert fmt == "lp-solve"
    r = solve_problem(p, "GLOP", SolveParams())
    assert r.status == "OPTIMAL" and r.objective == pytest.approx(11.0)


@pytest.mark.parametrize(
    ("name", "text", "fmt"),
    [
        ("model.json", "{}", "json"),
        ("model.yml", "a: 1", "yaml"),
        ("problem.mps.gz", "", "mps"),
        ("x.lp", "Minimize\n obj: x\nEnd", "lp"),
        ("x.lp", "min: x;\n", "lp-solve"),
        ("data", "NAME foo\nROWS\n", "mps"),
        ("data", "Maximize\n obj: x\nEnd", "lp"),
        ("data", '{"variables": []}', "json"),
        ("data", "variables:\n  - name: x\n", "yaml"),
    ],
)
def test_format_detection(name: str, text: str, fmt: str) -> None:
    assert detect_format(name, text) == fmt


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        ("mps", "NAME x\nROWS\n N obj\nCOLUMNS\n x obj zz\nENDATA\n", "not a valid MPS file"),
        ("json", "{not json", "not valid JSON"),
        ("yaml", "variables: [", "not valid YAML"),
        ("json", "[1, 2]", "must be a JSON object"),
        ("json", '{"variables": [{"name": "x", "type": "real"}]}', "variables.0.type"),
        ("lp-solve", "max: 3 x +;", "lp-solve"),
    ],
)
def test_malformed_inputs_raise_read_errors(fmt: str, text: str, message: str) -> None:
    with pytest.raises(ReadError, match=message):
        parse_problem(text, fmt, source="input")


def test_undetectable_format_asks_for_format() -> None:
    with pytest.raises(ReadError, match="give --format"):
        detect_format("blob", "hello world")


def test_missing_file_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="cannot read"):
        read_problem(str(tmp_path / "absent.mps"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_garbage_never_crashes_the_readers(blob: bytes) -> None:
    text = blob.decode("latin-1")
    for fmt in ("json", "yaml", "lp", "mps"):
        with contextlib.suppress(ReadError):
            parse_problem(text, fmt)
