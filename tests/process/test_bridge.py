"""The stdio bridge as a real process, serving real stdio MCP servers to the SDK's client.

Every bridge here is `python -m mcpops.cli bridge ... -- <stdio server>` on 127.0.0.1
and a free port; clients are the MCP SDK's `Client`. Waits poll a condition with a
deadline.
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
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

pytestmark = [pytest.mark.process, pytest.mark.timeout(120)]

TIME_SERVER = [sys.executable, "-m", "mcp_server_time"]
MIB = 1024 * 1024
SHARED_PIDS: set[int] = set()  # module-scoped bridges, alive across tests on purpose

# A small stdio MCP server that misbehaves on stdout: junk before the first message
# and between messages. It passes its own stdout to the SDK (so fd 1 stays the wire
# and its prints really reach the bridge).
JUNK_SERVER = textwrap.dedent(
    """
    import os, sys
    import anyio
    from mcp.server.mcpserver import MCPServer
    from mcp.server.stdio import stdio_server

    sys.stdout.reconfigure(encoding="utf-8")
    print("junk before the first message: server starting", flush=True)
    sys.stdout.write("{not json either\\n")
    sys.stdout.buffer.write(b"\\xff\\xfe undecodable bytes\\n")
    sys.stdout.flush()

    server = MCPServer("junk-server", version="9.9.9")

    @server.tool()
    def echo(text: str) -> str:
        print("junk between messages", flush=True)
        return text

    @server.tool()
    def big(size: int) -> str:
        return "x" * size

    @server.tool()
    async def slow(seconds: float) -> str:
        await anyio.sleep(seconds)
        return "done"

    @server.tool()
    def whoami() -> dict:
        return {"pid": os.getpid(), "cwd": os.getcwd(), "greeting": os.environ.get("GREETING")}

    async def main():
        async with stdio_server(stdout=anyio.wrap_file(sys.stdout)) as (read, write):
            low = server._lowlevel_server
            await low.run(read, write, low.create_initialization_options())

    anyio.run(main)
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may contain spaces, so split after ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Bridge:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


