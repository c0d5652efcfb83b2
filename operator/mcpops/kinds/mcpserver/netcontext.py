"""Where cluster DNS and the operator are: what spec.network's policy needs beyond the spec
(from the operator's settings). Pure."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
DEFAULT_CLUSTER_DNS = "kube-system/k8s-app=kube-dns"

Peer = dict[str, Any]


@dataclass(frozen=True)
class NetworkContext:
    """What a policy needs beyond the spec: where cluster DNS answers, where the operator
    runs (None when it runs outside the cluster: its traffic then comes from a node)."""

    dns: tuple[Peer, ...] = field(default_factory=lambda: tuple(cluster_dns(DEFAULT_CLUSTER_DNS)))
    operator_namespace: str | None = None
    operator_name: str = "mcpops"  # the operator pods' app.kubernetes.io/name


def cluster_dns(text: str) -> list[Peer]:
    """MCPOPS_CLUSTER_DNS: comma-separated address ranges (10.96.0.10/32, a node-local
    cache's 169.254.20.10/32, a DNS server outside the pods) or `namespace/key=value`
    for DNS pods (default kube-system/k8s-app=kube-dns). Raises ValueError on anything else."""
    peers: list[Peer] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            peers.append({"ipBlock": {"cidr": str(ipaddress.ip_network(item, strict=False))}})
            continue
        except ValueError:
            pass
        namespace, _, selector = item.partition("/")
        key, eq, value = selector.partition("=")
        if not (namespace and key and eq):
            raise ValueError(f"MCPOPS_CLUSTER_DNS: {item!r} is neither a CIDR nor ns/key=value")
        peers.append(
            {
                "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}},
                "podSelector": {"matchLabels": {key: value}},
            }
        )
    return peers
