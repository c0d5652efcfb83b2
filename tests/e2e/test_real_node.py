"""The real node itself: placement, cluster DNS, Services, and no way out of the machine."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest
from clusterkit import Cluster, make_namespace, wait_until
from e2ekit import (
    NODE_NAME,
    image,
    iptables_packets,
    pod_manifest,
    real_namespace,
    run_to_completion,
    wait_running,
)

pytestmark = pytest.mark.e2e

PROBE = """
import json, socket, sys, urllib.request
ns, outside = sys.argv[1], sys.argv[2:]
out = {}
def resolve(name):
    try:
        return socket.gethostbyname(name)
    except OSError as exc:
        return type(exc).__name__
def tcp(host, port):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, port))
        return "connected"
    except OSError as exc:
        return type(exc).__name__
    finally:
        s.close()
out["web"] = resolve(f"web.{ns}.svc.cluster.local")
out["short"] = resolve("web")
out["api"] = resolve("kubernetes.default.svc.cluster.local")
out["pypi"] = resolve("pypi.org")
out["http"] = urllib.request.urlopen(f"http://web.{ns}.svc.cluster.local/", timeout=10).status
out["outside"] = {h: tcp(h, 443) for h in outside}
print(json.dumps(out))
"""


def _default_gateway() -> str:
    out = subprocess.run(
        ["ip", "-4", "route", "show", "default"], capture_output=True, text=True, check=True
    ).stdout.split()
    return out[out.index("via") + 1]


def test_pods_resolve_and_reach_services_but_nothing_outside(
    cluster: Cluster, namespace: str
) -> None:
    py = image("mcp-python")
    server = pod_manifest("web", py, ["python3", "-m", "http.server", "8080"])
    server["spec"]["containers"][0]["readinessProbe"] = {
        "tcpSocket": {"port": 8080},
        "periodSeconds": 1,
    }
    cluster.apply(server, namespace)
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        namespace,
    )
    pod = wait_running(cluster, namespace, "web")
    assert pod["spec"]["nodeName"] == NODE_NAME
    svc = cluster.get("service", "web", namespace)
    assert svc is not None
    cluster_ip = svc["spec"]["clusterIP"]

    # From the machine: kube-proxy's rules route the ClusterIP to the pod.
    def host_get() -> int | None:
        with urllib.request.urlopen(f"http://{cluster_ip}/", timeout=3) as resp:
            return int(resp.status)

    assert wait_until(host_get, timeout=30, what="the Service from the host") == 200

    dropped_before = iptables_packets("MCPOPS-FWD", "DROP")
    outside = [_default_gateway(), "1.1.1.1"]
    phase, logs = run_to_completion(
        cluster,
        namespace,
        pod_manifest("probe", py, ["python3", "-c", PROBE, namespace, *outside]),
    )
    assert phase == "Succeeded", logs
    got = json.loads(logs.strip().splitlines()[-1])
    assert got["web"] == cluster_ip
    assert got["short"] == cluster_ip  # the namespace's search domain
    assert got["api"] == "10.96.0.1"
    assert got["pypi"] == "gaierror"  # cluster DNS answers cluster.local only
    assert got["http"] == 200
    # Connecting out fails (timeout: the node drops the packets, nothing answers)...
    assert all(v != "connected" for v in got["outside"].values()), got["outside"]
    # ...and it is the node's rule that dropped them, not luck.
    assert iptables_packets("MCPOPS-FWD", "DROP") > dropped_before


def test_pods_land_on_the_kind_of_node_their_namespace_chooses(cluster: Cluster) -> None:
    real = real_namespace(cluster, "e2e-place")
    simulated = make_namespace(cluster, "e2e-place-sim", restricted=True)
    try:
        py = image("mcp-python")
        for ns in (real, simulated):
            cluster.apply(pod_manifest("p", py, ["sleep", "60"]), ns)
        placed = {
            ns: wait_until(
                lambda ns=ns: (cluster.get("pod", "p", ns) or {}).get("spec", {}).get("nodeName"),
                timeout=60,
                what=f"pod p in {ns} scheduled",
            )
            for ns in (real, simulated)
        }
        assert placed[real] == NODE_NAME
        assert placed[simulated] != NODE_NAME and placed[simulated].startswith("kwok-node-")
        # A pod that asks for another node than the namespace's cannot get there: the
        # namespace's selector is merged into its own (PodNodeSelector), a conflicting value
        # of the same label is refused, and no node matches both.
        clash = pod_manifest("clash", py, ["sleep", "1"])
        clash["spec"]["nodeSelector"] = {"mcpops.dev/node": "simulated"}
        res = cluster.kubectl("apply", "-n", real, "-f", "-", input_=json.dumps(clash), check=False)
        assert res.returncode != 0 and "conflict" in res.stderr, res.stderr
        wrong = pod_manifest("wrong", py, ["sleep", "1"])
        wrong["spec"]["nodeSelector"] = {"type": "kwok"}
        cluster.apply(wrong, real)
        pod = wait_until(
            lambda: (
                (p := cluster.get("pod", "wrong", real))
                and any(
                    c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable"
                    for c in p.get("status", {}).get("conditions", [])
                )
                and p
            ),
            timeout=60,
            what="the pod that asks for a kwok node left unschedulable",
        )
        assert pod["spec"]["nodeSelector"] == {"type": "kwok", "mcpops.dev/node": "real"}
        assert not pod["spec"].get("nodeName")
    finally:
        for ns in (real, simulated):
            cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
