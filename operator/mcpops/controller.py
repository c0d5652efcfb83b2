"""The reconcile machinery: watch caches, a deduplicating work queue, workers.

Kopf's watch streams feed `Store` (no extra reads); any change to a parent or
one of its children puts the parent's key on the queue; a worker runs the
kind's reconcile function, which reads only from the store and writes only
what differs. Timers (deadlines) are delayed re-queues, not sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from mcpops import metrics
from mcpops.kube import ApiError

Key = tuple[str, str]  # (namespace, name)
log = structlog.stdlib.get_logger("mcpops.controller")


def _rv(body: dict[str, Any]) -> int:
    try:
        return int(body.get("metadata", {}).get("resourceVersion", "0"))
    except ValueError:
        return 0


def newer(incoming: dict[str, Any], current: dict[str, Any] | None) -> bool:
    """Whether a body may replace what the store holds.

    Our own write's response can overtake the watch: the watch then delivers
    older versions afterwards. Acting on those would undo decisions (a stale
    activeRevision), so they are dropped. resourceVersions are opaque in the
    API contract; on etcd they are revisions, and an unparsable one is accepted.
    """
    if current is None:
        return True
    a, b = _rv(incoming), _rv(current)
    return a == 0 or b == 0 or a >= b


def without_managed_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The body without metadata.managedFields: no decision reads them, and at fleet scale
    they are a large share of what the caches would hold (a copy; the caller's body stays)."""
    meta = body.get("metadata")
    if not meta or "managedFields" not in meta:
        return body
    return {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


@dataclass
class Store:
    """Latest bodies from the watches, indexed the way reconciles look them up."""

    parents: dict[str, dict[Key, dict[str, Any]]] = field(default_factory=dict)
    # children[child_kind][(namespace, parent_name)][child_name] = body
    children: dict[str, dict[Key, dict[str, dict[str, Any]]]] = field(default_factory=dict)
    # What is kept of a child body, by child kind: one place for watch events and for the
    # results of our own writes alike.
    trim: Callable[[str, dict[str, Any]], dict[str, Any]] = lambda kind, body: body

    def put_parent(self, kind: str, body: dict[str, Any]) -> Key:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        bucket = self.parents.setdefault(kind, {})
        if newer(body, bucket.get(key)):
            bucket[key] = without_managed_fields(body)
        return key

    def drop_parent(self, kind: str, key: Key) -> None:
        self.parents.get(kind, {}).pop(key, None)

    def parent(self, kind: str, key: Key) -> dict[str, Any] | None:
        return self.parents.get(kind, {}).get(key)

    def put_child(self, kind: str, parent: Key, body: dict[str, Any]) -> None:
        group = self.children.setdefault(kind, {}).setdefault(parent, {})
        name = body["metadata"]["name"]
        if newer(body, group.get(name)):
            group[name] = without_managed_fields(self.trim(kind, body))

    def drop_child(self, kind: str, parent: Key, name: str) -> None:
        group = self.children.get(kind, {}).get(parent)
        if group is not None:
            group.pop(name, None)
            if not group:
                self.children[kind].pop(parent, None)

    def children_of(self, kind: str, parent: Key) -> dict[str, dict[str, Any]]:
        return dict(self.children.get(kind, {}).get(parent, {}))


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
