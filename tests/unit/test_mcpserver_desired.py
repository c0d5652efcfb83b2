"""Every MCPServer spec field lands where it should in the children."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mcpops.api.mcpserver import MCPServerSpec
from mcpops.kinds.mcpserver.desired import (
    HEALTH_PORT,
    PROXY_PORT,
    deployment,
    pod_template,
    revision_of,
    session_secret_name,
)
from mcpops.kinds.mcpserver.plan import Observed, plan
from mcpops_common.names import REVISION_LABEL

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
    server, proxy = spec["containers"]
    assert server["image"] == "img:1" and server["imagePullPolicy"] == "Always"
    assert server["command"] == ["/srv"] and server["args"] == ["--x"]
    assert server["env"][1]["valueFrom"]["secretKeyRef"] == {"name": "sec", "key": "k"}
    assert server["envFrom"] == [{"configMapRef": {"name": "cm"}, "prefix": "P_"}]
    assert server["ports"] == [{"name": "server", "containerPort": 9000, "protocol": "TCP"}]
    assert server["resources"]["limits"] == {"cpu": "500m", "memory": "1Gi"}
    assert server["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}
    args = proxy["args"]
    assert args[args.index("--upstream") + 1] == "http://127.0.0.1:9000/rpc"
    assert args[args.index("--path") + 1] == "/rpc"
    assert args[args.index("--ready-timeout") + 1] == "4s"
    # The Services target the proxy by the port name "mcp".
    assert proxy["ports"] == [{"name": "mcp", "containerPort": PROXY_PORT, "protocol": "TCP"}]
    assert proxy["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": PROXY_PORT}
    assert proxy["readinessProbe"]["periodSeconds"] == 5
    assert proxy["readinessProbe"]["failureThreshold"] == 2
    assert spec["serviceAccountName"] == "sa"
    assert spec["nodeSelector"] == {"disk": "ssd"}
    assert spec["securityContext"]["runAsUser"] == 1234
    assert pod["metadata"]["labels"]["team"] == "x"
    assert pod["metadata"]["annotations"] == {"a": "b"}
    assert spec["automountServiceAccountToken"] is False


def test_sse_transport_is_checked_over_sse() -> None:
    health = template(transport="sse", path="/sse")["spec"]["containers"][1]
    assert health["args"][health["args"].index("--transport") + 1] == "sse"


def test_stdio_runs_the_proxy_with_the_users_command() -> None:
    spec = template(transport="stdio", command=["uvx", "mcp-server-time"], args=["--tz", "UTC"])[
        "spec"
    ]
    assert [c["name"] for c in spec["containers"]] == ["server"]
    server = spec["containers"][0]
    assert server["command"][0] == "/mcpops/bin/mcpops-proxy"
    assert server["command"][-5:] == ["--", "uvx", "mcp-server-time", "--tz", "UTC"]
    cmd = server["command"]
    assert cmd[cmd.index("--transport") + 1] == "stdio"
    assert cmd[cmd.index("--listen") + 1] == ":8080"  # the proxy is the server here
    assert server["ports"][0] == {"name": "mcp", "containerPort": 8080, "protocol": "TCP"}
    assert server["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8080}
    assert server["livenessProbe"]["httpGet"] == {"path": "/livez", "port": 8080}
    (init,) = spec["initContainers"]
    assert init["name"] == "install-proxy" and init["args"] == ["install", "/mcpops/bin"]


def test_liveness_restarts_the_server_and_is_not_readiness() -> None:
    """/livez on the server container (a failure restarts what hangs: the server, not the
    proxy), with the spec's threshold; readiness stays /readyz on the proxy."""
    spec = template(liveness={"periodSeconds": 4, "timeoutSeconds": 1, "failureThreshold": 2})
    server, proxy = spec["spec"]["containers"]
    live = server["livenessProbe"]
    assert live["httpGet"] == {"path": "/livez", "port": PROXY_PORT}
    assert (live["periodSeconds"], live["timeoutSeconds"], live["failureThreshold"]) == (4, 2, 2)
    assert "livenessProbe" not in proxy and "readinessProbe" not in server
    args = proxy["args"]
    assert args[args.index("--live-timeout") + 1] == "1s"


