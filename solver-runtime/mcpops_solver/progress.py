"""A running solve: its best solution and bound so far, and how to stop it.

The backends feed :class:`Progress` from what each one offers while it runs (see
``backends``): SCIP and CP-SAT through MathOpt callbacks (each new incumbent with its
values; SCIP's node callback also moves the bound), HiGHS and CP-SAT through their log
lines (HiGHS's branch-and-bound table, CP-SAT's ``#Bound`` and ``#<n>`` lines), and
HiGHS's improving-solution file for the incumbent's values. CBC, CLP and BOP (pywraplp)
report nothing before the end; LP solvers have no incumbent to report.

:class:`Control` is what a SIGTERM (a cancel) reaches: the backend registers how to
interrupt it (the MathOpt interrupter for SCIP, CP-SAT, GLOP and PDLP; pywraplp's
InterruptSolve for BOP). A backend that cannot be interrupted (HiGHS, CBC and CLP in
this OR-Tools build) leaves the runtime to report the incumbent it last saw.

OR-Tools' SCIP wrapper prints two harmless ``ERROR`` lines (``SCIPcatchEvent does not
support variable or row change events``) whenever callbacks or an interrupter are attached.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from mcpops_common.results import compute_gap

__all__ = ["Control", "Progress", "parse_cpsat_line", "parse_highs_line", "read_highs_solution"]


class Progress:
    """The incumbent and bound of a running solve; written by solver threads, read by the
    reporter. `version` grows with every change, so the reporter writes only news."""

    def __init__(self, maximize: bool = False, clock: Callable[[], float] = time.monotonic):
        self.maximize = maximize
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self.objective: float | None = None
        self.bound: float | None = None
        self.values: list[float] | None = None
        self.solutions = 0
        self.version = 0
        # Reads the incumbent (objective, values) on demand (HiGHS writes it to a file).
        self.values_source: Callable[[], tuple[float, list[float]] | None] | None = None

    def _better(self, new: float, old: float | None) -> bool:
        return old is None or (new > old if self.maximize else new < old)

    def solution(self, objective: float, values: list[float] | None = None) -> None:
        """A new feasible solution; kept if it improves on the incumbent."""
        if not math.isfinite(objective):
            return
        with self._lock:
            self.solutions += 1
            if self._better(objective, self.objective):
                self.objective = float(objective)
                if values is not None:
                    self.values = list(values)
                self.version += 1

    def bound_at(self, bound: float) -> None:
        """A proven bound; kept if it is tighter (a bound only ever tightens)."""
        if not math.isfinite(bound):
            return
        with self._lock:
            tighter = self.bound is None or (
                bound < self.bound if self.maximize else bound > self.bound
            )
            if tighter:
                self.bound = float(bound)
                self.version += 1

    def incumbent(self) -> tuple[float | None, list[float] | None]:
        """(objective, values) of the best solution seen; values may be unknown."""
        with self._lock:
            objective, values = self.objective, self.values
        if values is None and objective is not None and self.values_source is not None:
            found = self.values_source()
            if found is not None:
                objective, values = found  # the file's own: the log may be a line ahead
        return objective, values

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            objective, bound, found = self.objective, self.bound, self.solutions
        return {
            "objective": objective,
            "bound": bound,
            "gap": compute_gap(objective, bound),
            "solutionsFound": found,
            "elapsedSeconds": round(self._clock() - self._started, 3),
        }


class Control:
    """What a cancel reaches: the flag, and the running backend's interrupt, if any."""

    def __init__(self, progress: Progress | None = None) -> None:
        self.progress = progress or Progress()
        self.cancelled = threading.Event()
        self._interrupt: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def interruptible(self, interrupt: Callable[[], None] | None) -> None:
        """Called by the backend before it solves: how to stop it (None: it cannot be)."""
        with self._lock:
            self._interrupt = interrupt
            fire = interrupt is not None and self.cancelled.is_set()
        if fire and interrupt is not None:
            interrupt()  # cancelled before the solver started

    @property
    def can_interrupt(self) -> bool:
        with self._lock:
            return self._interrupt is not None

    def cancel(self) -> bool:
        """Stop the solve; True if the backend was interrupted (else it keeps running)."""
        self.cancelled.set()
        with self._lock:
            interrupt = self._interrupt
        if interrupt is None:
            return False
        interrupt()
        return True


# ---------------------------------------------------------------- solver logs


def _num(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_highs_line(line: str) -> tuple[float | None, float | None] | None:
    """(bound, incumbent) from a row of HiGHS's branch-and-bound table, e.g.
    ``L  202  33  81  0.00%  0  19  100.00%  832  19  919  10478  0.9s`` (an optional
    source letter; processed, queued and leaf nodes; explored %; BestBound; BestSol; Gap;
    cuts, LP rows, conflicts, LP iterations; time); None for any other line."""
    tokens = line.split()
    if tokens and not tokens[0][0].isdigit():
        tokens = tokens[1:]
    if len(tokens) < 7 or not all(t.isdigit() for t in tokens[:3]):
        return None
    if not tokens[3].endswith("%") or not tokens[-1].endswith("s"):
        return None
    bound, incumbent = _num(tokens[4]), _num(tokens[5])
    if bound is None and incumbent is None:
        return None
    return bound, incumbent


_CPSAT = re.compile(r"^#(?:Bound|\d+|Done|Model)?\s+\S+s\s+best:(\S+)\s+next:\[([^\]]*)\]")


def parse_cpsat_line(line: str, maximize: bool) -> tuple[float | None, float | None] | None:
    """(bound, incumbent) from a CP-SAT search log line such as
    ``#Bound 0.05s best:19 next:[4,18] ...`` or ``#3 0.04s best:64 next:[0,63] ...``:
    the next objective interval's far end is the proven bound."""
    m = _CPSAT.match(line.strip())
    if m is None:
        return None
    incumbent = _num(m.group(1))
    ends = [x for x in m.group(2).split(",") if x]
    bound = None
    if len(ends) == 2:
        bound = _num(ends[1] if maximize else ends[0])
    return bound, incumbent


def read_highs_solution(path: str, num_vars: int) -> tuple[float, list[float]] | None:
    """The last solution in HiGHS's improving-solution file (``mip_improving_solution_file``:
    blocks of ``Objective <v>``, ``# Columns <n>``, then ``<name> <value>`` per column)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    start = text.rfind("Objective ")
    if start < 0:
        return None
    lines = text[start:].splitlines()
    objective = _num(lines[0].split()[-1])
    if objective is None or len(lines) < 2 or not lines[1].startswith("# Columns"):
        return None
    lines = lines[2 : 2 + num_vars]
    values: list[float] = []
    for row in lines:
        fields = row.split()
        value = _num(fields[-1]) if fields else None
        if value is None:
            return None
        values.append(value)
    return (objective, values) if len(values) == num_vars else None
