"""MCPServer on the control plane: the operator as a real process, the cluster as it is."""

from __future__ import annotations

import json
from typing import Any

import pytest
from clusterkit import Cluster, OperatorProcess, wait_other_test_namespaces_gone, wait_until


def mcpserver(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": name},
        "spec": {"image": "example.invalid/mcp:1", **spec},
    }


def status(cluster: Cluster, name: str, ns: str) -> dict[str, Any]:
    obj = cluster.get("mcpserver", name, ns) or {}
    result: dict[str, Any] = obj.get("status") or {}
    return result


def cond(st: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in st.get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


def wait_ready(cluster: Cluster, name: str, ns: str, timeout: float = 45) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        obj = cluster.get("mcpserver", name, ns) or {}
        st = obj.get("status") or {}
        if (
            cond(st, "Ready").get("status") == "True"
            and st.get("observedGeneration") == obj["metadata"]["generation"]
            and not st.get("candidateRevision")
        ):
            return dict(st)
        return None

    return wait_until(ready, timeout=timeout, what=f"MCPServer {name} Ready")


def deployments(cluster: Cluster, name: str, ns: str) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["labels"]["mcpops.dev/revision"]: d
        for d in cluster.list("deployments", ns, f"mcpops.dev/server={name}")
    }


def patch_spec(cluster: Cluster, name: str, ns: str, spec: dict[str, Any]) -> None:
    cluster.kubectl(
        "patch", "mcpserver", name, "-n", ns, "--type=merge", "-p", json.dumps({"spec": spec})
    )


def stable_revision(cluster: Cluster, name: str, ns: str) -> str:
    svc = cluster.get("service", name, ns)
    assert svc is not None
    return str(svc["spec"]["selector"]["mcpops.dev/revision"])


