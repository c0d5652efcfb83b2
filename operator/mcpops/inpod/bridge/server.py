"""The bridge's HTTP server: MCP endpoint, health, metrics, and the process lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import structlog
import uvicorn
from mcp.client.stdio import StdioServerParameters, get_default_environment
from mcp.server.transport_security import RequestBodyLimitMiddleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    disable_created_metrics,
    generate_latest,
    start_http_server,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from mcpops.inpod.bridge.config import BridgeConfig
from mcpops.inpod.bridge.metrics import BridgeMetrics
from mcpops.inpod.bridge.sessions import SessionManager
from mcpops.inpod.bridge.supervisor import Supervisor

log = structlog.stdlib.get_logger(__name__)


def child_parameters(cfg: BridgeConfig) -> StdioServerParameters:
    """How to start a child: argv without a shell, environment, working directory."""
    env = dict(os.environ) if cfg.inherit_env else get_default_environment()
    env.update(cfg.env)
    return StdioServerParameters(
        command=cfg.command[0],
        args=list(cfg.command[1:]),
        env=env,
        cwd=cfg.cwd,
        # Undecodable bytes become U+FFFD so the line is skipped instead of killing the session.
        encoding_error_handler="replace",
    )


class Bridge:
    def __init__(self, cfg: BridgeConfig) -> None:
        self.cfg = cfg
        self.metrics = BridgeMetrics()
        params = child_parameters(cfg)
        self.supervisor = Supervisor(cfg, params, self.metrics)
        self.sessions = SessionManager(cfg, params, self.supervisor, self.metrics)
        self._drain_requested = anyio.Event()

    def request_shutdown(self) -> None:
        """Called on SIGTERM/SIGINT: readiness turns false, sessions drain."""
        self.sessions.draining = True
        self._drain_requested.set()

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:
            self.sessions.attach(tg)
            await tg.start(self.supervisor.run)
            tg.start_soon(self._drain_on_request)
            try:
                yield
            finally:
                # Cancelling the session tasks stops every child: the SDK's stdio_client
                # closes its stdin, waits, then SIGTERMs and SIGKILLs its process group.
                tg.cancel_scope.cancel()
        log.info("bridge stopped")

    async def _drain_on_request(self) -> None:
        await self._drain_requested.wait()
        await self.sessions.drain()

    # -- endpoints -------------------------------------------------------------------

    async def mcp(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.sessions.handle(scope, receive, send)

    async def healthz(self, _request: Request) -> Response:
        return JSONResponse({"alive": True})

    async def readyz(self, _request: Request) -> Response:
        info = self.supervisor.server_info
        if self.sessions.draining:
            ready, reason, retry = False, "shutting down", 0.0
        else:
            r = await self.supervisor.check_ready()
            ready, reason, retry = r.ready, r.reason, r.retry_after
        body = {
            "ready": ready,
            "reason": reason,
            "sessions": self.sessions.active,
            "max_sessions": self.cfg.max_sessions,
            "restarts": self.supervisor.restarts,
            "server": {"name": info.name, "version": info.version} if info else None,
        }
        headers = {"Retry-After": str(max(1, round(retry)))} if not ready and retry else None
        return JSONResponse(body, status_code=200 if ready else 503, headers=headers)

    async def metrics_endpoint(self, _request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def app(self) -> Starlette:
        mcp_app = RequestBodyLimitMiddleware(self.mcp, self.cfg.max_body_bytes)
        routes = [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route(self.cfg.path, mcp_app, methods=["GET", "POST", "DELETE"]),
        ]
        if self.cfg.metrics_port is None or self.cfg.metrics_port == self.cfg.port:
            routes.append(Route("/metrics", self.metrics_endpoint, methods=["GET"]))
        return Starlette(routes=routes, lifespan=self.lifespan)


class _Server(uvicorn.Server):
    """uvicorn without its habit of re-raising the signal after a graceful exit.

    uvicorn re-sends SIGTERM to itself once shut down, which makes the exit status
    143; the bridge exits 0 after a clean drain instead.
    """

    def __init__(self, config: uvicorn.Config, on_signal: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_signal = on_signal

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        handled = (signal.SIGTERM, signal.SIGINT)
        for sig in handled:
            loop.add_signal_handler(sig, self._handle_signal, sig)
        try:
            yield
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)

    def _handle_signal(self, sig: int) -> None:
        if self.should_exit:
            log.warning("second signal: exiting without waiting", signal=signal.Signals(sig).name)
            self.force_exit = True
            return
        log.info("signal received: shutting down", signal=signal.Signals(sig).name)
        self.should_exit = True
        self._on_signal()


async def serve(cfg: BridgeConfig) -> int:
    disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series
    bridge = Bridge(cfg)
    if cfg.metrics_port is not None and cfg.metrics_port != cfg.port:
        start_http_server(cfg.metrics_port, addr=cfg.host, registry=bridge.metrics.registry)
    config = uvicorn.Config(
        bridge.app(),
        host=cfg.host,
        port=cfg.port,
        lifespan="on",
        log_config=None,
        access_log=False,
        # uvicorn waits this long for open connections (SSE streams) after the drain.
        timeout_graceful_shutdown=int(cfg.drain_timeout) + 5,
    )
    server = _Server(config, bridge.request_shutdown)
    log.info(
        "bridge starting",
        command=list(cfg.command),
        host=cfg.host,
        port=cfg.port,
        path=cfg.path,
        max_sessions=cfg.max_sessions,
    )
    await server.serve()
    return 0
