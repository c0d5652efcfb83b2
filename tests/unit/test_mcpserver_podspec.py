"""The pod fields an MCPServer passes through (volumes, scheduling, extended resources,
the podTemplate overlay): where they land, and what is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mcpops.api.mcpserver import MCPServerSpec
from mcpops.kinds.mcpserver.desired import pod_template, revision_of
from mcpops.objects.children import restricted_container_context
from mcpops.objects.conditions import validation_message
from mcpops.objects.patch import strategic_merge
from mcpops_common.names import REVISION_LABEL, SERVER_LABEL


def spec(**fields: Any) -> MCPServerSpec:
    return MCPServerSpec.model_validate({"image": "img:1", **fields})


def template(**fields: Any) -> dict[str, Any]:
    return pod_template("s", spec(**fields))


def refusal(**fields: Any) -> str:
    with pytest.raises(ValidationError) as info:
        spec(**fields)
    return validation_message(info.value)


def test_volumes_and_mounts_reach_the_server_container() -> None:
    volumes = [
        {"name": "cfg", "configMap": {"name": "c", "items": [{"key": "a", "path": "conf/a"}]}},
        {"name": "creds", "secret": {"secretName": "s", "defaultMode": 0o440}},
        {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "pvc", "readOnly": True}},
        {
            "name": "all",
            "projected": {
                "sources": [
                    {"configMap": {"name": "c"}},
                    {"secret": {"name": "s", "optional": True}},
                    {"downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "x"}}]}},
                    {"serviceAccountToken": {"path": "t", "audience": "vault"}},
                ]
            },
        },
    ]
    mounts = [{"name": v["name"], "mountPath": f"/m/{v['name']}"} for v in volumes]
    mounts[0]["subPath"] = "conf"
    pod = template(volumes=volumes, volumeMounts=mounts)["spec"]
    assert pod["volumes"][0] == {"name": "tmp", "emptyDir": {}}  # mcpops' own stays first
    assert pod["volumes"][1:-1] == volumes
    assert pod["volumes"][-1]["name"] == "mcpops-session"  # the proxy's session key
    server = pod["containers"][0]
    assert server["volumeMounts"][0] == {"name": "tmp", "mountPath": "/tmp"}
    assert server["volumeMounts"][1:] == mounts
    # The proxy sidecar gets only the session key, never the server's volumes.
    assert [m["name"] for m in pod["containers"][1]["volumeMounts"]] == ["mcpops-session"]


def test_scheduling_fields_reach_the_pod() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                ]
            }
        },
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 50,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": {SERVER_LABEL: "s"}},
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        },
    }
    tolerations = [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    pod = template(
        tolerations=tolerations,
        affinity=affinity,
        topologySpreadConstraints=[
            {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"},
            {
                "maxSkew": 2,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"team": "x"}},
            },
        ],
        priorityClassName="mcp-high",
        imagePullSecrets=[{"name": "registry"}],
        terminationGracePeriodSeconds=90,
        resources={"limits": {"nvidia.com/gpu": "1"}, "requests": {"ephemeral-storage": "1Gi"}},
    )
    ps = pod["spec"]
    assert ps["tolerations"] == tolerations
    assert ps["affinity"] == affinity
    own, theirs = ps["topologySpreadConstraints"]
    # Without a selector a constraint counts this server's pods of the incoming revision.
    assert own["labelSelector"] == {"matchLabels": {SERVER_LABEL: "s"}}
    assert own["matchLabelKeys"] == [REVISION_LABEL]
    assert theirs["labelSelector"] == {"matchLabels": {"team": "x"}}
    assert "matchLabelKeys" not in theirs
    assert ps["priorityClassName"] == "mcp-high"
    assert ps["imagePullSecrets"] == [{"name": "registry"}]
    assert ps["terminationGracePeriodSeconds"] == 90
    resources = ps["containers"][0]["resources"]
    assert resources["limits"] == {"cpu": "500m", "memory": "512Mi", "nvidia.com/gpu": "1"}
    assert resources["requests"] == {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "1Gi"}


def test_a_spec_without_the_new_fields_keeps_its_revision() -> None:
    """Upgrading the operator must not roll out every MCPServer: the template of a spec
    that uses none of the new fields is what it was (no empty keys added)."""
    pod = template()
    assert set(pod["spec"]) == {
        "containers",
        "volumes",
        "securityContext",
        "automountServiceAccountToken",
        "enableServiceLinks",
    }
    assert pod["spec"]["containers"][0]["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert revision_of("s", spec()) == revision_of("s", spec(podTemplate=None, volumes=None))


def test_each_new_field_makes_a_new_revision() -> None:
    base = revision_of("s", spec())
    changes: list[dict[str, Any]] = [
        {"volumes": [{"name": "d", "emptyDir": {}}]},
        {"tolerations": [{"operator": "Exists"}]},
        {"priorityClassName": "p"},
        {"imagePullSecrets": [{"name": "r"}]},
        {"terminationGracePeriodSeconds": 5},
        {"resources": {"limits": {"nvidia.com/gpu": "1"}}},
        {"podTemplate": {"spec": {"dnsPolicy": "Default"}}},
    ]
    revisions = {revision_of("s", spec(**c)) for c in changes}
    assert base not in revisions and len(revisions) == len(changes)


def test_overlay_adds_and_changes_but_mcpops_keeps_its_own() -> None:
    pod = template(
        podLabels={"team": "x"},
        podTemplate={
            "metadata": {"labels": {"extra": "y", SERVER_LABEL: "other"}},
            "spec": {
                "dnsPolicy": "None",
                "dnsConfig": {"nameservers": ["10.0.0.10"]},
                "containers": [
                    {"name": "server", "env": [{"name": "EXTRA", "value": "1"}]},
                    {"name": "audit", "image": "audit:1", "args": ["--tail"]},
                ],
                "volumes": [{"name": "secrets", "csi": {"driver": "secrets-store.csi.k8s.io"}}],
            },
        },
    )
    ps = pod["spec"]
    assert ps["dnsPolicy"] == "None" and ps["dnsConfig"] == {"nameservers": ["10.0.0.10"]}
    names = [c["name"] for c in ps["containers"]]
    assert names == ["server", "mcp-proxy", "audit"]  # merged by name, the sidecar appended
    server, _, audit = ps["containers"]
    assert server["image"] == "img:1" and {"name": "EXTRA", "value": "1"} in server["env"]
    # The sidecar did not ask for a security context; it gets the restricted one.
    assert audit["securityContext"] == restricted_container_context()
    assert [v["name"] for v in ps["volumes"]] == ["tmp", "mcpops-session", "secrets"]
    labels = pod["metadata"]["labels"]
    assert labels["extra"] == "y" and labels["team"] == "x"
    assert labels[SERVER_LABEL] == "s"  # the Services select by it: never overridden


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"volumes": [{"name": "h", "hostPath": {"path": "/"}}]}, "spec.volumes.0"),
        (
            {
                "volumes": [
                    {
                        "name": "c",
                        "configMap": {"name": "c", "items": [{"key": "k", "path": "a/../../etc"}]},
                    }
                ]
            },
            "spec.volumes.0.configMap.items.0.path",
        ),
        (
            {"podTemplate": {"spec": {"volumes": [{"name": "tmp", "$patch": "delete"}]}}},
            "spec.podTemplate.spec.volumes[0].$patch",
        ),
        ({"podTemplate": {"spec": {"nodeName": None}}}, "spec.podTemplate.spec.nodeName"),
        (
            {"podTemplate": {"spec": {"securityContext": {"runAsUser": 0}}}},
            "securityContext is refused",
        ),
        ({"podTemplate": {"spec": {"hostPID": True}}}, "hostPID is refused"),
        (
            {"podTemplate": {"spec": {"containers": [{"name": "s", "securityContext": {}}]}}},
            "spec.podTemplate.spec.containers.0",
        ),
        (
            {"podTemplate": {"spec": {"containers": [{"name": "mcp-health", "args": ["x"]}]}}},
            "args of container mcp-health belong to mcpops",
        ),
        (
            {"podTemplate": {"spec": {"volumes": [{"name": "r", "hostPath": {"path": "/"}}]}}},
            "spec.podTemplate.spec.volumes.0",
        ),
    ],
)
def test_what_would_break_the_pod_is_refused_naming_the_field(
    fields: dict[str, Any], named: str
) -> None:
    assert named in refusal(**fields)


def test_strategic_merge_of_keyed_and_plain_lists() -> None:
    base = {
        "containers": [{"name": "a", "env": [{"name": "X", "value": "1"}], "args": ["1"]}],
        "tolerations": [{"key": "t"}],
    }
    patch = {
        "containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}], "args": ["2"]}],
        "tolerations": [{"key": "u"}],
    }
    merged = strategic_merge(base, patch)
    assert merged["containers"][0]["env"] == [
        {"name": "X", "value": "1"},
        {"name": "Y", "value": "2"},
    ]
    assert merged["containers"][0]["args"] == ["2"]  # plain lists are replaced
    assert merged["tolerations"] == [{"key": "u"}]  # no merge key in Kubernetes either
    assert base["containers"][0]["args"] == ["1"]  # the inputs are left alone


def test_every_example_mcpserver_is_a_valid_spec() -> None:
    import yaml

    examples = Path(__file__).resolve().parents[2] / "examples"
    specs = [
        doc["spec"]
        for path in sorted([*examples.glob("*.yaml"), *examples.glob("secured/*.yaml")])
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "MCPServer"
    ]
    assert len(specs) >= 4
    for raw in specs:
        MCPServerSpec.model_validate(raw)
