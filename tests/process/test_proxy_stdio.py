"""mcpops-proxy --transport stdio: the bridge in front of real stdio MCP servers.

Servers: mcp-server-time (PyPI) and the SDK test server in stdio mode (whoami gives the
pid, so a test sees which process served it).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
from mcp import Client
from process.proxykit import call, open_session, proxy, tool_json, wait_until

pytestmark = [pytest.mark.process, pytest.mark.timeout(180)]

TIME_SERVER = [sys.executable, "-m", "mcp_server_time"]
ERA_STDIO = [sys.executable, "-m", "servers.era_server", "--stdio"]


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


async def test_time_server_both_eras(tmp_path: Path) -> None:
    with proxy(tmp_path, "--transport", "stdio", "--", *TIME_SERVER) as px:
        info = px.json("/mcpops/info")
        assert info["transport"] == "stdio"
        assert (
            info["protocolVersion"] == "2026-07-28"
        )  # mcp-server-time is built on the dual-era SDK
        async with Client(px.url, mode="legacy") as client:
            assert client.server_info is not None and client.server_info.name == "mcp-time"
            result = await client.call_tool("get_current_time", {"timezone": "Europe/Paris"})
            assert "Europe/Paris" in result.content[0].text  # type: ignore[union-attr]
            assert px.json("/mcpops/info")["sessions"] == 1
        async with Client(px.url) as client:  # 2026-07-28: stateless, the control child serves it
            assert client.protocol_version == "2026-07-28"
            result = await client.call_tool("get_current_time", {"timezone": "Asia/Tokyo"})
            assert "Asia/Tokyo" in result.content[0].text  # type: ignore[union-attr]
        assert (
            px.metric(
                "mcpops_proxy_tool_calls_total",
                'tool="get_current_time",outcome="ok",caller_class="anonymous"',
            )
            == 2
        )


def test_each_session_has_its_own_process_and_warm_start_is_fast(tmp_path: Path) -> None:
    with proxy(tmp_path, "--transport", "stdio", "--warm", "2", "--", *ERA_STDIO) as px:
        wait_until(
            lambda: px.metric("mcpops_proxy_stdio_children", 'role="warm"') == 2, 60, "a warm pool"
        )
        started = time.monotonic()
        first = open_session(px.url)
        between = time.monotonic()
        second = open_session(px.url)
        # Both from the warm pool: the faster of the two, so that one scheduling hiccup on a
        # loaded machine is not read as a cold start.
        opened = min(between - started, time.monotonic() - between)
        pid_a = tool_json(call(px.url, first, "whoami"))["pid"]
        pid_b = tool_json(call(px.url, second, "whoami"))["pid"]
        assert pid_a != pid_b
        assert {pid_a, pid_b} <= set(children(px.proc.pid))
        # A Python server takes over a second to start; a warm child answers at once.
        assert opened < 0.5, f"session open took {opened:.3f}s"
        assert px.metric("mcpops_proxy_stdio_session_start_seconds_count", 'pool="warm"') == 2
        assert (
            httpx.delete(px.url, headers={"Mcp-Session-Id": first}, timeout=10).status_code == 200
        )
        wait_until(lambda: pid_a not in children(px.proc.pid), 10, "the session's process to stop")
        assert call(px.url, first, "whoami").status_code == 404


def test_progress_streams_and_disconnect_cancels(tmp_path: Path) -> None:
    marker = tmp_path / "cancelled"
    with proxy(tmp_path, "--transport", "stdio", "--", *ERA_STDIO) as px:
        sid = open_session(px.url)
        body = {
            "jsonrpc": "2.0",
            "id": "p-1",
            "method": "tools/call",
            "params": {
                "name": "progress",
                "arguments": {"steps": 3, "interval": 0.6},
                "_meta": {"progressToken": 5},
            },
        }
        headers = {"Accept": "application/json, text/event-stream", "Mcp-Session-Id": sid}
        arrivals = []
        start = time.monotonic()
        with httpx.stream("POST", px.url, json=body, headers=headers, timeout=30) as resp:
            for line in resp.iter_lines():
                if line.startswith("data: "):
                    arrivals.append((time.monotonic() - start, json.loads(line[6:])))
        assert [m.get("method", "answer") for _, m in arrivals] == [
            "notifications/progress",
            "notifications/progress",
            "notifications/progress",
            "answer",
        ]
        assert arrivals[-1][1]["id"] == "p-1"  # the client's own id comes back
        assert arrivals[-1][0] - arrivals[0][0] > 1.2

        wait = {"jsonrpc": "2.0", "id": 9, "method": "tools/call"}
        wait["params"] = {"name": "wait_cancel", "arguments": {"marker": str(marker)}}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(px.url, json=wait, headers=headers, timeout=1.0)
        wait_until(marker.exists, 15, "the server's call to be cancelled", px.log)


def test_hung_server_fails_liveness(tmp_path: Path) -> None:
    with proxy(
        tmp_path, "--transport", "stdio", "--warm", "0", "--live-timeout", "1s", "--", *ERA_STDIO
    ) as px:
        assert px.status("/livez") == 200
        kids = children(px.proc.pid)
        assert kids
        for pid in kids:
            os.kill(pid, signal.SIGSTOP)
        try:
            live = httpx.get(px.base + "/livez", timeout=10)
            assert live.status_code == 503
            assert "hung" in live.json()["reason"]
        finally:
            for pid in kids:
                os.kill(pid, signal.SIGCONT)
        wait_until(lambda: px.status("/livez") == 200, 30, "liveness after SIGCONT", px.log)


def test_stdio_sessions_follow_their_owner(tmp_path: Path) -> None:
    with (
        proxy(tmp_path, "--transport", "stdio", "--", *ERA_STDIO, name="bridge-a") as a,
        proxy(tmp_path, "--transport", "stdio", "--", *ERA_STDIO, name="bridge-b") as b,
    ):
        sid = open_session(a.url)
        pid = tool_json(call(a.url, sid, "whoami"))["pid"]
        assert pid in children(a.proc.pid)
        assert tool_json(call(b.url, sid, "whoami"))["pid"] == pid
        a.stop(signal.SIGKILL)
        assert call(b.url, sid, "whoami").status_code == 404
        # Killed outright, the proxy leaves no server behind (stdin closes; Pdeathsig
        # covers servers that ignore that).
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), 10, "the orphaned server to exit")
