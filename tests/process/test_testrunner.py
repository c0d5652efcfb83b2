"""The MCP test runner against real MCP servers on loopback (no cluster).

Servers are started as separate processes from this very file
(`python test_testrunner.py serve KIND`): the SDK's MCPServer ("demo", with a
broken tool, a tool returning a wrong value and slow tools; "demo-v2" with a
changed schema; "demo-sse" over SSE), the PyPI reference server
`mcp-server-time` served over Streamable HTTP, and a TCP listener that never
answers. Each prints its port once it is listening.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

# --------------------------------------------------------------------------- servers (subprocess)


def _demo_app(variant: str, transport: str) -> Any:
    import anyio
    from mcp.server.mcpserver import MCPServer

    mcp = MCPServer("demo", version="1.2.3")

    if variant == "v2":

        @mcp.tool(name="add")
        def add_v2(a: int, b: int, c: int) -> int:
            """Add three numbers (v2 changed the input schema)."""
            return a + b + c

    else:

        @mcp.tool()
        def add(a: int, b: int) -> int:
            """Add two numbers."""
            return a + b

        @mcp.tool()
        def info() -> dict[str, Any]:
            """A JSON object as text."""
            return {"name": "demo", "items": [1, 2, 3], "flag": True}

    def stats() -> int | str:
        """A count (v2 returns it as text: only the output schema changed)."""
        return "3" if variant == "v2" else 3

    # One function, so that the input schemas (titled after it) are equal.
    stats.__annotations__["return"] = "str" if variant == "v2" else "int"
    mcp.tool()(stats)

    @mcp.tool()
    def echo(text: str) -> str:
        """Return the text."""
        return text

    @mcp.tool()
    def wrong_add(a: int, b: int) -> int:
        """A broken adder: off by one."""
        return a + b + 1

    @mcp.tool()
    def broken() -> str:
        """Always raises."""
        raise RuntimeError("deliberately broken")

    @mcp.tool()
    async def slow(seconds: float) -> str:
        """Sleep, then answer."""
        await anyio.sleep(seconds)
        return "done"

    @mcp.tool()
    async def sleepy() -> str:
        """Takes about 40 ms."""
        await anyio.sleep(0.04)
        return "yawn"

    @mcp.resource("config://app")
    def config() -> str:
        return "debug=false"

    @mcp.prompt()
    def greet(name: str) -> str:
        return f"Hello {name}"

    return mcp.sse_app() if transport == "sse" else mcp.streamable_http_app()


def _serve(kind: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    if kind == "hang":  # accepts connections (backlog) but never answers
        print(f"PORT {sock.getsockname()[1]}", flush=True)
        while True:
            time.sleep(3600)
    import uvicorn

    if kind == "time":
        from mcp_server_time.server import create_server  # type: ignore[import-untyped]

        app = create_server("UTC").streamable_http_app()
    else:
        variant = "v2" if kind == "demo-v2" else "v1"
        app = _demo_app(variant, "sse" if kind == "demo-sse" else "http")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "serve":
    _serve(sys.argv[2])
    raise SystemExit(0)

# --------------------------------------------------------------------------- test side

from mcpops.api.testresult import (  # noqa: E402
    Baseline,
    SuiteResult,
    parse_termination_message,
    termination_message,
)
from mcpops.api.testsuite import TestSuite  # noqa: E402
from mcpops.inpod.testrunner.runner import run_suite  # noqa: E402

pytestmark = pytest.mark.process

START_DEADLINE = 30.0
MCPOPS = Path(sys.executable).parent / "mcpops"


@dataclass
class Server:
    kind: str
    proc: subprocess.Popen[str]
    port: int
    path: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"


def _read_port(proc: subprocess.Popen[str], deadline: float) -> int:
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("PORT "):
                return int(line.split()[1])
            if not line and proc.poll() is not None:
                break
    raise RuntimeError(f"server did not report a port (exit code {proc.poll()})")


def _wait_http(url: str, deadline: float) -> None:
    """Until the server answers HTTP at all (any status)."""
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except (OSError, urllib.error.URLError) as exc:
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer: {last}")


def _start(kind: str, log_dir: Path) -> Server:
    path = {"demo-sse": "/sse", "hang": "/mcp"}.get(kind, "/mcp")
    log = (log_dir / f"{kind}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, __file__, "serve", kind],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        port = _read_port(proc, time.monotonic() + START_DEADLINE)
        server = Server(kind, proc, port, path)
        if kind not in ("hang", "demo-sse"):  # an SSE GET would stay open
            _wait_http(server.url, time.monotonic() + START_DEADLINE)
        return server
    except BaseException:
        proc.kill()
        proc.wait()
        raise


def _stop(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    log_dir = tmp_path_factory.mktemp("server-logs")
    started: dict[str, Server] = {}
    try:
        for kind in ("demo", "demo-v2", "time", "demo-sse", "hang"):
            started[kind] = _start(kind, log_dir)
        yield started
    finally:
        for server in started.values():
            _stop(server)


@pytest.fixture(scope="module")
def demo(servers: dict[str, Server]) -> Server:
    return servers["demo"]


@pytest.fixture(scope="module")
def plain_http() -> Iterator[str]:
    """An HTTP server that answers 200 with HTML to everything: not MCP."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            body = b"<html><body>hello</body></html>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def do_DELETE(self) -> None:
            self._answer()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/mcp"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connections are refused, and nobody else gets it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def make_suite(timeout: int = 60, **builtin: Any) -> TestSuite:
    return TestSuite.model_validate({"name": "t", "timeoutSeconds": timeout, "builtin": builtin})


