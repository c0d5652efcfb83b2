"""What the in-pod proxies report of themselves: `GET /mcpops/info` on a pod's proxy port
(proxy/README.md), for the protocol revision a server speaks (status.protocolVersion) and,
after a switch, the sessions still open on the previous revision (rollout.drainSeconds);
and `GET /metrics`, the calls the new revision served since a switch (rollout.analysis).

Asked of the pods directly, at the addresses their Services' EndpointSlices list (the
operator reaches pod IPs as Services and probes do); never through the API server, which
would need the pods/proxy permission. A revision's protocol is asked once, from one ready
pod, and kept for the revision's life; a failed ask is retried after RETRY_SECONDS, so a
fleet of servers costs at most one small request per revision per RETRY_SECONDS.

A reconcile waits for a protocol answer only QUICK_SECONDS (a proxy answers in
milliseconds); an ask still running then goes on in the background and, once it learns
the protocol, `on_learned` is called with the server's key (the operator enqueues it). A
pod that does not answer never holds a reconcile worker for its whole timeout.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from mcpops import metrics

TIMEOUT_SECONDS = 1.0  # a loopback-fast answer; a pod that does not give it is asked later
RETRY_SECONDS = 15.0
QUICK_SECONDS = 0.1  # what a reconcile waits for a protocol answer before going on
METRICS_TIMEOUT = 2.0  # /metrics is larger than /mcpops/info (a series per tool and bucket)
log = structlog.stdlib.get_logger("mcpops.machinery.proxyinfo")


@dataclass(frozen=True)
class ProxyInfo:
    """One proxy's /mcpops/info."""

    protocol_version: str  # "" until the proxy has classified its server
    sessions: int  # sessions this replica owns
    revision: str
    draining: bool
    ready: bool

    @classmethod
    def parse(cls, body: Any) -> ProxyInfo | None:
        if not isinstance(body, dict):
            return None
        sessions = body.get("sessions")
        return cls(
            protocol_version=str(body.get("protocolVersion") or ""),
            sessions=sessions if isinstance(sessions, int) and sessions >= 0 else 0,
            revision=str(body.get("revision") or ""),
            draining=body.get("draining") is True,
            ready=body.get("ready") is True,
        )


class ProxyInfos:
    """The protocol revision of each MCPServer revision, asked of its proxies and kept."""

    def __init__(
        self,
        timeout: float = TIMEOUT_SECONDS,
        retry: float = RETRY_SECONDS,
        quick: float = QUICK_SECONDS,
    ) -> None:
        self.timeout = timeout
        self.retry = retry
        self.quick = quick
        self.known: dict[tuple[Any, str], str] = {}
        self.next_try: dict[tuple[Any, str], float] = {}
        self.asking: dict[tuple[Any, str], asyncio.Task[None]] = {}
        self.on_learned: Callable[[Any], None] | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def http(self) -> aiohttp.ClientSession:
        # Made on first use (a session belongs to the running loop). No proxy settings from
        # the environment: pod IPs are reached directly.
        if self._http is None:
            self._http = aiohttp.ClientSession(trust_env=False)
        return self._http

    async def close(self) -> None:
        for task in self.asking.values():
            task.cancel()
        self.asking.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _get(self, url: str, seconds: float) -> str:
        # spec.tls: the proxy's port speaks HTTPS with the server's certificate, which names
        # its Services, never a pod IP. What is read is counts, not secrets, and the pod IP
        # comes from the API server's endpoints: not verified.
        async with self.http.get(
            url,
            ssl=url.startswith("http:"),  # False for https: not verified (above)
            timeout=aiohttp.ClientTimeout(total=seconds),
            raise_for_status=True,
        ) as answer:
            return await answer.text()

    async def fetch(self, address: str, scheme: str = "http") -> ProxyInfo | None:
        """`address` is host:port of a proxy; `scheme` https with spec.tls."""
        try:
            text = await self._get(f"{scheme}://{address}/mcpops/info", self.timeout)
            info = ProxyInfo.parse(json.loads(text))
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            metrics.PROXY_INFO_REQUESTS.labels("error").inc()
            log.debug("proxy info", address=address, error=repr(exc))
            return None
        metrics.PROXY_INFO_REQUESTS.labels("ok" if info else "error").inc()
        return info

    async def metrics(self, address: str, scheme: str = "http") -> str | None:
        """The proxy's /metrics (Prometheus text), for rollout.analysis; None when it does
        not answer in time (that pod is left out of this look)."""
        try:
            text = await self._get(f"{scheme}://{address}/metrics", METRICS_TIMEOUT)
        except (TimeoutError, aiohttp.ClientError) as exc:
            metrics.ANALYSIS_READS.labels("error").inc()
            log.debug("proxy metrics", address=address, error=repr(exc))
            return None
        metrics.ANALYSIS_READS.labels("ok").inc()
        return text

    async def _ask(self, slot: tuple[Any, str], addresses: Sequence[str], scheme: str) -> None:
        for address in addresses[:2]:  # a second pod if the first does not answer
            info = await self.fetch(address, scheme)
            if info is not None and info.protocol_version:
                self.known[slot] = info.protocol_version
                return
        self.next_try[slot] = time.monotonic() + self.retry

    def _done(self, slot: tuple[Any, str], task: asyncio.Task[None]) -> None:
        """An ask that outlived its reconcile's wait: the server is looked at again once
        its protocol is known."""
        if self.asking.get(slot) is task:
            del self.asking[slot]
        if slot in self.known and self.on_learned is not None and not task.cancelled():
            self.on_learned(slot[0])

    async def protocols(
        self, key: Any, endpoints: Mapping[str, Sequence[str]], scheme: str = "http"
    ) -> dict[str, str]:
        """revision -> protocol revision, for the revisions with ready proxies at
        `endpoints` (revision -> addresses) that have classified their server (as far as
        known within QUICK_SECONDS; later answers call `on_learned`)."""
        now = time.monotonic()
        started: dict[tuple[Any, str], asyncio.Task[None]] = {}
        for revision, addresses in endpoints.items():
            slot = (key, revision)
            if slot in self.known or slot in self.asking:
                continue
            if addresses and self.next_try.get(slot, 0.0) <= now:
                started[slot] = asyncio.create_task(self._ask(slot, addresses, scheme))
        if started:
            await asyncio.wait(started.values(), timeout=self.quick)
        for slot, task in started.items():
            if not task.done():
                self.asking[slot] = task
                task.add_done_callback(functools.partial(self._done, slot))
        return {
            revision: self.known[(key, revision)]
            for revision in endpoints
            if (key, revision) in self.known
        }

    async def sessions(self, addresses: Sequence[str], scheme: str = "http") -> int | None:
        """Open sessions over the proxies at `addresses` (asked at once), None when none of
        them answered (a pod that does not answer has no session anyone can reach)."""
        infos = await asyncio.gather(*(self.fetch(a, scheme) for a in addresses))
        known = [i.sessions for i in infos if i is not None]
        return sum(known) if known else None

    def forget(self, key: Any) -> None:
        """The MCPServer is gone: drop what was kept of it."""
        for slot in [s for s in self.asking if s[0] == key]:
            self.asking.pop(slot).cancel()
        for slot in [s for s in self.known if s[0] == key]:
            del self.known[slot]
        for slot in [s for s in self.next_try if s[0] == key]:
            del self.next_try[slot]
