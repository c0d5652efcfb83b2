#!/usr/bin/env python3
"""Benchmark of the solver runtime on the shared Netlib / MIPLIB 3 instances.

Usage::

    python bench/solver_bench.py [--time-limit S] [--out bench/results]
                                 [--backends GLOP,HIGHS,...] [--instances a,b,...]
                                 [--sets netlib,miplib3] [--threads 1] [--resume]

Every run is a real ``mcpops-solver`` process (``python -m mcpops_solver.cli``)
with ``--threads`` (default 1), the given time limit and the runtime's default
relative gap (1e-4), exactly as in a solver pod; ``auto`` runs the same way, and
``auto-race`` is auto with ``--race`` on 2 threads (its two best candidates at
once; wall-clock and CPU-seconds reported against the 1-thread runs). The report
also scores auto's choice fitted and cross-validated from the recorded
per-backend times (bench/auto_eval.py). With ``MCPOPS_OPT_DATA`` pointing at a
directory made by bench/gen_instances.py and ``--sets generated`` it runs the
generated set (``make bench-solver-generated``).
HiGHS through ``highspy`` (no OR-Tools) runs in its own process for
comparison, with the same limits.

A run counts as solved when its status is OPTIMAL and its objective matches
the manifest's value: within 1e-6 relative for LPs, and for MIPs within the
relative gap asked for plus the catalogue's rounding (half a unit of the last
digit it prints). Times: the solver's own wall-clock seconds; an unsolved run
counts as the time limit. SGM is the shifted geometric mean with a shift of 1 s:
``exp(mean(log(t + 1))) - 1``. The virtual best takes, per instance, the fastest
OR-Tools backend that solved it. Overhead is the runtime's time from process
start to solver start (interpreter, imports, reading, model translation).

Writes ``<out>/solver.json`` (every run and the aggregates), ``<out>/solver.md``
(tables) and ``<out>/runs.jsonl`` (one line per run, used by --resume).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/auto_eval.py
BACKENDS = ["GLOP", "PDLP", "CLP", "CBC", "SCIP", "HIGHS", "CP-SAT", "BOP"]
# Rows that are not a single OR-Tools backend (never part of the virtual best). auto-race:
# auto with --race on 2 threads (its two best candidates at once, 1 thread each).
NOT_BACKENDS = {"auto", "highspy", "auto-race"}
RACE_THREADS = 2
DEFAULT_GAP = 1e-4
LP_TOL = 1e-6
# The manifest's ganges and scrs8 values are the Netlib README figures, off in the
# sixth digit; every backend here and HiGHS via highspy agree on these instead.
CORRECTED = {"ganges": -109585.736129278, "scrs8": 904.296953800792}


def data_dir() -> Path:
    env = os.environ.get("MCPOPS_OPT_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data" / "optimization")


def sgm(times: list[float], shift: float = 1.0) -> float:
    if not times:
        return float("nan")
    return math.exp(sum(math.log(t + shift) for t in times) / len(times)) - shift


def rounding_tolerance(value: float) -> float:
    """Half a unit of the last digit printed in the catalogue value."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        return abs(value) * 1e-9
    if "." in text:
        decimals = len(text.split(".")[1].rstrip("0"))
        return 0.5 * 10.0 ** (-decimals) if decimals else 0.5
    return 0.5


def objective_ok(inst: dict[str, Any], objective: float | None, gap: float) -> bool:
    if objective is None:
        return False
    best = CORRECTED.get(inst["name"], float(inst["optimal_objective"]))
    if inst["type"] == "LP":
        return abs(objective - best) <= LP_TOL * max(1.0, abs(best))
    tol = gap * max(1.0, abs(best)) + rounding_tolerance(best) + 1e-9 * max(1.0, abs(best))
    return abs(objective - best) <= tol


# --------------------------------------------------------------------------- runs