def by_name(result: SuiteResult) -> dict[str, Any]:
    return {c.name: c for c in result.checks}


def assert_counts_consistent(result: SuiteResult) -> None:
    statuses = [c.status for c in result.checks]
    assert result.passed == statuses.count("passed")
    assert result.failed == statuses.count("failed")
    assert result.skipped == statuses.count("skipped")


GOOD_CHECKS: dict[str, Any] = {
    "connect": {"serverName": "demo"},
    "requiredTools": ["add", "echo", "slow"],
    "requiredResources": ["config://app"],
    "requiredPrompts": ["greet"],
    "toolCalls": [
        {"tool": "add", "arguments": {"a": 2, "b": 3}, "expect": {"equals": {"result": 5}}},
        {
            "name": "echo-text",
            "tool": "echo",
            "arguments": {"text": "hello world"},
            "expect": {"equals": "hello world", "contains": "lo w", "regex": "^hel+o"},
        },
        {
            "tool": "info",
            "expect": {
                "jsonPath": [
                    {"path": "$.name", "equals": "demo"},
                    {"path": "$.items[-1]", "equals": 3},
                    {"path": "$.items[*]", "equals": [1, 2, 3]},
                    {"path": "$['flag']", "equals": True},
                    {"path": "$.missing", "exists": False},
                    {"path": "$.name", "contains": "em", "regex": "^d"},
                ]
            },
        },
        {"tool": "broken", "expect": {"isError": True, "contains": "broken"}},
    ],
    "latency": [
        {
            "name": "add",
            "tool": "add",
            "arguments": {"a": 1, "b": 1},
            "samples": 10,
            "p50Ms": 2000,
            "p95Ms": 2000,
            "regression": {},
        },
        {"name": "ping", "samples": 5, "warmup": 0, "p95Ms": 2000},
    ],
}


# --------------------------------------------------------------------------- all pass


async def test_all_checks_pass_against_demo(demo: Server) -> None:
    result = await run_suite(demo.url, make_suite(**GOOD_CHECKS))
    checks = by_name(result)
    assert result.outcome == "Passed", [c for c in result.checks if c.status != "passed"]
    assert result.exit_code == 0
    assert list(checks) == [
        "connect", "tools", "tool-schemas", "resources", "prompts", "call:add", "echo-text",
        "call:info", "call:broken", "latency:add", "regression:add", "latency:ping",
    ]  # fmt: skip
    # No baseline yet: the schema and regression checks are skipped, not passed.
    assert checks["tool-schemas"].status == "skipped"
    assert checks["regression:add"].status == "skipped"
    assert (result.passed, result.failed, result.skipped) == (10, 0, 2)
    assert_counts_consistent(result)
    assert result.server is not None and result.server.name == "demo"
    assert "connected to demo 1.2.3" in checks["connect"].message
    # What the next revision is compared with is recorded.
    assert set(result.latencies) == {"add", "ping"}
    assert result.latencies["add"].samples == 10
    assert 0 < result.latencies["add"].p50_ms <= result.latencies["add"].p95_ms
    assert result.tool_schemas["add"]["required"] == ["a", "b"]
    assert set(result.tool_schema_hashes) == set(result.tool_schemas)


