"""Cluster glue for MCPServer: read the store, run the pure plan, write the difference."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, get_args

import structlog

from mcpops import events, metrics
from mcpops.api import API_VERSION
from mcpops.api.mcpserver import Phase
from mcpops.controller import Key, Store
from mcpops.kube import PLURALS, ApiError, Client
from mcpops.mcpserver.desired import REVISION_LABEL
from mcpops.mcpserver.plan import Observed, plan

KIND = "MCPServer"
PLURAL = "mcpservers"
log = structlog.stdlib.get_logger("mcpops.mcpserver")


def observe(store: Store, key: Key) -> Observed:
    deployments = {}
    for dep in store.children_of("Deployment", key).values():
        rev = (dep["metadata"].get("labels") or {}).get(REVISION_LABEL)
        if rev:
            deployments[rev] = dep
    return Observed(
        deployments=deployments,
        services=store.children_of("Service", key),
        hpas=store.children_of("HorizontalPodAutoscaler", key),
        jobs=store.children_of("Job", key),
        pods=store.children_of("Pod", key),
        endpoint_slices=store.children_of("EndpointSlice", key),
    )


def merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The RFC 7386 JSON merge patch that turns old into new.

    Nested maps merge on the server, so a key dropped at any depth must be sent
    as null, or it would come back on the next read.
    """
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            sub = merge_patch(before, value)
            if sub:
                patch[key] = sub
        elif value != before or key not in old:
            patch[key] = value
    for gone in set(old) - set(new):
        patch[gone] = None
    return patch


def status_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """A merge patch from old to new status, or None when they are equal."""
    if old == new:
        return None
    return merge_patch(old, new) or None


class MCPServerReconciler:
    def __init__(self, store: Store, client: Client) -> None:
        self.store = store
        self.client = client
        self.phases: dict[Key, str] = {}

    def _count_phase(self, key: Key, phase: str | None) -> None:
        if phase is None:
            self.phases.pop(key, None)
        else:
            self.phases[key] = phase
        counts: dict[str, int] = {}
        for value in self.phases.values():
            counts[value] = counts.get(value, 0) + 1
        for name in get_args(Phase):
            metrics.SERVERS_BY_PHASE.labels(name).set(counts.get(name, 0))

    async def __call__(self, key: Key) -> float | None:
        try:
            return await self._reconcile(key)
        except ApiError as exc:
            if exc.status == 403 and "being terminated" in str(exc):
                return None  # the namespace is going away, and its objects with it
            raise

    async def _reconcile(self, key: Key) -> float | None:
        server = self.store.parent(KIND, key)
        if server is None or server["metadata"].get("deletionTimestamp"):
            self._count_phase(key, None)
            return None  # children go with their owner (garbage collection)
        bound = log.bind(
            namespace=key[0], name=key[1], uid=server["metadata"].get("uid"), kind=KIND
        )
        result = plan(server, observe(self.store, key), datetime.now(UTC))
        metrics.WRITES_SKIPPED.labels(KIND).inc(result.skipped_writes)
        for outcome in result.outcomes:
            metrics.ROLLOUTS.labels(outcome).inc()
        for manifest in result.apply:
            if manifest["kind"] == "Job":
                metrics.TEST_JOBS.inc()
        for manifest in result.apply:
            applied = await self.client.apply(manifest)
            self.store.put_child(manifest["kind"], key, applied)
            bound.info("applied", child=manifest["kind"], child_name=manifest["metadata"]["name"])
        for gone in result.delete:
            await self.client.delete(
                gone.api_version, PLURALS[gone.kind], key[0], gone.name, uid=gone.uid
            )
            bound.info("deleted", child=gone.kind, child_name=gone.name)
        server_status_before = dict(server.get("status") or {})
        patch = status_patch(server_status_before, result.status)
        if patch is not None:
            try:
                updated = await self.client.patch_status(API_VERSION, PLURAL, key[0], key[1], patch)
            except ApiError as exc:
                if exc.status == 404:
                    return None
                raise
            # Keep what we wrote, so that a re-run before the watch catches up
            # neither writes it again nor decides from an older status.
            self.store.put_parent(KIND, updated)
            bound.info(
                "status",
                phase=result.status.get("phase"),
                active=result.status.get("activeRevision"),
                candidate=result.status.get("candidateRevision"),
                changed=sorted(k for k in patch if (server_status_before.get(k) != patch[k])),
            )
        self._count_phase(key, result.status.get("phase"))
        for ev in result.events:
            await events.post(self.client, server, ev.type, ev.reason, ev.message)
        return result.requeue_after
