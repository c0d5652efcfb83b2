"""One solve that reports progress while it runs and stops on SIGTERM (a cancel).

The solver runs in a worker thread, so that the main thread stays free to take the
signal (Python runs signal handlers in the main thread only, and not while it is inside
a native solve) and to report progress every `interval` seconds:

* a ``progress`` log line (JSON, on standard error): ``{"event": "progress",
  "objective", "bound", "gap", "solutionsFound", "elapsedSeconds"}``, only when something
  changed;
* the `report` sink with the same snapshot (the progress ConfigMap, in a pod).

On SIGTERM the backend is interrupted where it can be (progress.Control); the solve then
returns its best solution, which is reported as cancelled. A backend that cannot be
interrupted is abandoned: the result is the incumbent last seen, and the caller must
exit the process (``abandoned``) since the native solve keeps its thread.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcpops_common.problem import Problem
from mcpops_common.results import SolveResult
from mcpops_solver import backends, runtime
from mcpops_solver.backends import SolveParams
from mcpops_solver.progress import Control, Progress

__all__ = ["Outcome", "solve_reporting"]

# How long an interrupted backend may take to hand back its solution before the runtime
# reports the incumbent it saw instead (well inside the pod's 30 s termination grace).
INTERRUPT_WAIT_SECONDS = 10.0


@dataclass
class Outcome:
    result: SolveResult
    abandoned: bool = False  # the native solve still runs: exit the process when done


class _Worker(threading.Thread):
    def __init__(self, target: Callable[[], SolveResult]) -> None:
        super().__init__(name="solve", daemon=True)
        self._target = target
        self.result: SolveResult | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            self.result = self._target()
        except BaseException as exc:  # handed to the main thread, which re-raises it
            self.error = exc
        finally:
            self.done.set()


class _Reporter:
    """Throttled progress: a log line and the sink, at most every `interval` seconds."""

    def __init__(
        self,
        progress: Progress,
        interval: float,
        report: Callable[[dict[str, Any]], None] | None,
        log: Any,
    ) -> None:
        self.progress, self.interval, self.report, self.log = progress, interval, report, log
        self.seen = 0
        self.next_at = time.monotonic() + interval

    def tick(self) -> None:
        now = time.monotonic()
        if now < self.next_at:
            return
        self.next_at = now + self.interval
        if self.progress.version == self.seen:
            return
        self.seen = self.progress.version
        snapshot = self.progress.snapshot()
        if self.report is not None:
            try:
                self.report(snapshot)
            except Exception as exc:  # progress is best effort; the result is what counts
                self.log.warning("progress not written", error=str(exc))
        # After the write: a reader of the log finds the ConfigMap as new as the line.
        self.log.info("progress", **snapshot)


def _on_sigterm(control: Control, log: Any) -> Callable[[int, Any], None]:
    def handler(signum: int, _frame: Any) -> None:
        interrupted = control.cancel()
        log.warning(
            "cancel requested",
            signal=signal.Signals(signum).name,
            interrupted=interrupted,
        )

    return handler


def solve_reporting(
    problem: Problem,
    solver: str,
    params: SolveParams,
    *,
    backend: str,
    reason: str,
    log: Any,
    interval: float = 5.0,
    report: Callable[[dict[str, Any]], None] | None = None,
    race: bool = False,
) -> Outcome:
    """Solve with progress and cancel (see the module doc). Backend errors propagate."""
    control = Control(Progress(problem.maximize))
    worker = _Worker(lambda: runtime.solve_problem(problem, solver, params, control, race=race))
    reporter = _Reporter(control.progress, interval, report, log)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm(control, log)) if in_main else None
    started = time.monotonic()
    try:
        worker.start()
        cancelled_at: float | None = None
        while not worker.done.wait(0.2):
            reporter.tick()
            if not control.cancelled.is_set():
                continue
            cancelled_at = cancelled_at or time.monotonic()
            waited = time.monotonic() - cancelled_at
            if not control.can_interrupt or waited > INTERRUPT_WAIT_SECONDS:
                seconds = time.monotonic() - started
                result = runtime.cancelled_result(problem, backend, reason, control, seconds)
                if control.can_interrupt:
                    result.warnings.append(
                        f"{backend} did not stop within {INTERRUPT_WAIT_SECONDS:g}s of the "
                        "cancel; the incumbent last seen is reported"
                    )
                else:
                    result.warnings.append(
                        f"{backend} cannot be interrupted through OR-Tools; the incumbent "
                        "last seen is reported and the solve abandoned"
                    )
                backends.restore_stdout()
                return Outcome(result, abandoned=True)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    if worker.error is not None:
        raise worker.error
    assert worker.result is not None
    return Outcome(worker.result)