def test_proxy_port_moves_aside_when_the_server_uses_it() -> None:
    server, proxy = template(port=PROXY_PORT)["spec"]["containers"]
    assert server["ports"][0]["containerPort"] == PROXY_PORT
    assert proxy["ports"][0]["containerPort"] == PROXY_PORT + 1
    assert proxy["args"][proxy["args"].index("--listen") + 1] == f":{PROXY_PORT + 1}"


def test_sessions_share_one_key_per_server_and_follow_the_mode() -> None:
    """Every revision mounts the same Secret (blue and green verify each other's ids)."""
    pod = template(sessions={"mode": "None", "idleSeconds": 60})["spec"]
    (key,) = [v for v in pod["volumes"] if v["name"] == "mcpops-session"]
    assert key["secret"]["secretName"] == session_secret_name("s") == "s-mcpops-session"
    proxy = pod["containers"][1]
    args = proxy["args"]
    assert args[args.index("--sessions") + 1] == "none"
    assert args[args.index("--session-idle") + 1] == "60s"
    assert args[args.index("--session-key-file") + 1] == "/var/run/mcpops/session/key"
    assert {"name": "mcpops-session", "mountPath": "/var/run/mcpops/session", "readOnly": True} in (
        proxy["volumeMounts"]
    )
    assert "mcpops-session" not in str(pod["containers"][0]), "the server never sees the key"
    default = template()["spec"]["containers"][1]["args"]
    assert default[default.index("--sessions") + 1] == "sticky"
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in proxy["env"]}
    assert env == {
        "POD_IP": "status.podIP",
        "MCPOPS_REVISION": f"metadata.labels['{REVISION_LABEL}']",
    }


def test_sse_keeps_the_health_sidecar_with_the_operator_image() -> None:
    spec = MCPServerSpec.model_validate({"image": "i:1", "transport": "sse", "path": "/sse"})
    pod = pod_template("s", spec, "op:1", proxy_image="px:1")["spec"]
    assert [c["name"] for c in pod["containers"]] == ["server", "mcp-health"]
    assert pod["containers"][1]["image"] == "op:1"
    assert pod["containers"][1]["readinessProbe"]["httpGet"]["port"] == HEALTH_PORT
    assert "px:1" not in str(pod)


def test_only_the_proxy_image_shapes_a_proxied_revision() -> None:
    """An operator upgrade that leaves the proxy alone makes no new revision (no fleet-wide
    rollout); a new proxy does."""
    spec = MCPServerSpec.model_validate({"image": "i:1"})
    assert revision_of("s", spec, "op:1", "px:1") == revision_of("s", spec, "op:2", "px:1")
    assert revision_of("s", spec, "op:1", "px:1") != revision_of("s", spec, "op:1", "px:2")


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
    """Measured on the real node (tests/e2e/test_real_resources.py): the proxy sidecar
    a few MiB, a stdio container (the proxy and two mcp-server-time processes) under
    192 MiB working set."""
    from mcpops.api.mcpserver import MCPServerSpec
    from mcpops.kinds.mcpserver.desired import pod_template

    http = pod_template("h", MCPServerSpec.model_validate({"image": "i:1"}))
    server, proxy = http["spec"]["containers"]
    assert proxy["resources"]["requests"]["memory"] == "32Mi"
    assert server["resources"]["requests"]["memory"] == "128Mi"
    stdio = pod_template(
        "s", MCPServerSpec.model_validate({"image": "i:1", "transport": "stdio", "command": ["x"]})
    )
    [server] = stdio["spec"]["containers"]
    assert server["resources"]["requests"]["memory"] == "192Mi"
    [installer] = stdio["spec"]["initContainers"]
    assert installer["resources"]["requests"]["memory"] == "32Mi"
    custom = pod_template(
        "c",
        MCPServerSpec.model_validate(
            {"image": "i:1", "transport": "stdio", "command": ["x"],
             "resources": {"requests": {"memory": "1Gi"}}}
        ),
    )  # fmt: skip
    assert custom["spec"]["containers"][0]["resources"]["requests"]["memory"] == "1Gi"