async def test_baseline_from_a_previous_run_passes(demo: Server) -> None:
    first = await run_suite(demo.url, make_suite(**GOOD_CHECKS))
    # The operator keeps only the termination message; it must serve as the baseline.
    baseline = Baseline.model_validate_json(termination_message(first))
    assert baseline.tool_schema_hashes and not baseline.tool_schemas
    generous = json.loads(json.dumps(GOOD_CHECKS))
    generous["latency"][0]["regression"] = {"maxFactor": 10, "slackMs": 500}
    second = await run_suite(demo.url, make_suite(**generous), baseline=baseline)
    checks = by_name(second)
    assert second.outcome == "Passed", second.checks
    assert checks["tool-schemas"].status == "passed"
    assert "unchanged" in checks["tool-schemas"].message
    assert checks["regression:add"].status == "passed"
    assert "vs baseline" in checks["regression:add"].message


async def test_reference_server_from_pypi_passes(servers: dict[str, Server]) -> None:
    suite = make_suite(
        connect={"serverName": "mcp-time"},
        requiredTools=["get_current_time", "convert_time"],
        toolCalls=[
            {
                "tool": "get_current_time",
                "arguments": {"timezone": "UTC"},
                "expect": {
                    "jsonPath": [
                        {"path": "$.timezone", "equals": "UTC"},
                        {"path": "$.datetime", "regex": r"^\d{4}-\d{2}-\d{2}T"},
                    ]
                },
            },
            {
                "tool": "convert_time",
                "arguments": {
                    "source_timezone": "UTC",
                    "time": "12:00",
                    "target_timezone": "Asia/Tokyo",
                },
                "expect": {"jsonPath": [{"path": "$.target.datetime", "contains": "T21:00"}]},
            },
        ],
    )
    result = await run_suite(servers["time"].url, suite)
    assert result.outcome == "Passed", result.checks
    assert result.failed == 0


async def test_sse_transport(servers: dict[str, Server]) -> None:
    suite = make_suite(
        requiredTools=["add"],
        toolCalls=[{"tool": "add", "arguments": {"a": 1, "b": 2}, "expect": {"equals": "3"}}],
    )
    result = await run_suite(servers["demo-sse"].url, suite, transport="sse")
    assert result.outcome == "Passed", result.checks
    assert result.passed == 3


async def test_initialize_handshake_and_ping(demo: Server) -> None:
    suite = make_suite(
        connect={"handshake": "initialize", "protocolVersion": "2025-11-25"},
        latency=[{"name": "ping", "samples": 5, "p95Ms": 2000}],
    )
    result = await run_suite(demo.url, suite)
    checks = by_name(result)
    assert result.outcome == "Passed", result.checks
    assert "via initialize" in checks["connect"].message
    assert checks["latency:ping"].message.startswith("ping x5")


# --------------------------------------------------------------------------- failures


async def test_wrong_server_expectations_fail_but_do_not_stop_the_suite(demo: Server) -> None:
    suite = make_suite(
        connect={"serverName": "other", "protocolVersion": "2024-11-05"},
        requiredTools=["add"],
    )
    result = await run_suite(demo.url, suite)
    checks = by_name(result)
    assert result.outcome == "Failed" and result.exit_code == 1
    assert checks["connect"].status == "failed"
    assert "expected server name 'other', got 'demo'" in checks["connect"].message
    assert "expected protocol version 2024-11-05" in checks["connect"].message
    assert checks["tools"].status == "passed"


