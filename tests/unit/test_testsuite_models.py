"""Test suite API models, the JSON path subset, result matchers and the termination message."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, ValidationError

from mcpops.api.testresult import (
    TERMINATION_MESSAGE_LIMIT,
    TRUNCATION_MARKER,
    Baseline,
    CheckResult,
    LatencyStats,
    ServerInfo,
    SuiteResult,
    parse_termination_message,
    termination_message,
)
from mcpops.api.testsuite import (
    JSON_PATH_PATTERN,
    ContainerTest,
    JsonPathAssertion,
    LatencyCheck,
    TestSuite,
    ToolCallExpectation,
)
from mcpops.inpod.testrunner import jsonpath
from mcpops.inpod.testrunner.matchers import check_tool_result, json_equal, result_value
from mcpops.inpod.testrunner.runner import percentile, schema_hash

FULL_SUITE: dict[str, Any] = {
    "name": "smoke",
    "timeoutSeconds": 120,
    "builtin": {
        "connect": {
            "handshake": "initialize",
            "serverName": "demo",
            "protocolVersion": "2025-11-25",
        },
        "requiredTools": ["add"],
        "requiredResources": ["config://app"],
        "requiredPrompts": ["greet"],
        "allowSchemaChanges": True,
        "checkTimeoutSeconds": 5,
        "toolCalls": [
            {
                "name": "adds",
                "tool": "add",
                "arguments": {"a": 1, "b": {"nested": [1, None, "x"]}},
                "timeoutSeconds": 3,
                "expect": {
                    "isError": False,
                    "equals": {"result": 3},
                    "contains": "3",
                    "regex": "^3$",
                    "jsonPath": [
                        {"path": "$.result", "equals": 3},
                        {"path": "$['a b'][0].c[*]", "exists": True},
                    ],
                },
            }
        ],
        "latency": [
            {
                "name": "add",
                "tool": "add",
                "arguments": {"a": 1},
                "samples": 50,
                "warmup": 5,
                "p50Ms": 10,
                "p95Ms": 50.5,
                "regression": {"percentile": "p50", "maxFactor": 2, "slackMs": 1},
                "timeoutSeconds": 60,
            },
            {"name": "ping"},
        ],
    },
}


# --------------------------------------------------------------------------- suite models


def test_full_suite_round_trips_through_the_wire_form() -> None:
    suite = TestSuite.model_validate(FULL_SUITE)
    assert suite.builtin is not None and suite.builtin.tool_calls is not None
    assert suite.builtin.tool_calls[0].expect is not None
    assert suite.builtin.tool_calls[0].expect.json_path is not None
    assert TestSuite.model_validate(suite.to_wire()) == suite
    assert suite.to_wire()["builtin"]["toolCalls"][0]["expect"]["jsonPath"][0]["path"] == "$.result"


def test_defaults_and_snake_case() -> None:
    suite = TestSuite.model_validate({"name": "a", "builtin": {}})
    assert suite.timeout_seconds == 300
    assert suite.builtin is not None and suite.builtin.check_timeout_seconds == 30
    lat = LatencyCheck(name="p", samples=3)
    assert (lat.samples, lat.warmup, lat.tool) == (3, 1, None)


def test_container_suite() -> None:
    suite = TestSuite.model_validate(
        {
            "name": "e2e",
            "container": {
                "image": "ghcr.io/org/tests:1",
                "command": ["pytest"],
                "args": ["-q"],
                "env": [
                    {"name": "LEVEL", "value": "full"},
                    {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}},
                ],
            },
        }
    )
    assert suite.container is not None and suite.container.env is not None
    assert suite.container.env[1].value_from is not None


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"name": "a"}, "exactly one of builtin, container"),
        ({"name": "a", "builtin": {}, "container": {"image": "x"}}, "exactly one of"),
        ({"name": "Bad_Name", "builtin": {}}, "pattern"),
        ({"name": "a" * 64, "builtin": {}}, "at most 63"),
        ({"name": "a", "builtin": {}, "surprise": 1}, "Extra inputs"),
        ({"name": "a", "builtin": {}, "timeoutSeconds": 0}, "greater than or equal to 1"),
        ({"name": "a", "builtin": {"latency": [{"name": "x", "samples": 0}]}}, "samples"),
        ({"name": "a", "builtin": {"latency": [{"name": "x", "samples": 1001}]}}, "samples"),
        (
            {
                "name": "a",
                "builtin": {"latency": [{"name": "x", "regression": {"maxFactor": 0.5}}]},
            },
            "maxFactor",
        ),
        ({"name": "a", "builtin": {"latency": [{"name": "x", "arguments": {}}]}}, "need a tool"),
        (
            {"name": "a", "builtin": {"latency": [{"name": "x"}, {"name": "x"}]}},
            "repeated: latency:x",
        ),
        (
            {"name": "a", "builtin": {"toolCalls": [{"tool": "t"}, {"tool": "t"}]}},
            "repeated: call:t",
        ),
        (
            {"name": "a", "builtin": {"toolCalls": [{"tool": "t", "expect": {"regex": "("}}]}},
            "invalid regular expression",
        ),
        (
            {
                "name": "a",
                "builtin": {
                    "toolCalls": [{"tool": "t", "expect": {"jsonPath": [{"path": "$.a"}]}}]
                },
            },
            "at least one of exists, equals, contains, regex",
        ),
        (
            {
                "name": "a",
                "builtin": {
                    "toolCalls": [
                        {"tool": "t", "expect": {"jsonPath": [{"path": "$..a", "exists": True}]}}
                    ]
                },
            },
            "pattern",
        ),
        ({"name": "a", "builtin": {"connect": {"handshake": "magic"}}}, "handshake"),
        (
            {"name": "a", "container": {"image": "x", "env": [{"name": "MCP_SERVER_URL"}]}},
            "MCP_SERVER_URL is set by the operator",
        ),
        ({"name": "a", "builtin": {"requiredTools": [""]}}, "at least 1"),
    ],
)
def test_invalid_suites_are_refused(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        TestSuite.model_validate(data)
    assert fragment in str(info.value)


def _walk_properties(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for def_name, definition in {"<root>": schema, **schema.get("$defs", {})}.items():
        for prop, prop_schema in definition.get("properties", {}).items():
            found.append((def_name, prop, prop_schema))
    return found


@pytest.mark.parametrize("model", [TestSuite, SuiteResult, Baseline])
def test_every_field_is_described_for_kubectl_explain(model: type[BaseModel]) -> None:
    schema = model.model_json_schema(by_alias=True)
    props = _walk_properties(schema)
    assert props
    missing = [f"{d}.{p}" for d, p, s in props if not s.get("description")]
    assert not missing
    # camelCase on the wire
    assert all(re.fullmatch(r"[a-z][A-Za-z0-9]*", p) for _, p, _ in props)


def test_cel_rules_are_in_the_schema() -> None:
    defs = TestSuite.model_json_schema(by_alias=True)
    root_rules = defs["x-kubernetes-validations"]
    assert {"rule": "has(self.builtin) != has(self.container)"}.items() <= root_rules[0].items()
    # JsonPathAssertion has no CEL rule: CEL cannot see its free-form `equals` field.
    assert "x-kubernetes-validations" not in defs["$defs"]["JsonPathAssertion"]
    for name in ("LatencyCheck", "BuiltinChecks", "ContainerTest"):
        assert defs["$defs"][name]["x-kubernetes-validations"], name


def test_strings_and_lists_are_bounded() -> None:
    """Every string has maxLength (or an enum/pattern bound) and every list maxItems."""
    schema = TestSuite.model_json_schema(by_alias=True)

    def unbounded(node: Any, where: str) -> list[str]:
        out: list[str] = []
        if isinstance(node, dict):
            if node.get("type") == "string" and "maxLength" not in node and "enum" not in node:
                out.append(where)
            if node.get("type") == "array" and "maxItems" not in node:
                out.append(where)
            for key, value in node.items():
                out += unbounded(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                out += unbounded(value, f"{where}[{i}]")
        return out

    assert unbounded(schema, "$") == []


# --------------------------------------------------------------------------- JSON path


DOC = {"a": {"b": [10, 20, {"c": "x"}]}, "a b": 1, "list": [{"k": 1}, {"k": 2}], "n": None}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", (True, DOC)),
        ("$.a.b[0]", (True, 10)),
        ("$.a.b[-1].c", (True, "x")),
        ("$['a b']", (True, 1)),
        ('$["a"]["b"][1]', (True, 20)),
        ("$.n", (True, None)),
        ("$.a.b[3]", (False, None)),
        ("$.a.b[-4]", (False, None)),
        ("$.missing.deeper", (False, None)),
        ("$.a.b.c", (False, None)),
        ("$.list[*].k", (True, [1, 2])),
        ("$.list.*.k", (True, [1, 2])),
        ("$.a.*", (True, [[10, 20, {"c": "x"}]])),
        ("$.list[*].missing", (False, [])),
    ],
)
def test_jsonpath_select(path: str, expected: tuple[bool, Any]) -> None:
    assert jsonpath.select(path, DOC) == expected


@pytest.mark.parametrize("path", ["", "a", "$..a", "$.", "$[", "$[1:2]", "$[?(@.a)]", "$.1a"])
def test_jsonpath_unsupported(path: str) -> None:
    with pytest.raises(jsonpath.JsonPathError):
        jsonpath.parse(path)


@given(st.text(alphabet="$.[]*'\"ab_-019 \\", max_size=16))
def test_jsonpath_pattern_accepts_exactly_what_the_parser_accepts(path: str) -> None:
    try:
        jsonpath.parse(path)
        parsed = True
    except jsonpath.JsonPathError:
        parsed = False
    assert (re.fullmatch(JSON_PATH_PATTERN, path) is not None) == parsed


# --------------------------------------------------------------------------- matchers


def test_json_equal() -> None:
    assert json_equal(1, 1.0)
    assert not json_equal(True, 1)
    assert not json_equal(0, False)
    assert json_equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not json_equal({"a": 1}, {"a": 1, "b": 2})
    assert not json_equal([1, 2], [2, 1])
    assert not json_equal("1", 1)


def _result(text: str, structured: Any = None, is_error: bool = False) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=structured,
        is_error=is_error,
    )


def test_result_value_prefers_structured_content_then_json_text() -> None:
    assert result_value(_result("3", {"result": 3})) == {"result": 3}
    assert result_value(_result('{"a": [1]}')) == {"a": [1]}
    assert result_value(_result("plain words")) == "plain words"


def test_check_tool_result() -> None:
    ok = _result("42", {"result": 42})
    assert check_tool_result(ok, None) == []
    assert (
        check_tool_result(ok, ToolCallExpectation(equals="42", contains="4", regex=r"^\d+$")) == []
    )
    assert check_tool_result(ok, ToolCallExpectation(equals={"result": 42})) == []
    assert check_tool_result(ok, ToolCallExpectation(equals={"result": 41})) == [
        'expected {"result":41}, got {"result":42}'
    ]
    bad = _result("boom", is_error=True)
    assert check_tool_result(bad, None) == ['tool reported an error: "boom"']
    assert check_tool_result(bad, ToolCallExpectation(is_error=True, contains="boo")) == []
    path = ToolCallExpectation(
        json_path=[
            JsonPathAssertion(path="$.result", regex="^4"),
            JsonPathAssertion(path="$.x", exists=True),
        ]
    )
    assert check_tool_result(ok, path) == ["at $.x: expected a value, found nothing"]


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 50) == 10
    assert percentile(values, 95) == 19
    assert percentile(values, 100) == 20
    assert percentile([7.0], 95) == 7
    assert percentile([], 50) == 0


def test_schema_hash_ignores_key_order() -> None:
    assert schema_hash({"a": 1, "b": [1, 2]}) == schema_hash({"b": [1, 2], "a": 1})
    assert schema_hash({"a": 1}) != schema_hash({"a": 2})


# --------------------------------------------------------------------------- termination message

names = st.text(min_size=1, max_size=128)
floats = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
check_results = st.builds(
    CheckResult,
    name=names,
    status=st.sampled_from(["passed", "failed", "skipped"]),
    message=st.one_of(st.just(""), st.text(max_size=200), st.text(min_size=500, max_size=3000)),
    duration_ms=floats,
)
latency_stats = st.builds(
    LatencyStats, samples=st.integers(0, 1000), p50_ms=floats, p95_ms=floats, max_ms=floats
)


long_name_checks = st.builds(
    CheckResult,
    name=st.text(min_size=60, max_size=128),
    status=st.sampled_from(["passed", "failed", "skipped"]),
    message=st.text(max_size=3000),
    duration_ms=floats,
)


@st.composite
def suite_results(draw: st.DrawFn) -> SuiteResult:
    # Sizes in three bands, so that every shortening step is reached, not just the first.
    low, high = draw(st.sampled_from([(0, 8), (20, 60), (60, 150)]))
    kind = draw(st.sampled_from([check_results, long_name_checks]))
    checks = draw(st.lists(kind, min_size=low, max_size=high))
    statuses = [c.status for c in checks]
    return SuiteResult(
        suite=draw(st.text(min_size=1, max_size=253)),
        outcome=draw(st.sampled_from(["Passed", "Failed", "Unreachable", "Error"])),
        passed=statuses.count("passed"),
        failed=statuses.count("failed"),
        skipped=statuses.count("skipped"),
        duration_seconds=draw(floats),
        error=draw(st.one_of(st.just(""), st.text(max_size=4000))),
        server=draw(
            st.none()
            | st.builds(ServerInfo, name=st.text(max_size=256), version=st.text(max_size=256))
        ),
        checks=checks,
        latencies=draw(
            st.dictionaries(st.text(min_size=1, max_size=63), latency_stats, max_size=16)
        ),
        tool_schema_hashes=draw(
            st.dictionaries(
                names, st.text("0123456789abcdef", min_size=16, max_size=16), max_size=high
            )
        ),
        tool_schemas=draw(
            st.dictionaries(names, st.dictionaries(st.text(max_size=5), st.integers()), max_size=5)
        ),
    )


def _is_cut_from(short: str, original: str) -> bool:
    return short == original or (
        short.endswith(TRUNCATION_MARKER) and original.startswith(short[: -len(TRUNCATION_MARKER)])
    )


BIG_EXAMPLES = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


@settings(max_examples=150, deadline=None, suppress_health_check=BIG_EXAMPLES)
@given(suite_results())
def test_termination_message_is_bounded_and_parses_back(result: SuiteResult) -> None:
    text = termination_message(result)
    assert len(text.encode("utf-8")) <= TERMINATION_MESSAGE_LIMIT
    back = parse_termination_message(text)

    # Counts, outcome and duration are exact, always.
    assert (back.passed, back.failed, back.skipped) == (
        result.passed,
        result.failed,
        result.skipped,
    )
    assert back.outcome == result.outcome
    assert back.duration_seconds == result.duration_seconds
    assert _is_cut_from(back.suite, result.suite)
    assert back.tool_schemas == {}

    # The checks kept are a subsequence of the original, each intact but for its message.
    assert len(back.checks) + back.checks_omitted == len(result.checks)
    it = iter(result.checks)
    for kept in back.checks:
        original = next(c for c in it if c.name == kept.name and c.status == kept.status)
        assert kept.duration_ms == original.duration_ms
        assert _is_cut_from(kept.message, original.message)
    # Failed checks are the last to go.
    if any(c.status != "failed" for c in back.checks):
        assert sum(c.status == "failed" for c in back.checks) == result.failed

    if back.truncated:
        assert len(_full_compact(result).encode()) > TERMINATION_MESSAGE_LIMIT
    else:
        assert back == result.model_copy(update={"tool_schemas": {}})


def _full_compact(result: SuiteResult) -> str:
    return termination_message(result, limit=10**9)


@settings(max_examples=50, deadline=None, suppress_health_check=BIG_EXAMPLES)
@given(suite_results())
def test_termination_message_is_pure(result: SuiteResult) -> None:
    before = result.model_dump()
    assert termination_message(result) == termination_message(result)
    assert result.model_dump() == before


def test_many_long_failures_still_fit_with_exact_counts() -> None:
    checks = [
        CheckResult(name=f"call:tool-{i}", status="failed", message="x" * 5000, duration_ms=1.5)
        for i in range(300)
    ] + [CheckResult(name="connect", status="passed", message="ok")]
    result = SuiteResult(
        suite="big",
        outcome="Failed",
        passed=1,
        failed=300,
        checks=checks,
        latencies={"a": LatencyStats(samples=3, p50_ms=1, p95_ms=2, max_ms=3)},
        tool_schema_hashes={f"tool-{i}": "0123456789abcdef" for i in range(300)},
    )
    text = termination_message(result)
    assert len(text.encode()) <= 4096
    back = parse_termination_message(text)
    assert (back.passed, back.failed, back.skipped) == (1, 300, 0)
    assert back.truncated and back.checks_omitted == 301 - len(back.checks)
    assert back.checks and all(c.status == "failed" for c in back.checks)


def test_failed_checks_outlast_passed_ones() -> None:
    checks = [
        CheckResult(name=f"passing-check-number-{i}", status="passed", message="fine " * 20)
        for i in range(200)
    ]
    checks[150:150] = [
        CheckResult(name=f"call:t{i}", status="failed", message="wrong " * 100) for i in range(10)
    ]
    result = SuiteResult(suite="s", outcome="Failed", passed=200, failed=10, checks=checks)
    back = parse_termination_message(termination_message(result))
    assert [c.name for c in back.checks if c.status == "failed"] == [
        f"call:t{i}" for i in range(10)
    ]
    assert back.truncated and back.checks_omitted == 210 - len(back.checks) > 0
    # Passed checks go from the end: those kept are the first ones.
    kept = [c.name for c in back.checks if c.status == "passed"]
    assert kept == [f"passing-check-number-{i}" for i in range(len(kept))]


def test_small_result_is_kept_whole_and_readable() -> None:
    result = SuiteResult(
        suite="s",
        outcome="Passed",
        passed=1,
        duration_seconds=0.5,
        checks=[CheckResult(name="connect", status="passed", message="ok", duration_ms=3)],
        tool_schemas={"add": {"type": "object"}},
        tool_schema_hashes={"add": schema_hash({"type": "object"})},
    )
    text = termination_message(result)
    data = json.loads(text)
    assert data["passed"] == 1 and data["failed"] == 0 and data["outcome"] == "Passed"
    assert "toolSchemas" not in data and "truncated" not in data
    assert data["toolSchemaHashes"] == {"add": schema_hash({"type": "object"})}


def test_parse_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not an mcpops suite result"):
        parse_termination_message("Error: container crashed")
    with pytest.raises(ValueError):
        parse_termination_message('{"suite": "s"}')


def test_container_model_alone() -> None:
    c = ContainerTest(image="img")
    assert c.to_wire() == {"image": "img"}
