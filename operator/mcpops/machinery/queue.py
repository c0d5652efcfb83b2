"""The work queue: each parent key at most once in the queue, never two workers on one key.

Any change to a parent or one of its children puts the parent's key on the queue; a
worker runs the kind's reconcile, which reads only the store and writes only what
differs. Timers (deadlines) are delayed re-queues, not sleeps; errors back off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from mcpops import metrics
from mcpops.machinery.client import ApiError
from mcpops.machinery.store import Key

log = structlog.stdlib.get_logger("mcpops.machinery.queue")


Reconcile = Callable[[Key], Awaitable[float | None]]
RETRY_FIRST, RETRY_MAX = 5.0, 300.0


def retry_delay(failures: int) -> float:
    """Back off after errors in a row (5 s, 10 s, ... 5 min): an object the API server keeps
    refusing, or an outage, must not become a hot loop of failing requests."""
    return float(min(RETRY_MAX, RETRY_FIRST * 2.0 ** min(failures - 1, 16)))


class WorkQueue:
    """Keys to reconcile: each key at most once in the queue, never two workers on one key."""

    def __init__(self, kind: str, reconcile: Reconcile, workers: int = 8) -> None:
        self.kind = kind
        self._reconcile = reconcile
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._running: set[Key] = set()
        self._dirty: set[Key] = set()  # changed while running: run again after
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._failures: dict[Key, int] = {}  # errors in a row, for the retry backoff
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self.paused = False

    def start(self) -> None:
        for i in range(self._workers):
            self._tasks.append(asyncio.create_task(self._work(), name=f"{self.kind}-worker-{i}"))

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def add(self, key: Key) -> None:
        if key in self._running:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._queue.put_nowait(key)
        metrics.QUEUE_DEPTH.labels(self.kind).set(len(self._queued))

    def add_after(self, key: Key, delay: float) -> None:
        loop = asyncio.get_running_loop()
        existing = self._timers.get(key)
        when = loop.time() + max(0.0, delay)
        if existing is not None and existing.when() <= when:
            return  # an earlier wake-up is already set
        if existing is not None:
            existing.cancel()

        def fire() -> None:
            self._timers.pop(key, None)
            self.add(key)

        self._timers[key] = loop.call_at(when, fire)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            metrics.QUEUE_DEPTH.labels(self.kind).set(len(self._queued))
            if self.paused:
                continue
            self._running.add(key)
            started = time.perf_counter()
            requeue: float | None = None
            try:
                requeue = await self._reconcile(key)
                self._failures.pop(key, None)
                metrics.RECONCILES.labels(self.kind, "ok").inc()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, ApiError) and exc.gone:
                    # Deleted, or its namespace is terminating: the watch brings any
                    # re-creation; retrying would only fail again. Nothing to back off from.
                    self._failures.pop(key, None)
                    metrics.RECONCILES.labels(self.kind, "gone").inc()
                else:
                    metrics.RECONCILES.labels(self.kind, "error").inc()
                    failures = self._failures.get(key, 0) + 1
                    self._failures[key] = failures
                    requeue = retry_delay(failures)
                    log.exception(
                        "reconcile failed",
                        kind=self.kind,
                        namespace=key[0],
                        name=key[1],
                        failures=failures,
                        retry_in=requeue,
                    )
            finally:
                metrics.RECONCILE_SECONDS.labels(self.kind).observe(time.perf_counter() - started)
                self._running.discard(key)
            dirty = key in self._dirty
            self._dirty.discard(key)
            if dirty and key not in self._failures:
                self.add(key)  # changed while it ran: look again now
            elif requeue is not None:
                self.add_after(key, requeue)  # after a failure, the backoff wins

    def idle(self) -> bool:
        return not self._queued and not self._running
