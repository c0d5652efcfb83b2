"""Run a built-in test suite against an MCP server, through the MCP Python SDK.

Every check has a time limit, the suite has an overall deadline, and closing
the session is bounded too, so `run_suite` always returns. Results are
collected in a `Recorder`, which the CLI's watchdog can also read if the
event loop were ever stuck.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import math
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import httpx2
import structlog
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import CallToolResult, Implementation, Tool

from mcpops.api.testresult import (
    Baseline,
    CheckResult,
    CheckStatus,
    LatencyStats,
    ServerInfo,
    SuiteOutcome,
    SuiteResult,
)
from mcpops.api.testsuite import BuiltinChecks, ConnectCheck, LatencyCheck, TestSuite, ToolCallCheck
from mcpops.inpod.testrunner import schemas
from mcpops.inpod.testrunner.matchers import check_tool_result, shown

log = structlog.stdlib.get_logger(__name__)

TransportName = Literal["streamable-http", "sse"]
TRANSPORTS: tuple[TransportName, ...] = ("streamable-http", "sse")

MAX_MESSAGE = 2000
MAX_PAGES = 100
CLOSE_GRACE_SECONDS = 3.0
# The outer safety net fires this long after the suite deadline, should a check
# somehow not honour its own limit.
SAFETY_MARGIN_SECONDS = 2.0
SCHEMA_HASH_LENGTH = 16


class SuiteError(ValueError):
    """The suite cannot be run by this runner (exit code 2)."""


class CheckFailed(Exception):  # noqa: N818 - reads better at the raise sites
    """Raised inside a check to fail it with a message."""


class CheckSkipped(Exception):  # noqa: N818
    """Raised inside a check to skip it with a message."""


def schema_hash(schema: dict[str, Any]) -> str:
    """A short, stable hash of a JSON schema (canonical JSON, SHA-256)."""
    canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:SCHEMA_HASH_LENGTH]


def output_hash(schema: dict[str, Any]) -> str:
    """schema_hash of an output schema without its titles and descriptions: SDKs title it
    after the function that implements the tool, which agents never see."""
    return schema_hash(_without_prose(schema))


def _without_prose(value: Any, names: bool = False) -> Any:
    """`names`: a mapping of names to schemas (properties, $defs): every key is kept."""
    if isinstance(value, dict):
        return {
            k: _without_prose(v, k in {"properties", "$defs", "definitions"} and not names)
            for k, v in value.items()
            if names or k not in {"title", "description"}
        }
    if isinstance(value, list):
        return [_without_prose(v) for v in value]
    return value


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (p in 0..100)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def error_text(exc: BaseException) -> str:
    """A one-line description of an exception, looking inside exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip() or repr(exc)
    return f"{type(exc).__name__}: {text}"


def _clip(text: str, limit: int = MAX_MESSAGE) -> str:
    return text if len(text) <= limit else text[:limit] + f"...(+{len(text) - limit} chars)"


class Recorder:
    """Collects check results; thread-safe so that a watchdog can take a snapshot."""

    def __init__(self, suite: str) -> None:
        self.suite = suite
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._checks: list[CheckResult] = []
        self.latencies: dict[str, LatencyStats] = {}
        self.tool_schemas: dict[str, dict[str, Any]] = {}
        self.output_schemas: dict[str, dict[str, Any]] = {}
        self.server: ServerInfo | None = None
        self.error = ""
        self.unreachable = False

    def add(
        self, name: str, status: CheckStatus, message: str = "", duration_ms: float = 0.0
    ) -> None:
        check = CheckResult(
            name=name[:128],
            status=status,
            message=_clip(message),
            duration_ms=round(max(duration_ms, 0.0), 3),
        )
        with self._lock:
            self._checks.append(check)
        log.info(
            "check finished",
            suite=self.suite,
            check=check.name,
            status=status,
            duration_ms=check.duration_ms,
            detail=check.message,
        )

    def result(
        self, *, error: str | None = None, outcome: SuiteOutcome | None = None
    ) -> SuiteResult:
        with self._lock:
            checks = list(self._checks)
            latencies = dict(self.latencies)
            schemas = dict(self.tool_schemas)
            outputs = dict(self.output_schemas)
        counts = {
            s: sum(1 for c in checks if c.status == s) for s in ("passed", "failed", "skipped")
        }
        reason = error if error is not None else self.error
        if outcome is None:
            if self.unreachable:
                outcome = "Unreachable"
            elif counts["failed"] or reason:
                outcome = "Failed"
            else:
                outcome = "Passed"
        return SuiteResult(
            suite=self.suite,
            outcome=outcome,
            passed=counts["passed"],
            failed=counts["failed"],
            skipped=counts["skipped"],
            duration_seconds=round(time.monotonic() - self._started, 3),
            error=_clip(reason, 4000),
            server=self.server,
            checks=checks,
            latencies=latencies,
            tool_schema_hashes={name: schema_hash(s) for name, s in schemas.items()},
            tool_output_schema_hashes={name: output_hash(s) for name, s in outputs.items()},
            tool_schemas=schemas,
        )


