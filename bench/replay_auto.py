#!/usr/bin/env python3
"""Replay ``solver: auto`` over recorded benchmark runs, without solving again.

Usage::

    python bench/replay_auto.py [bench/results/solver.json]

For every instance of the report it asks the runtime's current
``mcpops_solver.auto.choose`` for a backend and takes that backend's recorded
time (unsolved = the time limit), then prints solved count and shifted
geometric mean against the virtual best per set, as solver_bench.py does. It
shows what a change of the rules would do on the recorded times alone; timing
noise of the recorded runs stays in, so confirm with ``make bench``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from solver_bench import BACKENDS, REPO, data_dir, sgm


def main(argv: list[str]) -> int:
    from mcpops_solver.auto import choose
    from mcpops_solver.readers import read_problem

    report_path = Path(argv[0]) if argv else REPO / "bench" / "results" / "solver.json"
    report: dict[str, Any] = json.loads(report_path.read_text())
    limit = float(report["timeLimit"])
    manifest = json.loads((data_dir() / "manifest.json").read_text())
    files = {i["name"]: i for i in manifest["instances"]}
    times: dict[tuple[str, str], float] = {}
    for r in report["runs"]:
        solved = r.get("solved") and r.get("seconds") is not None
        times[(r["instance"], r["solver"])] = min(float(r["seconds"]), limit) if solved else limit
    rows: dict[str, list[tuple[float, float]]] = {}
    for name in report["instances"]:
        inst = files[name]
        stats = read_problem(str(data_dir() / inst["file"]))[0].stats()
        backend, _ = choose(stats)
        t = times.get((name, backend), limit)
        best = min(times.get((name, b), limit) for b in BACKENDS)
        recorded = next(
            (r.get("chosen") for r in report["runs"] if r["instance"] == name and r.get("chosen")),
            None,
        )
        if recorded and recorded != backend:
            print(f"{name:<12} recorded auto {recorded:<7} now {backend:<7} {t:6.2f} s")
        for key in (inst["type"], "all"):
            rows.setdefault(key, []).append((t, best))
    for key, pairs in rows.items():
        auto = sgm([t for t, _ in pairs])
        vb = sgm([b for _, b in pairs])
        solved = sum(t < limit for t, _ in pairs)
        print(f"{key:<4} solved {solved}/{len(pairs)}  SGM {auto:.3f} s  VB {vb:.3f} s  "
              f"ratio {auto / vb:.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
