"""A real MCP server (the `mcp` SDK) over Streamable HTTP, for the proxy's process tests.

    python -m servers.era_server --port 8080 --era both|modern|legacy [--delay 0.3]
    python -m servers.era_server --stdio

`--era` picks which protocol revisions it answers: `both` is the SDK as is (2025-11-25
with sessions and the stateless 2026-07-28); `legacy` answers like a server from before
2026-07-28 (a request without a session other than `initialize` is a 400, as older SDKs
said); `modern` refuses the `initialize` handshake. `--delay` makes every MCP request
slow (a slow server, for readiness), and SIGSTOP makes it hang (for liveness).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MODERN = "2026-07-28"

server = MCPServer("era-server", version="1.0.0")


@server.tool()
def echo(text: str) -> str:
    return text


@server.tool()
def whoami() -> dict[str, Any]:
    """Which replica answered: the proxy tests check where a session landed."""
    return {"pid": os.getpid(), "port": int(os.environ.get("ERA_PORT", "0"))}


@server.tool()
async def slow(seconds: float) -> str:
    await anyio.sleep(seconds)
    return "done"


@server.tool()
async def wait_cancel(marker: str) -> str:
    """Sleeps until cancelled, then writes `marker`: proves a client's disconnect reached it."""
    try:
        await anyio.sleep(3600)
    except anyio.get_cancelled_exc_class():
        # Synchronous on purpose: an await inside a cancelled scope would be cancelled too.
        Path(marker).write_text("cancelled")  # noqa: ASYNC240
        raise
    return "not cancelled"


@server.tool()
async def progress(steps: int, interval: float, ctx: Context) -> str:
    """Reports progress every `interval` seconds: the proxy must stream it as it comes."""
    for step in range(steps):
        await ctx.report_progress(step + 1, steps, f"step {step + 1}")
        await anyio.sleep(interval)
    return "finished"


def _error(status: int, code: int, message: str) -> tuple[int, bytes]:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
    return status, json.dumps(body).encode()


class EraGate:
    """Makes the dual-era SDK server answer like a single-era one, plus an optional delay."""

    def __init__(self, app: ASGIApp, era: str, delay: float, record: str = "") -> None:
        self.app, self.era, self.delay, self.record = app, era, delay, record

    def _record(self, scope: Scope, body: bytes) -> None:
        if not self.record or scope["type"] != "http":
            return
        line = {
            "method": scope["method"],
            "headers": {
                k.decode().lower(): v.decode(errors="replace") for k, v in scope["headers"]
            },
            "body": body.decode(errors="replace"),
        }
        with open(self.record, "a") as out:
            out.write(json.dumps(line) + "\n")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            self._record(scope, b"")
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        self._record(scope, body)
        if self.delay:
            await anyio.sleep(self.delay)
        refusal = self._refusal(scope, body)
        if refusal is not None:
            status, payload = refusal
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": payload})
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _refusal(self, scope: Scope, body: bytes) -> tuple[int, bytes] | None:
        try:
            msg = json.loads(body)
        except ValueError:
            return None
        if not isinstance(msg, dict):
            return None
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        method = msg.get("method")
        if self.era == "legacy" and "mcp-session-id" not in headers and method != "initialize":
            return _error(400, -32600, "Bad Request: Missing session ID")
        if self.era == "modern" and method == "initialize":
            return _error(
                400, -32601, f"Method not found: initialize (this server speaks {MODERN})"
            )
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stdio", action="store_true", help="serve on stdin/stdout instead")
    parser.add_argument("--era", choices=["both", "modern", "legacy"], default="both")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--json-response", action="store_true")
    parser.add_argument("--record", default="", help="append every request received to FILE")
    args = parser.parse_args()
    if args.stdio:
        server.run("stdio")
        return
    os.environ["ERA_PORT"] = str(args.port)
    app = server.streamable_http_app(json_response=args.json_response, host=args.host)
    uvicorn.run(
        EraGate(app, args.era, args.delay, args.record),
        host=args.host,
        port=args.port,
        log_level="warning",
        lifespan="on",
    )


if __name__ == "__main__":
    main()
