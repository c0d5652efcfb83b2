"""Writing a plan: apply children, delete, patch status, post Events.

Shared by every kind's reconciler, so each only says what is particular to it.
API errors propagate: the work queue decides what they mean.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from datetime import UTC, datetime
from typing import Any

import structlog

from mcpops.api import API_VERSION
from mcpops.machinery import events
from mcpops.machinery.client import FIELD_MANAGER, ApiError, Client
from mcpops.machinery.store import Key, Store
from mcpops.objects.bodies import Body, Manifest
from mcpops.objects.conditions import failure_status
from mcpops.objects.effects import Delete, EventSpec
from mcpops.objects.patch import status_patch
from mcpops.objects.paths import PLURALS
from mcpops.objects.timestamps import fmt_time

# How soon to try again after RBAC refused a write: a person has to act first.
FORBIDDEN_RETRY_SECONDS = 60.0


class Writer:
    """Writes one kind's plans."""

    def __init__(
        self,
        client: Client,
        store: Store,
        kind: str,
        *,
        store_kind: Callable[[str], str] = lambda kind: kind,
    ) -> None:
        self.client = client
        self.store = store
        self.kind = kind
        self.plural = PLURALS[kind]
        self._store_kind = store_kind

    async def apply(
        self,
        child_key: Key,
        manifests: Iterable[Manifest],
        log: structlog.stdlib.BoundLogger,
        *,
        manager: str = FIELD_MANAGER,
    ) -> None:
        """Apply a plan's children concurrently (a plan never holds two writes of one
        object), so a reconcile costs one round trip instead of one per child. Scale-downs
        go last: traffic moves before anything it might have used stops. The status is
        written only after all of them landed."""

        async def one(manifest: Manifest) -> None:
            applied = await self.client.apply(manifest, manager=manager)
            # Keep our own write's result, so a re-run before the watch catches up
            # does not apply it again.
            kind = manifest["kind"]
            self.store.put_child(self._store_kind(kind), child_key, applied)
            log.info("applied", child=kind, child_name=manifest["metadata"]["name"])

        first: list[Manifest] = []
        last: list[Manifest] = []
        for m in manifests:
            (last if (m.get("spec") or {}).get("replicas") == 0 else first).append(m)
        await _all(one(m) for m in first)
        await _all(one(m) for m in last)

    async def delete(
        self, namespace: str, deletes: Iterable[Delete], log: structlog.stdlib.BoundLogger
    ) -> None:
        for gone in deletes:
            await self.client.delete(
                gone.api_version, PLURALS[gone.kind], namespace, gone.name, uid=gone.uid
            )
            log.info("deleted", child=gone.kind, child_name=gone.name)

    async def status(self, key: Key, obj: Body, new: Body) -> Body | None:
        """Patch the status subresource if it differs; the patch sent, or None."""
        patch = status_patch(obj.get("status") or {}, new)
        if patch is None:
            return None
        updated = await self.client.patch_status(API_VERSION, self.plural, key[0], key[1], patch)
        # Keep what we wrote, so that a re-run before the watch catches up neither
        # writes it again nor decides from an older status.
        self.store.put_parent(self.kind, updated)
        return patch

    async def events(self, obj: Body, specs: Iterable[EventSpec]) -> None:
        """Post in the background: the decision is already in status, an Event that cannot
        be posted never fails the reconcile, and the worker is free one round trip sooner."""
        specs = list(specs)
        if not specs:
            return
        task = asyncio.create_task(
            _all(events.post(self.client, obj, ev.type, ev.reason, ev.message) for ev in specs)
        )
        _POSTING.add(task)
        task.add_done_callback(_POSTING.discard)

    async def failed(self, key: Key, obj: Body, status: Body, reason: str, message: str) -> bool:
        """Write a failure status (conditions.failure_status) and, when it is news, its one
        Warning Event. True if the status changed."""
        if await self.status(key, obj, status) is None:
            return False
        await self.events(obj, [EventSpec("Warning", reason, message)])
        return True

    async def forbidden(
        self, key: Key, obj: Body, exc: ApiError, log: structlog.stdlib.BoundLogger
    ) -> float:
        """RBAC refused a write: say so in status and an Event (once), not only in a log."""
        message = (
            f"the operator is not allowed to do what this resource needs: {exc.message}. "
            "Grant the right to the operator's ServiceAccount (the Helm chart's RBAC does "
            "when the namespace is watched)."
        )
        log.error("forbidden", error=exc.message)
        status = failure_status(
            obj.get("status") or {},
            "Forbidden",
            message,
            fmt_time(datetime.now(UTC)),
            generation=obj["metadata"].get("generation", 1),
        )
        try:
            await self.failed(key, obj, status, "Forbidden", message)
        except ApiError as again:  # not even allowed to report it: the log has to do
            log.error("cannot report forbidden", error=str(again))
        return FORBIDDEN_RETRY_SECONDS

    async def refused(
        self,
        key: Key,
        obj: Body,
        planned: Body,
        exc: ApiError,
        log: structlog.stdlib.BoundLogger,
    ) -> None:
        """The API server refused a child the spec produced (400/413/422): retrying cannot
        help until the spec changes, so the planned status is written as Failed."""
        message = (
            f"the API server refused a child object: {exc.detail[:900]}. "
            f"Fix the {self.kind} spec field that produced it."
        )
        status = failure_status(
            planned,
            "ChildRefused",
            message,
            fmt_time(datetime.now(UTC)),
            generation=planned.get("observedGeneration"),
            phase="Failed",
        )
        if await self.failed(key, obj, status, "ChildRefused", message):
            log.warning("child refused", status=exc.status, message=exc.detail[:300])


# Events being posted; referenced so that they are not collected mid-flight.
_POSTING: set[asyncio.Task[None]] = set()


async def drain_events() -> None:
    """Wait for Events still being posted (at shutdown)."""
    await asyncio.gather(*_POSTING, return_exceptions=True)


async def _all(aws: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run concurrently; wait for every one, then raise the first error (if any)."""
    results = await asyncio.gather(*aws, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
