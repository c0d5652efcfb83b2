"""`mcpops health`: the MCP readiness sidecar of HTTP-transport MCPServer pods.

The user's image need not contain mcpops, so the MCP check runs in a sidecar
from the operator image: /readyz answers 200 only after an MCP initialize (and
ping) against the server on localhost succeeds, so the pod is Ready only when
MCP works, not when a port merely opens. Results are cached briefly so that
kubelet probes and scrapes do not each start a session.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from typing import Literal, cast

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

from mcpops.inpod.probe import ProbeResult, check
from mcpops_common import logs

CHECKS = Counter("mcpops_health_checks", "MCP readiness checks by result.", ["result"])
READY = Gauge("mcpops_health_ready", "1 while the last MCP check succeeded.")


class Checker:
    def __init__(
        self, url: str, transport: Literal["streamable-http", "sse"], timeout: float, ttl: float
    ) -> None:
        self.url = url
        self.transport = transport
        self.timeout = timeout
        self.ttl = ttl
        self._last: tuple[float, ProbeResult] | None = None
        self._lock = asyncio.Lock()
        self.log = logs.get_logger("mcpops.inpod.health")

    async def result(self) -> ProbeResult:
        async with self._lock:  # one check in flight; concurrent probes share it
            now = time.monotonic()
            if self._last is not None and now - self._last[0] < self.ttl:
                return self._last[1]
            res = await check(self.url, self.transport, self.timeout)
            previous = self._last[1].ok if self._last else None
            self._last = (time.monotonic(), res)
            CHECKS.labels("ok" if res.ok else "fail").inc()
            READY.set(1 if res.ok else 0)
            if previous != res.ok:
                self.log.info("readiness changed", ready=res.ok, reason=res.reason, url=self.url)
            return res


def app(checker: Checker) -> web.Application:
    async def readyz(_: web.Request) -> web.Response:
        res = await checker.result()
        body = json.dumps(
            {
                "ready": res.ok,
                "reason": res.reason,
                "latencyMs": round(res.latency_ms, 1),
                "server": res.server_name,
            }
        )
        return web.Response(
            status=200 if res.ok else 503, text=body, content_type="application/json"
        )

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    application = web.Application()
    application.router.add_get("/readyz", readyz)
    application.router.add_get("/healthz", healthz)
    application.router.add_get("/metrics", metrics)
    return application


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="mcpops health", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="0.0.0.0:8099", help="host:port to serve on")
    parser.add_argument(
        "--url", required=True, help="the MCP endpoint, e.g. http://127.0.0.1:8080/mcp"
    )
    parser.add_argument(
        "--transport", choices=["streamable-http", "sse"], default="streamable-http"
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds one check may take")
    parser.add_argument("--ttl", type=float, default=2.0, help="seconds a result is reused")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(list(argv))
    logs.configure(args.log_level)
    host, _, port = args.listen.rpartition(":")
    checker = Checker(
        args.url,
        cast(Literal["streamable-http", "sse"], args.transport),
        args.timeout,
        args.ttl,
    )
    web.run_app(app(checker), host=host or "0.0.0.0", port=int(port), print=None, access_log=None)  # noqa: S104
    return 0