def _children_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_runtime(
    path: Path, solver: str, time_limit: float, threads: int, gap: float, race: bool = False
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mcpops-bench-") as tmp:
        term = Path(tmp) / "termination-log"
        cmd = [
            sys.executable,
            "-m",
            "mcpops_solver.cli",
            str(path),
            "--solver",
            solver,
            "--time-limit",
            str(time_limit),
            "--threads",
            str(threads),
            "--relative-gap",
            str(gap),
            "--termination-log",
            str(term),
            "--log-level",
            "WARNING",
            *(["--race"] if race else []),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MCPOPS_")}
        started = time.time()
        cpu0 = _children_cpu()
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=time_limit * 3 + 60, env=env
            )
        except subprocess.TimeoutExpired:
            return {"status": "TIMEOUT", "exitCode": None, "wall": time.time() - started}
        wall = time.time() - started
        # CPU of the process and of the racers it waited for (interpreter start included).
        cpu = _children_cpu() - cpu0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    summary: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    timings = summary.get("timings") or {}
    return {
        "status": summary.get("status", "CRASH"),
        "exitCode": proc.returncode,
        "objective": summary.get("objective"),
        "bound": summary.get("bound"),
        "seconds": summary.get("seconds"),
        "solverUsed": summary.get("solver"),
        "solverReason": summary.get("solverReason"),
        "message": (summary.get("message") or proc.stderr[-300:])[:300],
        "overhead": timings.get("toSolverStart"),
        "wall": wall,
        "cpuSeconds": cpu,
        "solverChoice": summary.get("solverChoice"),
    }


def run_highspy(path: Path, time_limit: float, threads: int, gap: float) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--highspy-worker",
        str(path),
        "--time-limit",
        str(time_limit),
        "--threads",
        str(threads),
        "--relative-gap",
        str(gap),
    ]
    started = time.time()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=time_limit * 3 + 60)
    except subprocess.TimeoutExpired:
        return {"status": "TIMEOUT", "wall": time.time() - started}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    out: dict[str, Any] = json.loads(lines[-1]) if lines else {"status": "CRASH"}
    out["wall"] = time.time() - started
    return out


def highspy_worker(path: str, time_limit: float, threads: int, gap: float) -> None:
    import gzip
    import importlib

    highspy: Any = importlib.import_module("highspy")
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", threads)
    h.setOptionValue("time_limit", time_limit)
    h.setOptionValue("mip_rel_gap", gap)
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / Path(path).name.removesuffix(".gz")
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as src:
            plain.write_bytes(src.read())
        h.readModel(str(plain))
    start = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - start
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    has_solution = info.primal_solution_status == 2
    mapped = {
        "Optimal": "OPTIMAL",
        "Infeasible": "INFEASIBLE",
        "Unbounded": "UNBOUNDED",
    }.get(status, "FEASIBLE" if has_solution else "NOT_SOLVED")
    print(
        json.dumps(
            {
                "status": mapped,
                "highsStatus": status,
                "objective": info.objective_function_value if has_solution else None,
                "seconds": seconds,
            }
        )
    )


def supported_backends(
    root: Path, instances: list[dict[str, Any]], solvers: list[str]
) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """(instance, backend) pairs the runtime refuses, with its message; and the
    instances it cannot read at all, with the reason (recorded, then skipped)."""
    from mcpops_solver.backends import UnsupportedProblemError, check_supported
    from mcpops_solver.readers import ReadError, read_problem

    refused: dict[tuple[str, str], str] = {}
    unreadable: dict[str, str] = {}
    for inst in instances:
        try:
            stats = read_problem(str(root / inst["file"]))[0].stats()
        except ReadError as exc:
            unreadable[inst["name"]] = str(exc)
            continue
        for s in solvers:
            if s in NOT_BACKENDS:
                continue
            try:
                check_supported(s, stats)
            except UnsupportedProblemError as exc:
                refused[(inst["name"], s)] = str(exc)
    return refused, unreadable


def instance_stats(report: dict[str, Any], data: Path | None = None) -> dict[str, Any]:
    """ProblemStats of the report's instances, read from `data`, else $MCPOPS_OPT_DATA, else
    the data directory the report was run on, else the shared one."""
    from mcpops_solver.readers import ReadError, read_problem

    env = os.environ.get("MCPOPS_OPT_DATA")
    root = data or (Path(env) if env else Path(report.get("data") or data_dir()))
    manifest = json.loads((root / "manifest.json").read_text())
    files = {i["name"]: i["file"] for i in manifest["instances"]}
    out: dict[str, Any] = {}
    for name in report["instances"]:
        try:
            out[name] = read_problem(str(root / files[name]))[0].stats()
        except (ReadError, KeyError):
            continue
    return out


