#!/usr/bin/env python3
"""Generated LPs and MIPs of controlled shape and size: a second set, unseen by auto's fit.

Usage::

    python bench/gen_instances.py --out DIR [--count 24] [--seed 20] [--scale 1.0]

Writes DIR/<name>.mps.gz and DIR/manifest.json in the shared set's format (set
``generated``), so that ``MCPOPS_OPT_DATA=DIR bench/solver_bench.py --sets
generated`` benchmarks it. Instance k is drawn from ``random.Random(seed * 1000
+ k)`` alone: the same seed, count and scale give the same files. Shapes cycle
through six families (transportation, packing and box-bounded LPs;
multi-dimensional knapsack, capacitated facility location and general-integer
MIPs); ``--scale`` multiplies their sizes.

An instance is kept only when two backends (HiGHS and CBC, one thread, 60 s,
relative gap 1e-9) both prove it optimal and agree on the objective (1e-6
relative); the others are listed in the manifest's ``rejected`` with why.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcpops_common.problem import Problem

AGREE = 1e-6


# --------------------------------------------------------------------------- shapes


def transportation(rng: random.Random, scale: float) -> Problem:
    """Supplies to demands at random costs: equality-heavy, many columns per row."""
    m, n = max(2, int(rng.randint(20, 40) * scale)), max(2, int(rng.randint(40, 80) * scale))
    p = Problem(name="transport")
    demand = [rng.randint(5, 30) for _ in range(n)]
    total = sum(demand)
    supply = [total * w for w in _weights(rng, m, 1.2)]
    x = [[p.add_variable(f"x{i}_{j}", 0.0, float("inf")) for j in range(n)] for i in range(m)]
    p.objective = [float(rng.randint(1, 100)) for _ in range(m * n)]
    for i in range(m):
        p.add_constraint(f"s{i}", float("-inf"), supply[i], x[i], [1.0] * n)
    for j in range(n):
        p.add_constraint(f"d{j}", demand[j], demand[j], [x[i][j] for i in range(m)], [1.0] * m)
    return p


def _weights(rng: random.Random, k: int, slack: float) -> list[float]:
    w = [rng.random() + 0.5 for _ in range(k)]
    return [slack * v / sum(w) for v in w]


def packing(rng: random.Random, scale: float) -> Problem:
    """max c x, A x <= b, A >= 0 sparse: inequality rows, no equalities."""
    m, n = int(rng.randint(150, 300) * scale), int(rng.randint(300, 600) * scale)
    p = Problem(name="packing")
    xs = [p.add_variable(f"x{j}", 0.0, float("inf")) for j in range(n)]
    p.objective = [-float(rng.randint(1, 50)) for _ in range(n)]
    cols_of_row = _sparse(rng, m, n, 0.03)
    for i, cols in enumerate(cols_of_row):
        coefs = [float(rng.randint(1, 20)) for _ in cols]
        p.add_constraint(f"r{i}", float("-inf"), float(rng.randint(50, 500)), cols, coefs)
    _cap_uncovered(p, xs, cols_of_row)
    return p


def _sparse(rng: random.Random, m: int, n: int, density: float) -> list[list[int]]:
    per_row = max(2, int(density * n))
    return [sorted(rng.sample(range(n), per_row)) for _ in range(m)]


def _cap_uncovered(p: Problem, xs: list[int], cols_of_row: list[list[int]]) -> None:
    covered = {c for cols in cols_of_row for c in cols}
    for j in xs:
        if j not in covered:
            p.var_ub[j] = 10.0  # keeps the LP bounded


def box_lp(rng: random.Random, scale: float) -> Problem:
    """Mixed-sign rows around a known feasible point, a third of them equalities."""
    m, n = int(rng.randint(200, 400) * scale), int(rng.randint(250, 500) * scale)
    p = Problem(name="box")
    point = [rng.uniform(0, 10) for _ in range(n)]
    xs = [p.add_variable(f"x{j}", 0.0, 10.0) for j in range(n)]
    p.objective = [rng.uniform(-10, 10) for _ in range(n)]
    for i, cols in enumerate(_sparse(rng, m, n, 0.02)):
        coefs = [round(rng.uniform(-5, 5), 3) for _ in cols]
        at = sum(c * point[j] for c, j in zip(coefs, cols, strict=True))
        if i % 3 == 0:
            p.add_constraint(f"r{i}", at, at, cols, coefs)
        else:
            p.add_constraint(f"r{i}", float("-inf"), at + rng.uniform(0, 5), cols, coefs)
    del xs
    return p


def knapsack(rng: random.Random, scale: float) -> Problem:
    """Multi-dimensional 0-1 knapsack: few, long rows, whole-number data."""
    m, n = max(2, int(rng.randint(5, 10) * scale)), int(rng.randint(50, 90) * scale)
    p = Problem(name="knapsack")
    xs = [p.add_variable(f"x{j}", 0.0, 1.0, integer=True) for j in range(n)]
    p.objective = [-float(rng.randint(10, 100)) for _ in range(n)]
    for i in range(m):
        w = [float(rng.randint(5, 60)) for _ in range(n)]
        p.add_constraint(f"k{i}", float("-inf"), float(int(sum(w) * 0.4)), xs, w)
    return p


def facility(rng: random.Random, scale: float) -> Problem:
    """Capacitated facility location: binary opens, continuous flows, x_ij <= y_i rows."""
    f, c = max(2, int(rng.randint(15, 25) * scale)), max(2, int(rng.randint(40, 70) * scale))
    p = Problem(name="facility")
    demand = [float(rng.randint(5, 35)) for _ in range(c)]
    cap = [sum(demand) * w for w in _weights(rng, f, 2.5)]
    y = [p.add_variable(f"y{i}", 0.0, 1.0, integer=True) for i in range(f)]
    x = [[p.add_variable(f"x{i}_{j}", 0.0, 1.0) for j in range(c)] for i in range(f)]
    p.objective = [float(rng.randint(200, 600)) for _ in range(f)]
    p.objective += [float(rng.randint(1, 40)) * demand[j] for _ in range(f) for j in range(c)]
    for j in range(c):
        p.add_constraint(f"d{j}", 1.0, 1.0, [x[i][j] for i in range(f)], [1.0] * f)
    for i in range(f):
        p.add_constraint(f"cap{i}", float("-inf"), 0.0, [*x[i], y[i]], [*demand, -cap[i]])
        for j in range(c):
            p.add_constraint(f"v{i}_{j}", float("-inf"), 0.0, [x[i][j], y[i]], [1.0, -1.0])
    return p


def general_integer(rng: random.Random, scale: float) -> Problem:
    """General integers 0..10 with some continuous columns, covering rows."""
    m, n = int(rng.randint(30, 60) * scale), int(rng.randint(40, 80) * scale)
    p = Problem(name="general")
    xs = [p.add_variable(f"x{j}", 0.0, 10.0, integer=j % 4 != 0) for j in range(n)]
    p.objective = [float(rng.randint(1, 30)) for _ in range(n)]
    for i, cols in enumerate(_sparse(rng, m, n, 0.1)):
        coefs = [float(rng.randint(1, 9)) for _ in cols]
        p.add_constraint(f"r{i}", float(rng.randint(20, 60)), float("inf"), cols, coefs)
    del xs
    return p


SHAPES: list[tuple[str, str, Callable[[random.Random, float], Problem]]] = [
    ("transport", "LP", transportation),
    ("packing", "LP", packing),
    ("box", "LP", box_lp),
    ("knapsack", "MIP", knapsack),
    ("facility", "MIP", facility),
    ("general", "MIP", general_integer),
]


# --------------------------------------------------------------------------- MPS


def _fmt(x: float) -> str:
    return repr(float(x))


def to_mps(p: Problem, name: str) -> str:
    """Free-format MPS (minimization; names hold no spaces)."""
    lines = [f"NAME {name}", "ROWS", " N obj"]
    kinds = []
    for r in range(p.num_constraints):
        lo, hi = p.con_lb[r], p.con_ub[r]
        kind = "E" if lo == hi else ("L" if lo == float("-inf") else "G")
        kinds.append(kind)
        lines.append(f" {kind} {p.con_names[r]}")
    col_rows: list[list[tuple[int, float]]] = [[] for _ in range(p.num_vars)]
    for r in range(p.num_constraints):
        for j, c in zip(p.row_vars[r], p.row_coefs[r], strict=True):
            col_rows[j].append((r, c))
    lines.append("COLUMNS")
    in_int = False
    for j in range(p.num_vars):
        if p.var_integer[j] != in_int:
            marker = "INTORG" if p.var_integer[j] else "INTEND"
            lines.append(f" M{j} 'MARKER' '{marker}'")
            in_int = p.var_integer[j]
        v = p.var_names[j]
        if p.objective[j]:
            lines.append(f" {v} obj {_fmt(p.objective[j])}")
        for r, c in col_rows[j]:
            lines.append(f" {v} {p.con_names[r]} {_fmt(c)}")
    if in_int:
        lines.append(" Mend 'MARKER' 'INTEND'")
    lines.append("RHS")
    for r in range(p.num_constraints):
        rhs = p.con_ub[r] if kinds[r] in {"E", "L"} else p.con_lb[r]
        if rhs:
            lines.append(f" rhs {p.con_names[r]} {_fmt(rhs)}")
    lines.append("BOUNDS")
    for j in range(p.num_vars):
        v, lb, ub = p.var_names[j], p.var_lb[j], p.var_ub[j]
        if lb != 0.0:
            lines.append(f" LO bnd {v} {_fmt(lb)}")
        if ub != float("inf"):
            lines.append(f" UP bnd {v} {_fmt(ub)}")
    lines.append("ENDATA")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- optima


def reference_optimum(
    p: Problem, backends_: tuple[str, str] = ("HIGHS", "CBC")
) -> tuple[float | None, str]:
    """The objective two backends prove optimal and agree on, or None and why not."""
    from mcpops_solver import backends

    params = backends.SolveParams(time_limit=60, threads=1, relative_gap=1e-9)
    found: list[float] = []
    for b in backends_:
        raw = backends.solve(p, b, params)
        if raw.status != "OPTIMAL" or raw.objective is None:
            return None, f"{b}: {raw.status}"
        found.append(raw.objective)
    a, b_ = found
    if abs(a - b_) > AGREE * max(1.0, abs(a)):
        return None, f"{backends_[0]} {a!r} and {backends_[1]} {b_!r} disagree"
    return a, "agreed"


def generate(out: Path, count: int, seed: int, scale: float) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    instances: list[dict[str, Any]] = []
    rejected: list[dict[str, str]] = []
    for k in range(count):
        shape, kind, make = SHAPES[k % len(SHAPES)]
        rng = random.Random(seed * 1000 + k)  # noqa: S311 (reproducible data, not secrets)
        problem = make(rng, scale)
        name = f"g{seed}-{k:03d}-{shape}"
        value, why = reference_optimum(problem)
        if value is None:
            rejected.append({"name": name, "reason": why})
            print(f"rejected {name}: {why}", flush=True)
            continue
        file = f"{name}.mps.gz"
        (out / file).write_bytes(gzip.compress(to_mps(problem, name).encode(), mtime=0))
        stats = problem.stats()
        instances.append(
            {
                "name": name,
                "set": "generated",
                "file": file,
                "type": kind,
                "shape": shape,
                "rows": stats.constraints,
                "cols": stats.variables,
                "nonzeros": stats.nonzeros,
                "optimal_objective": value,
                "proven_optimal": True,
            }
        )
        print(f"{name}: {stats.variables} cols, {stats.constraints} rows, opt {value!r}")
    manifest = {
        "about": f"Generated by bench/gen_instances.py --count {count} --seed {seed} "
        f"--scale {scale}; optima proven by HiGHS and CBC, agreeing within {AGREE}.",
        "instances": instances,
        "rejected": rejected,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args(argv)
    manifest = generate(Path(args.out), args.count, args.seed, args.scale)
    print(f"{len(manifest['instances'])} instances, {len(manifest['rejected'])} rejected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