@dataclass
class _Check:
    name: str
    run: Callable[[], Awaitable[str]]
    timeout: float


@dataclass
class _ToolListing:
    tools: dict[str, Tool] | None = None
    error: str = ""


class _SuiteRun:
    def __init__(
        self,
        suite: TestSuite,
        builtin: BuiltinChecks,
        baseline: Baseline | None,
        recorder: Recorder,
        deadline: float,
    ) -> None:
        self.suite = suite
        self.builtin = builtin
        self.baseline = baseline
        self.rec = recorder
        self.deadline = deadline
        self.client: Client | None = None
        self.listing: _ToolListing | None = None
        self.deadline_hit = False
        self.pending: list[_Check] = self.plan()

    # ------------------------------------------------------------------ plan

    def plan(self) -> list[_Check]:
        b = self.builtin
        default = float(b.check_timeout_seconds)
        checks: list[_Check] = []
        if b.required_tools:
            checks.append(_Check("tools", self.check_tools, default))
        checks.append(_Check("tool-schemas", self.check_schemas, default))
        if b.required_resources:
            checks.append(_Check("resources", self.check_resources, default))
        if b.required_prompts:
            checks.append(_Check("prompts", self.check_prompts, default))
        for call in b.tool_calls or []:
            checks.append(
                _Check(
                    call.check_name, self._call_check(call), float(call.timeout_seconds or default)
                )
            )
        for lat in b.latency or []:
            checks.append(
                _Check(
                    f"latency:{lat.name}",
                    self._latency_check(lat),
                    float(lat.timeout_seconds or default),
                )
            )
            if lat.regression is not None:
                checks.append(
                    _Check(f"regression:{lat.name}", self._regression_check(lat), default)
                )
        return checks

    # ------------------------------------------------------------------ running

    async def run_checks(self) -> None:
        while self.pending:
            check = self.pending[0]
            remaining = self.deadline - anyio.current_time()
            if remaining <= 0:
                self.deadline_hit = True
                self.skip_pending("not run: the suite deadline was reached")
                return
            await self.run_one(check, min(check.timeout, remaining))
            self.pending.pop(0)

    def skip_pending(self, message: str) -> None:
        for check in self.pending:
            self.rec.add(check.name, "skipped", message)
        self.pending = []

    async def run_one(self, check: _Check, limit: float) -> None:
        started = time.perf_counter()
        status: CheckStatus = "passed"
        message = ""
        with anyio.move_on_after(limit) as scope:
            try:
                message = await check.run()
            except CheckFailed as exc:
                status, message = "failed", str(exc)
            except CheckSkipped as exc:
                status, message = "skipped", str(exc)
            except Exception as exc:
                status, message = "failed", error_text(exc)
        elapsed = (time.perf_counter() - started) * 1000.0
        if scope.cancelled_caught:
            status = "failed"
            if anyio.current_time() >= self.deadline - 0.001 and limit < check.timeout:
                self.deadline_hit = True
                message = (
                    f"the suite deadline ({self.suite.timeout_seconds}s) was reached "
                    f"after {elapsed / 1000.0:.1f}s of this check"
                )
            else:
                message = f"timed out after {check.timeout:g}s"
        self.rec.add(check.name, status, message, elapsed)

    @property
    def c(self) -> Client:
        assert self.client is not None
        return self.client

    # ------------------------------------------------------------------ listings

    async def tools(self) -> dict[str, Tool]:
        if self.listing is None:
            listing = _ToolListing()
            try:
                tools: dict[str, Tool] = {}
                cursor: str | None = None
                # A server without the tools capability offers none; asking would only fail.
                pages = MAX_PAGES if self.c.server_capabilities.tools is not None else 0
                for _ in range(pages):
                    page = await self.c.list_tools(cursor=cursor)
                    tools.update({t.name: t for t in page.tools})
                    cursor = page.next_cursor
                    if not cursor:
                        break
                listing.tools = tools
                self.rec.tool_schemas = {name: t.input_schema for name, t in tools.items()}
                self.rec.output_schemas = {
                    name: t.output_schema for name, t in tools.items() if t.output_schema
                }
            except Exception as exc:
                listing.error = f"could not list tools: {error_text(exc)}"
            self.listing = listing
        if self.listing.tools is None:
            raise CheckFailed(self.listing.error)
        return self.listing.tools

    async def resource_names(self) -> set[str]:
        names: set[str] = set()
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await self.c.list_resources(cursor=cursor)
            names.update(r.uri for r in page.resources)
            cursor = page.next_cursor
            if not cursor:
                break
        try:
            cursor = None
            for _ in range(MAX_PAGES):
                tpage = await self.c.list_resource_templates(cursor=cursor)
                names.update(t.uri_template for t in tpage.resource_templates)
                cursor = tpage.next_cursor
                if not cursor:
                    break
        except Exception as exc:  # templates are optional for a server
            log.debug("no resource templates", error=error_text(exc))
        return names

    async def prompt_names(self) -> set[str]:
        names: set[str] = set()
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await self.c.list_prompts(cursor=cursor)
            names.update(p.name for p in page.prompts)
            cursor = page.next_cursor
            if not cursor:
                break
        return names

    @staticmethod
    def _require(kind: str, wanted: list[str], present: set[str]) -> str:
        missing = [w for w in wanted if w not in present]
        if missing:
            listed = ", ".join(sorted(present)[:20]) or "none"
            raise CheckFailed(f"missing {kind}: {', '.join(missing)} (listed: {listed})")
        return f"all {len(wanted)} required {kind} listed"

    async def check_tools(self) -> str:
        return self._require("tools", self.builtin.required_tools or [], set(await self.tools()))

    async def check_resources(self) -> str:
        return self._require(
            "resources", self.builtin.required_resources or [], await self.resource_names()
        )

    async def check_prompts(self) -> str:
        return self._require(
            "prompts", self.builtin.required_prompts or [], await self.prompt_names()
        )

    # ------------------------------------------------------------------ schemas

    async def check_schemas(self) -> str:
        base = self.baseline
        base_hashes = dict(base.tool_schema_hashes) if base else {}
        if base:
            for name, schema in base.tool_schemas.items():
                base_hashes.setdefault(name, schema_hash(schema))
        tools = await self.tools()
        output_hashes = dict(base.tool_output_schema_hashes) if base else {}
        if not base_hashes and not output_hashes:
            raise CheckSkipped(f"no baseline schemas recorded; recording {len(tools)} tool schemas")
        changes: list[str] = []
        for name in sorted(base_hashes):
            if name not in tools:
                changes.append(f"{name}: removed (breaking: agents calling it fail)")
                continue
            now = tools[name].input_schema
            if schema_hash(now) != base_hashes[name]:
                before = base.tool_schemas.get(name) if base else None
                changes.append(f"{name}: {_describe_schema_change(before, now)}")
        changes += _output_changes(output_hashes, tools)
        if not changes:
            outputs = f", {len(output_hashes)} output schemas" if output_hashes else ""
            return f"{len(base_hashes)} tool input schemas{outputs} unchanged"
        summary = "; ".join(changes)
        if self.builtin.allow_schema_changes:
            return f"changed (allowed by allowSchemaChanges): {summary}"
        raise CheckFailed(f"tool input schemas changed since the previous revision: {summary}")

    # ------------------------------------------------------------------ tool calls

    def _call_check(self, call: ToolCallCheck) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            await self._ensure_listed()
            result = await self.c.call_tool(call.tool, call.arguments or {})
            problems = check_tool_result(result, call.expect)
            if problems:
                raise CheckFailed("; ".join(problems))
            return f"returned {_summary(result)}"

        return run

    async def _ensure_listed(self) -> None:
        # On protocol 2026-07-28 a client calls only tools it has listed; list once.
        if self.listing is None:
            with contextlib.suppress(CheckFailed):  # the call itself reports what is wrong
                await self.tools()

    # ------------------------------------------------------------------ latency

    def _latency_op(self, lat: LatencyCheck) -> tuple[str, Callable[[], Awaitable[None]]]:
        client = self.c
        if lat.tool is not None:
            tool, arguments = lat.tool, lat.arguments or {}

            async def call() -> None:
                result = await client.call_tool(tool, arguments)
                if result.is_error:
                    raise CheckFailed(f"tool reported an error: {shown(_summary(result))}")

            return f"tools/call {tool}", call
        if client.session.initialize_result is not None:

            async def ping() -> None:
                await client.session.send_ping()

            return "ping", ping
        version = client.protocol_version

        async def discover() -> None:
            await client.session.send_discover(version)

        return "server/discover", discover

    def _latency_check(self, lat: LatencyCheck) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            if lat.tool is not None:
                await self._ensure_listed()
            what, op = self._latency_op(lat)
            for i in range(lat.warmup):
                try:
                    await op()
                except CheckFailed as exc:
                    raise CheckFailed(f"warmup call {i + 1}: {exc}") from None
            durations: list[float] = []
            for i in range(lat.samples):
                started = time.perf_counter()
                try:
                    await op()
                except CheckFailed as exc:
                    raise CheckFailed(f"sample {i + 1}: {exc}") from None
                durations.append((time.perf_counter() - started) * 1000.0)
            durations.sort()
            stats = LatencyStats(
                samples=len(durations),
                p50_ms=round(percentile(durations, 50), 3),
                p95_ms=round(percentile(durations, 95), 3),
                max_ms=round(durations[-1], 3),
            )
            self.rec.latencies[lat.name] = stats
            measured = (
                f"{what} x{stats.samples}: p50 {stats.p50_ms:.1f}ms, p95 {stats.p95_ms:.1f}ms, "
                f"max {stats.max_ms:.1f}ms"
            )
            over: list[str] = []
            if lat.p50_ms is not None and stats.p50_ms > lat.p50_ms:
                over.append(f"p50 {stats.p50_ms:.1f}ms > budget {lat.p50_ms:g}ms")
            if lat.p95_ms is not None and stats.p95_ms > lat.p95_ms:
                over.append(f"p95 {stats.p95_ms:.1f}ms > budget {lat.p95_ms:g}ms")
            if over:
                raise CheckFailed(f"latency budget exceeded: {', '.join(over)} ({measured})")
            return measured

        return run

    def _regression_check(self, lat: LatencyCheck) -> Callable[[], Awaitable[str]]:
        rule = lat.regression
        assert rule is not None

        async def run() -> str:
            current = self.rec.latencies.get(lat.name)
            if current is None:
                raise CheckSkipped("no measurement (the latency check did not complete)")
            before = self.baseline.latencies.get(lat.name) if self.baseline else None
            if before is None:
                raise CheckSkipped("no baseline latencies recorded for this check")
            now_ms = current.p95_ms if rule.percentile == "p95" else current.p50_ms
            base_ms = before.p95_ms if rule.percentile == "p95" else before.p50_ms
            limit = base_ms * rule.max_factor + rule.slack_ms
            detail = (
                f"{rule.percentile} {now_ms:.1f}ms vs baseline {base_ms:.1f}ms "
                f"(limit {base_ms:.1f}ms x {rule.max_factor:g} + {rule.slack_ms:g}ms "
                f"= {limit:.1f}ms)"
            )
            if now_ms > limit:
                raise CheckFailed(f"latency regressed: {detail}")
            return detail

        return run


