"""`mcpops bridge`: serve a stdio MCP server over Streamable HTTP.

    mcpops bridge [--port 8080] [--path /mcp] [options] -- uvx mcp-server-time

Model: one child process per client session (stdio servers are written for one
client; separate processes keep sessions from seeing each other's state or
crashes), capped by --max-sessions and reaped after --session-idle-timeout, plus
one long-lived *health child* that /readyz pings through the MCP SDK. A child
that dies ends its session with a clear error; the health child is then
restarted with exponential backoff, and until it answers initialize and ping
again the bridge is unready and refuses new sessions (HTTP 503, Retry-After).

Endpoints (same port unless --metrics-port): the MCP path, /healthz (liveness),
/readyz (readiness, end to end), /metrics (Prometheus).
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str]) -> int:
    from mcpops.inpod.bridge.config import parse_args

    cfg = parse_args(argv)

    import asyncio

    from mcpops_common import logs

    logs.configure(cfg.log_level)
    _quiet_sdk_logs(cfg.log_level)

    from mcpops.inpod.bridge.server import serve

    return asyncio.run(serve(cfg))


class _DropStdioParseErrors:
    """The SDK logs each non-JSON child line with a traceback; the bridge logs one line itself."""

    def filter(self, record: object) -> bool:
        return getattr(record, "msg", None) != "Failed to parse JSONRPC message from server"


def _quiet_sdk_logs(level: str) -> None:
    import logging

    logging.getLogger("mcp.client.stdio").addFilter(_DropStdioParseErrors())
    if level.upper() != "DEBUG":
        # Per-session chatter ("Terminating session ...") duplicates the bridge's own lines.
        logging.getLogger("mcp.server.streamable_http").setLevel(logging.WARNING)