async def wait_for(
    condition: Callable[[], Awaitable[bool]],
    within: float,
    what: str,
    bridge: Bridge | None = None,
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await condition():
            return
        await anyio.sleep(0.05)
    tail = f"\nbridge log:\n{bridge.log_tail()}" if bridge else ""
    raise AssertionError(f"timed out after {within}s waiting for {what}{tail}")


async def ready_status(bridge: Bridge) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        try:
            return (await http.get(f"{bridge.base}/readyz")).status_code
        except httpx.TransportError:
            return 0


async def metric(bridge: Bridge, name: str, labels: str = "") -> float:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{bridge.base}/metrics")).text
    pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else "") + r" (\S+)"
    match = re.search(r"^" + pattern + "$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def start_bridge_process(port: int, log: Path, args: list[str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "mcpops.cli", "bridge", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        return subprocess.Popen([*cmd, *args], stdout=out, stderr=subprocess.STDOUT)


@contextlib.contextmanager
def run_bridge(
    tmp_path: Path, command: list[str], *options: str, name: str = "bridge"
) -> Iterator[Bridge]:
    """A bridge process, ready (readiness polled with a deadline), stopped afterwards."""
    port = free_port()
    log = tmp_path / f"{name}.log"
    proc = start_bridge_process(port, log, [*options, "--", *command])
    bridge = Bridge(proc, port, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"bridge exited early:\n{bridge.log_tail()}"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{bridge.base}/readyz", timeout=10).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"bridge not ready after 60s:\n{bridge.log_tail()}")
            time.sleep(0.05)
        yield bridge
    finally:
        leftovers = children_of(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in leftovers:  # a child a broken bridge left behind (own process group)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def write_junk_server(directory: Path) -> list[str]:
    script = directory / "junk_server.py"
    script.write_text(JUNK_SERVER)
    return [sys.executable, str(script)]


@pytest.fixture
def junk_server(tmp_path: Path) -> list[str]:
    return write_junk_server(tmp_path)


@pytest.fixture(scope="module")
def junk_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    """One bridge for the tests that do not break it: junk server, --env and --cwd."""
    tmp = tmp_path_factory.mktemp("junk")
    workdir = tmp / "work"
    workdir.mkdir()
    options = ("--env", "GREETING=hello there", "--cwd", str(workdir))
    with run_bridge(tmp, write_junk_server(tmp), *options, name="junk") as bridge:
        SHARED_PIDS.add(bridge.proc.pid)
        yield bridge


def mcp_error_in(exc: BaseException) -> MCPError | None:
    """The MCPError inside an exception (group), as the SDK client raises them from __aenter__."""
    if isinstance(exc, MCPError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := mcp_error_in(inner)) is not None:
                return found
    return None


def text_of(result: Any) -> str:
    assert not result.is_error, result
    return str(result.content[0].text)


async def whoami(client: Client) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(text_of(await client.call_tool("whoami", {})))
    return info


# -- a real server from PyPI ---------------------------------------------------------


async def test_time_server_tools_listed_and_called(tmp_path: Path) -> None:
    with run_bridge(tmp_path, TIME_SERVER) as bridge:
        async with Client(bridge.url) as client:
            assert client.server_info is not None
            assert client.server_info.name == "mcp-time"
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert {"get_current_time", "convert_time"} <= tools
            result = await client.call_tool("get_current_time", {"timezone": "Europe/Paris"})
            assert "Europe/Paris" in text_of(result)
            bad = await client.call_tool("get_current_time", {"timezone": "Not/AZone"})
            assert bad.is_error

        assert await metric(bridge, "mcpops_bridge_requests_total", 'method="tools/call"') == 2
        assert await metric(bridge, "mcpops_bridge_sessions_total") == 1
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{bridge.base}/healthz")).status_code == 200
            body = (await http.get(f"{bridge.base}/readyz")).json()
        assert body["ready"] is True
        assert body["server"]["name"] == "mcp-time"


async def test_twenty_concurrent_sessions(tmp_path: Path) -> None:
    sessions = 20
    with run_bridge(tmp_path, TIME_SERVER, "--max-sessions", "21") as bridge:
        all_open = anyio.Event()
        opened = 0
        results: dict[int, str] = {}
        peak_children = 0

        async def one(i: int) -> None:
            nonlocal opened
            async with Client(bridge.url) as client:
                opened += 1
                if opened == sessions:
                    all_open.set()
                await all_open.wait()  # every session is open at the same time
                zone = ["UTC", "Asia/Tokyo", "America/New_York", "Europe/Paris"][i % 4]
                result = await client.call_tool("get_current_time", {"timezone": zone})
                results[i] = text_of(result)
                assert zone in results[i]

        async def watch() -> None:
            nonlocal peak_children
            await all_open.wait()
            async with httpx.AsyncClient() as http:
                body = (await http.get(f"{bridge.base}/readyz")).json()
            assert body["sessions"] == sessions
            peak_children = len(children_of(bridge.proc.pid))

        with anyio.fail_after(90):
            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                for i in range(sessions):
                    tg.start_soon(one, i)

        assert len(results) == sessions
        # One child per session plus the health child.
        assert peak_children == sessions + 1
        assert await metric(bridge, "mcpops_bridge_sessions_total") == sessions

        async def all_closed() -> bool:
            return await metric(bridge, "mcpops_bridge_sessions_active") == 0

        await wait_for(all_closed, 20, "the sessions to close", bridge)

        async def children_stopped() -> bool:
            return len([p for p in children_of(bridge.proc.pid) if alive(p)]) == 1

        await wait_for(children_stopped, 20, "the session children to stop", bridge)


# -- a child that crashes ----------------------------------------------------------


async def test_child_killed_mid_session(tmp_path: Path, junk_server: list[str]) -> None:
    with run_bridge(tmp_path, junk_server, "--restart-backoff-initial", "1", name="kill") as bridge:
        async with Client(bridge.url) as client:
            child = (await whoami(client))["pid"]
            assert child in children_of(bridge.proc.pid)

            calls_before = await metric(
                bridge, "mcpops_bridge_requests_total", 'method="tools/call"'
            )
            outcome: dict[str, BaseException | None] = {}
            finished = anyio.Event()

            async def slow_call() -> None:
                try:
                    await client.call_tool("slow", {"seconds": 60})
                    outcome["error"] = None
                except MCPError as exc:
                    outcome["error"] = exc
                finally:
                    finished.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(slow_call)

                async def forwarded() -> bool:
                    calls = await metric(
                        bridge, "mcpops_bridge_requests_total", 'method="tools/call"'
                    )
                    return calls > calls_before

                await wait_for(forwarded, 10, "the slow call to reach the bridge", bridge)
                os.kill(child, signal.SIGKILL)
                with anyio.fail_after(10):
                    await finished.wait()

            # The in-flight request fails cleanly, with a reason.
            error = outcome["error"]
            assert isinstance(error, MCPError), outcome
            assert "exited unexpectedly" in str(error)

            # Readiness drops while the health child restarts after the backoff.
            async def unready() -> bool:
                return await ready_status(bridge) == 503

            await wait_for(unready, 5, "readiness to go false", bridge)

            # The dead session keeps failing clearly; it is not silently re-attached.
            with pytest.raises(MCPError, match="exited unexpectedly"):
                await client.call_tool("echo", {"text": "still there?"})

        async def ready() -> bool:
            return await ready_status(bridge) == 200

        await wait_for(ready, 40, "readiness to come back", bridge)
        async with Client(bridge.url) as client:
            assert text_of(await client.call_tool("echo", {"text": "back"})) == "back"

        assert await metric(bridge, "mcpops_bridge_child_restarts_total") >= 1
        assert await metric(bridge, "mcpops_bridge_child_crashes_total", 'role="session"') == 1
        assert not alive(child)


# -- garbage on stdout, large messages, environment ---------------------------------


async def test_garbage_on_stdout_is_skipped(junk_bridge: Bridge) -> None:
    bridge = junk_bridge
    skipped_before = await metric(
        bridge, "mcpops_bridge_errors_total", 'kind="invalid_child_output"'
    )
    async with Client(bridge.url) as client:
        for word in ("one", "two", "three"):
            assert text_of(await client.call_tool("echo", {"text": word})) == word
        who = await whoami(client)
        assert who["greeting"] == "hello there"  # --env, passed without a shell
        assert who["cwd"].endswith("/work")  # --cwd
    # 3 junk lines at start-up and one per echo, all skipped and counted.
    skipped = await metric(bridge, "mcpops_bridge_errors_total", 'kind="invalid_child_output"')
    assert skipped - skipped_before == 6
    assert "not JSON-RPC; skipped" in bridge.log.read_text()


async def test_large_messages(junk_bridge: Bridge) -> None:
    size = 5 * MIB
    # SDK clients cap one SSE event at 1 MiB by default; lift the cap.
    transport = streamable_http_client(junk_bridge.url, max_sse_event_size=None)
    async with Client(transport) as client:
        with anyio.fail_after(60):
            result = await client.call_tool("big", {"size": size})
            assert len(text_of(result)) == size
            payload = "y" * (3 * MIB)  # and a large request body
            echoed = await client.call_tool("echo", {"text": payload})
            assert text_of(echoed) == payload


async def test_session_cap_and_idle_timeout(tmp_path: Path, junk_server: list[str]) -> None:
    options = ("--max-sessions", "1", "--session-idle-timeout", "1")
    with run_bridge(tmp_path, junk_server, *options) as bridge:
        # A client that goes away without DELETE leaves an idle session behind.
        abandoned = streamable_http_client(bridge.url, terminate_on_close=False)
        async with Client(abandoned) as client:
            child = (await whoami(client))["pid"]
            with pytest.raises(BaseException) as refused:
                async with Client(bridge.url):
                    pass
            assert "Too many open sessions" in str(mcp_error_in(refused.value))
        assert (
            await metric(bridge, "mcpops_bridge_sessions_rejected_total", 'reason="capacity"') == 1
        )

        async def reaped() -> bool:
            ended = await metric(bridge, "mcpops_bridge_sessions_ended_total", 'reason="idle"')
            return ended == 1 and not alive(child)

        await wait_for(reaped, 20, "the idle session and its child to go", bridge)
        async with Client(bridge.url) as client:  # room again
            assert text_of(await client.call_tool("echo", {"text": "room"})) == "room"


# -- shutdown ------------------------------------------------------------------------


async def test_sigterm_exits_zero_and_stops_children(tmp_path: Path) -> None:
    with run_bridge(tmp_path, TIME_SERVER, "--drain-timeout", "2") as bridge:
        async with Client(bridge.url) as client:
            assert (await client.list_tools()).tools
            children = children_of(bridge.proc.pid)
            assert len(children) == 2  # the session's child and the health child

            started = time.monotonic()
            bridge.proc.send_signal(signal.SIGTERM)
            code = await anyio.to_thread.run_sync(bridge.proc.wait, 20)
            elapsed = time.monotonic() - started
            assert code == 0, bridge.log_tail()
            assert elapsed < 10, f"shutdown took {elapsed:.1f}s"
            assert not [pid for pid in children if alive(pid)]


def test_usage_errors() -> None:
    cmd = [sys.executable, "-m", "mcpops.cli", "bridge", "--port", "1"]
    missing = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2
    assert "missing the stdio server command" in missing.stderr


@pytest.fixture(autouse=True)
def _no_stray_processes() -> Iterator[None]:
    before = children_of(os.getpid())
    yield
    leaked = [pid for pid in children_of(os.getpid()) - before - SHARED_PIDS if alive(pid)]
    assert not leaked, f"processes left running: {leaked}"
