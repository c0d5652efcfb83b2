"""Helpers shared by the solver runtime tests (imported by the test modules)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from mcpops_common.problem import INF, Problem

REPO = Path(__file__).resolve().parents[2]

EXAMPLE: dict[str, Any] = {
    "sense": "maximize",
    "variables": [
        {"name": "x", "lowerBound": 0, "upperBound": 3},
        {"name": "y", "lowerBound": 0, "type": "integer"},
    ],
    "constraints": [
        {"name": "capacity", "coefficients": {"x": 1, "y": 1}, "upperBound": 4},
        {
            "name": "mix",
            "terms": [{"var": "x", "coef": 1}, {"var": "y", "coef": 3}],
            "upperBound": 6,
        },
    ],
    "objective": {"coefficients": {"x": 3, "y": 2}, "constant": 5},
}


def data_dir() -> Path:
    env = os.environ.get("MCPOPS_OPT_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data" / "optimization"


def instance_path(opt_data: Path, manifest: Mapping[str, Mapping[str, Any]], name: str) -> Path:
    return opt_data / str(manifest[name]["file"])


@dataclass
class CliRun:
    code: int
    summary: dict[str, Any]
    stdout: str
    stderr: str


def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    stdin: str | None = None,
) -> CliRun:
    """Run the real ``mcpops-solver`` console script (falls back to python -m)."""
    script = Path(sys.executable).parent / "mcpops-solver"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "mcpops_solver.cli"]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MCPOPS_")}
    full_env.pop("JOB_COMPLETION_INDEX", None)
    full_env.pop("POD_NAMESPACE", None)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        input=stdin,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    summary = json.loads(lines[-1]) if lines else {}
    return CliRun(proc.returncode, summary, proc.stdout, proc.stderr)


def rel_close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
maybe_bound = st.one_of(st.none(), finite)


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    var_names = draw(st.lists(names, min_size=1, max_size=8, unique=True))
    p = Problem(name=draw(names), maximize=draw(st.booleans()), objective_offset=draw(finite))
    for v in var_names:
        lo = draw(maybe_bound)
        hi = draw(maybe_bound)
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
        kind = draw(st.sampled_from(["continuous", "integer", "binary"]))
        if kind == "binary":
            lo, hi = 0.0, 1.0
        p.add_variable(
            v,
            -INF if lo is None else lo,
            INF if hi is None else hi,
            kind != "continuous",
            draw(st.one_of(st.just(0.0), finite)),
        )
    con_names = draw(st.lists(names, max_size=6, unique=True))
    for c in con_names:
        idx = draw(st.lists(st.integers(0, len(var_names) - 1), max_size=5, unique=True))
        coefs = [draw(finite.filter(lambda x: x != 0.0)) for _ in idx]
        lo = draw(maybe_bound)
        hi = draw(maybe_bound)
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
        p.add_constraint(c, -INF if lo is None else lo, INF if hi is None else hi, idx, coefs)
    return p


def canonical(p: Problem) -> dict[str, Any]:
    """The problem keyed by names, so that variable/constraint order does not matter."""
    return {
        "maximize": p.maximize,
        "offset": p.objective_offset,
        "vars": {
            n: (p.var_lb[i], p.var_ub[i], p.var_integer[i], p.objective[i])
            for i, n in enumerate(p.var_names)
        },
        "cons": {
            n: (
                p.con_lb[r],
                p.con_ub[r],
                {p.var_names[j]: c for j, c in zip(p.row_vars[r], p.row_coefs[r], strict=True)},
            )
            for r, n in enumerate(p.con_names)
        },
    }


def same_problem(a: Problem, b: Problem) -> None:
    assert len(a.var_names) == len(b.var_names)
    assert len(a.con_names) == len(b.con_names)
    assert canonical(a) == canonical(b)
