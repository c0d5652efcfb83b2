"""Prometheus metrics of one bridge process (own registry, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Client request methods get their own label value; anything else is "other", so a
# misbehaving client cannot blow up the label cardinality.
KNOWN_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
    }
)


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"


class BridgeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sessions_active = Gauge(
            "mcpops_bridge_sessions_active",
            "Client sessions open now (each has its own child process).",
            registry=r,
        )
        self.sessions = Counter("mcpops_bridge_sessions", "Client sessions opened.", registry=r)
        self.sessions_rejected = Counter(
            "mcpops_bridge_sessions_rejected",
            "New sessions refused, by reason (capacity, restarting, shutdown, spawn_failed).",
            ["reason"],
            registry=r,
        )
        self.sessions_ended = Counter(
            "mcpops_bridge_sessions_ended",
            "Sessions ended, by reason (closed, idle, child_exit, shutdown, error).",
            ["reason"],
            registry=r,
        )
        self.child_restarts = Counter(
            "mcpops_bridge_child_restarts",
            "Restarts of the health child after a child crash or a failed start.",
            registry=r,
        )
        self.child_crashes = Counter(
            "mcpops_bridge_child_crashes",
            "Child processes that exited or failed unexpectedly, by role (session, health).",
            ["role"],
            registry=r,
        )
        self.requests = Counter(
            "mcpops_bridge_requests",
            "JSON-RPC requests from clients, by MCP method.",
            ["method"],
            registry=r,
        )
        self.errors = Counter(
            "mcpops_bridge_errors",
            "Errors, by kind (rpc_error, aborted, invalid_child_output, spawn_failed, child_exit).",
            ["kind"],
            registry=r,
        )
        self.request_duration = Histogram(
            "mcpops_bridge_request_duration_seconds",
            "Time from forwarding a client request to the child until its response.",
            ["method"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.ready = Gauge(
            "mcpops_bridge_ready",
            "1 when the health child answered initialize and ping, else 0.",
            registry=r,
        )
