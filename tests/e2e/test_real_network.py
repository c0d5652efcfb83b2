"""spec.network enforced for real: the operator's NetworkPolicy, kube-router's policy
controller on the real node (netpolkit), real connections from pods in and out of the
allowed set, and from the server to a destination it lists or does not.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clusterkit import REPO, Cluster, wait_until
from conftest import Installed
from e2ekit import image, pod_manifest, real_namespace, wait_running
from netpolkit import policy_enforcer
from test_real_mcpservers import FAST, TIME_SUITE, call, cond, stable_url, status, time_server
from test_real_mcpservers import wait_ready as wait_server_ready
from toolpaths import require_tool

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

# Exit 0 when a TCP connection opens within 3 s (kube-router rejects what a policy refuses).
CONNECT = (
    "import socket, sys\n"
    "socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()\n"
)
RESOLVE = "import socket, sys; print(socket.getaddrinfo(sys.argv[1], 80)[0][4][0])"
TARGET_PORT = 8000


@pytest.fixture(scope="module")
def enforced(cluster: Cluster) -> Iterator[None]:
    binary = require_tool("MCPOPS_KUBEROUTER", "node")
    logs = Path(os.environ.get("MCPOPS_TEST_LOGS", REPO / ".cluster" / "logs"))
    logs.mkdir(parents=True, exist_ok=True)
    with policy_enforcer(cluster, binary, logs / "kube-router.log"):
        yield


@pytest.fixture
def outside(cluster: Cluster) -> Iterator[str]:
    """A second namespace on the real node, outside the server's by default."""
    name = real_namespace(cluster, "e2e-out", restricted=True)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def idle_pod(cluster: Cluster, ns: str, name: str, command: list[str]) -> dict[str, Any]:
    cluster.apply(pod_manifest(name, image("mcp-python"), command), ns)
    return wait_running(cluster, ns, name)


def connects(cluster: Cluster, ns: str, pod: str, ip: str, port: int, container: str) -> bool:
    res = cluster.kubectl(
        "exec", "-n", ns, pod, "-c", container, "--",
        "python3", "-c", CONNECT, ip, str(port), check=False, timeout=30,
    )  # fmt: skip
    return res.returncode == 0


def settles(probe: Any, want: bool, what: str) -> None:
    """Policies are programmed asynchronously: the probe reaches `want` within the deadline,
    then gives it again (no flapping back)."""
    wait_until(lambda: probe() is want, timeout=60, what=what)
    assert probe() is want, f"{what}: not stable"


def server_pod(cluster: Cluster, name: str, ns: str, revision: str) -> str:
    selector = f"mcpops.dev/server={name},mcpops.dev/revision={revision},!job-name"
    [pod] = cluster.list("pods", ns, selector)
    return str(pod["metadata"]["name"])


def test_the_policy_admits_only_what_the_spec_allows(
    cluster: Cluster, installed: Installed, namespace: str, outside: str, enforced: None
) -> None:
    name, ns = "guarded", namespace
    # A destination outside: a plain HTTP server in the other namespace.
    target = idle_pod(
        cluster, outside, "target", ["python3", "-m", "http.server", str(TARGET_PORT)]
    )
    target_ip = target["status"]["podIP"]
    insider = idle_pod(cluster, ns, "insider", ["python3", "-c", "import time; time.sleep(3600)"])
    outsider = idle_pod(
        cluster, outside, "outsider", ["python3", "-c", "import time; time.sleep(3600)"]
    )
    # Egress closed but DNS; ingress by default (the namespace). Its suite runs in a Job
    # and the kubelet's readiness checks come from the node: both get through.
    cluster.apply(time_server(name, network={"egress": []}, rollout=FAST, tests=[TIME_SUITE]), ns)
    st = wait_server_ready(cluster, name, ns)
    assert cond(st, "TestsPassed")["status"] == "True", st
    assert st["network"] == {"policy": name, "ingress": f"namespace {ns}", "egress": "DNSOnly"}
    assert cond(st, "EgressRestricted")["reason"] == "DNSOnly"
    policy = cluster.get("networkpolicy", name, ns)
    assert policy is not None and policy["metadata"]["ownerReferences"][0]["name"] == name
    first = st["activeRevision"]
    server = server_pod(cluster, name, ns, first)
    svc = cluster.get("service", name, ns)
    assert svc is not None
    svc_ip, svc_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]

    def from_insider() -> bool:
        return connects(cluster, ns, insider["metadata"]["name"], svc_ip, svc_port, "main")

    def from_outsider() -> bool:
        return connects(cluster, outside, outsider["metadata"]["name"], svc_ip, svc_port, "main")

    def to_target() -> bool:
        return connects(cluster, ns, server, target_ip, TARGET_PORT, "server")

    settles(from_insider, True, "a pod of the namespace connects")
    settles(from_outsider, False, "a pod of another namespace is refused")
    settles(to_target, False, "the server cannot reach an unlisted destination")
    # DNS still answers the server (cluster DNS is always allowed).
    res = cluster.kubectl("exec", "-n", ns, server, "-c", "server", "--", "python3", "-c",
                          RESOLVE, f"{name}.{ns}.svc.cluster.local")  # fmt: skip
    assert res.stdout.strip() == svc_ip, res
    # The node is always admitted: this test process, through kube-proxy.
    _, text = call(stable_url(cluster, name, ns), "get_current_time", {"timezone": "UTC"})
    assert json.loads(text)["timezone"] == "UTC"

    # The other namespace allowed instead, and the destination listed: no new revision,
    # the policy changes and the kernel follows.
    network = {
        "allowFrom": [{"namespaces": [outside]}],
        "egress": [{"namespaces": [outside], "ports": [{"port": TARGET_PORT}]}],
    }
    cluster.kubectl("patch", "mcpserver", name, "-n", ns, "--type=merge",
                    "-p", json.dumps({"spec": {"network": network}}))  # fmt: skip
    wait_until(
        lambda: (status(cluster, name, ns).get("network") or {}).get("egress") == "Restricted",
        timeout=60,
        what="status.network Restricted",
    )
    settles(from_outsider, True, "the listed namespace connects")
    settles(from_insider, False, "the namespace, no longer listed, is refused")
    settles(to_target, True, "the server reaches the listed destination")
    assert status(cluster, name, ns)["activeRevision"] == first
    assert cluster.wait_events(ns, name, reason="NetworkPolicyApplied", at_least=2)
