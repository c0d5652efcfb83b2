"""`mcpops probe`: exit 0 only if an MCP server answers initialize and then ping.

    mcpops probe --url http://127.0.0.1:8080/mcp [--transport streamable-http|sse] [--timeout 3]

Runs as the exec readiness probe of MCP server pods, so start-up cost matters: this
module imports only the standard library at load time; the MCP SDK (the bulk of the
start-up time) is imported inside `check`. `--timeout` bounds the MCP conversation
(connect, initialize, ping, session close), not the interpreter's start-up.

Exit status: 0 ready, 1 not ready (one line on stderr says why), 2 usage error.
`check()` is the same test for in-process callers (the operator, the test runner).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx2

Transport = Literal["streamable-http", "sse"]
TRANSPORTS: tuple[Transport, ...] = ("streamable-http", "sse")


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    reason: str
    """"ok" or why not, in one line."""
    latency_ms: float
    """Wall time of the whole conversation (connect, initialize, ping, close)."""
    server_name: str | None = None
    server_version: str | None = None
    protocol_version: str | None = None


@dataclass
class _Trace:
    """What the conversation got as far as, for the failure reason."""

    stage: str = "connect"
    last_status: int | None = None
    last_content_type: str = ""


async def check(
    url: str,
    transport: Transport = "streamable-http",
    timeout: float = 3.0,  # noqa: ASYNC109 - the probe's contract; enforced inside
) -> ProbeResult:
    """Connect to `url`, initialize, ping, close; never raises for server-side failures."""
    import anyio
    from mcp.client.session import ClientSession
    from mcp.types import Implementation

    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {TRANSPORTS}, got {transport!r}")
    trace = _Trace()
    started = time.perf_counter()

    def elapsed_ms() -> float:
        return round((time.perf_counter() - started) * 1000, 1)

    try:
        with anyio.fail_after(timeout):
            async with (
                _open(url, transport, timeout, trace) as (read, write),
                ClientSession(
                    read,
                    write,
                    read_timeout_seconds=timeout,
                    client_info=Implementation(name="mcpops-probe", version=_version()),
                ) as session,
            ):
                trace.stage = "initialize"
                result = await session.initialize()
                trace.stage = "ping"
                await session.send_ping()
                trace.stage = "close"
    except Exception as exc:  # every failure becomes a reason; nothing escapes a probe
        return ProbeResult(False, _describe(exc, url, timeout, trace), elapsed_ms())
    info = result.server_info
    return ProbeResult(
        True,
        "ok",
        elapsed_ms(),
        server_name=info.name,
        server_version=info.version,
        protocol_version=result.protocol_version,
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mcpops")
    except PackageNotFoundError:
        return "unknown"


@asynccontextmanager
async def _open(
    url: str, transport: Transport, http_timeout: float, trace: _Trace
) -> AsyncIterator[tuple[Any, Any]]:
    import httpx2

    async def record(response: httpx2.Response) -> None:
        trace.last_status = response.status_code
        trace.last_content_type = response.headers.get("content-type", "")

    hooks: dict[str, list[Any]] = {"response": [record]}
    if transport == "sse":
        from mcp.client.sse import sse_client

        def factory(
            headers: dict[str, str] | None = None,
            timeout: httpx2.Timeout | None = None,
            auth: httpx2.Auth | None = None,
        ) -> httpx2.AsyncClient:
            return httpx2.AsyncClient(
                headers=headers, timeout=timeout, auth=auth, event_hooks=hooks
            )

        async with sse_client(
            url, timeout=http_timeout, sse_read_timeout=http_timeout, httpx_client_factory=factory
        ) as streams:
            yield streams
    else:
        from mcp.client.streamable_http import streamable_http_client

        async with (
            httpx2.AsyncClient(timeout=httpx2.Timeout(http_timeout), event_hooks=hooks) as http,
            streamable_http_client(url, http_client=http) as streams,
        ):
            yield streams


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _describe(exc: BaseException, url: str, timeout: float, trace: _Trace) -> str:
    """One line saying why the probe failed."""
    import httpx2
    from mcp.shared.exceptions import MCPError
    from pydantic import ValidationError

    where = urlsplit(url).netloc or url
    leaves = _leaves(exc)
    causes = [c for leaf in leaves for c in _chain(leaf)]
    waiting_for = {"connect": "a connection", "close": "the session to close"}.get(
        trace.stage, f"the {trace.stage} response"
    )

    if any(isinstance(c, TimeoutError | httpx2.TimeoutException) for c in causes):
        return f"timed out after {timeout:g}s waiting for {waiting_for} from {url}"
    for c in causes:
        if isinstance(c, ConnectionRefusedError):
            return f"connection refused: nothing is listening on {where}"
    for c in causes:
        if isinstance(c, httpx2.ConnectError | OSError) and not isinstance(c, TimeoutError):
            return f"cannot connect to {where}: {c}"
    for c in causes:
        if isinstance(c, httpx2.HTTPStatusError):
            return f"HTTP {c.response.status_code} from {url}: not an MCP endpoint"
    status, ctype = trace.last_status, trace.last_content_type.split(";")[0].strip()
    for c in causes:
        if isinstance(c, MCPError):
            if status is not None and status >= 400:
                return f"HTTP {status} from {url} during {trace.stage}: {c.error.message}"
            if "content type" in c.error.message.lower() or "parse" in c.error.message.lower():
                return (
                    f"not an MCP server: {trace.stage} got HTTP {status} "
                    f"with Content-Type {ctype or 'none'} from {url}"
                )
            return f"{trace.stage} failed: MCP error {c.error.code}: {c.error.message}"
    for c in causes:
        if isinstance(c, httpx2.SSEError):
            return f"not an MCP SSE endpoint: {c} (HTTP {status}, Content-Type {ctype or 'none'})"
        if isinstance(c, ValidationError):
            return f"not an MCP server: invalid {trace.stage} result from {url}"
    first = leaves[0]
    return f"{trace.stage} failed: {type(first).__name__}: {first}".splitlines()[0]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mcpops probe",
        description="Exit 0 only if an MCP initialize and then a ping succeed within the timeout.",
    )
    p.add_argument("--url", default="http://127.0.0.1:8080/mcp", help="(default %(default)s)")
    p.add_argument("--transport", choices=TRANSPORTS, default="streamable-http")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds (default %(default)s)")
    p.add_argument(
        "--log-level", default="critical", help="SDK/transport logs on stderr (default: none)"
    )
    return p


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    if not args.timeout > 0:
        print("mcpops probe: --timeout must be > 0", file=sys.stderr)
        return 2

    import anyio

    from mcpops_common import logs

    logs.configure(args.log_level)
    result = anyio.run(check, args.url, args.transport, args.timeout)
    if result.ok:
        name = f"{result.server_name} {result.server_version}".strip()
        print(f"ok: {name} (protocol {result.protocol_version}) in {result.latency_ms:.0f} ms")
        return 0
    print(f"mcpops probe: not ready: {result.reason}", file=sys.stderr)
    return 1
