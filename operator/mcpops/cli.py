"""The `mcpops` command: one entry point, one subcommand per process kind.

Subcommands import their module lazily so that, for example, the exec probe
starts fast and does not pay for Kopf's import.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, one-line help). Each module exposes main(argv) -> int.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("mcpops.manager", "run the operator (Kopf) against the configured cluster"),
    "crds": (
        "mcpops.gen.crds",
        "write the CustomResourceDefinitions generated from the API models",
    ),
    "docs": ("mcpops.gen.docs", "write the reference docs (every CRD field, every metric)"),
    "test-runner": (
        "mcpops.inpod.testrunner",
        "run an MCP test suite against a server (in a Job pod)",
    ),
    "probe": ("mcpops.inpod.probe", "exit 0 only if an MCP initialize succeeds (readiness probe)"),
    "mcp-server": (
        "mcpops.agentserver.server",
        "serve OptimizationJobs as MCP tools to agents, in one namespace",
    ),
    "health": (
        "mcpops.inpod.health",
        "serve /readyz that is ready only while MCP initialize succeeds",
    ),
}


def _usage() -> str:
    lines = ["usage: mcpops <command> [options]", "", "commands:"]
    lines += [f"  {name:<12} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0 if args else 2
    if args[0] == "--version":
        from mcpops import __version__

        print(__version__)
        return 0
    entry = SUBCOMMANDS.get(args[0])
    if entry is None:
        print(f"mcpops: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(entry[0])
    code: int = module.main(args[1:])
    return code


if __name__ == "__main__":
    raise SystemExit(main())