async def test_missing_tools_resources_prompts(demo: Server) -> None:
    suite = make_suite(
        requiredTools=["add", "no_such_tool"],
        requiredResources=["config://app", "config://missing"],
        requiredPrompts=["greet", "farewell"],
    )
    result = await run_suite(demo.url, suite)
    checks = by_name(result)
    assert result.outcome == "Failed"
    assert (checks["tools"].status, checks["resources"].status, checks["prompts"].status) == (
        "failed",
        "failed",
        "failed",
    )
    assert "missing tools: no_such_tool" in checks["tools"].message
    assert "missing resources: config://missing" in checks["resources"].message
    assert "missing prompts: farewell" in checks["prompts"].message
    assert result.failed == 3
    assert_counts_consistent(result)


@pytest.mark.parametrize(
    ("call", "expected_message"),
    [
        pytest.param(
            {
                "tool": "wrong_add",
                "arguments": {"a": 2, "b": 2},
                "expect": {"equals": {"result": 4}},
            },
            'expected {"result":4}, got {"result":5}',
            id="equals-json",
        ),
        pytest.param(
            {"tool": "wrong_add", "arguments": {"a": 2, "b": 2}, "expect": {"equals": "4"}},
            'expected text "4", got "5"',
            id="equals-text",
        ),
        pytest.param(
            {"tool": "echo", "arguments": {"text": "abc"}, "expect": {"contains": "xyz"}},
            'does not contain "xyz"',
            id="contains",
        ),
        pytest.param(
            {"tool": "echo", "arguments": {"text": "abc"}, "expect": {"regex": "^b"}},
            "does not match /^b/",
            id="regex",
        ),
        pytest.param(
            {
                "tool": "wrong_add",
                "arguments": {"a": 1, "b": 1},
                "expect": {"jsonPath": [{"path": "$.result", "equals": 2}]},
            },
            "at $.result: expected 2, got 3",
            id="jsonpath-equals",
        ),
        pytest.param(
            {"tool": "info", "expect": {"jsonPath": [{"path": "$.items[7]", "exists": True}]}},
            "at $.items[7]: expected a value, found nothing",
            id="jsonpath-exists",
        ),
        pytest.param(
            {"tool": "info", "expect": {"jsonPath": [{"path": "$.flag", "equals": 1}]}},
            "at $.flag: expected 1, got true",
            id="jsonpath-bool-is-not-number",
        ),
        pytest.param(
            {"tool": "info", "expect": {"jsonPath": [{"path": "$.name", "regex": "^x"}]}},
            'at $.name: "demo" does not match /^x/',
            id="jsonpath-regex",
        ),
        pytest.param(
            {"tool": "broken"},
            "tool reported an error",
            id="tool-raises",
        ),
        pytest.param(
            {"tool": "echo", "arguments": {"text": "fine"}, "expect": {"isError": True}},
            "expected the tool to report an error",
            id="expected-error",
        ),
        pytest.param(
            {"tool": "no_such_tool"},
            "no_such_tool",
            id="unknown-tool",
        ),
    ],
)
async def test_wrong_results_fail(
    demo: Server, call: dict[str, Any], expected_message: str
) -> None:
    result = await run_suite(demo.url, make_suite(toolCalls=[call]))
    check = result.checks[-1]
    assert check.name == f"call:{call['tool']}"
    assert check.status == "failed"
    assert expected_message in check.message
    assert result.outcome == "Failed" and result.failed == 1


