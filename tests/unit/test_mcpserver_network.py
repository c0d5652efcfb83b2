"""spec.network: the NetworkPolicy an MCPServer gets, and what status says of it (pure)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from test_mcpserver_plan import T0, FakeCluster, server

from mcpops.api.mcpserver import MCPServerSpec
from mcpops.api.network import Network
from mcpops.kinds.mcpserver.desired import revision_of
from mcpops.kinds.mcpserver.netcontext import NetworkContext, cluster_dns
from mcpops.kinds.mcpserver.network import policy
from mcpops.kinds.mcpserver.plan import plan
from mcpops_common.names import NAME_LABEL, SERVER_LABEL

CTX = NetworkContext(operator_namespace="mcpops-system")
KUBE_DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
OWN = {"podSelector": {"matchLabels": {NAME_LABEL: "mcpserver", SERVER_LABEL: "s"}}}
TESTS = {"podSelector": {"matchLabels": {NAME_LABEL: "mcpserver-test", SERVER_LABEL: "s"}}}
OPERATOR = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mcpops-system"}},
    "podSelector": {"matchLabels": {NAME_LABEL: "mcpops"}},
}


def built(network: dict[str, Any] | None, ctx: NetworkContext = CTX) -> dict[str, Any] | None:
    srv = server({"image": "img:1", **({"network": network} if network is not None else {})})
    spec = MCPServerSpec.model_validate(srv["spec"])
    return policy(srv, spec.network or Network(), ctx)


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_by_default_the_namespace_may_connect_and_egress_is_open() -> None:
    pol = built(None)
    assert pol is not None
    assert pol["metadata"]["name"] == "s" and pol["metadata"]["namespace"] == "ns"
    # Every revision's server pods; never the test Jobs' pods (their labels differ).
    assert pol["spec"]["podSelector"] == {
        "matchLabels": {NAME_LABEL: "mcpserver", SERVER_LABEL: "s"}
    }
    assert pol["spec"]["policyTypes"] == ["Ingress"]
    assert "egress" not in pol["spec"]
    [rule] = pol["spec"]["ingress"]
    assert "ports" not in rule  # the MCP port and the health sidecar's
    assert rule["from"] == [OWN, TESTS, OPERATOR, {"podSelector": {}}]


def test_allow_from_replaces_the_namespace_and_keeps_what_is_always_allowed() -> None:
    pol = built(
        {
            "allowFrom": [
                {"namespaces": ["agents", "batch"]},
                {"namespaceSelector": {"matchLabels": {"team": "a"}}, "podSelector": {
                    "matchLabels": {"role": "agent"}}},
                {"podSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}},
            ]
        }
    )  # fmt: skip
    assert pol is not None
    [rule] = pol["spec"]["ingress"]
    assert rule["from"] == [
        OWN,
        TESTS,
        OPERATOR,
        {
            "namespaceSelector": {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "In",
                        "values": ["agents", "batch"],
                    }
                ]
            }
        },
        {
            "namespaceSelector": {"matchLabels": {"team": "a"}},
            "podSelector": {"matchLabels": {"role": "agent"}},
        },
        {"podSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}},
    ]
    # Nobody else: only what is always allowed.
    pol = built({"allowFrom": []})
    assert pol is not None
    assert pol["spec"]["ingress"][0]["from"] == [OWN, TESTS, OPERATOR]


def test_an_operator_outside_the_cluster_needs_no_rule() -> None:
    pol = built(None, NetworkContext())
    assert pol is not None
    assert pol["spec"]["ingress"][0]["from"] == [OWN, TESTS, {"podSelector": {}}]


def test_egress_empty_is_dns_and_own_pods_only() -> None:
    pol = built({"egress": []})
    assert pol is not None
    assert pol["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert pol["spec"]["egress"] == [
        {
            "to": [KUBE_DNS],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
        {"to": [OWN]},
    ]


def test_listed_destinations_follow_dns() -> None:
    pol = built(
        {
            "egress": [
                {"cidr": "203.0.113.0/24", "except": ["203.0.113.7/32"],
                 "ports": [{"port": 443}, {"port": 8000, "endPort": 8010, "protocol": "UDP"}]},
                {"namespaces": ["db"], "podSelector": {"matchLabels": {"app": "pg"}},
                 "ports": [{"port": 5432}]},
                {"ports": [{"port": 53, "endPort": 53, "protocol": "UDP"}]},
            ]
        }
    )  # fmt: skip
    assert pol is not None
    listed = pol["spec"]["egress"][2:]
    assert listed == [
        {
            "to": [{"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.7/32"]}}],
            "ports": [
                {"protocol": "TCP", "port": 443},
                {"protocol": "UDP", "port": 8000, "endPort": 8010},
            ],
        },
        {
            "to": [
                {
                    "namespaceSelector": {
                        "matchExpressions": [
                            {"key": "kubernetes.io/metadata.name", "operator": "In",
                             "values": ["db"]}
                        ]
                    },
                    "podSelector": {"matchLabels": {"app": "pg"}},
                }
            ],
            "ports": [{"protocol": "TCP", "port": 5432}],
        },
        # Ports without a peer: any address on them (an endPort equal to port is dropped).
        {"ports": [{"protocol": "UDP", "port": 53}]},
    ]  # fmt: skip


def test_cluster_dns_by_address_or_by_pods() -> None:
    assert cluster_dns("kube-system/k8s-app=kube-dns") == [KUBE_DNS]
    assert cluster_dns(" 10.245.0.1/32, 169.254.20.10 ,fd00::a/128") == [
        {"ipBlock": {"cidr": "10.245.0.1/32"}},
        {"ipBlock": {"cidr": "169.254.20.10/32"}},
        {"ipBlock": {"cidr": "fd00::a/128"}},
    ]
    for bad in ("kube-dns", "kube-system/k8s-app", "/k8s-app=x"):
        with pytest.raises(ValueError, match="MCPOPS_CLUSTER_DNS"):
            cluster_dns(bad)
    pol = built({"egress": []}, NetworkContext(dns=tuple(cluster_dns("10.245.0.1/32"))))
    assert pol is not None
    assert pol["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "10.245.0.1/32"}}]


def test_status_reports_open_egress_and_the_policy() -> None:
    result = plan(server({"image": "img:1"}), FakeCluster().observed(), T0, net=CTX)
    cond = conditions(result.status)["EgressRestricted"]
    assert (cond["status"], cond["reason"]) == ("False", "EgressOpen")
    assert "spec.network.egress" in cond["message"]
    assert result.status["network"] == {"policy": "s", "ingress": "namespace ns", "egress": "Open"}
    [event] = [e for e in result.events if e.reason == "NetworkPolicyApplied"]
    assert "created" in event.message and "egress Open" in event.message

    result = plan(
        server({"image": "img:1", "network": {"egress": [], "allowFrom": []}}),
        FakeCluster().observed(),
        T0,
    )
    cond = conditions(result.status)["EgressRestricted"]
    assert (cond["status"], cond["reason"]) == ("True", "DNSOnly")
    assert result.status["network"]["egress"] == "DNSOnly"
    assert "own pods, test Jobs and the operator only" in result.status["network"]["ingress"]

    result = plan(
        server({"image": "img:1", "network": {"egress": [{"cidr": "10.0.0.0/8"}]}}),
        FakeCluster().observed(),
        T0,
    )
    cond = conditions(result.status)["EgressRestricted"]
    assert (cond["status"], cond["reason"]) == ("True", "Restricted")
    assert "1 destination" in cond["message"]


def test_changed_then_disabled_then_enabled_again() -> None:
    cluster = FakeCluster()
    srv = server({"image": "img:1"})
    cluster.run(srv, T0)
    for name in cluster.deployments:
        cluster.settle(name, ready=True)
    cluster.run(srv, T0)
    first = revision_of("s", MCPServerSpec.model_validate(srv["spec"]))
    assert set(cluster.policies) == {"s"}
    # At rest: nothing written, no Event.
    result = cluster.run(srv, T0 + timedelta(seconds=5))
    assert not result.apply and not result.events

    # Closing egress changes the policy, not the pods: no new revision.
    srv["spec"]["network"] = {"egress": []}
    result = cluster.run(srv, T0 + timedelta(seconds=10))
    assert [m["kind"] for m in result.apply] == ["NetworkPolicy"]
    assert [e.reason for e in result.events] == ["NetworkPolicyApplied"]
    assert "updated" in result.events[0].message
    assert cluster.policies["s"]["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert result.status["activeRevision"] == first and "candidateRevision" not in result.status

    # Turned off: the policy goes, and status says the server is open.
    srv["spec"]["network"] = {"enabled": False}
    result = cluster.run(srv, T0 + timedelta(seconds=15))
    assert [(d.kind, d.name) for d in result.delete] == [("NetworkPolicy", "s")]
    assert [e.reason for e in result.events] == ["NetworkPolicyRemoved"]
    assert cluster.policies == {}
    cond = conditions(result.status)["EgressRestricted"]
    assert (cond["status"], cond["reason"]) == ("False", "NoNetworkPolicy")
    assert "policy" not in result.status["network"]
    result = cluster.run(srv, T0 + timedelta(seconds=20))
    assert not result.delete and not result.events

    del srv["spec"]["network"]
    cluster.run(srv, T0 + timedelta(seconds=25))
    assert set(cluster.policies) == {"s"}


def test_a_policy_edited_by_hand_is_put_back() -> None:
    cluster = FakeCluster()
    srv = server({"image": "img:1", "network": {"egress": []}})
    cluster.run(srv, T0)
    cluster.policies["s"]["spec"]["policyTypes"] = ["Ingress"]  # someone opened egress
    cluster.policies["s"]["metadata"]["annotations"] = {}  # and the hash went with the edit
    result = cluster.run(srv, T0 + timedelta(seconds=1))
    assert [m["kind"] for m in result.apply] == ["NetworkPolicy"]
    assert cluster.policies["s"]["spec"]["policyTypes"] == ["Ingress", "Egress"]
