"""The health child: readiness end to end, and restart with exponential backoff.

The supervisor keeps one extra child of the stdio server running, talks MCP to it
with the SDK's `ClientSession` (initialize, then ping on every readiness check) and
restarts it with exponential backoff when it dies or fails to start. When a
*session* child crashes, the supervisor is told too: it counts the failure,
restarts the health child after the backoff, and until that fresh child has
answered initialize and ping the bridge is not ready and refuses new sessions.
"""

from __future__ import annotations

import math
import sys
from collections.abc import AsyncIterable
from dataclasses import dataclass

import anyio
import structlog
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectSendStream
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp.types import Implementation

from mcpops.inpod.bridge.config import BridgeConfig
from mcpops.inpod.bridge.metrics import BridgeMetrics

log = structlog.stdlib.get_logger(__name__)

# Consecutive readiness-ping timeouts after which the health child is presumed hung.
_PING_TIMEOUTS_BEFORE_RESTART = 3
# A successful ping is reused for this long, so a burst of probes costs one ping.
_PING_CACHE_SECONDS = 1.0


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str
    retry_after: float = 0.0


class Supervisor:
    def __init__(
        self, cfg: BridgeConfig, params: StdioServerParameters, metrics: BridgeMetrics
    ) -> None:
        self._cfg = cfg
        self._params = params
        self._metrics = metrics
        self._session: ClientSession | None = None
        self._ready = False
        self._reason = "starting the health child"
        self._failures = 0
        self._healthy_since: float | None = None
        self._retry_at = 0.0
        self._wake = anyio.Event()
        self._restart_requested = False
        self._ping_lock = anyio.Lock()
        self._last_ping_ok = -math.inf
        self._ping_timeouts = 0
        self.server_info: Implementation | None = None
        self.restarts = 0
        metrics.ready.set(0)

    # -- state seen by the HTTP side -------------------------------------------------

    def admission(self) -> Readiness:
        """Whether a new session may start now (no live ping; cheap)."""
        if self._ready:
            return Readiness(True, "ready")
        return Readiness(False, self._reason, self._retry_after())

    def _retry_after(self) -> float:
        return max(self._retry_at - anyio.current_time(), 0.0) + 1.0

    async def check_ready(self) -> Readiness:
        """Readiness end to end: ping the health child through the MCP SDK."""
        session = self._session
        if not self._ready or session is None:
            return Readiness(False, self._reason, self._retry_after())
        async with self._ping_lock:
            if anyio.current_time() - self._last_ping_ok < _PING_CACHE_SECONDS:
                return Readiness(True, "ready")
            try:
                with anyio.fail_after(self._cfg.ready_timeout):
                    await session.send_ping()
            except TimeoutError:
                self._ping_timeouts += 1
                reason = f"health child did not answer ping within {self._cfg.ready_timeout:g}s"
                log.warning("readiness ping timed out", consecutive=self._ping_timeouts)
                if self._ping_timeouts >= _PING_TIMEOUTS_BEFORE_RESTART:
                    self.report_failure(f"{reason} ({self._ping_timeouts} times)", role="health")
                return Readiness(False, reason, 1.0)
            except (MCPError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
                reason = f"health child ping failed: {exc}"
                self.report_failure(reason, role="health")
                return Readiness(False, reason, self._retry_after())
            self._ping_timeouts = 0
            self._last_ping_ok = anyio.current_time()
            return Readiness(True, "ready")

    # -- failures ------------------------------------------------------------------

    def report_failure(self, reason: str, *, role: str) -> None:
        """A child crashed (or would not start): back off, then restart the health child."""
        now = anyio.current_time()
        if self._healthy_since is not None and now - self._healthy_since >= self._cfg.stable_after:
            self._failures = 0
        self._failures += 1
        delay = min(self._cfg.backoff_initial * 2 ** (self._failures - 1), self._cfg.backoff_max)
        self._retry_at = max(self._retry_at, now + delay)
        self._set_ready(False, f"restarting after a child failure: {reason}")
        self._healthy_since = None
        self._metrics.child_crashes.labels(role).inc()
        log.warning(
            "child failure; restarting the health child after backoff",
            role=role,
            reason=reason,
            consecutive_failures=self._failures,
            backoff_seconds=delay,
        )
        self._restart_requested = True
        self._wake.set()

    def _set_ready(self, ready: bool, reason: str) -> None:
        self._ready = ready
        self._reason = reason
        self._metrics.ready.set(1 if ready else 0)

    # -- the loop ------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        first = True
        while True:
            delay = self._retry_at - anyio.current_time()
            if delay > 0:
                await anyio.sleep(delay)
            if not first:
                self.restarts += 1
                self._metrics.child_restarts.inc()
                log.info("restarting the health child", restart=self.restarts)
            first = False
            self._restart_requested = False
            self._wake = anyio.Event()
            try:
                await self._run_health_child()
            except Exception as exc:
                self.report_failure(f"{type(exc).__name__}: {exc}", role="health")

    async def _run_health_child(self) -> None:
        exited = anyio.Event()
        relay_send, relay_recv = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        async with (
            stdio_client(self._params, errlog=sys.stderr) as (read, write),
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(_relay, read, relay_send, exited)
            try:
                async with ClientSession(relay_recv, write) as session:
                    await self._serve_health(session, exited)
            finally:
                tg.cancel_scope.cancel()
        if exited.is_set() and not self._restart_requested:
            self.report_failure("the health child exited", role="health")

    async def _serve_health(self, session: ClientSession, exited: anyio.Event) -> None:
        try:
            with anyio.fail_after(self._cfg.startup_timeout):
                result = await session.initialize()
                await session.send_ping()
        except TimeoutError:
            raise TimeoutError(
                f"no answer to initialize and ping within {self._cfg.startup_timeout:g}s"
            ) from None
        if self._restart_requested:
            return  # a child crashed meanwhile: start afresh after the backoff
        self.server_info = result.server_info
        self._session = session
        self._last_ping_ok = anyio.current_time()
        self._ping_timeouts = 0
        self._healthy_since = anyio.current_time()
        self._set_ready(True, "ready")
        log.info(
            "health child ready",
            server=result.server_info.name,
            server_version=result.server_info.version,
            protocol_version=result.protocol_version,
        )
        try:
            # Until the child dies, a crash elsewhere asks for a restart, or shutdown.
            async with anyio.create_task_group() as waiters:

                async def _on_exit() -> None:
                    await exited.wait()
                    self._wake.set()

                waiters.start_soon(_on_exit)
                await self._wake.wait()
                waiters.cancel_scope.cancel()
        finally:
            self._session = None
            if self._ready:
                self._set_ready(False, "restarting the health child")


async def _relay(
    source: AsyncIterable[SessionMessage | Exception],
    sink: MemoryObjectSendStream[SessionMessage | Exception],
    exited: anyio.Event,
) -> None:
    """Forward the child's messages to the client session; note when its stdout ends."""
    async with sink:
        try:
            async for item in source:
                if isinstance(item, Exception):
                    log.warning("health child wrote a line that is not JSON-RPC; skipped")
                    continue
                await sink.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        finally:
            exited.set()
