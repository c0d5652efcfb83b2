"""mcpops-proxy in front of real Streamable HTTP MCP servers.

Servers: the `mcp` SDK (tests/servers/era_server.py: 2026-07-28 only, 2025-11-25 only, or
both) and @modelcontextprotocol/server-everything from npm. Clients: the SDK's `Client`
and plain HTTP where the test needs the wire (session ids, SSE timing, status codes).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from mcp import Client
from process.proxykit import (
    INIT,
    answer,
    call,
    era_server,
    everything_server,
    open_session,
    post,
    proxy,
    tool_json,
    wait_until,
)
from toolpaths import require_tool

pytestmark = [pytest.mark.process, pytest.mark.timeout(180)]


@pytest.mark.parametrize(
    ("era", "version"),
    [("both", "2026-07-28"), ("modern", "2026-07-28"), ("legacy", "2025-11-25")],
)
async def test_classifies_each_era_and_serves_it(tmp_path: Path, era: str, version: str) -> None:
    with era_server(tmp_path, era) as server, proxy(tmp_path, upstream=server) as px:
        info = px.json("/mcpops/info")
        assert info["protocolVersion"] == version
        assert info["transport"] == "http"
        assert px.json("/readyz")["ready"] is True
        mode = "legacy" if era == "legacy" else "auto"
        async with Client(px.url, mode=mode) as client:
            assert client.protocol_version == version
            result = await client.call_tool("echo", {"text": "through the proxy"})
            assert "through the proxy" in result.content[0].text  # type: ignore[union-attr]
        assert (
            px.metric(
                "mcpops_proxy_tool_calls_total", 'tool="echo",outcome="ok",caller_class="anonymous"'
            )
            == 1
        )
        assert px.metric("mcpops_proxy_protocol_info", f'version="{version}"') == 1


async def test_server_everything_from_npm(tmp_path: Path) -> None:
    with everything_server(tmp_path) as server, proxy(tmp_path, upstream=server) as px:
        assert px.json("/mcpops/info")["protocolVersion"] == "2025-11-25"
        async with Client(px.url, mode="legacy") as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert "echo" in tools
            result = await client.call_tool("echo", {"message": "hi"})
            assert "hi" in result.content[0].text  # type: ignore[union-attr]
        assert (
            px.metric(
                "mcpops_proxy_tool_calls_total", 'tool="echo",outcome="ok",caller_class="anonymous"'
            )
            == 1
        )


def test_slow_server_is_unready_but_live_hung_server_is_not_live(tmp_path: Path) -> None:
    # Each MCP request takes 0.4 s: a full readiness exchange (3-4 requests) exceeds the
    # 1 s ready timeout, the one-request liveness check does not.
    with (
        era_server(tmp_path, "legacy", "--delay", "0.4") as server,
        proxy(
            tmp_path,
            "--ready-timeout",
            "1s",
            "--live-timeout",
            "1s",
            "--check-ttl",
            "0",
            upstream=server,
            ready=False,
        ) as px,
    ):
        wait_until(lambda: px.status("/livez") == 200, 30, "liveness", px.log)
        ready = httpx.get(px.base + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert "no answer in time" in ready.json()["reason"]
        assert px.status("/livez") == 200

        os.kill(server.proc.pid, signal.SIGSTOP)  # hung: the process is there, nothing answers
        try:
            live = httpx.get(px.base + "/livez", timeout=10)
            assert live.status_code == 503
            assert "hung" in live.json()["reason"]
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        wait_until(lambda: px.status("/livez") == 200, 30, "liveness again after SIGCONT", px.log)


def test_inconclusive_answers_are_not_old(tmp_path: Path) -> None:
    """A server behind auth (401) is not classified at all, rather than wrongly as old."""
    import http.server
    import threading

    class Unauthorized(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(401)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unauthorized)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        port = srv.server_address[1]
        with proxy(tmp_path, "--upstream", f"http://127.0.0.1:{port}/mcp", ready=False) as px:
            ready = httpx.get(px.base + "/readyz", timeout=10).json()
            assert ready["ready"] is False
            assert "HTTP 401" in ready["reason"]
            assert px.json("/mcpops/info")["protocolVersion"] == ""
            assert px.status("/livez") == 200  # it answers: alive
    finally:
        srv.shutdown()


def test_sessions_follow_their_owner_across_replicas(tmp_path: Path) -> None:
    with (
        era_server(tmp_path, "both", name="server-a") as server_a,
        era_server(tmp_path, "both", name="server-b") as server_b,
        proxy(tmp_path, upstream=server_a, name="proxy-a") as proxy_a,
        proxy(tmp_path, upstream=server_b, name="proxy-b") as proxy_b,
    ):
        sid = open_session(proxy_a.url)
        assert sid.startswith("m1.")
        # Through the wrong replica: served by the owner's server.
        assert tool_json(call(proxy_b.url, sid, "whoami"))["port"] == server_a.port
        assert tool_json(call(proxy_a.url, sid, "whoami"))["port"] == server_a.port
        assert proxy_a.json("/mcpops/info")["sessions"] == 1
        assert proxy_b.json("/mcpops/info")["sessions"] == 0
        assert proxy_b.metric("mcpops_proxy_forwards_total", 'result="ok"') == 1

        # A forged id (owner swapped, signature kept) is refused.
        parts = sid.split(".", 3)
        forged = ".".join([parts[0], parts[1][:-2] + "AA", parts[2], parts[3]])
        assert call(proxy_b.url, forged, "whoami").status_code == 404
        # The server's own id, bypassing the proxy's: refused too.
        assert call(proxy_b.url, parts[3], "whoami").status_code == 404

        # The owner goes away (pod deleted): 404 at once, then a new session works.
        proxy_a.stop(signal.SIGKILL)
        started = time.monotonic()
        gone = call(proxy_b.url, sid, "whoami")
        assert gone.status_code == 404
        assert time.monotonic() - started < 3
        new = open_session(proxy_b.url)
        assert tool_json(call(proxy_b.url, new, "whoami"))["port"] == server_b.port


async def test_sdk_client_session_through_another_replica(tmp_path: Path) -> None:
    """The SDK client's whole session works when every request after the first lands
    on the other replica (a Service spreading requests)."""
    with (
        era_server(tmp_path, "legacy", name="server-a") as server_a,
        era_server(tmp_path, "legacy", name="server-b") as server_b,
        proxy(tmp_path, upstream=server_a, name="proxy-a") as proxy_a,
        proxy(tmp_path, upstream=server_b, name="proxy-b") as proxy_b,
    ):
        urls = iter([proxy_a.url])

        async def pick(request: httpx.Request) -> None:
            target = next(urls, proxy_b.url)  # first request to a, all others to b
            request.url = httpx.URL(target)

        http = httpx.AsyncClient(event_hooks={"request": [pick]}, timeout=30)
        from mcp.client.streamable_http import streamable_http_client

        async with (
            http,
            Client(streamable_http_client(proxy_a.url, http_client=http), mode="legacy") as client,
        ):
            result = await client.call_tool("whoami", {})
            assert json.loads(result.content[0].text)["port"] == server_a.port  # type: ignore[union-attr]
        assert proxy_b.metric("mcpops_proxy_forwards_total", 'result="ok"') >= 2
        del server_b


def test_progress_is_streamed_as_it_happens(tmp_path: Path) -> None:
    with era_server(tmp_path, "both") as server, proxy(tmp_path, upstream=server) as px:
        sid = open_session(px.url)
        body = {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {
                "name": "progress",
                "arguments": {"steps": 3, "interval": 0.6},
                "_meta": {"progressToken": "p"},
            },
        }
        arrivals: list[tuple[float, str]] = []
        start = time.monotonic()
        headers = {"Accept": "application/json, text/event-stream", "Mcp-Session-Id": sid}
        with httpx.stream("POST", px.url, json=body, headers=headers, timeout=30) as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            for line in resp.iter_lines():
                if line.startswith("data: "):
                    kind = "progress" if "notifications/progress" in line else "answer"
                    arrivals.append((time.monotonic() - start, kind))
        kinds = [k for _, k in arrivals]
        assert kinds == ["progress", "progress", "progress", "answer"], arrivals
        # The first progress event arrived long before the answer: nothing was buffered.
        assert arrivals[-1][0] - arrivals[0][0] > 1.2, arrivals


def test_body_over_the_limit_is_413(tmp_path: Path) -> None:
    with (
        era_server(tmp_path, "both") as server,
        proxy(tmp_path, "--max-body", "2048", upstream=server) as px,
    ):
        sid = open_session(px.url)
        big = call(px.url, sid, "echo", {"text": "x" * 5000})
        assert big.status_code == 413
        assert px.metric("mcpops_proxy_body_too_large_total") == 1
        small = call(px.url, sid, "echo", {"text": "x" * 100})
        assert small.status_code == 200


def test_client_disconnect_cancels_the_server_call(tmp_path: Path) -> None:
    marker = tmp_path / "cancelled"
    with era_server(tmp_path, "both") as server, proxy(tmp_path, upstream=server) as px:
        meta = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "wait_cancel", "arguments": {"marker": str(marker)}, "_meta": meta},
        }
        headers = {
            "Mcp-Protocol-Version": "2026-07-28",
            "Mcp-Method": "tools/call",
            "Mcp-Name": "wait_cancel",
        }
        with pytest.raises(httpx.ReadTimeout):  # the client gives up after 1 s and disconnects
            post(px.url, body, timeout=1.0, **headers)
        wait_until(marker.exists, 15, "the server's call to be cancelled", server.log)


def test_get_stream_and_delete_pass_through(tmp_path: Path) -> None:
    with everything_server(tmp_path) as server, proxy(tmp_path, upstream=server) as px:
        sid = open_session(px.url)
        headers = {"Accept": "text/event-stream", "Mcp-Session-Id": sid}
        with httpx.stream("GET", px.url, headers=headers, timeout=10) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
        assert px.json("/mcpops/info")["sessions"] == 1
        deleted = httpx.delete(px.url, headers={"Mcp-Session-Id": sid}, timeout=10)
        assert deleted.status_code == 200
        assert px.json("/mcpops/info")["sessions"] == 0
        # The ended session is refused by the server (server-everything says 400).
        assert call(px.url, sid, "echo", {"message": "x"}).status_code in (400, 404)


def test_drain_keeps_open_sessions_refuses_new(tmp_path: Path) -> None:
    with era_server(tmp_path, "legacy") as server, proxy(tmp_path, upstream=server) as px:
        sid = open_session(px.url)
        px.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: px.json("/mcpops/info")["draining"], 10, "draining", px.log)
        assert px.status("/readyz") == 503
        assert post(px.url, INIT).status_code == 503
        assert answer(call(px.url, sid, "echo", {"text": "still here"}))["result"]
        assert px.proc.poll() is None  # still serving the open session
        assert httpx.delete(px.url, headers={"Mcp-Session-Id": sid}, timeout=10).status_code == 200
        wait_until(
            lambda: px.proc.poll() is not None, 10, "exit once the last session closed", px.log
        )
        assert px.proc.returncode == 0


def test_metrics_pass_promtool(tmp_path: Path) -> None:
    promtool = require_tool("MCPOPS_PROMTOOL", "promtool")
    with era_server(tmp_path, "both") as server, proxy(tmp_path, upstream=server) as px:
        sid = open_session(px.url)
        call(px.url, sid, "echo", {"text": "x"})
        call(px.url, sid, "no-such-tool")
        px.status("/livez")
        text = httpx.get(px.base + "/metrics", timeout=10).text
    series = 'tool="no-such-tool",outcome="error",caller_class="anonymous"'
    assert f"mcpops_proxy_tool_calls_total{{{series}}} 1" in text
    res = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_blue_green_switch_keeps_open_sessions_on_blue(tmp_path: Path) -> None:
    """After the switch the Service sends everything to green: green's proxy forwards an
    open blue session to blue, which drains (no new sessions) until that session ends."""
    with (
        era_server(tmp_path, "legacy", name="server-blue") as blue_server,
        era_server(tmp_path, "legacy", name="server-green") as green_server,
        proxy(tmp_path, upstream=blue_server, name="blue", env={"MCPOPS_REVISION": "blue"}) as blue,
        proxy(
            tmp_path, upstream=green_server, name="green", env={"MCPOPS_REVISION": "green"}
        ) as green,
    ):
        sid = open_session(blue.url)  # opened before the switch
        assert blue.json("/mcpops/info")["revision"] == "blue"

        blue.proc.send_signal(signal.SIGTERM)  # the switch: blue drains
        wait_until(lambda: blue.json("/mcpops/info")["draining"], 10, "blue draining", blue.log)
        # Every request now reaches green; the open session still runs on blue.
        for _ in range(3):
            assert tool_json(call(green.url, sid, "whoami"))["port"] == blue_server.port
        new = open_session(green.url)
        assert tool_json(call(green.url, new, "whoami"))["port"] == green_server.port
        assert blue.json("/mcpops/info")["sessions"] == 1  # what the drain step waits on
        assert green.json("/mcpops/info")["sessions"] == 1

        # The session ends (the client's DELETE, through green): blue has nothing left.
        assert (
            httpx.delete(green.url, headers={"Mcp-Session-Id": sid}, timeout=10).status_code == 200
        )
        wait_until(lambda: blue.proc.poll() is not None, 10, "blue to exit once drained", blue.log)
        assert blue.proc.returncode == 0
        assert call(green.url, sid, "whoami").status_code == 404  # gone with blue
