"""What the in-pod proxies report of themselves: `GET /mcpops/info` on a pod's proxy port
(proxy/README.md), for the protocol revision a server speaks (status.protocolVersion) and,
after a switch, the sessions still open on the previous revision (rollout.drainSeconds);
and `GET /metrics`, the calls the new revision served since a switch (rollout.analysis).

Asked of the pods directly, at the addresses their Services' EndpointSlices list (the
operator reaches pod IPs as Services and probes do); never through the API server, which
would need the pods/proxy permission. A revision's protocol is asked once, from one ready
pod, and kept for the revision's life; a failed ask is retried after RETRY_SECONDS, so a
fleet of servers costs at most one small request per revision per RETRY_SECONDS.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from mcpops import metrics

TIMEOUT_SECONDS = 1.0  # a loopback-fast answer; a pod that does not give it is asked later
RETRY_SECONDS = 15.0
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

    def __init__(self, timeout: float = TIMEOUT_SECONDS, retry: float = RETRY_SECONDS) -> None:
        # No proxy settings from the environment: pod IPs are reached directly.
        self.http = httpx.AsyncClient(timeout=timeout, trust_env=False)
        # spec.tls: the proxy's port speaks HTTPS with the server's certificate, which names
        # its Services, never a pod IP. /mcpops/info is a read of counts, not a secret, and
        # the pod IP comes from the API server's endpoints: not verified.
        self.https = httpx.AsyncClient(timeout=timeout, trust_env=False, verify=False)  # noqa: S501
        self.retry = retry
        self.known: dict[tuple[Any, str], str] = {}
        self.next_try: dict[tuple[Any, str], float] = {}

    async def close(self) -> None:
        await self.http.aclose()
        await self.https.aclose()

    def _client(self, scheme: str) -> httpx.AsyncClient:
        """`scheme` is https with spec.tls."""
        return self.https if scheme == "https" else self.http

    async def fetch(self, address: str, scheme: str = "http") -> ProxyInfo | None:
        """`address` is host:port of a proxy; `scheme` https with spec.tls."""
        try:
            answer = await self._client(scheme).get(f"{scheme}://{address}/mcpops/info")
            answer.raise_for_status()
            info = ProxyInfo.parse(answer.json())
        except (httpx.HTTPError, ValueError) as exc:
            metrics.PROXY_INFO_REQUESTS.labels("error").inc()
            log.debug("proxy info", address=address, error=str(exc))
            return None
        metrics.PROXY_INFO_REQUESTS.labels("ok" if info else "error").inc()
        return info

    async def metrics(self, address: str, scheme: str = "http") -> str | None:
        """The proxy's /metrics (Prometheus text), for rollout.analysis; None when it does
        not answer in time (that pod is left out of this look)."""
        try:
            answer = await self._client(scheme).get(
                f"{scheme}://{address}/metrics", timeout=METRICS_TIMEOUT
            )
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            metrics.ANALYSIS_READS.labels("error").inc()
            log.debug("proxy metrics", address=address, error=str(exc))
            return None
        metrics.ANALYSIS_READS.labels("ok").inc()
        return answer.text

    async def protocols(
        self, key: Any, endpoints: Mapping[str, Sequence[str]], scheme: str = "http"
    ) -> dict[str, str]:
        """revision -> protocol revision, for the revisions with ready proxies at
        `endpoints` (revision -> addresses) that have classified their server."""
        out: dict[str, str] = {}
        now = time.monotonic()
        for revision, addresses in endpoints.items():
            slot = (key, revision)
            if slot in self.known:
                out[revision] = self.known[slot]
                continue
            if not addresses or self.next_try.get(slot, 0.0) > now:
                continue
            for address in addresses[:2]:  # a second pod if the first does not answer
                info = await self.fetch(address, scheme)
                if info is not None and info.protocol_version:
                    self.known[slot] = out[revision] = info.protocol_version
                    break
            else:
                self.next_try[slot] = now + self.retry
        return out

    async def sessions(self, addresses: Sequence[str], scheme: str = "http") -> int | None:
        """Open sessions over the proxies at `addresses` (asked at once), None when none of
        them answered (a pod that does not answer has no session anyone can reach)."""
        infos = await asyncio.gather(*(self.fetch(a, scheme) for a in addresses))
        known = [i.sessions for i in infos if i is not None]
        return sum(known) if known else None

    def forget(self, key: Any) -> None:
        """The MCPServer is gone: drop what was kept of it."""
        for slot in [s for s in self.known if s[0] == key]:
            del self.known[slot]
        for slot in [s for s in self.next_try if s[0] == key]:
            del self.next_try[slot]