def choice_evaluation(report: dict[str, Any]) -> dict[str, Any] | None:
    """Fitted and cross-validated scores of auto's choice (bench/auto_eval.py), when the
    report has every candidate backend's runs."""
    import auto_eval

    from mcpops_solver.auto import BACKENDS_BY_KIND

    needed = {b for bs in BACKENDS_BY_KIND.values() for b in bs}
    if not needed <= set(report["solvers"]):
        return None
    return auto_eval.evaluate(report, instance_stats(report))


# --------------------------------------------------------------------------- aggregate


def aggregate(
    runs: list[dict[str, Any]],
    instances: list[dict[str, Any]],
    solvers: list[str],
    time_limit: float,
) -> dict[str, Any]:
    by = {(r["instance"], r["solver"]): r for r in runs}
    result: dict[str, Any] = {}
    for kind in ("LP", "MIP", None):
        insts = [i for i in instances if kind is None or i["type"] == kind]
        sets = sorted({str(i.get("set", "")) for i in insts})
        set_name = f"{kind} ({', '.join(sets)})" if kind else "all"
        if not insts:
            continue
        rows: dict[str, Any] = {}
        vb_times: list[float] = []
        vb_solved = 0
        for inst in insts:
            best = None
            for s in solvers:
                if s in NOT_BACKENDS:
                    continue
                r = by.get((inst["name"], s))
                if r and r.get("solved"):
                    t = float(r["seconds"])
                    best = t if best is None else min(best, t)
            vb_times.append(time_limit if best is None else min(best, time_limit))
            vb_solved += best is not None
        for s in solvers:
            times = []
            solved = supported = wrong = 0
            for inst in insts:
                r = by.get((inst["name"], s))
                if r is None:
                    times.append(time_limit)
                    continue
                if r.get("status") != "ERROR" or r.get("exitCode") != 4:
                    supported += 1
                if r.get("solved"):
                    solved += 1
                    times.append(min(float(r["seconds"]), time_limit))
                else:
                    times.append(time_limit)
                    wrong += bool(r.get("wrong"))
            if supported == 0:
                continue
            rows[s] = {
                "instances": len(insts),
                "supported": supported,
                "solved": solved,
                "wrongObjective": wrong,
                "sgm": sgm(times),
            }
        vb = sgm(vb_times)
        rows["virtual best"] = {
            "instances": len(insts),
            "supported": len(insts),
            "solved": vb_solved,
            "wrongObjective": 0,
            "sgm": vb,
        }
        for row in rows.values():
            row["sgmVsVirtualBest"] = row["sgm"] / vb if vb > 0 else float("nan")
            row["shiftedVsVirtualBest"] = (row["sgm"] + 1.0) / (vb + 1.0)
        result[set_name] = rows
    return result


def targets(agg: dict[str, Any]) -> list[str]:
    rows = agg.get("all") or {}
    if "auto" not in rows:
        return []
    singles = {k: v for k, v in rows.items() if k not in NOT_BACKENDS | {"virtual best"}}
    if not singles:
        return []
    best = max(singles, key=lambda k: (singles[k]["solved"], -singles[k]["sgm"]))
    auto = rows["auto"]
    vb = rows["virtual best"]
    return [
        f"auto solved {auto['solved']}, the best single backend ({best}) "
        f"{singles[best]['solved']}: "
        + ("met" if auto["solved"] >= singles[best]["solved"] else "NOT met"),
        f"auto SGM {auto['sgm']:.3f} s vs virtual best {vb['sgm']:.3f} s: "
        f"{auto['sgmVsVirtualBest']:.3f}x (target 1.10x: "
        + ("met" if auto["sgmVsVirtualBest"] <= 1.10 else "NOT met")
        + f"); with the shift kept, {auto['shiftedVsVirtualBest']:.3f}x",
    ]


