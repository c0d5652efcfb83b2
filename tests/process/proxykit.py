"""Real processes for the proxy tests: the mcpops-proxy binary, SDK/npm/PyPI MCP servers.

Every wait polls a condition with a deadline; every process started is stopped (by its
own pid) when the test ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from ports import free_port
from toolpaths import REPO, makefile_env

SERVERS = REPO / "tests"
KEY = "a-session-key-every-replica-shares"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "proxy-test", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def proxy_bin() -> str:
    path = os.environ.get("MCPOPS_PROXY_BIN") or makefile_env().get("MCPOPS_PROXY_BIN", "")
    assert path and Path(path).exists(), f"mcpops-proxy not built at {path!r}: run `make proxy`"
    return path


def npm_dir() -> Path:
    path = os.environ.get("MCPOPS_NPM_DIR") or makefile_env().get("MCPOPS_NPM_DIR", "")
    assert path and (Path(path) / ".stamp").exists(), (
        f"npm tools missing at {path!r}: run `make npm-tools`"
    )
    return Path(path)


def wait_until(
    condition: Callable[[], bool], within: float, what: str, log: Path | None = None
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    tail = f"\nlog:\n{log.read_text(errors='replace')[-3000:]}" if log and log.exists() else ""
    raise AssertionError(f"timed out after {within}s waiting for {what}{tail}")


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    def status(self, path: str) -> int:
        try:
            return httpx.get(self.base + path, timeout=10).status_code
        except httpx.TransportError:
            return 0

    def json(self, path: str) -> Any:
        return httpx.get(self.base + path, timeout=10).json()

    def metric(self, name: str, labels: str = "") -> float:
        text = httpx.get(self.base + "/metrics", timeout=10).text
        pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else "") + r" (\S+)"
        match = re.search("^" + pattern + "$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def running(
    argv: list[str], port: int, log: Path, env: dict[str, str] | None = None
) -> Iterator[Proc]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=SERVERS,
        )
    p = Proc(proc, port, log)
    try:
        yield p
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)  # a test may have stopped it
        p.stop()


@contextlib.contextmanager
def era_server(tmp: Path, era: str = "both", *extra: str, name: str = "server") -> Iterator[Proc]:
    """The SDK test server (tests/servers/era_server.py), listening before it is yielded."""
    port = free_port()
    argv = [sys.executable, "-m", "servers.era_server", "--port", str(port), "--era", era, *extra]
    with running(argv, port, tmp / f"{name}.log") as p:
        wait_until(
            lambda: listening(port) or p.proc.poll() is not None, 60, f"{name} to listen", p.log
        )
        assert p.proc.poll() is None, p.log.read_text()
        yield p


@contextlib.contextmanager
def everything_server(tmp: Path) -> Iterator[Proc]:
    """@modelcontextprotocol/server-everything over Streamable HTTP (pinned in hack/npm)."""
    port = free_port()
    entry = npm_dir() / "node_modules/@modelcontextprotocol/server-everything/dist/index.js"
    with running(
        ["node", str(entry), "streamableHttp"], port, tmp / "everything.log", {"PORT": str(port)}
    ) as p:
        wait_until(lambda: listening(port), 60, "server-everything to listen", p.log)
        yield p


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def proxy(
    tmp: Path,
    *args: str,
    upstream: Proc | None = None,
    name: str = "proxy",
    ready: bool = True,
    env: dict[str, str] | None = None,
) -> Iterator[Proc]:
    """mcpops-proxy in front of upstream (or with its own args, e.g. stdio); waits for /readyz."""
    port = free_port()
    argv = [proxy_bin(), "--listen", f"127.0.0.1:{port}", "--drain-delay", "0"]
    if upstream is not None:
        argv += ["--upstream", upstream.url]
    with running(
        [*argv, *args], port, tmp / f"{name}.log", {"MCPOPS_SESSION_KEY": KEY, **(env or {})}
    ) as p:
        wait_until(
            lambda: listening(port) or p.proc.poll() is not None, 30, f"{name} to listen", p.log
        )
        assert p.proc.poll() is None, p.log.read_text()
        if ready:
            wait_until(lambda: p.status("/readyz") == 200, 60, f"{name} to be ready", p.log)
        yield p


def post(
    url: str, body: dict[str, Any], session: str = "", timeout: float = 30, **headers: str
) -> httpx.Response:
    h = dict(ACCEPT, **headers)
    if session:
        h["Mcp-Session-Id"] = session
    return httpx.post(url, json=body, headers=h, timeout=timeout)


def answer(resp: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC answer of a response, JSON or SSE."""
    if resp.headers.get("content-type", "").startswith("text/event-stream"):
        for line in resp.text.splitlines():
            if line.startswith("data: "):
                msg = json.loads(line[6:])
                if "result" in msg or "error" in msg:
                    return dict(msg)
        raise AssertionError(f"no answer in {resp.text!r}")
    return dict(resp.json())


def open_session(url: str) -> str:
    resp = post(url, INIT)
    assert resp.status_code == 200, resp.text
    sid = resp.headers["mcp-session-id"]
    assert (
        post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid).status_code == 202
    )
    return sid


def call(
    url: str, session: str, tool: str, arguments: dict[str, Any] | None = None
) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments or {}},
    }
    return post(url, body, session)


def tool_json(resp: httpx.Response) -> Any:
    msg = answer(resp)
    assert "result" in msg, msg
    result = msg["result"]
    if "structuredContent" in result:
        return result["structuredContent"].get("result", result["structuredContent"])
    return json.loads(result["content"][0]["text"])
