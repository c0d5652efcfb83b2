"""Leader election over a coordination.k8s.io Lease, as client-go does it.

Every replica watches and fills its cache; only the Lease holder runs the work
queues, so only one acts on a resource at a time. Expiry is judged by how long
the lease record has stayed unchanged on *our* clock (never by comparing the
holder's timestamps with our clock), and a leader that cannot renew within
`renew_deadline` (< `lease_duration`) exits before anyone else may take over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import structlog

from mcpops import metrics
from mcpops.machinery.client import ApiError, Client
from mcpops.objects.bodies import Body
from mcpops_common.names import MANAGED_BY, MANAGED_BY_LABEL, PART_OF, PART_OF_LABEL

log = structlog.stdlib.get_logger("mcpops.machinery.leader")

API_VERSION = "coordination.k8s.io/v1"


class Action(Enum):
    ACQUIRE = "acquire"  # the lease is free or expired: take it
    RENEW = "renew"  # we hold it: refresh renewTime
    WAIT = "wait"  # someone else holds a live lease


@dataclass(frozen=True)
class Observed:
    """What we last saw of the lease, and when (monotonic seconds, our clock)."""

    record: tuple[Any, ...]  # the fields whose change proves the holder is alive
    at: float

    @property
    def holder(self) -> str:
        return str(self.record[0])


def decide(observed: Observed | None, identity: str, now: float, lease_duration: float) -> Action:
    if observed is None or not observed.holder:
        return Action.ACQUIRE
    if observed.holder == identity:
        return Action.RENEW
    if now - observed.at >= lease_duration:
        return Action.ACQUIRE
    return Action.WAIT


def observe(lease: Body, previous: Observed | None, now: float) -> Observed:
    """Keep the first time we saw this exact record: the holder is alive while it changes."""
    spec = lease.get("spec") or {}
    record = (
        spec.get("holderIdentity") or "",
        spec.get("renewTime"),
        spec.get("acquireTime"),
        spec.get("leaseTransitions"),
    )
    if previous is not None and previous.record == record:
        return previous
    return Observed(record=record, at=now)


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        client: Client,
        *,
        namespace: str,
        name: str = "mcpops-leader",
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
    ) -> None:
        if renew_deadline >= lease_duration:
            raise ValueError("renew_deadline must be shorter than lease_duration")
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.observed: Observed | None = None
        self.leading = False

    def _lease(self, current: Body | None, acquire: bool) -> Body:
        spec = dict((current or {}).get("spec") or {})
        now = _micro_time()
        if acquire:
            changed_hands = spec.get("holderIdentity") != self.identity
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (
                1 if changed_hands and current is not None else 0
            )
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=int(self.lease_duration),
            renewTime=now,
        )
        meta: Body = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, PART_OF_LABEL: PART_OF},
        }
        if current is not None:
            meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        return {"apiVersion": API_VERSION, "kind": "Lease", "metadata": meta, "spec": spec}

    async def try_once(self) -> bool:
        """One round: True if we hold the lease afterwards."""
        loop_now = asyncio.get_running_loop().time()
        current = await self.client.get(API_VERSION, "leases", self.namespace, self.name)
        if current is None:
            try:
                written = await self.client.create(self._lease(None, acquire=True))
            except ApiError as exc:
                if exc.status == 409:  # another replica created it first
                    return False
                raise
            self.observed = observe(written, None, loop_now)
            return True
        self.observed = observe(current, self.observed, loop_now)
        action = decide(self.observed, self.identity, loop_now, self.lease_duration)
        if action is Action.WAIT:
            return False
        try:
            written = await self.client.replace(
                self._lease(current, acquire=action is Action.ACQUIRE)
            )
        except ApiError as exc:
            if exc.status == 409:  # lost the race for this resourceVersion
                return False
            raise
        self.observed = observe(written, self.observed, loop_now)
        return True

    async def run(
        self, on_started: Callable[[], Awaitable[None]], on_lost: Callable[[], None]
    ) -> None:
        """Acquire, call on_started once, then renew until renewing fails for too long."""
        while True:
            try:
                if await self.try_once():
                    break
            except Exception as exc:  # keep contending whatever failed
                log.warning("lease acquire failed", error=str(exc), lease=self.name)
            await asyncio.sleep(self.retry_period)
        self.leading = True
        log.info("became leader", lease=self.name, namespace=self.namespace, identity=self.identity)
        await on_started()
        loop = asyncio.get_running_loop()
        last_renew = loop.time()
        while True:
            await asyncio.sleep(self.retry_period)
            try:
                # Bounded so that a hung request cannot outlive our claim to the lease.
                left = self.renew_deadline - (loop.time() - last_renew)
                if await asyncio.wait_for(self.try_once(), timeout=max(left, 0.1)):
                    last_renew = loop.time()
                    continue
                # Someone else wrote the lease (it expired on their clock): stop now.
                self._lose("another replica holds the lease", on_lost)
                return
            except Exception as exc:  # transient API trouble is judged by the deadline
                if loop.time() - last_renew >= self.renew_deadline:
                    self._lose(f"could not renew for {self.renew_deadline:g}s: {exc}", on_lost)
                    return
                log.warning("lease renew failed", lease=self.name, error=str(exc))

    @property
    def leading(self) -> bool:
        return self._leading

    @leading.setter
    def leading(self, value: bool) -> None:
        self._leading = value  # the gauge follows, always
        metrics.LEADER.set(1 if value else 0)

    async def release(self) -> None:
        """On a clean shutdown, hand the lease back so a standby need not wait it out."""
        if not self.leading:
            return
        self.leading = False
        current = await self.client.get(API_VERSION, "leases", self.namespace, self.name)
        if current is None or (current.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        lease = self._lease(current, acquire=False)
        lease["spec"]["holderIdentity"] = ""
        try:
            await self.client.replace(lease)
            log.info("lease released", lease=self.name)
        except ApiError as exc:  # someone took it meanwhile: theirs now
            log.warning("lease release failed", lease=self.name, error=str(exc))

    def _lose(self, reason: str, on_lost: Callable[[], None]) -> None:
        self.leading = False
        log.error("leadership lost", lease=self.name, reason=reason)
        on_lost()
