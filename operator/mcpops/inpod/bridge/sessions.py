"""Client sessions: one Streamable HTTP session <-> one stdio child process.

Both ends are the MCP SDK's own transports: `StreamableHTTPServerTransport` faces
the client, `stdio_client` runs the child. Between them the bridge moves the SDK's
parsed `SessionMessage`s unchanged (ids included), so whatever the child speaks
(tools, resources, prompts, sampling, progress...) reaches the client as is. The
bridge only adds what a proxy must: it remembers which client requests are in
flight (to answer them with an error if the child dies, and to route the child's
progress notifications to the right response stream), skips lines of child
output that are not JSON-RPC, and turns a dead child into a clear error.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import OrderedDict
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol
from uuid import uuid4

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, StreamableHTTPServerTransport
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from mcp.types import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PARSE_ERROR,
    UNSUPPORTED_PROTOCOL_VERSION,
    ErrorData,
    JSONRPCError,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
    RequestId,
    UnsupportedProtocolVersionErrorData,
    jsonrpc_message_adapter,
)
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from mcpops.inpod.bridge.config import BridgeConfig
from mcpops.inpod.bridge.metrics import BridgeMetrics, method_label
from mcpops.inpod.bridge.supervisor import Supervisor

log = structlog.stdlib.get_logger(__name__)

PROTOCOL_VERSION_HEADER = "mcp-protocol-version"
# How long in-flight POSTs of a session whose child died get to deliver their errors.
_ABORT_FLUSH_SECONDS = 5.0
# Session ids that ended badly are remembered (bounded) so that later requests get the reason.
_DEAD_SESSIONS_KEPT = 1024


def error_response(
    message: str,
    status: int,
    code: int = INVALID_REQUEST,
    *,
    data: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An HTTP response whose body is a JSON-RPC error (what SDK clients surface to callers)."""
    error = (
        ErrorData(code=code, message=message)
        if data is None
        else ErrorData(code=code, message=message, data=data)
    )
    body = JSONRPCError(jsonrpc="2.0", id=None, error=error)
    return Response(
        body.model_dump_json(by_alias=True, exclude_unset=True),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class _Sender(Protocol):
    async def send(self, item: SessionMessage, /) -> None: ...


@dataclass
class _InFlight:
    method: str
    started: float
    metadata: ServerMessageMetadata | None


@dataclass
class _Session:
    id: str
    transport: StreamableHTTPServerTransport
    in_flight: dict[RequestId, _InFlight] = field(default_factory=dict)
    progress_tokens: dict[str | int, RequestId] = field(default_factory=dict)
    closing: bool = False
    dead_reason: str | None = None
    end_reason: str = "closed"
    _posts: int = 0
    _posts_done: anyio.Event = field(default_factory=anyio.Event)

    def __post_init__(self) -> None:
        self._posts_done.set()

    def post_started(self) -> None:
        if self._posts == 0:
            self._posts_done = anyio.Event()
        self._posts += 1

    def post_finished(self) -> None:
        self._posts -= 1
        if self._posts == 0:
            self._posts_done.set()

    async def wait_posts(self, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            await self._posts_done.wait()

    def forget_request(self, request_id: RequestId) -> _InFlight | None:
        entry = self.in_flight.pop(request_id, None)
        if entry is not None:
            for token in [t for t, rid in self.progress_tokens.items() if rid == request_id]:
                del self.progress_tokens[token]
        return entry


class SessionManager:
    """Admits sessions, runs one child per session, and routes HTTP requests to them."""

    def __init__(
        self,
        cfg: BridgeConfig,
        params: StdioServerParameters,
        supervisor: Supervisor,
        metrics: BridgeMetrics,
    ) -> None:
        self._cfg = cfg
        self._params = params
        self._supervisor = supervisor
        self._metrics = metrics
        self._sessions: dict[str, _Session] = {}
        self._dead: OrderedDict[str, str] = OrderedDict()
        self._tg: TaskGroup | None = None
        self._admission_lock = anyio.Lock()
        self.draining = False

    @property
    def active(self) -> int:
        return len(self._sessions)

    def attach(self, tg: TaskGroup) -> None:
        """Session tasks run in the bridge's task group (cancelled at shutdown)."""
        self._tg = tg

    # -- HTTP entry point ------------------------------------------------------------

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        version = request.headers.get(PROTOCOL_VERSION_HEADER)
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            # Sessionless 2026-era requests (server/discover, ...) are not bridged; saying
            # so with -32022 makes SDK clients in "auto" mode fall back to initialize.
            data = UnsupportedProtocolVersionErrorData(
                supported=list(HANDSHAKE_PROTOCOL_VERSIONS), requested=version
            )
            await error_response(
                f"Unsupported protocol version {version}: this bridge speaks the initialize "
                "handshake era",
                HTTPStatus.BAD_REQUEST,
                UNSUPPORTED_PROTOCOL_VERSION,
                data=data.model_dump(by_alias=True),
            )(scope, receive, send)
            return

        session_id = request.headers.get(MCP_SESSION_ID_HEADER)
        if session_id is None:
            await self._open_session(request, scope, receive, send)
            return
        session = self._sessions.get(session_id)
        if session is None:
            reason = self._dead.get(session_id)
            message = (
                f"Session terminated: {reason}. Start a new session."
                if reason
                else "Session not found (expired or closed). Start a new session."
            )
            await error_response(message, HTTPStatus.NOT_FOUND)(scope, receive, send)
            return
        is_post = request.method == "POST"
        if is_post:
            session.post_started()
        try:
            await session.transport.handle_request(scope, receive, send)
        finally:
            if is_post:
                session.post_finished()
        if session.transport.is_terminated and not session.closing:
            # The client ended the session (DELETE).
            session.closing = True
            self._sessions.pop(session.id, None)

    async def _open_session(
        self, request: Request, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if request.method != "POST":
            await error_response("Bad Request: Missing session ID", HTTPStatus.BAD_REQUEST)(
                scope, receive, send
            )
            return
        body = await request.body()
        try:
            message = jsonrpc_message_adapter.validate_json(body, by_name=False)
        except ValidationError as exc:
            code = PARSE_ERROR if "json_invalid" in str(exc) else INVALID_REQUEST
            await error_response(
                "Parse error: the body is not a JSON-RPC message", HTTPStatus.BAD_REQUEST, code
            )(scope, receive, send)
            return
        if not (isinstance(message, JSONRPCRequest) and message.method == "initialize"):
            # Only initialize may open a session; do not spawn a child for anything else.
            await error_response("Bad Request: Missing session ID", HTTPStatus.BAD_REQUEST)(
                scope, receive, send
            )
            return

        async with self._admission_lock:
            refusal = self._refusal()
            if refusal is not None:
                reason, text, retry_after = refusal
                self._metrics.sessions_rejected.labels(reason).inc()
                log.warning("new session refused", reason=reason, detail=text)
                await error_response(
                    text,
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    INTERNAL_ERROR,
                    headers={"Retry-After": str(max(1, round(retry_after)))},
                )(scope, receive, send)
                return
            session_id = uuid4().hex
            session = _Session(
                id=session_id,
                transport=StreamableHTTPServerTransport(
                    mcp_session_id=session_id,
                    is_json_response_enabled=self._cfg.json_response,
                    idle_timeout=self._cfg.session_idle_timeout,
                ),
            )
            self._sessions[session.id] = session

        assert self._tg is not None, "SessionManager.attach() was not called"
        try:
            await self._tg.start(self._run_session, session)
        except Exception as exc:
            self._sessions.pop(session.id, None)
            self._metrics.sessions_rejected.labels("spawn_failed").inc()
            self._metrics.errors.labels("spawn_failed").inc()
            log.error("could not start the MCP server for a new session", error=str(exc))
            self._supervisor.report_failure(f"spawn failed: {exc}", role="session")
            await error_response(
                f"Could not start the MCP server: {exc}",
                HTTPStatus.INTERNAL_SERVER_ERROR,
                INTERNAL_ERROR,
            )(scope, receive, send)
            return

        replayed = False

        async def replay_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status: int | None = None

        async def watch_send(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
            await send(msg)

        session.post_started()
        try:
            await session.transport.handle_request(scope, replay_receive, watch_send)
        finally:
            session.post_finished()
            if status is None or status >= 400:
                await self._close_session(session, "error")

    def _refusal(self) -> tuple[str, str, float] | None:
        if self.draining:
            return "shutdown", "The bridge is shutting down", 1.0
        if len(self._sessions) >= self._cfg.max_sessions:
            return (
                "capacity",
                f"Too many open sessions ({self._cfg.max_sessions}); retry later",
                5.0,
            )
        admission = self._supervisor.admission()
        if not admission.ready:
            return "restarting", f"MCP server not ready: {admission.reason}", admission.retry_after
        return None

    async def _close_session(self, session: _Session, reason: str) -> None:
        session.closing = True
        session.end_reason = reason
        self._sessions.pop(session.id, None)
        if not session.transport.is_terminated:
            with anyio.CancelScope(shield=True):
                await session.transport.terminate()

    async def drain(self) -> None:
        """Shutdown: refuse new sessions, let in-flight requests finish, then close all."""
        self.draining = True
        sessions = list(self._sessions.values())
        log.info("draining sessions", sessions=len(sessions), timeout=self._cfg.drain_timeout)
        with anyio.move_on_after(self._cfg.drain_timeout):
            for session in sessions:
                await session.wait_posts(self._cfg.drain_timeout)
        for session in sessions:
            await self._close_session(session, "shutdown")

    # -- one session ---------------------------------------------------------------

    async def _run_session(
        self, session: _Session, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        started = False
        bound = log.bind(session=session.id[:12])
        try:
            async with (
                session.transport.connect() as (http_read, http_write),
                stdio_client(self._params, errlog=sys.stderr) as (child_read, child_write),
            ):
                started = True
                task_status.started()
                self._metrics.sessions.inc()
                self._metrics.sessions_active.inc()
                bound.info("session opened", active=len(self._sessions))
                idle = session.transport.idle_scope or anyio.CancelScope()
                try:
                    with idle:
                        async with anyio.create_task_group() as pumps:
                            pumps.start_soon(
                                self._client_to_child,
                                session,
                                http_read,
                                http_write,
                                child_write,
                                pumps,
                            )
                            pumps.start_soon(
                                self._child_to_client, session, child_read, http_write, pumps
                            )
                    if idle.cancelled_caught:
                        session.end_reason = "idle"
                        bound.info("session idle timeout")
                except Exception:
                    session.end_reason = "error"
                    bound.exception("session failed")
                finally:
                    self._metrics.sessions_active.dec()
                    if session.dead_reason is None and session.end_reason not in ("closed", "idle"):
                        self._remember_dead(session.id, f"the session ended ({session.end_reason})")
                    # Terminate the transport while its streams are still open; then the
                    # child is stopped by stdio_client on the way out.
                    await self._close_session(session, session.end_reason)
        except Exception:
            if not started:
                raise
            bound.exception("session teardown failed")
        finally:
            if started:
                self._metrics.sessions_ended.labels(session.end_reason).inc()
                bound.info("session closed", reason=session.end_reason)

    def _remember_dead(self, session_id: str, reason: str) -> None:
        self._dead[session_id] = reason
        while len(self._dead) > _DEAD_SESSIONS_KEPT:
            self._dead.popitem(last=False)

    async def _client_to_child(
        self,
        session: _Session,
        http_read: AsyncIterable[SessionMessage | Exception],
        http_write: _Sender,
        child_write: _Sender,
        pumps: TaskGroup,
    ) -> None:
        try:
            async for item in http_read:
                if isinstance(item, Exception):
                    log.warning("unparseable message from client skipped", error=str(item)[:200])
                    continue
                message = item.message
                metadata = (
                    item.metadata if isinstance(item.metadata, ServerMessageMetadata) else None
                )
                if isinstance(message, JSONRPCRequest):
                    self._metrics.requests.labels(method_label(message.method)).inc()
                    if session.dead_reason is not None:
                        await http_write.send(_abort(message.id, session.dead_reason))
                        continue
                    session.in_flight[message.id] = _InFlight(
                        message.method, time.monotonic(), metadata
                    )
                    token = _progress_token(message.params)
                    if token is not None:
                        session.progress_tokens[token] = message.id
                elif (
                    isinstance(message, JSONRPCNotification)
                    and message.method == "notifications/cancelled"
                ):
                    await self._on_cancelled(session, message)
                try:
                    await child_write.send(SessionMessage(message))
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    # The child is gone; _child_to_client answers what is in flight.
                    continue
        except anyio.ClosedResourceError:
            pass  # the transport was terminated (DELETE, idle timeout, shutdown)
        finally:
            # The client side ended (DELETE, idle timeout, shutdown): stop the child.
            if session.dead_reason is None:
                session.closing = True
                pumps.cancel_scope.cancel()

    async def _on_cancelled(self, session: _Session, message: JSONRPCNotification) -> None:
        request_id = (message.params or {}).get("requestId")
        if not isinstance(request_id, int | str):
            return
        entry = session.forget_request(request_id)
        if entry is not None and entry.metadata is not None:
            callback = entry.metadata.on_request_unanswered
            if callback is not None:
                # End the request's response stream now; a late answer from the child is dropped.
                await callback()

    async def _child_to_client(
        self,
        session: _Session,
        child_read: AsyncIterable[SessionMessage | Exception],
        http_write: _Sender,
        pumps: TaskGroup,
    ) -> None:
        try:
            await self._forward_child_messages(session, child_read, http_write)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            # The client side was terminated under us: an orderly close, not a crash.
            session.closing = True
            pumps.cancel_scope.cancel()
            return
        if not session.closing:
            await self._child_died(session, http_write, pumps)

    async def _forward_child_messages(
        self,
        session: _Session,
        child_read: AsyncIterable[SessionMessage | Exception],
        http_write: _Sender,
    ) -> None:
        async for item in child_read:
            if isinstance(item, Exception):
                self._metrics.errors.labels("invalid_child_output").inc()
                log.warning(
                    "child wrote a stdout line that is not JSON-RPC; skipped",
                    session=session.id[:12],
                    error=_first_line(item),
                )
                continue
            message = item.message
            if isinstance(message, JSONRPCResponse | JSONRPCError):
                if message.id is not None:
                    entry = session.forget_request(message.id)
                    if entry is None:
                        log.debug("dropping a response to no pending request", id=message.id)
                        continue
                    label = method_label(entry.method)
                    self._metrics.request_duration.labels(label).observe(
                        time.monotonic() - entry.started
                    )
                    if isinstance(message, JSONRPCError):
                        self._metrics.errors.labels("rpc_error").inc()
                await http_write.send(SessionMessage(message))
                continue
            related = None if self._cfg.json_response else _related_request(session, message)
            metadata = (
                ServerMessageMetadata(related_request_id=related) if related is not None else None
            )
            await http_write.send(SessionMessage(message, metadata=metadata))

    async def _child_died(self, session: _Session, http_write: _Sender, pumps: TaskGroup) -> None:
        reason = "the MCP server process for this session exited unexpectedly"
        session.dead_reason = reason
        session.end_reason = "child_exit"
        self._sessions.pop(session.id, None)
        self._remember_dead(session.id, reason)
        self._metrics.errors.labels("child_exit").inc()
        log.error("session child exited", session=session.id[:12], in_flight=len(session.in_flight))
        self._supervisor.report_failure(reason, role="session")
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            for request_id in list(session.in_flight):
                session.forget_request(request_id)
                self._metrics.errors.labels("aborted").inc()
                await http_write.send(_abort(request_id, reason))
        await session.wait_posts(_ABORT_FLUSH_SECONDS)
        pumps.cancel_scope.cancel()


def _abort(request_id: RequestId, reason: str) -> SessionMessage:
    error = ErrorData(
        code=INTERNAL_ERROR,
        message=f"Request aborted: {reason}. Start a new session.",
    )
    return SessionMessage(JSONRPCError(jsonrpc="2.0", id=request_id, error=error))


def _progress_token(params: dict[str, Any] | None) -> str | int | None:
    meta = (params or {}).get("_meta")
    token = meta.get("progressToken") if isinstance(meta, dict) else None
    return token if isinstance(token, str | int) else None


def _related_request(session: _Session, message: Any) -> RequestId | None:
    """Which client request a message from the child belongs to (for the response stream).

    Progress goes to the request that owns the token. Anything else the child says
    while requests are in flight (log messages, sampling or elicitation requests) goes
    to the most recent one, as a stdio server normally does it while handling that
    request; with nothing in flight it goes to the client's standalone GET stream.
    """
    if isinstance(message, JSONRPCNotification) and message.method == "notifications/progress":
        token = (message.params or {}).get("progressToken")
        if isinstance(token, str | int) and token in session.progress_tokens:
            return session.progress_tokens[token]
    if session.in_flight:
        return next(reversed(session.in_flight))
    return None


def _first_line(exc: Exception) -> str:
    """The informative line of a parse error (pydantic puts the input on the second line)."""
    lines = [line.strip() for line in str(exc).strip().splitlines()]
    detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)
    return detail[:300]
