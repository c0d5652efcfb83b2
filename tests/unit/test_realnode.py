"""hack/realnode.py's decisions: what its teardown removes, what its network rules allow,
where pods go, and what the kubelet is told. (The node itself runs in tests/e2e.)"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from toolpaths import load_hack

REPO = Path(__file__).resolve().parents[2]


realnode = load_hack("realnode")

# `iptables -S` of a filter table after a node ran: the kubelet's, kube-proxy's, ours, and
# someone else's chain and rule that must survive.
LISTING = """\
-P INPUT ACCEPT
-P FORWARD ACCEPT
-P OUTPUT ACCEPT
-N KUBE-FIREWALL
-N KUBE-FORWARD
-N MCPOPS-FWD
-N DOCKER-USER
-A INPUT -j KUBE-FIREWALL
-A FORWARD -j MCPOPS-FWD
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -j DOCKER-USER
-A OUTPUT -j KUBE-FIREWALL
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -j DROP
-A MCPOPS-FWD -s 10.244.0.0/24 -j DROP
-A DOCKER-USER -j RETURN
"""


def test_teardown_removes_the_node_chains_and_their_hooks_only() -> None:
    jumps, chains = realnode.chain_cleanup(LISTING)
    assert chains == ["KUBE-FIREWALL", "KUBE-FORWARD", "MCPOPS-FWD"]
    assert jumps == [
        ["INPUT", "-j", "KUBE-FIREWALL"],
        ["FORWARD", "-j", "MCPOPS-FWD"],
        ["FORWARD", "-m", "comment", "--comment", '"kubernetes', "forwarding", 'rules"', "-j",
         "KUBE-FORWARD"],
        ["OUTPUT", "-j", "KUBE-FIREWALL"],
    ]  # fmt: skip
    # Rules inside the chains go with their chains; someone else's chain is left alone.
    assert not any("DOCKER-USER" in rule for rule in jumps)


def test_teardown_of_a_clean_table_does_nothing() -> None:
    assert realnode.chain_cleanup("-P INPUT ACCEPT\n-N DOCKER-USER\n") == ([], [])


def first_match(rules: list[list[str]], packet: dict[str, str]) -> str:
    """The target of the first rule matching a packet (src, dst, in, out); RETURN if none."""
    for rule in rules:
        args = iter(rule)
        matched, negate, target = True, False, ""
        for arg in args:
            if arg == "!":
                negate = True
                continue
            if arg == "-j":
                target = next(args)
                continue
            value = next(args)
            key = {"-s": "src", "-d": "dst", "-i": "in", "-o": "out"}[arg]
            if key in ("src", "dst"):
                hit = ipaddress.ip_address(packet[key]) in ipaddress.ip_network(value)
            else:
                hit = packet.get(key) == value
            matched &= hit != negate
            negate = False
        if matched:
            return target
    return "RETURN"


def test_pod_traffic_is_forwarded_to_the_bridge_only() -> None:
    fwd = realnode.guard_rules()[("MCPOPS-FWD", "FORWARD")]
    pod, other = "10.244.0.7", "10.244.0.8"
    assert first_match(fwd, {"src": pod, "dst": other, "in": "mcpops0", "out": "mcpops0"}) == (
        "RETURN"
    )
    for out in ("eth0", "wlan0", "docker0"):
        packet = {"src": pod, "dst": "1.1.1.1", "in": "mcpops0", "out": out}
        assert first_match(fwd, packet) == "DROP", out
    inbound = {"src": "192.0.2.1", "dst": pod, "in": "eth0", "out": "mcpops0"}
    assert first_match(fwd, inbound) == "DROP"


def test_the_machine_sends_nothing_for_cluster_ranges_out_of_its_interfaces() -> None:
    out = realnode.guard_rules()[("MCPOPS-OUT", "OUTPUT")]
    for dst in ("10.244.0.9", "10.96.0.10", "10.0.3.4", "10.1.0.1"):
        assert first_match(out, {"src": "192.0.2.2", "dst": dst, "out": "eth0"}) == "DROP"
        assert first_match(out, {"src": "192.0.2.2", "dst": dst, "out": "mcpops0"}) == "RETURN"
    assert first_match(out, {"src": "192.0.2.2", "dst": "151.101.0.223", "out": "eth0"}) == (
        "RETURN"
    )  # the machine's own traffic elsewhere is none of the node's business


def test_the_node_address_answers_lo_and_the_bridge_only() -> None:
    rules = realnode.guard_rules()[("MCPOPS-IN", "INPUT")]
    node = realnode.NODE_IP
    assert first_match(rules, {"src": "127.0.0.1", "dst": node, "in": "lo"}) == "RETURN"
    assert first_match(rules, {"src": "10.244.0.3", "dst": node, "in": "mcpops0"}) == "RETURN"
    assert first_match(rules, {"src": "192.0.2.1", "dst": node, "in": "eth0"}) == "DROP"


def test_ranges_do_not_overlap() -> None:
    nets = [
        ipaddress.ip_network(n)
        for n in (
            realnode.POD_CIDR,
            realnode.SERVICE_CIDR,
            f"{realnode.NODE_IP}/32",
            *realnode.SIMULATED_RANGES,
        )
    ]
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])


def test_placement_annotations_select_the_real_node_and_tolerate_its_taint_only() -> None:
    ann = realnode.placement_annotations()
    assert ann["scheduler.alpha.kubernetes.io/node-selector"] == realnode.NODE_LABEL
    tolerations = json.loads(ann["scheduler.alpha.kubernetes.io/defaultTolerations"])
    assert tolerations == [
        {"key": realnode.TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_the_kubelet_has_no_anonymous_access_and_keeps_its_images(tmp_path: Path) -> None:
    realnode.NODE_DIR = tmp_path
    cfg = json.loads(realnode._kubelet_config({"ports": {"kubelet_healthz": 1234}}).read_text())
    assert cfg["authentication"]["anonymous"]["enabled"] is False
    assert cfg["authorization"]["mode"] == "Webhook"
    assert cfg["imageGCHighThresholdPercent"] == 100  # no registry to pull them back from
    assert cfg["clusterDNS"] == [realnode.NODE_IP]
    assert cfg["registerWithTaints"][0]["key"] == realnode.TAINT_KEY
    # Pods with dnsPolicy Default get the cluster's resolver too, never the host's.
    assert (tmp_path / "resolv.conf").read_text() == f"nameserver {realnode.NODE_IP}\n"
