"""Install as users do: the chart, the locally built image, a restricted namespace, a real pod."""

from __future__ import annotations

import re
import urllib.request

import pytest
from clusterkit import Cluster, wait_until
from conftest import Installed
from e2ekit import NODE_NAME

pytestmark = pytest.mark.e2e


def scrape(cluster: Cluster, installed: Installed) -> str:
    """/metrics through the chart's metrics Service (its ClusterIP, routed by kube-proxy)."""
    svc = cluster.get("service", f"{installed.release}-metrics", installed.namespace)
    assert svc is not None, "the chart's metrics Service"
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    with urllib.request.urlopen(f"http://{ip}:{port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def metric(text: str, name: str) -> float:
    found = re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    return sum(float(v) for v in found)


def test_the_operator_runs_as_a_pod_takes_the_lease_and_serves_metrics(
    cluster: Cluster, installed: Installed
) -> None:
    pod = cluster.get("pod", installed.pod, installed.namespace)
    assert pod is not None
    assert pod["spec"]["nodeName"] == NODE_NAME  # a real container, not a kwok simulation
    status = pod["status"]["containerStatuses"][0]
    assert status["ready"] and status["restartCount"] == 0, status
    assert status["state"].get("running"), status
    ns = cluster.get("namespace", installed.namespace)
    assert ns is not None
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"

    lease = wait_until(
        lambda: (
            (le := cluster.get("lease", installed.release, installed.namespace))
            and le["spec"].get("holderIdentity") == installed.pod
            and le
        ),
        timeout=60,
        what="the operator pod holding its Lease",
    )
    assert lease["spec"]["leaseDurationSeconds"] > 0

    text = wait_until(
        lambda: (t := scrape(cluster, installed)) and metric(t, "mcpops_leader") == 1 and t,
        timeout=60,
        what="mcpops_leader 1 on /metrics through the Service",
    )
    # It talks to the API server through the `kubernetes` Service (in-cluster config).
    assert metric(text, "mcpops_api_requests_total") > 0
