"""An MCPServer's pod fields, configuration that rolls out, and availability, on the control
plane (kwok nodes, in a namespace enforcing the restricted Pod Security Standard)."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from clusterkit import Cluster, OperatorProcess, wait_until
from suitekit import suite
from test_mcpserver import cond, deployments, mcpserver, patch_spec, status, wait_ready

FAST = {"scaleDownDelaySeconds": 2, "verifySeconds": 2, "progressDeadlineSeconds": 90}


def secret(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def pod_spec_of(cluster: Cluster, name: str, ns: str, revision: str) -> dict[str, Any]:
    pods = cluster.list("pods", ns, f"mcpops.dev/server={name},mcpops.dev/revision={revision}")
    assert pods, f"no pods of revision {revision}"
    spec: dict[str, Any] = pods[0]["spec"]
    return spec


def new_revision(cluster: Cluster, name: str, ns: str, old: str) -> str:
    """The revision whose Deployment appeared beside `old` (it may already serve)."""
    found: str = wait_until(
        lambda: next((r for r in deployments(cluster, name, ns) if r != old), None),
        timeout=30,
        what="the new revision's Deployment",
    )
    return found


def started_at(cluster: Cluster, deployment: str, ns: str) -> int:
    """The size a Deployment first scaled up to, from the Deployment controller's Event."""
    message: str = wait_until(
        lambda: next(
            (
                e["message"]
                for e in cluster.events(ns, deployment, reason="ScalingReplicaSet")
                if " from 0 to " in e["message"]
            ),
            None,
        ),
        timeout=30,
        what=f"{deployment} scaled up from zero",
    )
    return int(message.rsplit(" ", 1)[-1])


@pytest.fixture
def gpu_node(cluster: Cluster) -> Any:
    """One kwok node that advertises two GPUs and carries a GPU taint, as a GPU pool would."""
    nodes = cluster.list("nodes", None, "type=kwok")
    node = nodes[-1]["metadata"]["name"]
    gpus = {"nvidia.com/gpu": "2"}
    patch = {"status": {"capacity": gpus, "allocatable": gpus}}
    cluster.kubectl(
        "patch", "node", node, "--subresource=status", "--type=merge", "-p", json.dumps(patch)
    )
    cluster.kubectl("label", "node", node, "pool=gpu", "--overwrite")
    cluster.kubectl("taint", "node", node, "gpu=true:NoSchedule", "--overwrite")
    yield node
    cluster.kubectl("taint", "node", node, "gpu=true:NoSchedule-", check=False)
    cluster.kubectl("label", "node", node, "pool-", check=False)
    gone = {
        "status": {"capacity": {"nvidia.com/gpu": None}, "allocatable": {"nvidia.com/gpu": None}}
    }
    cluster.kubectl(
        "patch", "node", node, "--subresource=status", "--type=merge", "-p", json.dumps(gone),
        check=False,
    )  # fmt: skip


