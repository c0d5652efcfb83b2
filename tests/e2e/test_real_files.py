"""Servers that need more than an image, for real: the filesystem server from npm reading a
mounted ConfigMap, a Secret-mounted file whose breaking change its suite refuses, and an
exposure's backend Service answering through this machine's kube-proxy.

The operator is the chart's pod (fixture `installed`); suites run as real Jobs on the real
node; the MCP client is this test process, through the stable Service's ClusterIP.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
import yaml
from clusterkit import Cluster, wait_until
from conftest import Installed
from e2ekit import NODE_NAME, image, path_of
from test_real_mcpservers import (
    FAST,
    call,
    cond,
    mcpserver,
    pods_of,
    stable_revision,
    stable_url,
    status,
    time_server,
    wait_ready,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

EXAMPLE = path_of("examples", "mcpserver-filesystem.yaml")


def example() -> tuple[dict[str, Any], dict[str, Any]]:
    """(ConfigMap, MCPServer) of examples/mcpserver-filesystem.yaml, as written."""
    docs = {d["kind"]: d for d in yaml.safe_load_all(EXAMPLE.read_text())}
    return docs["ConfigMap"], docs["MCPServer"]


def switched_from(cluster: Cluster, name: str, ns: str, old: str) -> dict[str, Any]:
    """Status once a revision other than `old` serves and the rollout is over."""
    return wait_until(
        lambda: (
            (s := status(cluster, name, ns)).get("activeRevision") not in (None, old)
            and s.get("phase") == "Healthy"
            and s
        ),
        timeout=300,
        what=f"{ns}/{name} switched from {old} and Healthy",
    )


def passed_job(cluster: Cluster, ns: str, revision: str) -> dict[str, Any]:
    [job] = cluster.list("jobs", ns, f"mcpops.dev/revision={revision}")
    assert job["status"].get("succeeded") == 1, job["status"]
    return job


def test_the_filesystem_server_from_npm_reads_a_mounted_configmap(
    cluster: Cluster, installed: Installed, namespace: str
) -> None:
    """examples/mcpserver-filesystem.yaml as a user applies it (the image's stable tag)."""
    files, server = example()
    assert server["spec"]["image"] == "mcpops.local/mcp-node:1"
    cluster.apply(files, namespace)
    server["spec"]["rollout"] = FAST
    cluster.apply(server, namespace)
    st = wait_ready(cluster, "files", namespace)
    assert cond(st, "TestsPassed")["status"] == "True", st
    first = st["activeRevision"]
    passed_job(cluster, namespace, first)
    [result] = [t for t in st["tests"] if t["revision"] == first]
    assert result["result"] == "Passed" and result["failed"] == 0, result
    [pod] = pods_of(cluster, "files", namespace, first)
    assert pod["spec"]["nodeName"] == NODE_NAME
    [docs] = [v for v in pod["spec"]["volumes"] if v["name"] == "docs"]
    assert docs["configMap"]["name"] == "files-docs"
    assert {r["kind"]: r["name"] for r in st["references"]} == {"ConfigMap": "files-docs"}

    url = stable_url(cluster, "files", namespace)
    tools, text = call(url, "read_text_file", {"path": "/data/hello.txt"})
    assert {"read_text_file", "list_directory", "write_file"} <= set(tools)
    assert text == "hello from a mounted volume\n"

    # The file changes: a new revision, tested by its own Job, serves the new content.
    files["data"]["hello.txt"] = "hello from a mounted volume, second edition\n"
    cluster.apply(files, namespace)
    second = switched_from(cluster, "files", namespace, first)["activeRevision"]
    passed_job(cluster, namespace, second)
    assert stable_revision(cluster, "files", namespace) == second
    # kube-proxy follows the switch asynchronously (seconds on a loaded machine): until it
    # has, a new connection may still reach the first revision, which serves the old file.
    url = stable_url(cluster, "files", namespace)
    wait_until(
        lambda: (
            call(url, "read_text_file", {"path": "/data/hello.txt"})[1]
            == "hello from a mounted volume, second edition\n"
        ),
        timeout=60,
        what="the second edition served through the stable Service",
    )


# The server reads its credentials from a Secret-mounted file, /creds/api-token. Mounted by
# subPath, so the kubelet never refreshes it in running pods (a whole Secret volume it would,
# in the serving revision too): a change reaches traffic only through a new, tested revision.
# The suite checks the file is there and not empty (by its size: a value never reaches a
# suite result).
CREDS_SUITE = {
    "name": "has-credentials",
    "timeoutSeconds": 120,
    "builtin": {
        "requiredTools": ["get_file_info"],
        "toolCalls": [
            {
                "tool": "get_file_info",
                "arguments": {"path": "/creds/api-token"},
                "expect": {"regex": "size: [1-9]"},
            }
        ],
    },
}


def secret(name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def test_a_breaking_secret_change_is_refused_by_the_suite(
    cluster: Cluster, installed: Installed, namespace: str
) -> None:
    name, ns = "creds", namespace
    values = [f"v{i}-{uuid.uuid4().hex}" for i in range(2)]
    cluster.apply(secret("upstream", **{"api-token": values[0]}), ns)
    mount = {"name": "creds", "mountPath": "/creds/api-token", "subPath": "api-token"}
    cluster.apply(
        mcpserver(
            name,
            image=image("mcp-node"),
            transport="stdio",
            command=["mcp-server-filesystem", "/creds"],
            volumes=[{"name": "creds", "secret": {"secretName": "upstream"}}],
            volumeMounts=[{**mount, "readOnly": True}],
            rollout=FAST,
            tests=[CREDS_SUITE],
        ),
        ns,
    )
    first = wait_ready(cluster, name, ns)["activeRevision"]

    # A rotation (a new value) is tested and serves.
    cluster.apply(secret("upstream", **{"api-token": values[1]}), ns)
    good = switched_from(cluster, name, ns, first)["activeRevision"]
    passed_job(cluster, ns, good)

    # A breaking rotation: the token written empty. The new revision starts (the file is
    # there), its suite fails in a real Job, traffic stays on the good revision.
    cluster.apply(secret("upstream", **{"api-token": ""}), ns)
    broken = wait_until(
        lambda: (s := status(cluster, name, ns)).get("failedRevision") and s,
        timeout=300,
        what="the breaking Secret change refused",
    )
    assert broken["activeRevision"] == good
    assert stable_revision(cluster, name, ns) == good
    [job] = cluster.list("jobs", ns, f"mcpops.dev/revision={broken['failedRevision']}")
    assert job["status"].get("failed"), job["status"]
    [result] = [t for t in broken["tests"] if t["revision"] == broken["failedRevision"]]
    assert result["result"] == "Failed" and result["failed"] >= 1, result
    # Why, where a person looks: the check, and what the server said (the file's size).
    described = cluster.kubectl("describe", "mcpserver", name, "-n", ns).stdout
    assert "RolloutFailed" in described and "get_file_info" in described, described
    [event] = cluster.wait_events(ns, name, reason="RolloutFailed")
    assert "size: 0" in event["message"], event["message"]

    # The serving revision still reads its (non-empty) token.
    _, text = call(stable_url(cluster, name, ns), "get_file_info", {"path": "/creds/api-token"})
    assert f"size: {len(values[1])}" in text, text
    # Values appear nowhere the operator writes.
    everything = cluster.kubectl(
        "get", "mcpservers,deployments,replicasets,jobs,events", "-n", ns, "-o", "json"
    ).stdout
    for value in values:
        for needle in (value, base64.b64encode(value.encode()).decode()):
            assert needle not in everything


def test_an_exposed_server_answers_through_the_service_its_ingress_names(
    cluster: Cluster, installed: Installed, namespace: str
) -> None:
    """No ingress controller runs here: what it would forward to, the backend Service the
    Ingress names, answers a real MCP call through kube-proxy, before and after a switch."""
    name, ns = "edge", namespace
    expose = {"ingress": {"className": "nginx", "host": "mcp.example.test"}}
    cluster.apply(time_server(name, expose=expose, rollout=FAST), ns)
    first = wait_ready(cluster, name, ns)["activeRevision"]
    ingress = wait_until(lambda: cluster.get("ingress", name, ns), timeout=60, what="Ingress")
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    backend = path["backend"]["service"]
    svc = cluster.get("service", backend["name"], ns)
    assert svc is not None and backend["port"]["number"] == svc["spec"]["ports"][0]["port"]
    assert svc["spec"]["selector"]["mcpops.dev/revision"] == first
    wait_until(
        lambda: cond(status(cluster, name, ns), "Exposed").get("reason") == "WaitingForAddress",
        timeout=30,
        what="Exposed WaitingForAddress (no ingress controller here)",
    )

    def through_backend() -> str:
        url = stable_url(cluster, backend["name"], ns)
        _, text = call(url, "get_current_time", {"timezone": "UTC"})
        return str(json.loads(text)["timezone"])

    assert through_backend() == "UTC"

    # A new revision: the Ingress is not rewritten, the Service it names now selects the
    # new pods, and kube-proxy routes there.
    env = [{"name": "LOCAL_TIMEZONE", "value": "UTC"}, {"name": "REVISION", "value": "2"}]
    patch = json.dumps({"spec": {"env": env}})
    cluster.kubectl("patch", "mcpserver", name, "-n", ns, "--type=merge", "-p", patch)
    second = switched_from(cluster, name, ns, first)["activeRevision"]
    after = cluster.get("ingress", name, ns)
    assert after is not None and after["spec"] == ingress["spec"]
    assert after["metadata"]["generation"] == ingress["metadata"]["generation"]
    green = {p["metadata"]["name"] for p in pods_of(cluster, name, ns, second)}

    def endpoints() -> set[str]:
        selector = f"kubernetes.io/service-name={backend['name']}"
        return {
            e["targetRef"]["name"]
            for s in cluster.list("endpointslices", ns, selector)
            for e in s.get("endpoints") or []
            if e.get("targetRef")
        }

    wait_until(lambda: endpoints() == green, timeout=30, what="the backend Service on green")
    # kube-proxy programs the new endpoints asynchronously: until then a connection may reach
    # a first-revision pod that is going away.
    wait_until(lambda: through_backend() == "UTC", timeout=60, what="green answers via the backend")
