"""spec.network: which pods may connect to the server, and where the server may connect.

The operator keeps one NetworkPolicy per MCPServer (named like it) over the server's pods,
every revision's. Ingress: by default every pod of the MCPServer's namespace; `allowFrom`
lists who instead. The server's own pods, its test Jobs and the operator are always
allowed, and the node is by NetworkPolicy's own rules (the kubelet's readiness checks).
Egress: open unless `egress` is given (status says so); `egress: []` leaves cluster DNS
only. A network plugin that enforces NetworkPolicy is needed for any of it to hold.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mcpops.api.base import ApiModel, cel, validations
from mcpops.api.podspec import DNS_LABEL, LabelSelector

# An IPv4 or IPv6 address range; CEL's isCIDR (Kubernetes 1.31+) is the exact check.
CIDR_CHARS = r"^[0-9a-fA-F:.]+/[0-9]{1,3}$"
Cidr = Annotated[
    str,
    Field(
        max_length=64,
        pattern=CIDR_CHARS,
        json_schema_extra=validations(
            cel("isCIDR(self)", "must be an address range such as 10.0.0.0/8 or fd00::/8")
        ),
    ),
]
NamespaceName = Annotated[str, Field(max_length=63, pattern=DNS_LABEL)]

_PODS = "has(self.namespaces) || has(self.namespaceSelector) || has(self.podSelector)"
_ONE_NAMESPACE_FORM = cel(
    "!(has(self.namespaces) && has(self.namespaceSelector))",
    "set namespaces or namespaceSelector, not both",
)


class PodPeers(ApiModel):
    """Pods: those matching podSelector (default: all) in the namespaces named, or matching
    namespaceSelector (default: the MCPServer's own)."""

    namespaces: list[NamespaceName] | None = Field(
        default=None,
        description="Namespaces by name, e.g. [agents]: every pod there (or those matching "
        "podSelector).",
        min_length=1,
        max_length=32,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    namespace_selector: LabelSelector | None = Field(
        default=None, description="Namespaces by label ({} is every namespace)."
    )
    pod_selector: LabelSelector | None = Field(
        default=None,
        description="Pods by label, in the namespaces above (without them: in the "
        "MCPServer's namespace).",
    )


class NetworkPeer(PodPeers):
    """Pods allowed to connect: those matching podSelector (default: all) in the
    namespaces named, or matching namespaceSelector (default: the MCPServer's own)."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            _ONE_NAMESPACE_FORM,
            cel(_PODS, "name namespaces, a namespaceSelector or a podSelector"),
        )
    }


class NetworkPort(ApiModel):
    """A destination port, or a range of them."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.endPort) || self.endPort >= self.port",
                "endPort must not be below port",
                field_path=".endPort",
            )
        )
    }

    port: int = Field(ge=1, le=65535, description="The port, e.g. 443.")
    end_port: int | None = Field(
        default=None, ge=1, le=65535, description="Last port of a range starting at port."
    )
    protocol: Literal["TCP", "UDP", "SCTP"] = Field(default="TCP", description="TCP, UDP or SCTP.")


class EgressDestination(PodPeers):
    """One place the server may connect to: an address range (cidr), or pods (namespaces,
    namespaceSelector, podSelector), or, with neither, any address; on the ports listed
    (default: every port)."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                f"!(has(self.cidr) && ({_PODS}))",
                "set cidr or pods (namespaces, namespaceSelector, podSelector), not both",
            ),
            _ONE_NAMESPACE_FORM,
            cel("!has(self.except) || has(self.cidr)", "except needs cidr", field_path=".except"),
            cel(
                "!has(self.except) || !has(self.cidr) || !isCIDR(self.cidr) || "
                "self.except.all(e, !isCIDR(e) || cidr(self.cidr).containsCIDR(e))",
                "every except range must lie inside cidr",
                field_path=".except",
            ),
            cel(
                f"has(self.cidr) || {_PODS} || has(self.ports)",
                "name a cidr, pods or ports (an empty destination would allow everything)",
            ),
        )
    }

    cidr: Cidr | None = Field(default=None, description="An address range, e.g. 203.0.113.0/24.")
    except_: list[Cidr] | None = Field(
        default=None,
        alias="except",
        description="Ranges inside cidr left out, e.g. the cloud metadata address.",
        max_length=32,
    )
    ports: list[NetworkPort] | None = Field(
        default=None, description="Ports allowed (default: every port).", max_length=32
    )


class Network(ApiModel):
    """The NetworkPolicy of the server's pods. Needs a network plugin that enforces
    NetworkPolicy (Calico, Cilium, kube-router...): without one it is written but nothing
    holds."""

    enabled: bool = Field(
        default=True,
        description="Keep the NetworkPolicy (default). false removes it: every pod may connect "
        "and the server may connect anywhere.",
    )
    allow_from: list[NetworkPeer] | None = Field(
        default=None,
        description="Who may connect to the server. Default: every pod of the MCPServer's "
        "namespace. [] or a list: only those, besides what is always allowed (the server's own "
        "pods, its test Jobs, the operator, and the node: the kubelet's checks). An ingress "
        "controller or Gateway in front of spec.expose must be listed.",
        max_length=32,
    )
    egress: list[EgressDestination] | None = Field(
        default=None,
        description="Where the server may connect, besides cluster DNS and its own pods. Left "
        "out: anywhere (egress open, reported by the EgressRestricted condition). []: nowhere "
        "but DNS.",
        max_length=32,
    )


class NetworkStatus(ApiModel):
    """What the NetworkPolicy allows, in short."""

    policy: str | None = Field(default=None, description="Name of the NetworkPolicy, if any.")
    ingress: str | None = Field(
        default=None, description="Who may connect, e.g. 'namespace team-a' or '2 peers'."
    )
    egress: Literal["Open", "Restricted", "DNSOnly"] | None = Field(
        default=None,
        description="Open (anywhere), Restricted (DNS and the listed destinations), DNSOnly.",
    )
