"""Every MCPServer spec field lands where it should in the children."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mcpops.api.mcpserver import MCPServerSpec
from mcpops.kinds.mcpserver.desired import HEALTH_PORT, deployment, pod_template, revision_of
from mcpops.kinds.mcpserver.plan import Observed, plan

PARENT = {
    "apiVersion": "mcpops.dev/v1alpha1",
    "kind": "MCPServer",
    "metadata": {"name": "s", "namespace": "ns", "uid": "u", "generation": 1},
}


def template(**spec: Any) -> dict[str, Any]:
    return pod_template("s", MCPServerSpec.model_validate({"image": "img:1", **spec}))


def test_every_field_reaches_the_pod() -> None:
    pod = template(
        imagePullPolicy="Always",
        command=["/srv"],
        args=["--x"],
        env=[
            {"name": "A", "value": "1"},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "k"}}},
        ],
        envFrom=[{"configMapRef": {"name": "cm"}, "prefix": "P_"}],
        port=9000,
        path="/rpc",
        resources={"limits": {"memory": "1Gi"}},
        readiness={"periodSeconds": 5, "timeoutSeconds": 4, "failureThreshold": 2},
        serviceAccountName="sa",
        podLabels={"team": "x"},
        podAnnotations={"a": "b"},
        nodeSelector={"disk": "ssd"},
        runAsUser=1234,
    )
    spec = pod["spec"]
    server, health = spec["containers"]
    assert server["image"] == "img:1" and server["imagePullPolicy"] == "Always"
    assert server["command"] == ["/srv"] and server["args"] == ["--x"]
    assert server["env"][1]["valueFrom"]["secretKeyRef"] == {"name": "sec", "key": "k"}
    assert server["envFrom"] == [{"configMapRef": {"name": "cm"}, "prefix": "P_"}]
    assert server["ports"][0]["containerPort"] == 9000
    assert server["resources"]["limits"] == {"cpu": "500m", "memory": "1Gi"}
    assert server["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert "http://127.0.0.1:9000/rpc" in health["args"]
    assert health["readinessProbe"]["httpGet"]["port"] == HEALTH_PORT
    assert health["readinessProbe"]["periodSeconds"] == 5
    assert health["readinessProbe"]["failureThreshold"] == 2
    assert spec["serviceAccountName"] == "sa"
    assert spec["nodeSelector"] == {"disk": "ssd"}
    assert spec["securityContext"]["runAsUser"] == 1234
    assert pod["metadata"]["labels"]["team"] == "x"
    assert pod["metadata"]["annotations"] == {"a": "b"}
    assert spec["automountServiceAccountToken"] is False


def test_sse_transport_is_checked_over_sse() -> None:
    health = template(transport="sse", path="/sse")["spec"]["containers"][1]
    assert health["args"][health["args"].index("--transport") + 1] == "sse"


def test_stdio_runs_the_bridge_with_the_users_command() -> None:
    spec = template(transport="stdio", command=["uvx", "mcp-server-time"], args=["--tz", "UTC"])[
        "spec"
    ]
    assert [c["name"] for c in spec["containers"]] == ["server"]
    server = spec["containers"][0]
    assert server["command"][0] == "/mcpops/bridge/mcpops-bridge"
    assert server["command"][-4:] == ["uvx", "mcp-server-time", "--tz", "UTC"]
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert spec["initContainers"][0]["command"][0] == "/opt/mcpops-bridge/install"


def test_revision_ignores_replicas_and_autoscaling_but_not_env() -> None:
    base = MCPServerSpec.model_validate({"image": "i"})
    assert revision_of("s", base) == revision_of(
        "s", MCPServerSpec.model_validate({"image": "i", "replicas": 4})
    )
    assert revision_of("s", base) != revision_of(
        "s", MCPServerSpec.model_validate({"image": "i", "env": [{"name": "A", "value": "1"}]})
    )


def test_autoscaling_makes_an_hpa_that_owns_replicas() -> None:
    spec = {"image": "i", "replicas": 2, "autoscaling": {"minReplicas": 2, "maxReplicas": 5}}
    rev = revision_of("s", MCPServerSpec.model_validate(spec))
    parent = {**PARENT, "spec": spec, "status": {"activeRevision": rev}}
    live = deployment(parent, pod_template("s", MCPServerSpec.model_validate(spec)), rev, 2)
    live["status"] = {
        "observedGeneration": 1,
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
    }
    live["metadata"]["generation"] = 1
    live["metadata"]["uid"] = "d"
    result = plan(parent, Observed(deployments={rev: live}), datetime.now(UTC))
    hpa = next(m for m in result.apply if m["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"s-{rev}"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    dep = next((m for m in result.apply if m["kind"] == "Deployment"), None)
    assert dep is None or "replicas" not in dep["spec"]


def test_turning_autoscaling_off_deletes_the_hpa() -> None:
    parent = {**PARENT, "spec": {"image": "i"}}
    hpa = {"metadata": {"name": "s", "uid": "h-1"}}
    result = plan(parent, Observed(hpas={"s": hpa}), datetime.now(UTC))
    assert [(d.kind, d.name, d.uid) for d in result.delete] == [
        ("HorizontalPodAutoscaler", "s", "h-1")
    ]


def test_default_requests_cover_what_real_pods_use_at_rest() -> None:
    """Measured on the real node (tests/e2e/test_real_resources.py): the health sidecar
    65 MiB, a stdio container (bridge + mcp-server-time) 102 MiB working set."""
    from mcpops.api.mcpserver import MCPServerSpec
    from mcpops.kinds.mcpserver.desired import pod_template

    http = pod_template("h", MCPServerSpec.model_validate({"image": "i:1"}))
    server, health = http["spec"]["containers"]
    assert health["resources"]["requests"]["memory"] == "96Mi"
    assert server["resources"]["requests"]["memory"] == "128Mi"
    stdio = pod_template(
        "s", MCPServerSpec.model_validate({"image": "i:1", "transport": "stdio", "command": ["x"]})
    )
    [server] = stdio["spec"]["containers"]
    assert server["resources"]["requests"]["memory"] == "192Mi"
    [installer] = stdio["spec"]["initContainers"]
    assert installer["resources"]["requests"]["memory"] == "96Mi"
    custom = pod_template(
        "c",
        MCPServerSpec.model_validate(
            {"image": "i:1", "transport": "stdio", "command": ["x"],
             "resources": {"requests": {"memory": "1Gi"}}}
        ),
    )  # fmt: skip
    assert custom["spec"]["containers"][0]["resources"]["requests"]["memory"] == "1Gi"
