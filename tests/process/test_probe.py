"""`mcpops probe` as a real process against real servers on loopback.

Healthy targets are the SDK's MCPServer (formerly FastMCP) over Streamable HTTP and
SSE, each in its own process; the unhealthy ones are nothing listening, a plain
HTTP server, and a server that accepts connections and never answers.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ports import free_port

from mcpops.inpod.probe import ProbeResult, check

pytestmark = [pytest.mark.process, pytest.mark.timeout(120)]

TARGET = textwrap.dedent(
    """
    import sys
    from mcp.server.mcpserver import MCPServer

    transport, port = sys.argv[1], int(sys.argv[2])
    server = MCPServer("probe-target", version="1.2.3")

    @server.tool()
    def hello() -> str:
        return "hi"

    server.run(transport, host="127.0.0.1", port=port)
    """
)


def wait_listening(port: int, proc: subprocess.Popen[bytes], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the target server exited"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listening on {port} after {within}s")


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """MCP servers: transport -> URL."""
    script = tmp_path_factory.mktemp("probe") / "target.py"
    script.write_text(TARGET)
    servers = {"streamable-http": ("/mcp", free_port()), "sse": ("/sse", free_port())}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), transport, str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for transport, (_, port) in servers.items()
    ]
    try:
        for proc, (_, port) in zip(procs, servers.values(), strict=True):
            wait_listening(port, proc)
        yield {t: f"http://127.0.0.1:{port}{path}" for t, (path, port) in servers.items()}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class _PlainHandler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        if self.headers.get("content-length"):
            self.rfile.read(int(self.headers["content-length"]))
        status = 500 if self.path == "/error" else 200
        body = b"<html><body>just a web page</body></html>"
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def plain_http() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PlainHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def hanging() -> Iterator[str]:
    """Accepts TCP connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = listener.accept()
                held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float


def probe(*args: str) -> Run:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mcpops.cli", "probe", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def assert_not_ready(run: Run, *fragments: str) -> None:
    assert run.code == 1, run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, f"want one line on stderr, got: {run.stderr!r}"
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# -- healthy servers -----------------------------------------------------------------


def test_streamable_http_server_is_ready(targets: dict[str, str]) -> None:
    runs = [probe("--url", targets["streamable-http"]) for _ in range(2)]
    for run in runs:
        assert run.code == 0, run
        assert run.stdout.startswith("ok: probe-target 1.2.3 (protocol 2025-11-25)")
        assert run.stderr == ""
    fastest = min(run.seconds for run in runs)
    print(f"probe wall time against a healthy server: {[round(r.seconds, 2) for r in runs]} s")
    # An exec probe: interpreter + SDK import + one round trip. Generous for a loaded CI box.
    assert fastest < 8, f"probe took {fastest:.2f}s"


def test_sse_server_is_ready(targets: dict[str, str]) -> None:
    run = probe("--transport", "sse", "--url", targets["sse"])
    assert run.code == 0, run
    assert run.stdout.startswith("ok: probe-target 1.2.3")


async def test_check_reports_the_server(targets: dict[str, str]) -> None:
    for transport, url in targets.items():
        result = await check(url, transport, timeout=10)  # type: ignore[arg-type]
        assert isinstance(result, ProbeResult)
        assert result.ok, result
        assert result.reason == "ok"
        assert (result.server_name, result.server_version) == ("probe-target", "1.2.3")
        assert result.protocol_version == "2025-11-25"
        assert 0 < result.latency_ms < 10_000


def test_wrong_transport_for_the_server(targets: dict[str, str]) -> None:
    # An SSE endpoint probed as Streamable HTTP is not ready.
    assert_not_ready(probe("--url", targets["sse"], "--timeout", "3"))


# -- unhealthy ones ------------------------------------------------------------------


def test_nothing_listening() -> None:
    port = free_port()
    run = probe("--url", f"http://127.0.0.1:{port}/mcp")
    assert_not_ready(run, "connection refused", f"127.0.0.1:{port}")


def test_plain_http_server_is_not_mcp(plain_http: str) -> None:
    assert_not_ready(probe("--url", f"{plain_http}/mcp"), "not an MCP server", "text/html")
    assert_not_ready(probe("--url", f"{plain_http}/error"), "HTTP 500")
    assert_not_ready(
        probe("--transport", "sse", "--url", f"{plain_http}/sse", "--timeout", "2"),
    )


async def test_hanging_server_times_out(hanging: str) -> None:
    run = probe("--url", f"{hanging}/mcp", "--timeout", "1")
    assert_not_ready(run, "timed out after 1s")
    result = await check(f"{hanging}/mcp", "streamable-http", timeout=1)
    assert not result.ok
    assert "timed out" in result.reason
    assert 900 <= result.latency_ms < 2000, result  # the timeout is respected, not exceeded

    sse = await check(f"{hanging}/sse", "sse", timeout=1)
    assert not sse.ok
    assert "timed out" in sse.reason
    assert sse.latency_ms < 2000, sse


def test_usage_errors() -> None:
    assert probe("--transport", "carrier-pigeon").code == 2
    assert probe("--timeout", "0").code == 2