async def test_schema_change_against_baseline(demo: Server, servers: dict[str, Server]) -> None:
    first = await run_suite(demo.url, make_suite(requiredTools=["add"]))
    baseline = Baseline.model_validate(first.model_dump())
    v2 = servers["demo-v2"]
    result = await run_suite(v2.url, make_suite(requiredTools=["add"]), baseline=baseline)
    check = by_name(result)["tool-schemas"]
    assert check.status == "failed"
    assert "add: properties added ['c'], required ['a', 'b'] -> ['a', 'b', 'c']" in check.message
    assert "breaking: argument 'c' is now required" in check.message
    assert "info: removed (breaking" in check.message
    assert "stats: output schema changed (breaking" in check.message
    assert "stats: input" not in check.message  # its input schema did not change
    assert "echo" not in check.message  # unchanged tools are not reported

    # From the compact baseline (hashes only) the change is still caught.
    compact = Baseline.model_validate_json(termination_message(first))
    result = await run_suite(v2.url, make_suite(), baseline=compact)
    check = by_name(result)["tool-schemas"]
    assert check.status == "failed" and "add: input schema hash changed" in check.message
    assert "stats: output schema changed" in check.message

    allowed = make_suite(allowSchemaChanges=True)
    result = await run_suite(v2.url, allowed, baseline=baseline)
    check = by_name(result)["tool-schemas"]
    assert check.status == "passed" and "allowed by allowSchemaChanges" in check.message
    assert result.outcome == "Passed"


async def test_latency_budget_exceeded(demo: Server) -> None:
    suite = make_suite(latency=[{"name": "sleepy", "tool": "sleepy", "samples": 3, "p50Ms": 5}])
    result = await run_suite(demo.url, suite)
    check = by_name(result)["latency:sleepy"]
    assert check.status == "failed"
    assert "latency budget exceeded: p50" in check.message and "> budget 5ms" in check.message
    assert result.latencies["sleepy"].p50_ms >= 40


async def test_latency_check_fails_when_the_tool_errors(demo: Server) -> None:
    suite = make_suite(latency=[{"name": "b", "tool": "broken", "samples": 3, "warmup": 0}])
    result = await run_suite(demo.url, suite)
    check = by_name(result)["latency:b"]
    assert check.status == "failed" and check.message.startswith("sample 1: tool reported an error")
    assert "b" not in result.latencies


async def test_regression_against_previous_revision(demo: Server) -> None:
    # The previous revision answered "op" fast (the add tool) ...
    fast = {"name": "op", "tool": "add", "arguments": {"a": 1, "b": 1}, "samples": 5}
    before = await run_suite(demo.url, make_suite(latency=[fast]))
    assert before.outcome == "Passed"
    baseline = parse_termination_message(termination_message(before))
    # ... this one takes 40 ms (the sleepy tool): 1.5 x baseline + 5 ms is exceeded.
    rule = {"percentile": "p50", "maxFactor": 1.5, "slackMs": 5}
    suite = make_suite(latency=[{"name": "op", "tool": "sleepy", "samples": 3, "regression": rule}])
    result = await run_suite(
        demo.url, suite, baseline=Baseline.model_validate(baseline.model_dump())
    )
    checks = by_name(result)
    assert checks["latency:op"].status == "passed"  # no absolute budget
    assert checks["regression:op"].status == "failed"
    assert "latency regressed: p50" in checks["regression:op"].message
    assert result.outcome == "Failed"


async def test_check_timeout_and_the_session_survives(demo: Server) -> None:
    suite = make_suite(
        toolCalls=[
            {"tool": "slow", "arguments": {"seconds": 30}, "timeoutSeconds": 1},
            {"tool": "add", "arguments": {"a": 1, "b": 1}, "expect": {"equals": "2"}},
        ]
    )
    started = time.monotonic()
    result = await run_suite(demo.url, suite)
    elapsed = time.monotonic() - started
    checks = by_name(result)
    assert checks["call:slow"].status == "failed"
    assert checks["call:slow"].message == "timed out after 1s"
    assert 1000 <= checks["call:slow"].duration_ms < 3000
    assert checks["call:add"].status == "passed"
    assert elapsed < 10


async def test_suite_deadline(demo: Server) -> None:
    suite = make_suite(
        timeout=2,
        checkTimeoutSeconds=60,
        toolCalls=[
            {"tool": "slow", "arguments": {"seconds": 30}},
            {"tool": "add", "arguments": {"a": 1, "b": 1}},
        ],
        latency=[{"name": "ping", "samples": 2}],
    )
    started = time.monotonic()
    result = await run_suite(demo.url, suite)
    elapsed = time.monotonic() - started
    checks = by_name(result)
    assert elapsed < 8
    assert result.outcome == "Failed" and result.exit_code == 1
    assert "suite deadline (2s) was reached" in result.error
    assert checks["call:slow"].status == "failed"
    assert "suite deadline" in checks["call:slow"].message
    assert checks["call:add"].status == "skipped"
    assert checks["latency:ping"].status == "skipped"
    assert_counts_consistent(result)