def test_create_ready_with_owned_labelled_children(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(mcpserver("alpha", replicas=2), namespace)
    st = wait_ready(cluster, "alpha", namespace)
    assert st["phase"] == "Healthy" and st["readyReplicas"] == 2
    rev = st["activeRevision"]
    deps = deployments(cluster, "alpha", namespace)
    assert set(deps) == {rev}
    owner = cluster.get("mcpserver", "alpha", namespace)
    assert owner is not None
    for kind, name in (
        ("deployment", f"alpha-{rev}"),
        ("service", "alpha"),
        ("service", "alpha-preview"),
    ):
        child = cluster.get(kind, name, namespace)
        assert child is not None, (kind, name)
        meta = child["metadata"]
        assert meta["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
        assert meta["ownerReferences"][0]["controller"] is True
        for label in ("name", "instance", "managed-by", "part-of"):
            assert f"app.kubernetes.io/{label}" in meta["labels"]
    assert stable_revision(cluster, "alpha", namespace) == rev
    # Pods run in a namespace that enforces the restricted standard, with limits.
    pod = cluster.list("pods", namespace, "mcpops.dev/server=alpha")[0]
    for container in pod["spec"]["containers"]:
        assert container["resources"]["limits"] and container["resources"]["requests"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert cluster.wait_events(namespace, "alpha", reason="TrafficSwitched")


def test_scale_keeps_revision_and_image_change_makes_new_one(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(
        mcpserver("beta", rollout={"scaleDownDelaySeconds": 10, "verifySeconds": 10}), namespace
    )
    first = wait_ready(cluster, "beta", namespace)["activeRevision"]
    patch_spec(cluster, "beta", namespace, {"replicas": 3})
    st = wait_until(
        lambda: (s := wait_ready(cluster, "beta", namespace))["readyReplicas"] == 3 and s,
        timeout=45,
        what="3 ready replicas",
    )
    assert st["activeRevision"] == first
    assert set(deployments(cluster, "beta", namespace)) == {first}

    patch_spec(cluster, "beta", namespace, {"image": "example.invalid/mcp:2"})
    st = wait_until(
        lambda: (s := wait_ready(cluster, "beta", namespace))["activeRevision"] != first and s,
        timeout=45,
        what="new revision active",
    )
    second = st["activeRevision"]
    deps = deployments(cluster, "beta", namespace)
    assert deps[second]["spec"]["replicas"] == 3
    # The previous revision stays up for the undo window, then goes to zero.
    assert st["phase"] == "Verifying" and deps[first]["spec"]["replicas"] == 3
    wait_until(
        lambda: deployments(cluster, "beta", namespace)[first]["spec"]["replicas"] == 0,
        what="old revision scaled to zero",
    )
    history = [r["revision"] for r in st["revisions"]]
    assert history[:2] == [second, first]


def test_no_writes_when_nothing_changed(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    # The write counter is the operator's, across namespaces: let the namespaces of
    # earlier tests finish going away first.
    wait_other_test_namespaces_gone(cluster, namespace)
    cluster.apply(mcpserver("quiet"), namespace)
    wait_ready(cluster, "quiet", namespace)

    # Settled: the write counter stops moving.
    operator.wait_quiet(timeout=30, quiet=3)
    baseline = operator.write_counts()
    # Counted before the changes: the operator may well have reconciled them all before
    # the next line of this test runs.
    reconciles_before = sum(
        v for (n, _), v in operator.metrics().items() if n == "mcpops_reconciles_total"
    )
    # A change the operator must look at but that changes nothing it owns:
    cluster.kubectl("label", "mcpserver", "quiet", "-n", namespace, "team=a")
    cluster.kubectl("annotate", "mcpserver", "quiet", "-n", namespace, "note=hello")
    dep = cluster.list("deployments", namespace, "mcpops.dev/server=quiet")[0]
    cluster.kubectl(
        "annotate", "deployment", dep["metadata"]["name"], "-n", namespace, "touched=yes"
    )
    wait_until(
        lambda: (
            sum(v for (n, _), v in operator.metrics().items() if n == "mcpops_reconciles_total")
            >= reconciles_before + 1
        ),
        what="the operator reconciled the changes",
    )
    operator.wait_quiet(timeout=30, quiet=3)
    assert operator.write_counts() == baseline


def test_delete_removes_everything(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(mcpserver("gamma"), namespace)
    wait_ready(cluster, "gamma", namespace)
    cluster.kubectl("delete", "mcpserver", "gamma", "-n", namespace)
    wait_until(
        lambda: not cluster.list("deployments,services", namespace, "mcpops.dev/server=gamma"),
        timeout=45,
        what="children garbage-collected",
    )


def test_operator_restart_mid_rollout_converges(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(mcpserver("delta"), namespace)
    first = wait_ready(cluster, "delta", namespace)["activeRevision"]
    # Events are posted after the status write; one in flight when the process is killed
    # is lost (as with any controller's event recorder), so the first must have landed.
    cluster.wait_events(namespace, "delta", reason="TrafficSwitched")
    operator.kill()
    try:
        patch_spec(cluster, "delta", namespace, {"image": "example.invalid/mcp:3", "replicas": 2})
    finally:
        operator.start()
    st = wait_until(
        lambda: (s := wait_ready(cluster, "delta", namespace))["activeRevision"] != first and s,
        timeout=60,
        what="converged after restart",
    )
    assert st["readyReplicas"] == 2
    switches = cluster.wait_events(namespace, "delta", reason="TrafficSwitched", at_least=2)
    assert len(switches) == 2  # the first revision, then exactly one switch to the second


def test_candidate_that_never_becomes_ready_keeps_traffic(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(mcpserver("eps"), namespace)
    first = wait_ready(cluster, "eps", namespace)["activeRevision"]
    patch_spec(
        cluster,
        "eps",
        namespace,
        {
            "image": "example.invalid/mcp:broken",
            "podAnnotations": {"sim.mcpops.dev/ready": "false"},
        },
    )
    st = wait_until(
        lambda: (s := status(cluster, "eps", namespace)).get("candidateRevision") and s,
        what="candidate recorded",
    )
    assert st["activeRevision"] == first
    assert cond(st, "Progressing")["status"] == "True"
    assert stable_revision(cluster, "eps", namespace) == first
    preview = cluster.get("service", "eps-preview", namespace)
    assert preview is not None
    assert preview["spec"]["selector"]["mcpops.dev/revision"] == st["candidateRevision"]


def test_stdio_server_gets_the_proxy(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(
        mcpserver("tick", transport="stdio", command=["uvx", "mcp-server-time"]), namespace
    )
    st = wait_ready(cluster, "tick", namespace)
    dep = deployments(cluster, "tick", namespace)[st["activeRevision"]]
    pod = dep["spec"]["template"]["spec"]
    server = pod["containers"][0]
    assert server["command"][-2:] == ["uvx", "mcp-server-time"]
    assert server["command"][0] == "/mcpops/bin/mcpops-proxy"
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert server["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert pod["initContainers"][0]["name"] == "install-proxy"
    # One session key per server, created by the operator and owned by the server.
    secret = cluster.get("secret", "tick-mcpops-session", namespace)
    assert secret is not None and len(secret["data"]["key"]) >= 40  # 32 bytes, base64
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "MCPServer"


INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("no-image", {"image": None}, "spec.image"),
    ("empty-image", {"image": ""}, "spec.image"),
    ("port-zero", {"port": 0}, "spec.port"),
    ("port-high", {"port": 70000}, "spec.port"),
    ("path-relative", {"path": "mcp"}, "spec.path"),
    ("bad-transport", {"transport": "websocket"}, "spec.transport"),
    ("stdio-no-command", {"transport": "stdio"}, "spec.command"),
    ("negative-replicas", {"replicas": -1}, "spec.replicas"),
    ("bad-cpu", {"resources": {"limits": {"cpu": "lots"}}}, "spec.resources.limits.cpu"),
    ("bad-env-name", {"env": [{"name": "1 bad", "value": "x"}]}, "spec.env[0].name"),
    (
        "env-two-sources",
        {"env": [{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "a"}}}]},
        "spec.env[0]",
    ),
    (
        "autoscale-inverted",
        {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}, "replicas": 5},
        "spec.autoscaling.minReplicas",
    ),
    ("history-too-long", {"rollout": {"revisionHistoryLimit": 500}}, "spec.rollout"),
    ("unknown-field", {"imagePullSecretz": ["x"]}, "imagePullSecretz"),
]


@pytest.mark.parametrize(("name", "spec", "field"), INVALID, ids=[i[0] for i in INVALID])
def test_invalid_refused_by_api_server_naming_the_field(
    crds: Cluster, namespace: str, name: str, spec: dict[str, Any], field: str
) -> None:
    manifest = mcpserver(name)
    for key, value in spec.items():
        if value is None:
            manifest["spec"].pop(key)
        else:
            manifest["spec"][key] = value
    res = crds.kubectl(
        "apply", "--server-side", "--field-manager=test", "-n", namespace, "-f", "-",
        input_=json.dumps(manifest), check=False,
    )  # fmt: skip
    assert res.returncode != 0, f"accepted: {manifest}"
    assert field in res.stderr, res.stderr
    assert crds.get("mcpserver", name, namespace) is None


def test_kubectl_explain_and_get_read_well(crds: Cluster) -> None:
    out = crds.kubectl("explain", "mcpservers.spec.transport").stdout
    assert "the proxy starts the program" in " ".join(out.split())  # explain wraps lines
    out = crds.kubectl("explain", "mcpservers.spec.rollout.scaleDownDelaySeconds").stdout
    assert "previous revision stays up" in out
    res = crds.kubectl("get", "mosrv", "-A")
    assert res.returncode == 0
    # The new pod fields explain themselves too, down to the nested Kubernetes types.
    out = crds.kubectl("explain", "mosrv.spec.volumes.hostPath").stdout
    assert "Refused" in out
    out = crds.kubectl("explain", "mosrv.spec.podTemplate").stdout
    assert "strategic-merge" in out
    out = crds.kubectl(
        "explain", "mosrv.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    ).stdout
    assert "nodeSelectorTerms" in out
    # One category for every kind: `kubectl get mcpops` asks for all three.
    res = crds.kubectl("get", "mcpops", "-A", check=False)
    assert res.returncode == 0, res.stderr
