"""Which OptimizationJobs of a namespace may start their solver pods. Pure.

The operator setting MCPOPS_MAX_SOLVER_PODS_PER_NAMESPACE (0: no limit) bounds the solver
pods running at once in each namespace. A job holds as many slots as its Job may run pods
(1, or a sweep's parallelism, itself capped at the limit so that any job fits alone). Jobs
waiting for a slot are Queued and started strictly in creation order: the first waiting job
that does not fit stops the line, so a small job never overtakes a large one that was
created first (no starvation), and a person reading `kubectl get` can tell the order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mcpops.objects.bodies import Body
from mcpops.objects.conditions import true_condition


@dataclass(frozen=True)
class Entry:
    """One OptimizationJob of the namespace as the queue sees it."""

    name: str
    created: str  # metadata.creationTimestamp (RFC 3339 sorts as text)
    slots: int  # solver pods its Job may run at once
    holding: bool  # its Job exists and may still run pods
    waiting: bool = False  # ready to start but has no Job yet


@dataclass(frozen=True)
class Admission:
    started: frozenset[str]  # waiting jobs that may create their Job now
    queued: tuple[str, ...]  # waiting jobs left in the queue, in order
    used: int  # slots held, including the ones just started
    limit: int

    def position(self, name: str) -> int | None:
        """1-based place in the queue, or None if not queued."""
        try:
            return self.queued.index(name) + 1
        except ValueError:
            return None


@dataclass
class _Line:
    started: set[str] = field(default_factory=set)
    queued: list[str] = field(default_factory=list)


def slots(parallelism: int, limit: int) -> int:
    """The pods a job may run at once, capped by the limit (0: none)."""
    return max(1, min(parallelism, limit) if limit > 0 else parallelism)


def admit(entries: Iterable[Entry], limit: int) -> Admission:
    """Start waiting jobs in creation order while they fit; limit 0 starts them all."""
    entries = list(entries)
    used = sum(e.slots for e in entries if e.holding)
    line = _Line()
    blocked = False
    for e in sorted((e for e in entries if e.waiting and not e.holding), key=_order):
        if not blocked and (limit <= 0 or used + slots(e.slots, limit) <= limit):
            line.started.add(e.name)
            used += slots(e.slots, limit)
        else:
            blocked = True
            line.queued.append(e.name)
    return Admission(frozenset(line.started), tuple(line.queued), used, limit)


def _order(e: Entry) -> tuple[str, str]:
    return (e.created, e.name)


def job_holds_slots(job: Body | None) -> bool:
    """A solver Job that may still run pods: not finished, and not suspended with none
    left (a cancelled job's pod holds its slot until it has stopped)."""
    if job is None:
        return False
    if true_condition(job, "Complete") or true_condition(job, "Failed"):
        return False
    status = job.get("status") or {}
    suspended = bool((job.get("spec") or {}).get("suspend"))
    return not (suspended and not status.get("active") and not status.get("terminating"))
