"""Everything the operator takes from its environment, read once, in one place.

`Settings.from_env()` is called by `mcpops run` at startup; everything else receives the
values it needs (the planners their images as arguments), so that no decision depends
on when or where it happens to read os.environ. The chart sets these variables
(docs/operating.md lists them).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mcpops import OPERATOR_IMAGE, PROXY_IMAGE, SOLVER_IMAGE, __version__

DEFAULT_OPERATOR_IMAGE = OPERATOR_IMAGE
DEFAULT_SOLVER_IMAGE = SOLVER_IMAGE
DEFAULT_PROXY_IMAGE = PROXY_IMAGE
SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
TRUE = frozenset({"1", "true", "yes"})


def derived_image(operator_image: str, suffix: str) -> str:
    """ghcr.io/x/mcpops:1.2 -> ghcr.io/x/mcpops-<suffix>:1.2 (a digest cannot carry over)."""
    ref = operator_image
    if "@" in ref:
        ref = ref.split("@", 1)[0]
        repo, _, tag = ref.rpartition(":") if _has_tag(ref) else (ref, "", "")
        return f"{repo}-{suffix}:{tag or __version__}"
    if _has_tag(ref):
        repo, _, tag = ref.rpartition(":")
        return f"{repo}-{suffix}:{tag}"
    return f"{ref}-{suffix}:{__version__}"


def derived_solver_image(operator_image: str) -> str:
    """ghcr.io/x/mcpops:1.2 -> ghcr.io/x/mcpops-solver:1.2 (a digest cannot carry over)."""
    return derived_image(operator_image, "solver")


def _has_tag(ref: str) -> bool:
    return ":" in ref.rsplit("/", 1)[-1]


def _default_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class Settings:
    # The image that carries mcpops itself: the test runner's (and the health sidecar of sse
    # servers). MCPOPS_IMAGE.
    operator_image: str = DEFAULT_OPERATOR_IMAGE
    # The solver pods' image. MCPOPS_SOLVER_IMAGE, else derived from MCPOPS_IMAGE.
    solver_image: str = DEFAULT_SOLVER_IMAGE
    # The in-pod proxy's image (a static binary, FROM scratch), in every MCP server pod.
    # MCPOPS_PROXY_IMAGE, else derived from MCPOPS_IMAGE (mcpops:T -> mcpops-proxy:T).
    proxy_image: str = DEFAULT_PROXY_IMAGE
    namespaces: tuple[str, ...] = ()  # MCPOPS_NAMESPACES (comma-separated); () = all
    workers: int = 16  # MCPOPS_WORKERS: concurrent reconciles per kind
    leader_elect: bool = False  # MCPOPS_LEADER_ELECT
    lease_name: str = "mcpops-leader"  # MCPOPS_LEASE_NAME
    # MCPOPS_LEASE_NAMESPACE, else the pod's own namespace, else "default".
    lease_namespace: str = "default"
    identity: str = field(default_factory=_default_identity)  # MCPOPS_POD_NAME
    metrics_host: str = "0.0.0.0"  # noqa: S104  MCPOPS_METRICS_HOST (metrics, /healthz)
    metrics_port: int = 8080  # MCPOPS_METRICS_PORT
    log_level: str = "INFO"  # MCPOPS_LOG_LEVEL
    # How often an optional API that is not served (the Gateway API's HTTPRoute) is looked
    # for again. MCPOPS_API_RECHECK_SECONDS.
    api_recheck_seconds: float = 30.0
    # Solver pods running at once per namespace; OptimizationJobs over it are Queued and
    # started in creation order. 0: no limit. MCPOPS_MAX_SOLVER_PODS_PER_NAMESPACE.
    max_solver_pods_per_namespace: int = 0
    # Cluster DNS as MCPServer NetworkPolicies allow it (spec.network.egress): address ranges
    # or namespace/label=value of the DNS pods, comma-separated. MCPOPS_CLUSTER_DNS.
    cluster_dns: str = "kube-system/k8s-app=kube-dns"
    # The operator's own namespace, which MCPServer NetworkPolicies admit; "" outside a pod.
    # MCPOPS_POD_NAMESPACE, else the ServiceAccount's namespace.
    operator_namespace: str = ""
    # The operator pods' app.kubernetes.io/name (the chart's name). MCPOPS_OPERATOR_NAME.
    operator_name: str = "mcpops"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return env.get(name, "").strip()

        operator_image = get("MCPOPS_IMAGE") or DEFAULT_OPERATOR_IMAGE
        solver_image = get("MCPOPS_SOLVER_IMAGE") or (
            derived_solver_image(operator_image) if get("MCPOPS_IMAGE") else DEFAULT_SOLVER_IMAGE
        )
        proxy_image = get("MCPOPS_PROXY_IMAGE") or (
            derived_image(operator_image, "proxy") if get("MCPOPS_IMAGE") else DEFAULT_PROXY_IMAGE
        )
        own_namespace = get("MCPOPS_POD_NAMESPACE")
        if not own_namespace and SA_NAMESPACE.exists():
            own_namespace = SA_NAMESPACE.read_text().strip()
        lease_namespace = get("MCPOPS_LEASE_NAMESPACE") or own_namespace
        return cls(
            operator_image=operator_image,
            solver_image=solver_image,
            proxy_image=proxy_image,
            namespaces=tuple(n.strip() for n in get("MCPOPS_NAMESPACES").split(",") if n.strip()),
            workers=int(get("MCPOPS_WORKERS") or cls.workers),
            leader_elect=get("MCPOPS_LEADER_ELECT").lower() in TRUE,
            lease_name=get("MCPOPS_LEASE_NAME") or cls.lease_name,
            lease_namespace=lease_namespace or cls.lease_namespace,
            identity=get("MCPOPS_POD_NAME") or _default_identity(),
            metrics_host=get("MCPOPS_METRICS_HOST") or cls.metrics_host,
            metrics_port=int(get("MCPOPS_METRICS_PORT") or cls.metrics_port),
            log_level=get("MCPOPS_LOG_LEVEL") or cls.log_level,
            api_recheck_seconds=float(get("MCPOPS_API_RECHECK_SECONDS") or cls.api_recheck_seconds),
            max_solver_pods_per_namespace=max(
                0, int(get("MCPOPS_MAX_SOLVER_PODS_PER_NAMESPACE") or 0)
            ),
            cluster_dns=get("MCPOPS_CLUSTER_DNS") or cls.cluster_dns,
            operator_namespace=own_namespace,
            operator_name=get("MCPOPS_OPERATOR_NAME") or cls.operator_name,
        )
