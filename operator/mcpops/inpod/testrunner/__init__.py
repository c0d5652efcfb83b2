"""The MCP test runner: `mcpops test-runner`, run in a Job pod against a candidate revision.

The operator imports `termination_message` / `parse_termination_message` from
here; the runner itself (and the MCP SDK) is imported only when `main` runs.
"""

from __future__ import annotations

from mcpops.inpod.testrunner.results import (
    TERMINATION_MESSAGE_LIMIT,
    parse_termination_message,
    termination_message,
)

__all__ = [
    "TERMINATION_MESSAGE_LIMIT",
    "main",
    "parse_termination_message",
    "termination_message",
]


def main(argv: list[str]) -> int:
    from mcpops.inpod.testrunner.cli import main as run_main

    return run_main(argv)
