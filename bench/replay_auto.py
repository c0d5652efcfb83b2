#!/usr/bin/env python3
"""Replay ``solver: auto`` over recorded benchmark runs, without solving again.

Usage::

    python bench/replay_auto.py [--fit] [--write] [bench/results/solver.json]
        [--generated bench/results/generated/solver.json --generated-data DIR]

For every instance of the report it asks the runtime's current
``mcpops_solver.auto.choose`` for a backend and takes that backend's recorded
time (unsolved = the time limit), and scores it against the virtual best;
then it refits the choice trees on the same recorded times and scores them
in-sample and by leave-one-family-out cross-validation (bench/auto_eval.py).
``--fit`` also prints the refitted trees as Python, to paste into
mcpops_solver/auto.py; ``--write`` rewrites the report's solver.md (and the
evaluation in solver.json) from the recorded runs. ``--generated`` also
compares every candidate (the shipped hand-written rules, tree settings,
single-backend baselines) on both sets (``auto_eval.compare``); the generated
set's files come from ``--generated-data`` (regenerate them with
``bench/gen_instances.py --out DIR --count 24 --seed 20``). Timing noise of the
recorded runs stays in, so confirm with ``make bench-solver``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from solver_bench import REPO, instance_stats, race_stats, render_markdown


def main(argv: list[str]) -> int:
    import auto_eval

    from mcpops_solver import auto
    from mcpops_solver.choicetree import as_literal

    options = {}
    for opt in ("--generated", "--generated-data"):
        if opt in argv:
            i = argv.index(opt)
            options[opt] = argv[i + 1]
            argv = argv[:i] + argv[i + 2 :]
    flags = {a for a in argv if a.startswith("--")}
    paths = [a for a in argv if not a.startswith("--")]
    report_path = Path(paths[0]) if paths else REPO / "bench" / "results" / "solver.json"
    report: dict[str, Any] = json.loads(report_path.read_text())
    stats = instance_stats(report)
    for r in report["runs"]:
        if r["solver"] == "auto" and r.get("chosen") and r["instance"] in stats:
            now = auto.choose(stats[r["instance"]])[0]
            if now != r["chosen"]:
                print(f"{r['instance']:<12} recorded auto {r['chosen']:<7} now {now}")
    ev = auto_eval.evaluate(report, stats)
    print("\n".join(auto_eval.markdown(ev)))
    if "--fit" in flags:
        for kind, backends in auto.BACKENDS_BY_KIND.items():
            group = {n: s for n, s in stats.items() if s.is_lp == (kind == "LP")}
            tree = auto.FITTERS[kind](auto_eval.samples(report, group, backends))
            print(f"{kind}: {as_literal(tree)}")
    if "--generated" in options:
        gen: dict[str, Any] = json.loads(Path(options["--generated"]).read_text())
        data = options.get("--generated-data")
        gen_stats = instance_stats(gen, Path(data) if data else None)
        report["choiceComparison"] = auto_eval.compare(report, stats, gen, gen_stats)
        print("\n".join(auto_eval.comparison_markdown(report["choiceComparison"])))
    if "--write" in flags:
        report["choiceEvaluation"] = ev
        report["race"] = race_stats(report)
        report_path.write_text(json.dumps(report, indent=1) + "\n")
        report_path.with_suffix(".md").write_text(render_markdown(report))
        print(f"wrote {report_path} and {report_path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
