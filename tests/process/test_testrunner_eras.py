"""The test runner against servers of each MCP protocol era (issue 15): a server that speaks
only 2026-07-28 (no `initialize`), one from before it (no `server/discover`), and one that
speaks both. The runner must connect to each the way a careful client would and pass the
same suite."""

from __future__ import annotations

from pathlib import Path

import pytest
from process.proxykit import era_server

from mcpops.api.testsuite import TestSuite
from mcpops.inpod.testrunner.runner import run_suite

pytestmark = pytest.mark.process

SUITE = TestSuite.model_validate(
    {
        "name": "eras",
        "timeoutSeconds": 60,
        "builtin": {
            "requiredTools": ["echo", "whoami"],
            "toolCalls": [
                {"tool": "echo", "arguments": {"text": "hi"}, "expect": {"equals": "hi"}}
            ],
        },
    }
)


@pytest.mark.parametrize(
    ("era", "protocol", "via"),
    [
        ("modern", "2026-07-28", "server/discover"),
        ("legacy", "2025-11-25", "initialize"),
        ("both", "2026-07-28", "server/discover"),
    ],
)
async def test_the_runner_passes_a_suite_on_every_protocol_era(
    tmp_path: Path, era: str, protocol: str, via: str
) -> None:
    with era_server(tmp_path, era) as server:
        result = await run_suite(server.url, SUITE)
    checks = {c.name: c for c in result.checks}
    assert result.outcome == "Passed", result.checks
    assert result.failed == 0
    assert f"protocol {protocol} (via {via})" in checks["connect"].message
