"""The children an MCPServer wants, as plain manifests (no API calls here).

A revision is a hash of the pod template: anything that changes what runs in
the pods makes a new one; replicas do not.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from mcpops.api.mcpserver import MCPServerSpec, Probe
from mcpops.objects.children import (
    digest,
    labels,
    owner_reference,
    restricted_container_context,
    restricted_pod_context,
    stamp,
)

SERVER_LABEL = "mcpops.dev/server"
REVISION_LABEL = "mcpops.dev/revision"
COMPONENT = "mcpserver"

DEFAULT_REQUESTS = {"cpu": "100m", "memory": "128Mi"}
DEFAULT_LIMITS = {"cpu": "500m", "memory": "512Mi"}
SIDECAR_RESOURCES = {
    "requests": {"cpu": "10m", "memory": "48Mi"},
    "limits": {"cpu": "200m", "memory": "128Mi"},
}
DEFAULT_UID = 65532
HEALTH_PORT = 8099
BRIDGE_DIR = "/mcpops"


def operator_image() -> str:
    """The image that carries mcpops itself (health sidecar, bridge, test runner)."""
    return os.environ.get("MCPOPS_IMAGE", "ghcr.io/mcpops/mcpops:0.1.0")


def _resources(spec: MCPServerSpec) -> dict[str, Any]:
    requests = dict(DEFAULT_REQUESTS)
    limits = dict(DEFAULT_LIMITS)
    if spec.resources and spec.resources.requests:
        requests.update(spec.resources.requests.to_wire())
    if spec.resources and spec.resources.limits:
        limits.update(spec.resources.limits.to_wire())
    return {"requests": requests, "limits": limits}


def _probe_timing(probe: Probe) -> dict[str, Any]:
    return {
        "periodSeconds": probe.period_seconds,
        "timeoutSeconds": probe.timeout_seconds + 1,
        "failureThreshold": probe.failure_threshold,
        "initialDelaySeconds": probe.initial_delay_seconds,
    }


def pod_template(name: str, spec: MCPServerSpec, image: str | None = None) -> dict[str, Any]:
    """The pod template, without the revision label (the revision is its hash).

    `image` is the operator image the template carries (health sidecar, bridge installer);
    default: this operator's own.
    """
    own_image = image or operator_image()
    probe = spec.readiness or Probe()
    uid = spec.run_as_user or DEFAULT_UID
    env = [e.to_wire() for e in spec.env or []]
    server: dict[str, Any] = {
        "name": "server",
        "image": spec.image,
        "ports": [{"name": "mcp", "containerPort": spec.port, "protocol": "TCP"}],
        "env": env,
        "envFrom": [e.to_wire() for e in spec.env_from or []],
        "resources": _resources(spec),
        "securityContext": restricted_container_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if spec.image_pull_policy:
        server["imagePullPolicy"] = spec.image_pull_policy
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    containers = [server]
    init_containers: list[dict[str, Any]] = []

    if spec.transport == "stdio":
        # The bridge is copied from the operator image into a shared volume and
        # becomes the entrypoint; it starts the user's stdio program as its child.
        volumes.append({"name": "mcpops-bridge", "emptyDir": {}})
        init_containers.append(
            {
                "name": "install-bridge",
                "image": own_image,
                "command": ["/opt/mcpops-bridge/install", f"{BRIDGE_DIR}/bridge"],
                "resources": SIDECAR_RESOURCES,
                "securityContext": restricted_container_context(),
                "volumeMounts": [{"name": "mcpops-bridge", "mountPath": BRIDGE_DIR}],
            }
        )
        server["command"] = [
            f"{BRIDGE_DIR}/bridge/mcpops-bridge",
            "--port",
            str(spec.port),
            "--path",
            spec.path,
            "--",
            *(spec.command or []),
            *(spec.args or []),
        ]
        server["volumeMounts"].append({"name": "mcpops-bridge", "mountPath": BRIDGE_DIR})
        # The bridge's /readyz runs an MCP initialize through its child end to end.
        server["readinessProbe"] = {
            "httpGet": {"path": "/readyz", "port": spec.port},
            **_probe_timing(probe),
        }
    else:
        if spec.command:
            server["command"] = list(spec.command)
        if spec.args:
            server["args"] = list(spec.args)
        transport = "sse" if spec.transport == "sse" else "streamable-http"
        # Readiness speaks MCP: the health sidecar answers /readyz only after an
        # MCP initialize against the server on localhost succeeds.
        containers.append(
            {
                "name": "mcp-health",
                "image": own_image,
                "args": [
                    "health",
                    "--listen",
                    f"0.0.0.0:{HEALTH_PORT}",
                    "--url",
                    f"http://127.0.0.1:{spec.port}{spec.path}",
                    "--transport",
                    transport,
                    "--timeout",
                    str(probe.timeout_seconds),
                ],
                "ports": [{"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"}],
                "readinessProbe": {
                    "httpGet": {"path": "/readyz", "port": HEALTH_PORT},
                    **_probe_timing(probe),
                },
                "livenessProbe": {
                    "httpGet": {"path": "/healthz", "port": HEALTH_PORT},
                    "periodSeconds": 20,
                    "failureThreshold": 3,
                },
                "resources": SIDECAR_RESOURCES,
                "securityContext": restricted_container_context(),
            }
        )

    pod_spec: dict[str, Any] = {
        "containers": containers,
        "volumes": volumes,
        "securityContext": restricted_pod_context(uid),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
    }
    if init_containers:
        pod_spec["initContainers"] = init_containers
    if spec.service_account_name:
        pod_spec["serviceAccountName"] = spec.service_account_name
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    pod_labels = {**(spec.pod_labels or {}), **labels(COMPONENT, name, **{SERVER_LABEL: name})}
    metadata: dict[str, Any] = {"labels": pod_labels}
    if spec.pod_annotations:
        metadata["annotations"] = dict(spec.pod_annotations)
    return {"metadata": metadata, "spec": pod_spec}


def revision_for(template: dict[str, Any]) -> str:
    """A revision is the hash of its pod template."""
    return digest(template, 10)


def revision_of(name: str, spec: MCPServerSpec, image: str | None = None) -> str:
    return revision_for(pod_template(name, spec, image))


def deployment(
    parent: dict[str, Any], template: dict[str, Any], revision: str, replicas: int
) -> dict[str, Any]:
    """The Deployment of one revision, from its pod template (see pod_template)."""
    name = parent["metadata"]["name"]
    template = copy.deepcopy(template)
    template["metadata"]["labels"][REVISION_LABEL] = revision
    return stamp(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": f"{name}-{revision}",
                "namespace": parent["metadata"]["namespace"],
                "labels": labels(COMPONENT, name, **{SERVER_LABEL: name, REVISION_LABEL: revision}),
                "ownerReferences": [owner_reference(parent)],
            },
            "spec": {
                "replicas": replicas,
                "revisionHistoryLimit": 0,
                "selector": {"matchLabels": {SERVER_LABEL: name, REVISION_LABEL: revision}},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
                },
                "template": template,
            },
        }
    )


def service(
    parent: dict[str, Any], spec: MCPServerSpec, *, name: str, revision: str | None, role: str
) -> dict[str, Any]:
    """The stable (role=active) or preview (role=preview) Service.

    With no revision to point at, the selector matches nothing rather than
    every revision: traffic must never reach an unintended one.
    """
    server = parent["metadata"]["name"]
    selector = {SERVER_LABEL: server, REVISION_LABEL: revision or "none"}
    return stamp(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": parent["metadata"]["namespace"],
                "labels": labels(COMPONENT, server, **{SERVER_LABEL: server}),
                "annotations": {"mcpops.dev/role": role},
                "ownerReferences": [owner_reference(parent)],
            },
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [
                    {
                        "name": "mcp",
                        "port": spec.port,
                        "targetPort": "mcp",
                        "protocol": "TCP",
                        "appProtocol": "http",
                    }
                ],
            },
        }
    )


def preview_name(server: str) -> str:
    return f"{server}-preview"