def test_every_pod_field_reaches_running_pods(
    cluster: Cluster, operator: OperatorProcess, namespace: str, gpu_node: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    cluster.apply(secret("token", TOKEN=f"t-{tag}"), namespace)
    cluster.apply(secret("registry", **{".dockerconfigjson": '{"auths":{}}'}), namespace)
    cluster.apply(configmap("settings", **{"server.yaml": "root: /data\n"}), namespace)
    cluster.apply(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": f"mcp-{namespace}"},
            "value": 1000,
        }
    )
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "docs"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
                "storageClassName": "",
                "volumeName": f"docs-{namespace}",
            },
        },
        namespace,
    )
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"docs-{namespace}"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "claimRef": {"namespace": namespace, "name": "docs"},
                "csi": {"driver": "example.invalid", "volumeHandle": namespace},
            },
        }
    )
    volumes = [
        {"name": "docs", "persistentVolumeClaim": {"claimName": "docs", "readOnly": True}},
        {"name": "settings", "configMap": {"name": "settings"}},
        {"name": "token", "secret": {"secretName": "token", "defaultMode": 0o440}},
        {"name": "scratch", "emptyDir": {"sizeLimit": "64Mi"}},
        {
            "name": "both",
            "projected": {
                "sources": [{"configMap": {"name": "settings"}}, {"secret": {"name": "token"}}]
            },
        },
    ]
    spec = {
        "replicas": 2,
        "rollout": FAST,
        "volumes": volumes,
        "volumeMounts": [
            {"name": "docs", "mountPath": "/data", "readOnly": True},
            {"name": "settings", "mountPath": "/etc/server"},
            {"name": "token", "mountPath": "/var/run/token"},
            {"name": "scratch", "mountPath": "/scratch"},
            {"name": "both", "mountPath": "/etc/both"},
        ],
        "resources": {"limits": {"nvidia.com/gpu": "1"}},
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["gpu"]}]}
                    ]
                }
            }
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 2,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
            }
        ],
        "priorityClassName": f"mcp-{namespace}",
        "imagePullSecrets": [{"name": "registry"}],
        "terminationGracePeriodSeconds": 45,
        "podLabels": {"team": "search"},
        "podAnnotations": {"example.com/owner": "search"},
        "podTemplate": {
            "spec": {
                "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]},
                "containers": [{"name": "audit", "image": "example.invalid/audit:1"}],
            }
        },
    }
    cluster.apply(mcpserver("wide", **spec), namespace)
    st = wait_ready(cluster, "wide", namespace, timeout=120)
    pod = pod_spec_of(cluster, "wide", namespace, st["activeRevision"])
    assert pod["nodeName"] == gpu_node  # the affinity and toleration took it to the GPU node
    server = next(c for c in pod["containers"] if c["name"] == "server")
    assert server["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {m["mountPath"] for m in server["volumeMounts"]} >= {
        "/data", "/etc/server", "/var/run/token", "/scratch", "/etc/both", "/tmp",
    }  # fmt: skip
    assert {v["name"] for v in pod["volumes"]} >= {v["name"] for v in volumes}
    assert pod["priorityClassName"] == f"mcp-{namespace}" and pod["priority"] == 1000
    assert pod["imagePullSecrets"] == [{"name": "registry"}]
    assert pod["terminationGracePeriodSeconds"] == 45
    assert pod["dnsConfig"] == {"options": [{"name": "ndots", "value": "2"}]}
    audit = next(c for c in pod["containers"] if c["name"] == "audit")
    assert audit["securityContext"]["allowPrivilegeEscalation"] is False  # admitted: restricted
    # The API server turns matchLabelKeys into a selector on this pod's own revision.
    spread = pod["topologySpreadConstraints"][0]["labelSelector"]
    assert spread["matchLabels"] == {"mcpops.dev/server": "wide"}
    assert spread["matchExpressions"] == [
        {"key": "mcpops.dev/revision", "operator": "In", "values": [st["activeRevision"]]}
    ]
    # Every ConfigMap and Secret read is listed; none of their values is anywhere in status.
    refs = {(r["kind"], r["name"]) for r in st["references"]}
    assert refs == {("Secret", "token"), ("ConfigMap", "settings")}
    assert cond(st, "ReferencesResolved")["status"] == "True"
    assert f"t-{tag}" not in json.dumps(st)
    # The serving revision has a disruption budget (two replicas).
    pdb = cluster.get("poddisruptionbudget", "wide", namespace)
    assert pdb is not None
    assert pdb["spec"]["selector"]["matchLabels"]["mcpops.dev/revision"] == st["activeRevision"]
    wait_until(
        lambda: (
            ((cluster.get("poddisruptionbudget", "wide", namespace) or {}).get("status") or {}).get(
                "currentHealthy"
            )
            == 2
        ),
        timeout=60,
        what="the budget counting both serving pods",
    )


