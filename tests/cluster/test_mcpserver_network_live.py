"""spec.network on the control plane: the NetworkPolicy the operator keeps (the API server
takes it: a policy it would refuse is caught here), its changes, removal, status, Events,
the gauge. Enforcement is the real node's (tests/e2e/test_real_network.py)."""

from __future__ import annotations

import json

from clusterkit import Cluster, OperatorProcess, wait_until
from test_mcpserver import cond, mcpserver, patch_spec, status, wait_ready

EGRESS_OPEN = ("mcpops_mcpservers_egress_open", frozenset())


def policy_of(cluster: Cluster, name: str, ns: str) -> dict:  # type: ignore[type-arg]
    found: dict = wait_until(  # type: ignore[type-arg]
        lambda: cluster.get("networkpolicy", name, ns), timeout=30, what=f"NetworkPolicy {name}"
    )
    return found


def test_a_server_gets_its_policy_which_follows_the_spec(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    ns = namespace
    cluster.apply(mcpserver("open"), ns)
    st = wait_ready(cluster, "open", ns, timeout=90)
    pol = policy_of(cluster, "open", ns)
    owner = cluster.get("mcpserver", "open", ns)
    assert owner is not None
    ref = pol["metadata"]["ownerReferences"][0]
    assert ref["uid"] == owner["metadata"]["uid"] and ref["controller"] is True
    for label in ("name", "instance", "managed-by", "part-of"):
        assert f"app.kubernetes.io/{label}" in pol["metadata"]["labels"]
    assert pol["spec"]["policyTypes"] == ["Ingress"]
    assert {"podSelector": {}} in pol["spec"]["ingress"][0]["from"]
    # The policy selects the server's pods and not its test Jobs' pods.
    pods = cluster.list("pods", ns, "mcpops.dev/server=open,!job-name")
    labels = pol["spec"]["podSelector"]["matchLabels"]
    assert pods and all(labels.items() <= p["metadata"]["labels"].items() for p in pods)
    assert (cond(st, "EgressRestricted")["status"], cond(st, "EgressRestricted")["reason"]) == (
        "False",
        "EgressOpen",
    )
    assert st["network"]["egress"] == "Open"
    [event] = cluster.wait_events(ns, "open", reason="NetworkPolicyApplied")
    assert "created" in event["message"]
    wait_until(lambda: operator.metrics()[EGRESS_OPEN] >= 1, timeout=10, what="egress-open gauge")

    # Everything the schema takes, the API server takes in the policy (endPort, except...).
    first = st["activeRevision"]
    network = {
        "allowFrom": [
            {"namespaces": ["agents"], "podSelector": {"matchLabels": {"role": "agent"}}},
            {"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]}},
        ],
        "egress": [
            {"cidr": "203.0.113.0/24", "except": ["203.0.113.7/32"],
             "ports": [{"port": 443}, {"port": 8000, "endPort": 8100}]},
            {"namespaces": ["db"], "ports": [{"port": 5432}]},
            {"ports": [{"port": 123, "protocol": "UDP"}]},
        ],
    }  # fmt: skip
    patch_spec(cluster, "open", ns, {"network": network})
    st = wait_until(
        lambda: (
            (s := status(cluster, "open", ns)).get("network", {}).get("egress") == "Restricted"
            and s
        ),
        timeout=30,
        what="status.network Restricted",
    )
    assert st["activeRevision"] == first and not st.get("candidateRevision")  # no rollout
    assert cond(st, "EgressRestricted")["reason"] == "Restricted"
    pol = wait_until(
        lambda: (
            (p := cluster.get("networkpolicy", "open", ns))
            and "Egress" in p["spec"]["policyTypes"]
            and p
        ),
        timeout=30,
        what="the policy with egress",
    )
    egress = pol["spec"]["egress"]
    assert egress[2]["to"] == [
        {"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.7/32"]}}
    ]
    assert {"protocol": "TCP", "port": 8000, "endPort": 8100} in egress[2]["ports"]
    assert len(cluster.wait_events(ns, "open", reason="NetworkPolicyApplied", at_least=2)) >= 2
    assert cond(status(cluster, "open", ns), "Ready")["status"] == "True"

    # Turned off: the policy goes, status says so.
    patch_spec(cluster, "open", ns, {"network": {"enabled": False}})
    wait_until(
        lambda: cluster.get("networkpolicy", "open", ns) is None, timeout=30, what="policy gone"
    )
    # The status write follows the policy's deletion (children first): wait for it.
    wait_until(
        lambda: (
            cond(status(cluster, "open", ns), "EgressRestricted").get("reason") == "NoNetworkPolicy"
        ),
        timeout=30,
        what="EgressRestricted NoNetworkPolicy",
    )
    assert cluster.wait_events(ns, "open", reason="NetworkPolicyRemoved")

    # Deleted by hand while wanted: put back.
    patch_spec(cluster, "open", ns, {"network": {"enabled": True, "egress": [], "allowFrom": None}})
    policy_of(cluster, "open", ns)
    cluster.kubectl("delete", "networkpolicy", "open", "-n", ns)
    pol = policy_of(cluster, "open", ns)
    assert pol["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_mistakes_in_network_are_refused_naming_the_field(crds: Cluster, namespace: str) -> None:
    """The CEL rules as the API server runs them (the hostile corpus has more)."""
    cases = {
        "spec.network.egress[0].except": {"egress": [{"cidr": "10.0.0.0/8",
                                                      "except": ["192.168.0.0/16"]}]},
        "spec.network.egress[0].cidr": {"egress": [{"cidr": "10.0.0.300/8"}]},
        "spec.network.allowFrom[0]": {"allowFrom": [{}]},
    }  # fmt: skip
    for field, network in cases.items():
        res = crds.kubectl(
            "create", "-n", namespace, "-f", "-", check=False,
            input_=json.dumps(mcpserver("bad", network=network)),
        )  # fmt: skip
        assert res.returncode != 0 and field in res.stderr, (field, res.stderr)
    good = {"egress": [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}], "allowFrom": []}
    crds.apply(mcpserver("good", network=good), namespace)
