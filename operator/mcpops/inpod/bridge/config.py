"""Command-line configuration of the stdio bridge (standard library only, cheap to import)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

MIB = 1024 * 1024


@dataclass(frozen=True)
class BridgeConfig:
    """Everything the bridge needs to run; built by `parse_args` or directly in tests."""

    command: tuple[str, ...]
    """The stdio MCP server: executable and arguments, run without a shell."""
    host: str = "0.0.0.0"  # noqa: S104 - the bridge serves the pod's Service
    port: int = 8080
    path: str = "/mcp"
    metrics_port: int | None = None
    """Serve /metrics on this port instead of the main one."""
    max_sessions: int = 32
    """Concurrent client sessions, i.e. concurrent child processes (plus one health child)."""
    session_idle_timeout: float | None = 600.0
    """Seconds without an HTTP request in flight after which a session and its child end."""
    json_response: bool = False
    """Answer each POST with one JSON body instead of an SSE stream."""
    max_body_bytes: int = 16 * MIB
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for the child, over the inherited one."""
    inherit_env: bool = True
    """Pass the bridge's whole environment to the child (else only the SDK's safe minimum)."""
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    stable_after: float = 60.0
    """A child healthy this long resets the restart backoff."""
    startup_timeout: float = 30.0
    """Seconds the health child gets to answer initialize and ping."""
    ready_timeout: float = 5.0
    """Seconds a readiness ping may take."""
    drain_timeout: float = 5.0
    """On SIGTERM: seconds in-flight requests get to finish before sessions are closed."""
    log_level: str = "info"


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return number


def _env_pair(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
    return key, val


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mcpops bridge",
        usage="mcpops bridge [options] -- COMMAND [ARG ...]",
        description=(
            "Serve a stdio MCP server over Streamable HTTP. Each client session gets its own "
            "child process running COMMAND (no shell); one more child answers health checks."
        ),
    )
    p.add_argument(
        "--host", default=BridgeConfig.host, help="address to bind (default %(default)s)"
    )
    p.add_argument("--port", type=int, default=BridgeConfig.port, help="(default %(default)s)")
    p.add_argument("--path", default=BridgeConfig.path, help="MCP endpoint (default %(default)s)")
    p.add_argument(
        "--metrics-port", type=int, default=None, help="serve /metrics on this port instead"
    )
    p.add_argument(
        "--max-sessions",
        type=int,
        default=BridgeConfig.max_sessions,
        help="concurrent sessions (= child processes); more get HTTP 503 (default %(default)s)",
    )
    p.add_argument(
        "--session-idle-timeout",
        type=float,
        default=BridgeConfig.session_idle_timeout,
        help="seconds; 0 disables (default %(default)s)",
    )
    p.add_argument(
        "--json-response",
        action="store_true",
        help="answer POSTs with plain JSON instead of SSE (no per-request notifications)",
    )
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=BridgeConfig.max_body_bytes,
        help="largest accepted request body (default %(default)s)",
    )
    p.add_argument("--cwd", default=None, help="working directory of the child")
    p.add_argument(
        "--env",
        type=_env_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra child environment (repeatable)",
    )
    p.add_argument(
        "--no-inherit-env",
        dest="inherit_env",
        action="store_false",
        help="give the child only PATH/HOME/... and --env, not the bridge's environment",
    )
    p.add_argument(
        "--restart-backoff-initial", type=_positive, default=BridgeConfig.backoff_initial
    )
    p.add_argument("--restart-backoff-max", type=_positive, default=BridgeConfig.backoff_max)
    p.add_argument("--startup-timeout", type=_positive, default=BridgeConfig.startup_timeout)
    p.add_argument("--ready-timeout", type=_positive, default=BridgeConfig.ready_timeout)
    p.add_argument("--drain-timeout", type=float, default=BridgeConfig.drain_timeout)
    p.add_argument("--log-level", default=BridgeConfig.log_level)
    return p


def parse_args(argv: Sequence[str]) -> BridgeConfig:
    """Parse `[options] -- COMMAND [ARG ...]`; exits with status 2 on a usage error."""
    args = list(argv)
    parser = _parser()
    if "--" in args:
        cut = args.index("--")
        options, command = args[:cut], args[cut + 1 :]
    else:
        options, command = args, []
    ns = parser.parse_args(options)
    if not command:
        parser.error("missing the stdio server command after '--'")
    if ns.max_sessions < 1:
        parser.error("--max-sessions must be >= 1")
    if not ns.path.startswith("/"):
        parser.error("--path must start with '/'")
    idle = ns.session_idle_timeout
    return BridgeConfig(
        command=tuple(command),
        host=ns.host,
        port=ns.port,
        path=ns.path,
        metrics_port=ns.metrics_port,
        max_sessions=ns.max_sessions,
        session_idle_timeout=idle if idle and idle > 0 else None,
        json_response=ns.json_response,
        max_body_bytes=ns.max_body_bytes,
        cwd=ns.cwd,
        env=dict(ns.env),
        inherit_env=ns.inherit_env,
        backoff_initial=ns.restart_backoff_initial,
        backoff_max=max(ns.restart_backoff_max, ns.restart_backoff_initial),
        startup_timeout=ns.startup_timeout,
        ready_timeout=ns.ready_timeout,
        drain_timeout=max(ns.drain_timeout, 0.0),
        log_level=ns.log_level,
    )