def _output_changes(before: dict[str, str], tools: dict[str, Tool]) -> list[str]:
    """Output schemas that changed or went away (a removed tool is reported already): agents
    that read a tool's structured result may break on either."""
    changes: list[str] = []
    for name in sorted(before):
        tool = tools.get(name)
        if tool is None:
            continue
        if not tool.output_schema:
            changes.append(f"{name}: output schema removed (breaking: structured results go)")
        elif output_hash(tool.output_schema) != before[name]:
            changes.append(
                f"{name}: output schema changed (breaking: agents reading its results may fail)"
            )
    return changes


def _describe_schema_change(before: dict[str, Any] | None, now: dict[str, Any]) -> str:
    if before is None:
        return "input schema hash changed"
    parts: list[str] = []
    props_before = set((before.get("properties") or {}).keys())
    props_now = set((now.get("properties") or {}).keys())
    if added := sorted(props_now - props_before):
        parts.append(f"properties added {added}")
    if removed := sorted(props_before - props_now):
        parts.append(f"properties removed {removed}")
    changed = sorted(
        p for p in props_before & props_now if before["properties"][p] != now["properties"][p]
    )
    if changed:
        parts.append(f"properties changed {changed}")
    req_before, req_now = set(before.get("required") or []), set(now.get("required") or [])
    if req_before != req_now:
        parts.append(f"required {sorted(req_before)} -> {sorted(req_now)}")
    if breaks := schemas.breaking(before, now):
        parts.append(f"breaking: {', '.join(breaks)}")
    return ", ".join(parts) or "input schema changed"


