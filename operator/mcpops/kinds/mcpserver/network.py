"""spec.network: the NetworkPolicy over an MCPServer's pods, and what status says of it. Pure.

One policy per MCPServer, named like it, selecting the server's pods of every revision (a
candidate under test is held to the same rules as what serves), never its test Jobs' pods.
Ingress: the namespace by default, or the peers of `allowFrom`; always the server's own
pods (the proxy forwards a session to the replica that owns it), its test Jobs and the
operator. The node needs no rule: NetworkPolicy always admits a pod's own node, which is
where the kubelet's readiness checks come from. Egress: no rule at all (open) unless
`egress` is set; then cluster DNS, the server's own pods, and what is listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mcpops.api.base import Condition
from mcpops.api.network import EgressDestination, Network, NetworkPeer, NetworkPort
from mcpops.api.podspec import LabelSelector
from mcpops.kinds.mcpserver.children import apply
from mcpops.kinds.mcpserver.desired import COMPONENT, TEST_COMPONENT
from mcpops.kinds.mcpserver.netcontext import NAMESPACE_NAME_LABEL, NetworkContext, Peer
from mcpops.kinds.mcpserver.state import Inputs, Plan, State
from mcpops.objects.bodies import Body, Manifest
from mcpops.objects.children import child_meta, labels, stamp, up_to_date
from mcpops.objects.effects import Delete
from mcpops_common.names import NAME_LABEL, SERVER_LABEL

API_VERSION = "networking.k8s.io/v1"
KIND = "NetworkPolicy"
CONDITION = "EgressRestricted"


def settings(spec_network: Network | None) -> Network:
    return spec_network or Network()


# ---------------------------------------------------------------- the desired object


def _selector(sel: LabelSelector) -> dict[str, Any]:
    return sel.to_wire()


def _peer(
    namespaces: list[str] | None, ns_sel: LabelSelector | None, pods: LabelSelector | None
) -> Peer:
    """A NetworkPolicyPeer: namespaces by name become a selector on their name label."""
    out: Peer = {}
    if namespaces:
        expr = {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(namespaces)}
        out["namespaceSelector"] = {"matchExpressions": [expr]}
    elif ns_sel is not None:
        out["namespaceSelector"] = _selector(ns_sel)
    if pods is not None:
        out["podSelector"] = _selector(pods)
    return out


def _from(peer: NetworkPeer) -> Peer:
    return _peer(peer.namespaces, peer.namespace_selector, peer.pod_selector)


def _own_pods(name: str) -> Peer:
    return {"podSelector": {"matchLabels": {NAME_LABEL: COMPONENT, SERVER_LABEL: name}}}


def always_allowed(name: str, ctx: NetworkContext) -> list[Peer]:
    """Who may always connect: the server's own pods, its test Jobs, the operator."""
    peers = [
        _own_pods(name),
        {"podSelector": {"matchLabels": {NAME_LABEL: TEST_COMPONENT, SERVER_LABEL: name}}},
    ]
    if ctx.operator_namespace:
        peers.append(
            {
                "namespaceSelector": {
                    "matchLabels": {NAMESPACE_NAME_LABEL: ctx.operator_namespace}
                },
                "podSelector": {"matchLabels": {NAME_LABEL: ctx.operator_name}},
            }
        )
    return peers


def ingress_peers(name: str, net: Network, ctx: NetworkContext) -> list[Peer]:
    """The namespace by default ({podSelector: {}} is every pod of the policy's namespace),
    else the listed peers; what is always allowed first."""
    listed = [{"podSelector": {}}] if net.allow_from is None else [_from(p) for p in net.allow_from]
    return [*always_allowed(name, ctx), *listed]


def _ports(ports: Iterable[NetworkPort] | None) -> list[dict[str, Any]]:
    out = []
    for p in ports or []:
        entry: dict[str, Any] = {"protocol": p.protocol, "port": p.port}
        if p.end_port is not None and p.end_port != p.port:
            entry["endPort"] = p.end_port
        out.append(entry)
    return out


def _to(dest: EgressDestination) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if dest.cidr is not None:
        block: dict[str, Any] = {"cidr": dest.cidr}
        if dest.except_:
            block["except"] = list(dest.except_)
        rule["to"] = [{"ipBlock": block}]
    elif dest.namespaces or dest.namespace_selector or dest.pod_selector:
        rule["to"] = [_peer(dest.namespaces, dest.namespace_selector, dest.pod_selector)]
    ports = _ports(dest.ports)
    if ports:
        rule["ports"] = ports
    return rule


DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def egress_rules(name: str, net: Network, ctx: NetworkContext) -> list[dict[str, Any]] | None:
    """None: egress open (no Egress policy type). Else cluster DNS, the server's own pods
    (the proxy forwards between replicas), then each listed destination."""
    if net.egress is None:
        return None
    rules: list[dict[str, Any]] = [
        {"to": [dict(p) for p in ctx.dns], "ports": DNS_PORTS},
        {"to": [_own_pods(name)]},
    ]
    return rules + [_to(d) for d in net.egress]


def policy(parent: Body, net: Network, ctx: NetworkContext) -> Manifest | None:
    """The NetworkPolicy of the server's pods (None when spec.network.enabled is false)."""
    if not net.enabled:
        return None
    name = parent["metadata"]["name"]
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": {NAME_LABEL: COMPONENT, SERVER_LABEL: name}},
        "policyTypes": ["Ingress"],
        # No ports: any port of the pod (the MCP port and the health sidecar's).
        "ingress": [{"from": ingress_peers(name, net, ctx)}],
    }
    egress = egress_rules(name, net, ctx)
    if egress is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = egress
    meta = child_meta(parent, name, labels(COMPONENT, name, **{SERVER_LABEL: name}))
    return stamp({"apiVersion": API_VERSION, "kind": KIND, "metadata": meta, "spec": spec})


# ---------------------------------------------------------------- what status says


def _describe_peer(peer: NetworkPeer, namespace: str) -> str:
    where = (
        f"namespaces {', '.join(sorted(peer.namespaces))}"
        if peer.namespaces
        else "namespaces selected by label"
        if peer.namespace_selector is not None
        else f"namespace {namespace}"
    )
    return f"pods selected by label in {where}" if peer.pod_selector is not None else where


def ingress_summary(net: Network, namespace: str) -> str:
    if net.allow_from is None:
        return f"namespace {namespace}"
    if not net.allow_from:
        return "its own pods, test Jobs and the operator only"
    return "; ".join(_describe_peer(p, namespace) for p in net.allow_from)


def egress_state(net: Network) -> str:
    if not net.enabled or net.egress is None:
        return "Open"
    return "Restricted" if net.egress else "DNSOnly"


def summary(inp: Inputs) -> dict[str, Any]:
    """status.network."""
    net = settings(inp.spec.network)
    if not net.enabled:
        return {"egress": "Open", "ingress": "any pod (spec.network.enabled: false)"}
    return {
        "policy": inp.name,
        "ingress": ingress_summary(net, inp.namespace),
        "egress": egress_state(net),
    }


def condition(inp: Inputs) -> Condition:
    """EgressRestricted: False (open) is not a failure, but a person should know."""
    net = settings(inp.spec.network)
    if not net.enabled:
        return Condition(
            type=CONDITION,
            status="False",
            reason="NoNetworkPolicy",
            message="spec.network.enabled is false: no NetworkPolicy, any pod may connect and "
            "the server may connect anywhere",
        )
    if net.egress is None:
        return Condition(
            type=CONDITION,
            status="False",
            reason="EgressOpen",
            message="the server may connect anywhere: list what it needs in "
            "spec.network.egress (egress: [] leaves cluster DNS only)",
        )
    if not net.egress:
        return Condition(
            type=CONDITION,
            status="True",
            reason="DNSOnly",
            message=f"NetworkPolicy {inp.name}: cluster DNS and the server's own pods only",
        )
    return Condition(
        type=CONDITION,
        status="True",
        reason="Restricted",
        message=f"NetworkPolicy {inp.name}: cluster DNS, the server's own pods and "
        f"{len(net.egress)} destination(s) of spec.network.egress",
    )


# ---------------------------------------------------------------- the step


def network(st: State, inp: Inputs, out: Plan) -> None:
    """The wanted NetworkPolicy applied (an Event when it is made or changed); any other
    of this server's removed."""
    net = settings(inp.spec.network)
    wanted = policy(inp.server, net, inp.network)
    found = inp.observed.network_policies
    if wanted is not None:
        live = found.get(inp.name)
        if not up_to_date(wanted, live):
            verb = "created" if live is None else "updated"
            out.event(
                "Normal",
                "NetworkPolicyApplied",
                f"NetworkPolicy {inp.name} {verb}: ingress from "
                f"{ingress_summary(net, inp.namespace)}; egress {egress_state(net)}",
            )
        apply(out, wanted, live)
    for name, body in found.items():
        if wanted is not None and name == inp.name:
            continue
        out.delete.append(Delete(API_VERSION, KIND, name, body["metadata"]["uid"]))
        out.event("Normal", "NetworkPolicyRemoved", f"NetworkPolicy {name} removed (spec.network)")