# --------------------------------------------------------------------------- unreachable


async def test_not_an_mcp_server(plain_http: str) -> None:
    suite = make_suite(requiredTools=["add"], toolCalls=[{"tool": "add"}])
    result = await run_suite(plain_http, suite)
    checks = by_name(result)
    assert result.outcome == "Unreachable" and result.exit_code == 3
    assert checks["connect"].status == "failed"
    assert "text/html" in checks["connect"].message
    assert [c.status for c in result.checks[1:]] == ["skipped"] * 3
    assert result.error.startswith("could not establish an MCP session")


async def test_nothing_listening(closed_port: int) -> None:
    started = time.monotonic()
    result = await run_suite(f"http://127.0.0.1:{closed_port}/mcp", make_suite())
    assert time.monotonic() - started < 10
    assert result.outcome == "Unreachable"
    assert "ConnectError" in by_name(result)["connect"].message


async def test_server_that_never_answers(servers: dict[str, Server]) -> None:
    suite = make_suite(connect={"timeoutSeconds": 1}, requiredTools=["add"])
    started = time.monotonic()
    result = await run_suite(servers["hang"].url, suite)
    elapsed = time.monotonic() - started
    assert result.outcome == "Unreachable"
    assert "timed out after 1s" in by_name(result)["connect"].message
    assert 1 <= elapsed < 6


