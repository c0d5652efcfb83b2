"""The local control plane does what later tests rely on."""

from __future__ import annotations

import time
from typing import Any

import pytest
from clusterkit import Cluster, wait_until

RESTRICTED_POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def pod_spec(**extra: Any) -> dict[str, Any]:
    return {
        "securityContext": RESTRICTED_POD_SECURITY,
        "containers": [
            {"name": "c", "image": "example.invalid/app:1", "securityContext": RESTRICTED_CONTAINER}
        ],
        **extra,
    }


def job(name: str, annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": annotations or {}},
                "spec": pod_spec(restartPolicy="Never"),
            },
            **spec,
        },
    }


def condition(obj: dict[str, Any] | None, type_: str) -> str | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return str(cond["status"])
    return None


def test_nodes_ready(cluster: Cluster) -> None:
    nodes = cluster.list("nodes")
    assert nodes, "no nodes"
    assert all(condition(n, "Ready") == "True" for n in nodes)


def test_deployment_available_with_endpoints(cluster: Cluster, namespace: str) -> None:
    started = time.monotonic()
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec()},
            },
        },
        namespace,
    )
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
        namespace,
    )
    wait_until(
        lambda: condition(cluster.get("deployment", "web", namespace), "Available") == "True",
        timeout=30,
        what="Deployment Available",
    )
    assert time.monotonic() - started < 30
    pods = cluster.list("pods", namespace, "app=web")
    assert len(pods) == 2 and all(condition(p, "Ready") == "True" for p in pods)

    def ready_endpoints() -> int:
        slices = cluster.list(
            "endpointslices.discovery.k8s.io", namespace, "kubernetes.io/service-name=web"
        )
        return sum(
            1
            for s in slices
            for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")
        )

    wait_until(lambda: ready_endpoints() == 2, timeout=30, what="2 ready endpoints")


def test_job_outcomes_on_demand(cluster: Cluster, namespace: str) -> None:
    cluster.apply(job("pass", {"sim.mcpops.dev/message": '{"passed": 3}'}), namespace)
    cluster.apply(
        job(
            "fail",
            {
                "sim.mcpops.dev/outcome": "fail",
                "sim.mcpops.dev/exit-code": "3",
                "sim.mcpops.dev/message": "boom",
            },
        ),
        namespace,
    )
    cluster.apply(job("oom", {"sim.mcpops.dev/outcome": "oom"}), namespace)
    wait_until(
        lambda: condition(cluster.get("job", "pass", namespace), "Complete") == "True",
        timeout=30,
        what="job pass Complete",
    )
    for name in ("fail", "oom"):
        wait_until(
            lambda n=name: condition(cluster.get("job", n, namespace), "Failed") == "True",  # type: ignore[misc]
            timeout=30,
            what=f"job {name} Failed",
        )
    passed = cluster.list("pods", namespace, "job-name=pass")[0]
    term = passed["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and term["message"] == '{"passed": 3}'
    failed = cluster.list("pods", namespace, "job-name=fail")[0]
    term = failed["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["message"]) == (3, "boom")
    oom = cluster.list("pods", namespace, "job-name=oom")[0]
    assert oom["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "OOMKilled"


def test_job_hangs_until_deadline(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        job("slow", {"sim.mcpops.dev/outcome": "hang"}, activeDeadlineSeconds=3), namespace
    )
    got = wait_until(
        lambda: (
            cluster.get("job", "slow", namespace)
            if condition(cluster.get("job", "slow", namespace), "Failed") == "True"
            else None
        ),
        timeout=40,
        what="job slow Failed by deadline",
    )
    reasons = {c.get("reason") for c in got["status"]["conditions"]}
    assert "DeadlineExceeded" in reasons


def test_pod_not_ready_on_demand(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "labels": {"app": "p"}},
            "spec": pod_spec(),
        },
        namespace,
    )
    wait_until(
        lambda: condition(cluster.get("pod", "p", namespace), "Ready") == "True",
        what="pod Ready",
    )
    cluster.kubectl("annotate", "pod", "p", "-n", namespace, "sim.mcpops.dev/ready=false")
    wait_until(
        lambda: condition(cluster.get("pod", "p", namespace), "Ready") == "False",
        what="pod turned not Ready",
    )
    cluster.kubectl("annotate", "pod", "p", "-n", namespace, "sim.mcpops.dev/ready-")
    wait_until(
        lambda: condition(cluster.get("pod", "p", namespace), "Ready") == "True",
        what="pod Ready again",
    )


def test_garbage_collection_of_owned_children(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}, namespace
    )
    owner = cluster.get("configmap", "owner", namespace)
    assert owner is not None
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "child",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "owner",
                        "uid": owner["metadata"]["uid"],
                    }
                ],
            },
        },
        namespace,
    )
    cluster.kubectl("delete", "configmap", "owner", "-n", namespace)
    wait_until(
        lambda: cluster.get("configmap", "child", namespace) is None,
        timeout=30,
        what="child collected",
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"privileged": True},
        {"allowPrivilegeEscalation": True},
        {"capabilities": {"add": ["NET_ADMIN"]}},
    ],
)
def test_restricted_pod_security_enforced(
    cluster: Cluster, namespace: str, bad: dict[str, Any]
) -> None:
    spec = pod_spec()
    spec["containers"][0]["securityContext"] = {**RESTRICTED_CONTAINER, **bad}
    res = cluster.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input_=__import__("json").dumps(
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"}, "spec": spec}
        ),
        check=False,
    )
    assert res.returncode != 0
    assert "forbidden" in res.stderr.lower() or "PodSecurity" in res.stderr
