#!/usr/bin/env python3
"""Warm start: how much a re-solve seeded with an earlier solution saves.

Usage::

    python bench/warmstart_bench.py [--instances air03,pp08a,vpm2] [--backends HIGHS,SCIP]
                                    [--repeats 3] [--time-limit 60] [--out bench/results]

Per instance and backend: one cold ``mcpops-solver`` run writes its solution (as a first
OptimizationJob would); then `repeats` cold and `repeats` warm runs (``--warm-start`` with
that solution.json, as ``spec.warmStartFrom`` does in a pod) alternate, each a real
process with one thread, the default relative gap (1e-4) and the time limit. The time is
the solver's own wall-clock seconds from the summary; the medians are compared. A run
that is not OPTIMAL counts as the time limit.

Writes ``<out>/warmstart.json`` and ``<out>/warmstart.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MCPOPS_OPT_DATA") or REPO.parent / "shared" / "data" / "optimization")


def solve(path: Path, backend: str, limit: float, extra: list[str]) -> dict[str, Any]:
    script = Path(sys.executable).parent / "mcpops-solver"
    cmd = [str(script), str(path), "--solver", backend, "--threads", "1"]
    cmd += ["--time-limit", str(limit), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    summary: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return summary


def seconds(summary: dict[str, Any], limit: float) -> float:
    return float(summary["seconds"]) if summary.get("status") == "OPTIMAL" else limit


def bench(instance: str, backend: str, repeats: int, limit: float) -> dict[str, Any]:
    path = DATA / "miplib3" / f"{instance}.mps.gz"
    with tempfile.TemporaryDirectory() as tmp:
        first = solve(path, backend, limit, ["--output-dir", tmp, "--name", "first"])
        if first["status"] not in {"OPTIMAL", "FEASIBLE"}:
            raise SystemExit(f"{instance} {backend}: no solution to start from: {first}")
        cm = json.loads((Path(tmp) / "first-result.json").read_text())
        solution = Path(tmp) / "solution.json"
        solution.write_text(cm["data"]["solution.json"])
        cold: list[float] = []
        warm: list[float] = []
        seeded = ["--warm-start", str(solution)]
        for _ in range(repeats):
            cold.append(seconds(solve(path, backend, limit, []), limit))
            warm.append(seconds(solve(path, backend, limit, seeded), limit))
    cold_m, warm_m = statistics.median(cold), statistics.median(warm)
    return {
        "instance": instance,
        "backend": backend,
        "firstStatus": first["status"],
        "firstObjective": first.get("objective"),
        "cold": cold,
        "warm": warm,
        "coldMedian": cold_m,
        "warmMedian": warm_m,
        "saved": 1 - warm_m / cold_m if cold_m > 0 else 0.0,
    }


def render(rows: list[dict[str, Any]], repeats: int) -> str:
    lines = [
        "# Warm start: re-solve time with and without spec.warmStartFrom",
        "",
        f"`python bench/warmstart_bench.py` -- one thread, relative gap 1e-4, {repeats} "
        "alternating cold/warm runs each, the solver's own seconds: median (min-max). The "
        "warm runs start from the cold first run's optimal solution, as a job naming that one "
        "in spec.warmStartFrom does. Measured on the shared 2-core machine while other work "
        "ran, so single runs spread widely; compare the medians.",
        "",
        "| instance | backend | cold (s) | warm (s) | saved |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        cold, warm = r["cold"], r["warm"]
        lines.append(
            f"| {r['instance']} | {r['backend']} | {r['coldMedian']:.2f} "
            f"({min(cold):.1f}-{max(cold):.1f}) | {r['warmMedian']:.2f} "
            f"({min(warm):.1f}-{max(warm):.1f}) | {100 * r['saved']:.0f}% |"
        )
    lines += [
        "",
        "A MIP start saves most where finding a good solution is the hard part (air03, "
        "pp08a: the solver then only has to prove the bound); where the incumbent comes "
        "early and proving optimality dominates (vpm2) it saves nothing (HiGHS's median was "
        "slower there, within the spread of this loaded machine).",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--instances", default="air03,pp08a,vpm2")
    p.add_argument("--backends", default="HIGHS,SCIP")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--time-limit", type=float, default=60.0)
    p.add_argument("--out", default="bench/results")
    args = p.parse_args()
    rows = []
    for instance in args.instances.split(","):
        for backend in args.backends.split(","):
            row = bench(instance, backend, args.repeats, args.time_limit)
            print(json.dumps(row), flush=True)
            rows.append(row)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "warmstart.json").write_text(json.dumps(rows, indent=1) + "\n")
    (out / "warmstart.md").write_text(render(rows, args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