def race_stats(report: dict[str, Any]) -> dict[str, Any] | None:
    """auto-race (2 threads) against auto and the virtual best on 1 thread: wall-clock SGM
    of the solve, and CPU-seconds of the whole process (racers included)."""
    rows = (report.get("aggregate") or {}).get("all") or {}
    runs = report["runs"]
    if "auto-race" not in rows or "auto" not in rows:
        return None
    cpu: dict[str, float] = {}
    walls: dict[str, list[float]] = {}
    raced = 0
    for r in runs:
        if r["solver"] in {"auto", "auto-race"} and r.get("cpuSeconds") is not None:
            cpu[r["solver"]] = cpu.get(r["solver"], 0.0) + float(r["cpuSeconds"])
            walls.setdefault(r["solver"], []).append(float(r.get("wall") or 0.0))
        raced += r["solver"] == "auto-race" and bool((r.get("solverChoice") or {}).get("raced"))
    vb = rows["virtual best"]["sgm"]
    return {
        "threads": RACE_THREADS,
        "raced": raced,
        "autoRaceSgm": rows["auto-race"]["sgm"],
        "autoRaceSolved": rows["auto-race"]["solved"],
        "autoSgm": rows["auto"]["sgm"],
        "virtualBestSgm": vb,
        "ratioToVirtualBest": rows["auto-race"]["sgm"] / vb if vb > 0 else float("nan"),
        "cpuSeconds": cpu,
        # Whole-process wall time (start, read, translate, solve, write): a race pays its
        # forks and one model translation per racer, which the solve seconds above leave out.
        "processWallSgm": {k: sgm(v) for k, v in walls.items()},
    }


def _race_lines(race: dict[str, Any]) -> list[str]:
    cpu = race["cpuSeconds"]
    return [
        f"## Racing ({race['threads']} threads, `auto-race`) against 1 thread",
        "",
        f"auto-race raced on {race['raced']} instances; solved {race['autoRaceSolved']}. "
        f"Wall-clock SGM {race['autoRaceSgm']:.3f} s against auto on 1 thread "
        f"{race['autoSgm']:.3f} s and the 1-thread virtual best {race['virtualBestSgm']:.3f} s: "
        f"{race['ratioToVirtualBest']:.3f}x (target 0.9x). CPU-seconds of the whole runs "
        f"(interpreter start, reading and racers included): auto-race "
        f"{cpu.get('auto-race', 0.0):.1f} s, auto {cpu.get('auto', 0.0):.1f} s. Whole-process "
        "wall-clock SGM: "
        + ", ".join(f"{k} {v:.3f} s" for k, v in sorted(race["processWallSgm"].items()))
        + ". Only meaningful on an idle machine with 2 free CPUs (see the load above).",
        "",
    ]