def test_a_secret_change_rolls_out_through_the_tests(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    old, new = f"old-{uuid.uuid4().hex}", f"new-{uuid.uuid4().hex}"
    cluster.apply(secret("creds", API_TOKEN=old), namespace)
    spec = {
        "replicas": 2,
        "rollout": FAST,
        "envFrom": [{"secretRef": {"name": "creds"}}],
        "tests": [suite()],
    }
    cluster.apply(mcpserver("rotating", **spec), namespace)
    first = wait_ready(cluster, "rotating", namespace, timeout=120)["activeRevision"]
    rv_before = {
        r["name"]: r["resourceVersion"]
        for r in status(cluster, "rotating", namespace)["references"]
    }
    # Relabelled only: a new resourceVersion, the same data, no rollout.
    cluster.kubectl("label", "secret", "creds", "-n", namespace, "rotation=1")
    wait_until(
        lambda: (
            {
                r["name"]: r["resourceVersion"]
                for r in status(cluster, "rotating", namespace).get("references") or []
            }
            != rv_before
        ),
        timeout=30,
        what="status.references following the relabelled Secret",
    )
    assert status(cluster, "rotating", namespace)["activeRevision"] == first
    assert not status(cluster, "rotating", namespace).get("candidateRevision")
    # Rotated: a new revision, tested by its own Job, then serving.
    cluster.apply(secret("creds", API_TOKEN=new), namespace)
    second = wait_until(
        lambda: (
            (st := status(cluster, "rotating", namespace)).get("activeRevision") != first
            and st.get("activeRevision")
        ),
        timeout=120,
        what="the rotated Secret's revision serving",
    )
    assert second != first
    tested = [t for t in status(cluster, "rotating", namespace)["tests"] if t["revision"] == second]
    assert tested and tested[0]["result"] == "Passed"
    assert cluster.list("jobs", namespace, f"mcpops.dev/revision={second}")
    # Events are posted after the status write seen above: wait for them.
    assert cluster.wait_events(namespace, "rotating", reason="RolloutStarted", containing=second)
    assert cluster.wait_events(namespace, "rotating", reason="TrafficSwitched", containing=second)
    # Values appear nowhere: not in objects, Events, nor the operator's log.
    everything = cluster.kubectl(
        "get", "mcpservers,deployments,replicasets,jobs,events", "-n", namespace, "-o", "json"
    ).stdout
    log = operator.log_path.read_text(errors="replace")
    for value in (old, new):
        for needle in (value, base64.b64encode(value.encode()).decode()):
            assert needle not in everything and needle not in log


def test_a_missing_secret_holds_the_rollout_until_it_exists(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(mcpserver("early", rollout=FAST, env=[
        {"name": "K", "valueFrom": {"secretKeyRef": {"name": "later", "key": "k"}}}
    ]), namespace)  # fmt: skip
    st = wait_until(
        lambda: (
            (s := status(cluster, "early", namespace))
            and cond(s, "ReferencesResolved").get("status") == "False"
            and s
        ),
        timeout=30,
        what="ReferencesResolved=False",
    )
    assert (
        "Secret later (spec.env[0].valueFrom.secretKeyRef) does not exist"
        in cond(st, "ReferencesResolved")["message"]
    )
    assert st["phase"] == "Pending" and not deployments(cluster, "early", namespace)
    # The Event and the gauge follow the status write seen above: wait for them.
    assert cluster.wait_events(namespace, "early", reason="MissingReference")
    waiting = ("mcpops_mcpservers_waiting_for_references", frozenset())
    wait_until(lambda: operator.metrics()[waiting] >= 1, timeout=10, what="waiting gauge")
    cluster.apply(secret("later", k="v"), namespace)
    st = wait_ready(cluster, "early", namespace, timeout=90)
    assert cond(st, "ReferencesResolved")["status"] == "True"


def test_a_scaled_out_revision_is_replaced_at_the_same_scale(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    autoscaling = {"minReplicas": 2, "maxReplicas": 6}
    cluster.apply(
        mcpserver("elastic", replicas=2, autoscaling=autoscaling, rollout=FAST), namespace
    )
    first = wait_ready(cluster, "elastic", namespace, timeout=90)["activeRevision"]
    # The HorizontalPodAutoscaler scales the serving revision out. (No metrics server here:
    # a higher floor makes the HPA controller itself scale, as load would.)
    cluster.kubectl(
        "patch", "hpa", "elastic", "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"minReplicas": 4}}),
    )  # fmt: skip
    wait_until(
        lambda: status(cluster, "elastic", namespace).get("readyReplicas") == 4,
        timeout=90,
        what="the HPA scaling the serving revision to four ready replicas",
    )
    patch_spec(cluster, "elastic", namespace, {"image": "example.invalid/mcp:2"})
    second = new_revision(cluster, "elastic", namespace, first)
    # The candidate started at four, not at spec.replicas (2).
    assert started_at(cluster, f"elastic-{second}", namespace) == 4
    st = wait_ready(cluster, "elastic", namespace, timeout=120)
    assert st["activeRevision"] == second and st["readyReplicas"] == 4
    # Serving, under the HPA: still four (handed over, not reset to 1 by the operator).
    for _ in range(3):
        assert deployments(cluster, "elastic", namespace)[second]["spec"]["replicas"] == 4
    hpa = cluster.get("horizontalpodautoscaler", "elastic", namespace)
    assert hpa is not None and hpa["spec"]["scaleTargetRef"]["name"] == f"elastic-{second}"


def test_preview_replicas_test_small_then_switch_at_full_size(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(mcpserver("lean", replicas=3, rollout=FAST), namespace)
    first = wait_ready(cluster, "lean", namespace, timeout=90)["activeRevision"]
    patch_spec(
        cluster,
        "lean",
        namespace,
        {
            "image": "example.invalid/mcp:2",
            "rollout": {**FAST, "previewReplicas": 1},
            "tests": [suite()],
        },
    )
    second = new_revision(cluster, "lean", namespace, first)
    assert started_at(cluster, f"lean-{second}", namespace) == 1
    st = wait_ready(cluster, "lean", namespace, timeout=120)
    assert st["activeRevision"] == second != first and st["readyReplicas"] == 3
    # Events are posted after the status write seen above: wait for them.
    assert cluster.wait_events(namespace, "lean", reason="ScalingUp", containing=second)
    assert cluster.wait_events(namespace, "lean", reason="TrafficSwitched", containing=second)


def test_the_example_manifests_are_accepted(crds: Cluster, namespace: str) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    for path in sorted(
        [*examples.glob("mcpserver-*.yaml"), *examples.glob("secured/mcpserver-*.yaml")]
    ):
        res = crds.kubectl(
            "apply", "--server-side", "--dry-run=server", "-n", namespace, "-f", str(path),
            check=False,
        )  # fmt: skip
        assert res.returncode == 0, f"{path.name}: {res.stderr}"
