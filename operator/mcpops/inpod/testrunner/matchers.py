"""Checking a tool result against a `ToolCallExpectation`."""

from __future__ import annotations

import json
import re
from typing import Any

from mcp_types import CallToolResult

from mcpops.api.testsuite import JsonPathAssertion, ToolCallExpectation
from mcpops.inpod.testrunner import jsonpath

# What the matchers look at is capped, so that a huge result cannot make a
# regular expression (or a message) run away.
MAX_MATCH_TEXT = 1 << 20
MAX_SHOWN = 200


def result_text(result: CallToolResult) -> str:
    """The text content blocks joined by newlines; the structured content's JSON when
    there is no text at all."""
    texts = [block.text for block in result.content if block.type == "text"]
    if not texts and result.structured_content is not None:
        return compact_json(result.structured_content)
    return "\n".join(texts)[:MAX_MATCH_TEXT]


def result_value(result: CallToolResult) -> Any:
    """structuredContent when present, else the text parsed as JSON, else the text."""
    if result.structured_content is not None:
        return result.structured_content
    text = result_text(result)
    try:
        return json.loads(text)
    except ValueError:
        return text


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def shown(value: Any) -> str:
    """A value for a message: compact JSON (strings quoted), shortened."""
    text = compact_json(value)
    if len(text) > MAX_SHOWN:
        return text[:MAX_SHOWN] + f"...(+{len(text) - MAX_SHOWN} chars)"
    return text


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: numbers compare by value (1 == 1.0), booleans only with booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else compact_json(value)


def _check_path(assertion: JsonPathAssertion, document: Any) -> list[str]:
    found, value = jsonpath.select(assertion.path, document)
    where = f"at {assertion.path}"
    problems: list[str] = []
    if assertion.exists is not None and found != assertion.exists:
        problems.append(
            f"{where}: expected {'a value' if assertion.exists else 'nothing'}, "
            f"found {shown(value) if found else 'nothing'}"
        )
        return problems
    needs_value = (
        assertion.has_equals or assertion.contains is not None or assertion.regex is not None
    )
    if needs_value and not found:
        problems.append(f"{where}: nothing there (document: {shown(document)})")
        return problems
    if assertion.has_equals and not json_equal(value, assertion.equals):
        problems.append(f"{where}: expected {shown(assertion.equals)}, got {shown(value)}")
    if assertion.contains is not None and assertion.contains not in _as_text(value):
        problems.append(f"{where}: {shown(value)} does not contain {shown(assertion.contains)}")
    if assertion.regex is not None and not re.search(assertion.regex, _as_text(value)):
        problems.append(f"{where}: {shown(value)} does not match /{assertion.regex}/")
    return problems


def check_tool_result(result: CallToolResult, expect: ToolCallExpectation | None) -> list[str]:
    """Every way the result falls short of the expectation (empty when it passes)."""
    expect = expect or ToolCallExpectation()
    problems: list[str] = []
    text = result_text(result)
    if result.is_error and not expect.is_error:
        problems.append(f"tool reported an error: {shown(text)}")
    elif expect.is_error and not result.is_error:
        problems.append(f"expected the tool to report an error, it returned {shown(text)}")
    if expect.has_equals:
        if isinstance(expect.equals, str):
            if text != expect.equals:
                problems.append(f"expected text {shown(expect.equals)}, got {shown(text)}")
        else:
            value = result_value(result)
            if not json_equal(value, expect.equals):
                problems.append(f"expected {shown(expect.equals)}, got {shown(value)}")
    if expect.contains is not None and expect.contains not in text:
        problems.append(f"text {shown(text)} does not contain {shown(expect.contains)}")
    if expect.regex is not None and not re.search(expect.regex, text):
        problems.append(f"text {shown(text)} does not match /{expect.regex}/")
    if expect.json_path:
        document = result_value(result)
        for assertion in expect.json_path:
            problems.extend(_check_path(assertion, document))
    return problems