def overhead_stats(runs: list[dict[str, Any]]) -> dict[str, float]:
    values = [float(r["overhead"]) for r in runs if r["solver"] == "auto" and r.get("overhead")]
    if not values:
        return {}
    values.sort()
    return {
        "runs": len(values),
        "median": statistics.median(values),
        "p90": values[int(0.9 * (len(values) - 1))],
        "max": values[-1],
    }


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Solver runtime benchmark",
        "",
        f"Time limit {report['timeLimit']} s per run, {report['threads']} thread(s), relative "
        f"gap {report['relativeGap']}, {len(report['instances'])} instances, "
        f"run {report['date']} on {report['machine']}. Sum of the runs' wall times "
        f"{report['wallSeconds'] / 60:.1f} min.",
        "",
        "Solved = OPTIMAL with the manifest's objective (LP 1e-6 relative; MIP gap + catalogue "
        "rounding). SGM = shifted geometric mean of solve seconds (shift 1 s, unsolved = time "
        "limit) over all instances of the set. VB = virtual best (per instance the fastest "
        "OR-Tools backend that solved it).",
        "",
        "Notes: ganges and scrs8 are checked against corrected optima (the manifest has the "
        "Netlib README figures, off in the sixth digit; every backend and highspy agree on "
        f"{CORRECTED['ganges']} and {CORRECTED['scrs8']}). A run that reports OPTIMAL after "
        "the limit (CBC's limit is not wall-clock time) is not counted as solved. The machine "
        "was shared with other builds and tests, so sub-second times are noisy.",
        "",
    ]
    if report.get("note"):
        lines += [f"Note: {report['note']}", ""]
    for set_name, rows in report["aggregate"].items():
        lines += [
            f"## {set_name}",
            "",
            "| solver | supported | solved | wrong obj. | SGM (s) | SGM / VB | (SGM+1) / (VB+1) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for solver, row in rows.items():
            lines.append(
                f"| {solver} | {row['supported']}/{row['instances']} | {row['solved']} | "
                f"{row['wrongObjective']} | {row['sgm']:.3f} | {row['sgmVsVirtualBest']:.3f} | "
                f"{row['shiftedVsVirtualBest']:.3f} |"
            )
        lines.append("")
    if report.get("choiceEvaluation"):
        import auto_eval

        fitted_on = {"netlib", "miplib3"}  # the sets auto's shipped trees were fitted on
        unseen = not fitted_on & set(report.get("sets") or fitted_on)
        lines += auto_eval.markdown(report["choiceEvaluation"], unseen=unseen)
    if report.get("choiceComparison"):
        import auto_eval

        lines += auto_eval.comparison_markdown(report["choiceComparison"])
    if report.get("race"):
        lines += _race_lines(report["race"])
    targets = report.get("targets")
    if targets:
        lines += ["## Targets (all instances)", ""]
        lines += [f"- {line}" for line in targets]
        lines.append("")
    oh = report.get("overhead") or {}
    if oh:
        lines += [
            "## Runtime overhead (process start to solver start, `auto` runs)",
            "",
            f"median {oh['median']:.3f} s, p90 {oh['p90']:.3f} s, max {oh['max']:.3f} s "
            f"over {oh['runs']} runs.",
            "",
        ]
    choices: dict[str, int] = {}
    for r in report["runs"]:
        if r["solver"] == "auto" and r.get("chosen"):
            choices[r["chosen"]] = choices.get(r["chosen"], 0) + 1
    if choices:
        lines += ["## What `auto` chose", ""]
        lines += [f"- {k}: {v} instances" for k, v in sorted(choices.items())]
        lines.append("")
    if report.get("unreadable"):
        lines += [
            "## Unreadable instances (not run, not in the aggregates)",
            "",
            "| instance | why |",
            "|---|---|",
        ]
        lines += [
            f"| {u['instance']} | {u['reason'].replace('|', '/')} |" for u in report["unreadable"]
        ]
        lines.append("")
    lines += ["## Per instance (seconds; - = not solved; n/a = refused as unsupported)", ""]
    solvers = report["solvers"]
    lines.append("| instance | " + " | ".join(solvers) + " |")
    lines.append("|---|" + "---:|" * len(solvers))
    by = {(r["instance"], r["solver"]): r for r in report["runs"]}
    for inst in report["instances"]:
        cells = []
        for s in solvers:
            r = by.get((inst, s))
            if r is None:
                cells.append("")
            elif r.get("solved"):
                cells.append(f"{float(r['seconds']):.2f}")
            elif r.get("exitCode") == 4:
                cells.append("n/a")
            elif r.get("wrong"):
                cells.append("wrong")
            else:
                cells.append("-")
        lines.append(f"| {inst} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--time-limit", type=float, default=5.0)
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    ap.add_argument("--backends", default=",".join([*BACKENDS, "auto", "auto-race", "highspy"]))
    ap.add_argument("--instances", default="")
    ap.add_argument("--sets", default="netlib,miplib3")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--relative-gap", type=float, default=DEFAULT_GAP)
    ap.add_argument("--resume", action="store_true", help="reuse runs in <out>/runs.jsonl")
    ap.add_argument("--highspy-worker", metavar="FILE", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.highspy_worker:
        highspy_worker(args.highspy_worker, args.time_limit, args.threads, args.relative_gap)
        return 0

    root = data_dir()
    manifest_path = root / "manifest.json"
    if not manifest_path.exists():
        print(f"no benchmark data at {root} (set MCPOPS_OPT_DATA)", file=sys.stderr)
        return 2
    manifest = json.loads(manifest_path.read_text())
    sets = set(args.sets.split(","))
    wanted = set(filter(None, args.instances.split(",")))
    instances = [
        i for i in manifest["instances"] if i["set"] in sets and (not wanted or i["name"] in wanted)
    ]
    solvers = [s.strip() for s in args.backends.split(",") if s.strip()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs_path = out / "runs.jsonl"
    done: dict[tuple[str, str], dict[str, Any]] = {}
    if args.resume and runs_path.exists():
        for line in runs_path.read_text().splitlines():
            r = json.loads(line)
            if r.get("timeLimit") == args.time_limit:
                done[(r["instance"], r["solver"])] = r
    elif runs_path.exists():
        runs_path.unlink()

    started = time.time()
    support, unreadable = supported_backends(root, instances, solvers)
    for name, reason in unreadable.items():
        print(f"!!  {name:<10} unreadable: {reason}", flush=True)
    instances = [i for i in instances if i["name"] not in unreadable]
    runs: list[dict[str, Any]] = []
    with runs_path.open("a") as log:
        for inst in instances:
            path = root / inst["file"]
            for s in solvers:
                key = (inst["name"], s)
                refusal = support.get(key)
                if refusal is not None:
                    # The runtime refuses this pair at once with exit code 4 (checked in
                    # this process with the same check): not worth a process.
                    runs.append(
                        {
                            "instance": inst["name"],
                            "solver": s,
                            "type": inst["type"],
                            "timeLimit": args.time_limit,
                            "status": "ERROR",
                            "exitCode": 4,
                            "message": refusal,
                            "solved": False,
                            "wrong": False,
                        }
                    )
                    continue
                if key in done:
                    runs.append(done[key])
                    continue
                if s == "highspy":
                    r = run_highspy(path, args.time_limit, args.threads, args.relative_gap)
                elif s == "auto-race":
                    r = run_runtime(
                        path, "auto", args.time_limit, RACE_THREADS, args.relative_gap, race=True
                    )
                else:
                    r = run_runtime(path, s, args.time_limit, args.threads, args.relative_gap)
                r.update(
                    instance=inst["name"], solver=s, type=inst["type"], timeLimit=args.time_limit
                )
                if s in {"auto", "auto-race"}:
                    r["chosen"] = r.get("solverUsed")
                r["solved"] = r.get("status") == "OPTIMAL" and objective_ok(
                    inst, r.get("objective"), args.relative_gap
                )
                r["wrong"] = r.get("status") == "OPTIMAL" and not r["solved"]
                runs.append(r)
                log.write(json.dumps(r) + "\n")
                log.flush()
                mark = "ok " if r["solved"] else ("BAD" if r["wrong"] else "-- ")
                print(
                    f"{mark} {inst['name']:<10} {s:<8} {r.get('status', ''):<12} "
                    f"{r.get('seconds') or 0:8.3f}s obj={r.get('objective')}",
                    flush=True,
                )
    report = {
        "timeLimit": args.time_limit,
        "threads": args.threads,
        "relativeGap": args.relative_gap,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f} at the end)",
        # Sum of the runs' wall times, so that a --resume'd report still shows the
        # cost of the whole benchmark.
        "wallSeconds": sum(float(r.get("wall") or 0.0) for r in runs),
        "sessionSeconds": time.time() - started,
        "instances": [i["name"] for i in instances],
        "unreadable": [{"instance": n, "reason": r} for n, r in unreadable.items()],
        "solvers": solvers,
        "sets": sorted(sets),
        "data": str(root),
        "aggregate": (agg := aggregate(runs, instances, solvers, args.time_limit)),
        "targets": targets(agg),
        "overhead": overhead_stats(runs),
        "runs": runs,
    }
    report["choiceEvaluation"] = choice_evaluation(report)
    report["race"] = race_stats(report)
    (out / "solver.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "solver.md").write_text(render_markdown(report))
    print(render_markdown({**report, "runs": runs}).split("## Per instance")[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
