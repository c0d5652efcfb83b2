"""Race backends on one problem in separate processes; keep the first proven answer.

Why processes: a backend in native code cannot be interrupted from another
thread, but a process can be killed at once and its CPU given back. Each
contestant gets an equal share of the threads. The first to report a proven
answer (OPTIMAL, INFEASIBLE, UNBOUNDED) wins and the others are killed; when
none proves one within the limit, the best solution found is kept. Workers
are forked (the problem is not copied through a pipe); only the result comes
back.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, cast

from mcpops_common.problem import Problem
from mcpops_solver import backends
from mcpops_solver.backends import RawSolution, SolveParams

__all__ = ["PROVEN", "Outcome", "race"]

PROVEN = frozenset({"OPTIMAL", "INFEASIBLE", "UNBOUNDED"})


@dataclass
class Outcome:
    backend: str
    raw: RawSolution
    how: str  # for the reason: who won and how
    cpu_seconds: float  # user+system CPU of all contestants
    wall_seconds: float
    stopped: list[int] = field(default_factory=list)  # pids of contestants killed
    reports: dict[str, str] = field(default_factory=dict)  # backend -> what it reported


def _worker(conn: Connection, problem: Problem, backend: str, params: SolveParams) -> None:
    try:
        out: tuple[str, Any] = ("ok", backends.solve(problem, backend, params))
    except backends.UnsupportedProblemError as exc:
        out = ("refused", str(exc))
    except Exception as exc:  # reported to the parent, which keeps racing the others
        out = ("failed", f"{type(exc).__name__}: {exc}")
    conn.send(out)
    conn.close()


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _better(a: RawSolution, b: RawSolution | None, maximize: bool) -> bool:
    if b is None or b.objective is None:
        return a.objective is not None or b is None
    if a.objective is None:
        return False
    return a.objective > b.objective if maximize else a.objective < b.objective


def race(problem: Problem, candidates: Sequence[str], params: SolveParams) -> Outcome | None:
    """Run `candidates` at once; None when none returned a solution or a status."""
    ctx = multiprocessing.get_context("fork")
    share = dataclasses.replace(params, threads=max(1, (params.threads or 1) // len(candidates)))
    cpu0, t0 = _children_cpu(), time.monotonic()
    running: dict[Connection, tuple[str, Any]] = {}
    for backend in candidates:
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(send, problem, backend, share), daemon=True)
        proc.start()
        send.close()
        running[recv] = (backend, proc)
    procs = list(running.values())
    results: dict[str, RawSolution] = {}
    reports: dict[str, str] = {}
    winner: str | None = None
    try:
        while running and winner is None:
            for ready in wait(list(running)):
                conn = cast(Connection, ready)
                backend, proc = running.pop(conn)
                try:
                    kind, payload = cast(tuple[str, Any], conn.recv())
                except EOFError:
                    kind, payload = "failed", f"process ended (exit code {proc.exitcode})"
                conn.close()
                reports[backend] = payload.status if kind == "ok" else f"{kind}: {payload}"
                if kind == "ok":
                    results[backend] = payload
                    if payload.status in PROVEN and winner is None:
                        winner = backend
    finally:
        stopped = []
        for _, proc in running.values():
            proc.kill()
            stopped.append(proc.pid)
        for _, proc in procs:
            proc.join(10)
    wall = time.monotonic() - t0
    cpu = _children_cpu() - cpu0
    if winner is None:
        best: RawSolution | None = None
        for backend, raw in results.items():
            if _better(raw, best, problem.maximize):
                best, winner = raw, backend
        if winner is None:
            return None
        how = "kept the better answer: neither proved one"
    else:
        others = [b for b in candidates if b != winner]
        how = f"proved {results[winner].status} first after {wall:.2f} s" + (
            f"; {', '.join(others)} stopped" if stopped else ""
        )
    return Outcome(winner, results[winner], how, cpu, wall, stopped, reports)
