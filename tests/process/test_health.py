"""`mcpops health` (the readiness sidecar) as a real process against real servers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from ports import free_port
from test_probe import TARGET, wait_listening

pytestmark = [pytest.mark.process, pytest.mark.timeout(120)]


def readyz(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_status(port: int, want: int, within: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + within
    last: object = None
    while time.monotonic() < deadline:
        try:
            code, body = readyz(port)
        except OSError as exc:
            last = exc
        else:
            if code == want:
                return body
            last = (code, body)
        time.sleep(0.2)
    raise AssertionError(f"/readyz never answered {want}: {last}")


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:  # type: ignore[no-untyped-def]
    script = tmp_path / "target.py"
    script.write_text(TARGET)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(script), "streamable-http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_listening(port, proc)
    yield port, proc
    proc.kill()
    proc.wait()


def sidecar(target: str, *extra: str) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcpops.cli", "health", "--listen", f"127.0.0.1:{port}",
         "--url", target, "--timeout", "2", "--ttl", "0.5", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_listening(port, proc)
    return port, proc


def test_ready_while_mcp_answers_and_not_after(
    server: tuple[int, subprocess.Popen[bytes]],
) -> None:
    target_port, target = server
    port, proc = sidecar(f"http://127.0.0.1:{target_port}/mcp")
    try:
        body = wait_status(port, 200)
        assert body["ready"] is True and body["server"] == "probe-target"
        target.kill()
        target.wait()
        body = wait_status(port, 503)
        assert body["ready"] is False and body["reason"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_plain_http_is_not_ready() -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class OK(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), OK)
    Thread(target=httpd.serve_forever, daemon=True).start()
    port, proc = sidecar(f"http://127.0.0.1:{httpd.server_address[1]}/mcp")
    try:
        body = wait_status(port, 503)
        assert "MCP" in str(body["reason"]) or "mcp" in str(body["reason"]).lower()
        # /healthz is liveness of the sidecar itself, independent of the server.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        httpd.shutdown()
