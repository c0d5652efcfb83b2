"""The MCP test runner: `mcpops test-runner`, run in a Job pod against a candidate revision.

Its result reaches the operator as the pod's termination message, encoded by
mcpops.api.testresult; the runner itself (and the MCP SDK) is imported only when `main`
runs.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str]) -> int:
    from mcpops.inpod.testrunner.cli import main as run_main

    return run_main(argv)