def _summary(result: CallToolResult) -> str:
    if result.structured_content is not None:
        return shown(result.structured_content)
    texts = [b.text for b in result.content if b.type == "text"]
    return shown("\n".join(texts)) if texts else f"{len(result.content)} content blocks"


def _runner_version() -> str:
    try:
        return importlib.metadata.version("mcpops")
    except importlib.metadata.PackageNotFoundError:
        return "0"


class TokenFile(httpx2.Auth):
    """`Authorization: Bearer` from a file, read for every request: a projected
    ServiceAccount token is renewed by the kubelet while a long suite runs."""

    def __init__(self, path: str) -> None:
        self.path = path

    def auth_flow(self, request: httpx2.Request) -> Any:
        with open(self.path, encoding="utf-8") as f:
            request.headers["Authorization"] = f"Bearer {f.read().strip()}"
        yield request


@contextlib.asynccontextmanager
async def _streamable(url: str, auth: httpx2.Auth) -> Any:
    async with (
        create_mcp_http_client(auth=auth) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams


def _make_client(
    url: str, transport: TransportName, handshake: str, timeout: float, token_file: str | None
) -> Client:
    info = Implementation(name="mcpops-test-runner", version=_runner_version())
    mode = "legacy" if handshake == "initialize" else "auto"
    auth = TokenFile(token_file) if token_file else None
    if transport == "sse":
        return Client(
            sse_client(url, timeout=min(timeout, 30.0), sse_read_timeout=timeout + 60.0, auth=auth),
            mode=mode,
            cache=None,
            client_info=info,
        )
    if auth is not None:
        return Client(_streamable(url, auth), mode=mode, cache=None, client_info=info)
    return Client(url, mode=mode, cache=None, client_info=info)


async def run_suite(
    url: str,
    suite: TestSuite,
    *,
    transport: TransportName = "streamable-http",
    baseline: Baseline | None = None,
    recorder: Recorder | None = None,
    token_file: str | None = None,
) -> SuiteResult:
    """Run a built-in suite against the MCP server at `url` and return its result;
    `token_file`: a bearer token for every request (an auth-required server)."""
    if suite.builtin is None:
        raise SuiteError(
            f"suite {suite.name!r} is a container suite: the operator runs its image directly"
        )
    if transport not in TRANSPORTS:
        raise SuiteError(f"unknown transport {transport!r} (use {' or '.join(TRANSPORTS)})")
    builtin = suite.builtin
    rec = recorder or Recorder(suite.name)
    start = anyio.current_time()
    deadline = start + suite.timeout_seconds
    run = _SuiteRun(suite, builtin, baseline, rec, deadline)
    connect = builtin.connect
    connect_timeout = float(
        min(
            (connect.timeout_seconds if connect and connect.timeout_seconds else None)
            or builtin.check_timeout_seconds,
            suite.timeout_seconds,
        )
    )
    handshake = connect.handshake if connect else "auto"
    log.info(
        "suite started", suite=suite.name, url=url, transport=transport, checks=len(run.pending) + 1
    )

    connected = closing = False
    connect_error = interrupted = ""
    t0 = time.perf_counter()
    try:
        client = _make_client(url, transport, handshake, float(suite.timeout_seconds), token_file)
        with anyio.CancelScope(deadline=start + connect_timeout) as scope:
            async with client:
                connected = True
                run.client = client
                scope.deadline = deadline + SAFETY_MARGIN_SECONDS
                _connect_check(rec, client, connect, (time.perf_counter() - t0) * 1000)
                await run.run_checks()
                closing = True
                # Closing the session (an HTTP DELETE) must not hold the result up for long.
                scope.deadline = min(scope.deadline, anyio.current_time() + CLOSE_GRACE_SECONDS)
        if scope.cancelled_caught and not connected:
            connect_error = f"timed out after {connect_timeout:g}s"
    except Exception as exc:
        if not connected:
            connect_error = error_text(exc)
        elif closing:
            log.warning("error while closing the MCP session", error=error_text(exc))
        else:
            interrupted = f"the test runner failed: {error_text(exc)}"
            log.exception("the test runner failed")

    if not connected:
        message = f"could not establish an MCP session with {url}: {connect_error}"
        rec.add("connect", "failed", message, (time.perf_counter() - t0) * 1000)
        run.skip_pending("not run: no MCP session")
        rec.unreachable = True
        rec.error = message
    elif run.pending:
        # Only a runner bug, or the safety net (a check that ignored its own limit), gets here.
        if interrupted:
            rec.error = interrupted
            rec.add(run.pending.pop(0).name, "failed", interrupted)
            run.skip_pending("not run: the test runner failed")
        else:
            run.deadline_hit = True
            rec.add(run.pending.pop(0).name, "failed", "interrupted by the suite deadline")
            run.skip_pending("not run: the suite deadline was reached")
    if connected and run.deadline_hit:
        rec.error = f"the suite deadline ({suite.timeout_seconds}s) was reached"
    done = rec.result()
    log.info(
        "suite finished",
        suite=suite.name,
        outcome=done.outcome,
        passed=done.passed,
        failed=done.failed,
        skipped=done.skipped,
        duration_seconds=done.duration_seconds,
    )
    return done


def _connect_check(
    rec: Recorder, client: Client, connect: ConnectCheck | None, elapsed_ms: float
) -> None:
    info = client.server_info
    protocol = client.protocol_version
    via = "initialize" if client.session.initialize_result is not None else "server/discover"
    rec.server = ServerInfo(
        name=(info.name if info else "")[:256],
        version=(info.version if info else "")[:256],
        protocol_version=protocol[:64],
    )
    who = f"{info.name} {info.version}".strip() if info else "an anonymous server"
    message = f"connected to {who}, protocol {protocol} (via {via})"
    problems: list[str] = []
    expected_name = connect.server_name if connect else None
    if expected_name is not None and (info is None or info.name != expected_name):
        got = info.name if info else "no server info"
        problems.append(f"expected server name {expected_name!r}, got {got!r}")
    expected_protocol = connect.protocol_version if connect else None
    if expected_protocol is not None and protocol != expected_protocol:
        problems.append(f"expected protocol version {expected_protocol}, negotiated {protocol}")
    if problems:
        rec.add("connect", "failed", f"{'; '.join(problems)} ({message})", elapsed_ms)
    else:
        rec.add("connect", "passed", message, elapsed_ms)