# --------------------------------------------------------------------------- the CLI


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "MCPOPS_"))}
    full_env.update(env or {})
    return subprocess.run(
        [str(MCPOPS), "test-runner", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def write_suite(path: Path, suite: dict[str, Any]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(suite))
    return path


def read_outputs(results: Path, term: Path) -> tuple[SuiteResult, SuiteResult, str]:
    full = SuiteResult.model_validate_json(results.read_text())
    text = term.read_text()
    return full, parse_termination_message(text), text


def test_cli_all_pass(demo: Server, tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "suite.yaml", {"name": "smoke", "builtin": GOOD_CHECKS})
    results, term = tmp_path / "results.json", tmp_path / "termination-log"
    proc = run_cli("--url", demo.url, "--suite", str(suite), "--results", str(results),
                   "--termination-log", str(term))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    full, compact, text = read_outputs(results, term)
    assert full.outcome == "Passed" and full.suite == "smoke"
    assert len(text.encode()) <= 4096
    assert compact == full.model_copy(update={"tool_schemas": {}})
    assert full.tool_schemas  # the full schemas are only in the results file
    # Logs are JSON lines.
    lines = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    assert any(e.get("event") == "suite finished" and e.get("outcome") == "Passed" for e in lines)

    # The recorded results serve as the next run's baseline.
    again = tmp_path / "again.json"
    proc = run_cli("--url", demo.url, "--suite", str(suite), "--baseline", str(term),
                   "--results", str(again))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert by_name(SuiteResult.model_validate_json(again.read_text()))["tool-schemas"].status == (
        "passed"
    )


def test_cli_failure_from_env(demo: Server, tmp_path: Path) -> None:
    call = {"tool": "wrong_add", "arguments": {"a": 1, "b": 1}, "expect": {"equals": "2"}}
    suite = {"name": "failing", "builtin": {"requiredTools": ["nope"], "toolCalls": [call]}}
    term = tmp_path / "termination-log"
    proc = run_cli(
        "--termination-log",
        str(term),
        env={"MCP_SERVER_URL": demo.url, "MCPOPS_TEST_SUITE": json.dumps(suite)},
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    result = parse_termination_message(term.read_text())
    assert result.outcome == "Failed" and result.failed == 2
    assert 'expected text "2", got "3"' in by_name(result)["call:wrong_add"].message


def test_cli_unreachable(closed_port: int, tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "s.yaml", {"name": "s", "builtin": {"requiredTools": ["x"]}})
    results, term = tmp_path / "results.json", tmp_path / "termination-log"
    proc = run_cli("--url", f"http://127.0.0.1:{closed_port}/mcp", "--suite", str(suite),
                   "--results", str(results), "--termination-log", str(term))  # fmt: skip
    assert proc.returncode == 3, proc.stderr[-3000:]
    full, compact, _ = read_outputs(results, term)
    assert full.outcome == compact.outcome == "Unreachable"
    assert (compact.passed, compact.failed, compact.skipped) == (0, 1, 2)


def test_cli_not_mcp(plain_http: str, tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "s.yaml", {"name": "s", "builtin": {}})
    term = tmp_path / "termination-log"
    proc = run_cli("--url", plain_http, "--suite", str(suite), "--termination-log", str(term))
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert parse_termination_message(term.read_text()).outcome == "Unreachable"


def test_cli_sse(servers: dict[str, Server], tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "s.yaml", {"name": "s", "builtin": {"requiredTools": ["add"]}})
    proc = run_cli("--url", servers["demo-sse"].url, "--transport", "sse", "--suite", str(suite))
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize(
    ("suite_text", "args", "expected"),
    [
        pytest.param("name: [unclosed", [], "neither JSON nor YAML", id="not-yaml"),
        pytest.param("name: Bad_Name\nbuiltin: {}\n", [], "not a valid test suite", id="invalid"),
        pytest.param(
            "name: c\ncontainer: {image: busybox}\n", [], "container suite", id="container"
        ),
        pytest.param("name: s\nbuiltin: {}\n", ["--url", ""], "no server", id="no-url"),
    ],
)
def test_cli_suite_errors(tmp_path: Path, suite_text: str, args: list[str], expected: str) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(suite_text)
    term = tmp_path / "termination-log"
    url_args = args or ["--url", "http://127.0.0.1:9/mcp"]
    proc = run_cli(*url_args, "--suite", str(suite), "--termination-log", str(term))
    assert proc.returncode == 2, proc.stderr[-3000:]
    result = parse_termination_message(term.read_text())
    assert result.outcome == "Error" and expected in result.error


def test_cli_usage_errors(tmp_path: Path) -> None:
    assert run_cli("--bogus").returncode == 2
    assert run_cli("--url", "http://127.0.0.1:9/mcp").returncode == 2  # no suite anywhere
    missing = run_cli("--url", "http://x/mcp", "--suite", str(tmp_path / "missing.yaml"))
    assert missing.returncode == 2 and "cannot read suite file" in missing.stderr


def test_watchdog_reports_a_stuck_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Should the event loop ever hang, the watchdog still writes results and exits 1."""
    import anyio

    from mcpops.inpod.testrunner import cli, runner

    released = threading.Event()
    exit_codes: list[int] = []

    async def stuck(*args: Any, **kwargs: Any) -> SuiteResult:
        kwargs["recorder"].add("connect", "passed", "connected")
        await anyio.to_thread.run_sync(released.wait)  # a loop that never gets going again
        raise AssertionError("unreachable")

    def fake_exit(code: int) -> None:
        exit_codes.append(code)
        released.set()

    monkeypatch.setattr(runner, "run_suite", stuck)
    monkeypatch.setattr(cli, "WATCHDOG_GRACE_SECONDS", 0.2)
    monkeypatch.setattr(cli.logs, "configure", lambda level: None)  # keep pytest's logging
    monkeypatch.setattr(cli.os, "_exit", fake_exit)
    suite = write_suite(tmp_path / "s.yaml", {"name": "s", "timeoutSeconds": 1, "builtin": {}})
    term = tmp_path / "termination-log"
    started = time.monotonic()
    with pytest.raises(AssertionError, match="unreachable"):
        cli.main(["--url", "http://127.0.0.1:9/mcp", "--suite", str(suite),
                  "--termination-log", str(term)])  # fmt: skip
    assert 1.2 <= time.monotonic() - started < 10
    assert exit_codes == [1]
    result = parse_termination_message(term.read_text())
    assert result.outcome == "Failed" and result.passed == 1
    assert "did not finish within its deadline" in result.error
