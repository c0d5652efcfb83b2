"""Every child an MCPServer wants, as plain manifests (no API calls here).

A revision is a hash of the pod template: anything that changes what runs in
the pods makes a new one; replicas do not. Each revision runs as its own
Deployment, behind a stable and a preview Service; test suites run as Jobs
against the preview (their results are read in suites.py).
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from mcpops import OPERATOR_IMAGE as DEFAULT_OPERATOR_IMAGE
from mcpops import PROXY_IMAGE as DEFAULT_PROXY_IMAGE
from mcpops.api.mcpserver import Liveness, MCPServerSpec, Probe, Sessions
from mcpops.api.testsuite import TestSuite
from mcpops.kinds.mcpserver import security
from mcpops.objects.bodies import Body, Manifest, ObjectMeta, PodTemplate, Revision
from mcpops.objects.children import (
    child_meta,
    digest,
    labels,
    restricted_container_context,
    restricted_pod_context,
    stamp,
)
from mcpops.objects.patch import strategic_merge
from mcpops_common.names import (
    ATTEMPT_LABEL,
    CONFIG_HASH_ANNOTATION,
    NAME_LABEL,
    REVISION_LABEL,
    REVISION_SPEC_ANNOTATION,
    ROLE,
    SCHEDULED_LABEL,
    SERVER_LABEL,
    SUITE_LABEL,
)

COMPONENT = "mcpserver"

DEFAULT_REQUESTS = {"cpu": "100m", "memory": "128Mi"}
# A stdio server's container runs the proxy (about 13 MiB RSS at rest) and, besides a child per
# session, two of the server's processes at rest: the control child (checks, stateless
# requests) and a warm one (a new session starts at once); mcp-server-time is about 66 MiB.
STDIO_DEFAULT_REQUESTS = {"cpu": "100m", "memory": "192Mi"}
DEFAULT_LIMITS = {"cpu": "500m", "memory": "512Mi"}
# The health sidecar of sse servers (operator image): 65 MiB working set measured at rest on
# a real node, 79 MiB RSS as a process; requested with headroom.
SIDECAR_RESOURCES = {
    "requests": {"cpu": "10m", "memory": "96Mi"},
    "limits": {"cpu": "200m", "memory": "192Mi"},
}
# The proxy sidecar: about 13 MiB RSS at rest (bench/results/proxy.md), budget 30 MiB; its
# limit leaves room for buffered bodies (--max-body 4 MiB) under load.
PROXY_RESOURCES = {
    "requests": {"cpu": "10m", "memory": "32Mi"},
    "limits": {"cpu": "500m", "memory": "128Mi"},
}
# The init container that copies the proxy into a stdio server's pod: a file copy of a 15 MiB
# binary (11 MiB RSS; the copy's page cache is charged to the container's cgroup too).
INSTALL_RESOURCES = {
    "requests": {"cpu": "10m", "memory": "32Mi"},
    "limits": {"cpu": "100m", "memory": "64Mi"},
}
DEFAULT_UID = 65532
HEALTH_PORT = 8099
# The proxy's port beside an HTTP server (the server keeps spec.port; the Services target
# the proxy's port by its name, "mcp"); the next one if the server itself uses it.
PROXY_PORT = 8090
PROXY_DIR = "/mcpops/bin"  # a stdio server's pod: where the init container puts the proxy
PROXY_BIN = f"{PROXY_DIR}/mcpops-proxy"
SESSION_KEY_DIR = "/var/run/mcpops/session"
SESSION_KEY = "key"  # the Secret's key, and the file name under SESSION_KEY_DIR
TEST_COMPONENT = "mcpserver-test"
RUNNER_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "96Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
# Spec fields that do not shape the pod template: a revision is the same whatever they are
# (by field and by wire name where they differ).
NOT_IN_TEMPLATE = frozenset(
    {
        "replicas",
        "rollout",
        "tests",
        "autoscaling",
        "disruptionBudget",
        "disruption_budget",
        "updates",
        "expose",  # the route to the stable Service (exposure.py), never the pods
        "network",  # the NetworkPolicy (network.py) selects every revision's pods
    }
)


def _resources(spec: MCPServerSpec) -> dict[str, Any]:
    requests = dict(STDIO_DEFAULT_REQUESTS if spec.transport == "stdio" else DEFAULT_REQUESTS)
    limits = dict(DEFAULT_LIMITS)
    if spec.resources and spec.resources.requests:
        requests.update(spec.resources.requests)
    if spec.resources and spec.resources.limits:
        limits.update(spec.resources.limits)
    return {"requests": requests, "limits": limits}


def _scheduling(pod_spec: dict[str, Any], name: str, spec: MCPServerSpec) -> None:
    """Where and how the pods are scheduled, and what they pull with, in place."""
    if spec.service_account_name:
        pod_spec["serviceAccountName"] = spec.service_account_name
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod_spec["tolerations"] = [t.to_wire() for t in spec.tolerations]
    if spec.affinity:
        pod_spec["affinity"] = spec.affinity.to_wire()
    if spec.topology_spread_constraints:
        pod_spec["topologySpreadConstraints"] = [
            _spread(c.to_wire(), name) for c in spec.topology_spread_constraints
        ]
    if spec.priority_class_name:
        pod_spec["priorityClassName"] = spec.priority_class_name
    if spec.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [s.to_wire() for s in spec.image_pull_secrets]
    if spec.termination_grace_period_seconds is not None:
        pod_spec["terminationGracePeriodSeconds"] = spec.termination_grace_period_seconds


def _spread(constraint: dict[str, Any], name: str) -> dict[str, Any]:
    """A spread constraint without a selector counts this server's pods of one revision
    (the revision label's value is taken from each incoming pod)."""
    if "labelSelector" not in constraint:
        constraint["labelSelector"] = {"matchLabels": {SERVER_LABEL: name}}
        constraint.setdefault("matchLabelKeys", [REVISION_LABEL])
    return constraint


def _overlay(template: PodTemplate, spec: MCPServerSpec) -> PodTemplate:
    """spec.podTemplate merged over the template; every container, the overlay's sidecars
    too, keeps the restricted security context (the overlay's model refuses setting one)."""
    if spec.pod_template is None:
        return template
    merged: PodTemplate = strategic_merge(template, spec.pod_template.to_wire())
    for kind in ("containers", "initContainers"):
        for container in merged["spec"].get(kind) or []:
            container["securityContext"] = restricted_container_context()
    return merged


def _probe_timing(probe: Probe) -> dict[str, Any]:
    return {
        "periodSeconds": probe.period_seconds,
        "timeoutSeconds": probe.timeout_seconds + 1,
        "failureThreshold": probe.failure_threshold,
        "initialDelaySeconds": probe.initial_delay_seconds,
    }


def proxy_port(spec: MCPServerSpec) -> int:
    """The port the proxy listens on: spec.port for stdio (the proxy is the server there),
    else PROXY_PORT beside the server (PROXY_PORT + 1 if the server uses that one)."""
    if spec.transport == "stdio":
        return spec.port
    return PROXY_PORT + 1 if spec.port == PROXY_PORT else PROXY_PORT


def session_secret_name(server: str) -> str:
    """The Secret holding the key the proxies sign session ids with: one per MCPServer,
    shared by every replica of every revision (blue and green forward to each other)."""
    return f"{server}-mcpops-session"


def session_secret(parent: Body, key: bytes) -> Manifest:
    """The session-key Secret (see session_secret_name), owned by the MCPServer. Created
    once with a random key and never applied again: a new key would make every open
    session's id unverifiable."""
    name = parent["metadata"]["name"]
    return stamp(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": child_meta(
                parent,
                session_secret_name(name),
                labels(COMPONENT, name, **{SERVER_LABEL: name}),
            ),
            "data": {SESSION_KEY: base64.b64encode(key).decode()},
        }
    )


uses_proxy = security.uses_proxy  # which pods carry the proxy (one rule, asked here too)


def proxy_args(spec: MCPServerSpec, probe: Probe, live: Liveness) -> list[str]:
    """The proxy's flags (proxy/README.md) for this spec."""
    sessions = spec.sessions or Sessions()
    args = [
        "--listen", f":{proxy_port(spec)}",
        "--path", spec.path,
        "--sessions", "sticky" if sessions.mode == "Sticky" else "none",
        "--session-idle", f"{sessions.idle_seconds}s",
        "--session-key-file", f"{SESSION_KEY_DIR}/{SESSION_KEY}",
        "--ready-timeout", f"{probe.timeout_seconds}s",
        "--live-timeout", f"{live.timeout_seconds}s",
    ]  # fmt: skip
    if spec.transport == "stdio":
        return [*args, "--transport", "stdio", "--", *(spec.command or []), *(spec.args or [])]
    upstream = f"http://127.0.0.1:{spec.port}{spec.path}"
    return [*args, "--transport", "http", "--upstream", upstream]


# What the proxy reads from the pod: its own address (written into session ids) and the
# revision it serves (/mcpops/info, audit records), both by the downward API: the revision
# is the template's hash, so the template cannot carry it as a value.
PROXY_ENV = [
    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    {
        "name": "MCPOPS_REVISION",
        "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{REVISION_LABEL}']"}},
    },
]


def _proxy_checks(spec: MCPServerSpec, probe: Probe, live: Liveness) -> dict[str, Any]:
    """Readiness (/readyz: a full MCP exchange) and liveness (/livez: does anything answer)
    on the proxy's port; both speak MCP, and only a hung server fails liveness."""
    get: dict[str, Any] = {"port": proxy_port(spec)}
    if security.scheme(spec) == "https":  # only then: HTTP is the default (same revision)
        get["scheme"] = "HTTPS"
    return {
        "readinessProbe": {"httpGet": {"path": "/readyz", **get}, **_probe_timing(probe)},
        "livenessProbe": {
            "httpGet": {"path": "/livez", **get},
            "periodSeconds": live.period_seconds,
            "timeoutSeconds": live.timeout_seconds + 1,
            "failureThreshold": live.failure_threshold,
            # The first checks wait for readiness's budget: a server still starting is alive.
            "initialDelaySeconds": probe.initial_delay_seconds,
        },
    }


def _with_proxy(
    spec: MCPServerSpec,
    server: dict[str, Any],
    containers: list[dict[str, Any]],
    init_containers: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
    proxy_image: str,
    name: str,
    secured: bool = False,
) -> None:
    """Put the proxy into the pod, in place: beside an HTTP server, or (stdio) as the server
    container's entrypoint, copied in by an init container from the proxy image."""
    probe = spec.readiness or Probe()
    live = spec.liveness or Liveness()
    key_mount = {"name": "mcpops-session", "mountPath": SESSION_KEY_DIR, "readOnly": True}
    volumes.append(
        {
            "name": "mcpops-session",
            "secret": {
                "secretName": session_secret_name(name),
                "items": [{"key": SESSION_KEY, "path": SESSION_KEY}],
                "defaultMode": 0o440,
            },
        }
    )
    checks = _proxy_checks(spec, probe, live)
    mounts = [key_mount]
    args = proxy_args(spec, probe, live)
    if secured:  # the settings file (security.py), and what it points at
        volumes += security.pod_volumes(spec)
        mounts += security.proxy_mounts(spec)
        args = [*security.proxy_flags(), *args]
    if spec.transport == "stdio":
        volumes.append({"name": "mcpops-proxy", "emptyDir": {}})
        init_containers.append(
            {
                "name": "install-proxy",
                "image": proxy_image,
                "args": ["install", PROXY_DIR],
                "resources": INSTALL_RESOURCES,
                "securityContext": restricted_container_context(),
                "volumeMounts": [{"name": "mcpops-proxy", "mountPath": PROXY_DIR}],
            }
        )
        server["command"] = [PROXY_BIN, *args]
        server["env"] = [*server["env"], *PROXY_ENV]
        server["volumeMounts"] += [
            {"name": "mcpops-proxy", "mountPath": PROXY_DIR, "readOnly": True},
            *mounts,
        ]
        # A hung child fails /livez (a ping in the control child's session): the container,
        # proxy and children, is restarted.
        server.update(checks)
        return
    # The Services target the proxy (port name "mcp"); the server's own port is internal.
    server["ports"] = [{"name": "server", "containerPort": spec.port, "protocol": "TCP"}]
    # Liveness belongs to the server container: a failure restarts what hangs (the server),
    # while the proxy (and the sessions it routes for other replicas) keeps running.
    server["livenessProbe"] = checks["livenessProbe"]
    containers.append(
        {
            "name": "mcp-proxy",
            "image": proxy_image,
            "args": args,
            "env": list(PROXY_ENV),
            "ports": [{"name": "mcp", "containerPort": proxy_port(spec), "protocol": "TCP"}],
            "readinessProbe": checks["readinessProbe"],
            "resources": PROXY_RESOURCES,
            "securityContext": restricted_container_context(),
            "volumeMounts": mounts,
        }
    )


def _health_sidecar(spec: MCPServerSpec, image: str) -> dict[str, Any]:
    """sse servers: readiness by an MCP initialize over SSE from the operator image (the
    proxy does not speak the older transport)."""
    probe = spec.readiness or Probe()
    return {
        "name": "mcp-health",
        "image": image,
        "args": [
            "health",
            "--listen",
            f"0.0.0.0:{HEALTH_PORT}",
            "--url",
            f"http://127.0.0.1:{spec.port}{spec.path}",
            "--transport",
            "sse",
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


def pod_template(
    name: str,
    spec: MCPServerSpec,
    image: str = DEFAULT_OPERATOR_IMAGE,
    config_hash: str | None = None,
    *,
    proxy_image: str = DEFAULT_PROXY_IMAGE,
    namespace: str = "",
) -> PodTemplate:
    """The pod template, without the revision label (the revision is its hash).

    `image` is the operator image (in the template of sse servers only: their health
    sidecar), `proxy_image` the in-pod proxy's (every other server); `config_hash` the hash
    of what the pods read from ConfigMaps and Secrets (references.resolve), None when they
    read none; `namespace` the MCPServer's (in the proxy's security settings).
    """
    uid = spec.run_as_user or DEFAULT_UID
    settings = security.render(spec, namespace, name)
    env = [e.to_wire() for e in spec.env or []]
    server: dict[str, Any] = {
        "name": "server",
        "image": spec.image,
        "ports": [{"name": "mcp", "containerPort": spec.port, "protocol": "TCP"}],
        "env": env,
        "envFrom": [e.to_wire() for e in spec.env_from or []],
        "resources": _resources(spec),
        "securityContext": restricted_container_context(),
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            *(m.to_wire() for m in spec.volume_mounts or []),
        ],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if spec.image_pull_policy:
        server["imagePullPolicy"] = spec.image_pull_policy
    volumes: list[dict[str, Any]] = [
        {"name": "tmp", "emptyDir": {}},
        *(v.to_wire() for v in spec.volumes or []),
    ]
    containers = [server]
    init_containers: list[dict[str, Any]] = []
    if spec.transport != "stdio":
        if spec.command:
            server["command"] = list(spec.command)
        if spec.args:
            server["args"] = list(spec.args)
    if uses_proxy(spec.transport):
        _with_proxy(
            spec, server, containers, init_containers, volumes, proxy_image, name,
            settings is not None,
        )  # fmt: skip
    else:
        containers.append(_health_sidecar(spec, image))

    pod_spec: dict[str, Any] = {
        "containers": containers,
        "volumes": volumes,
        "securityContext": restricted_pod_context(uid),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
    }
    if init_containers:
        pod_spec["initContainers"] = init_containers
    _scheduling(pod_spec, name, spec)
    pod_labels = {**(spec.pod_labels or {}), **labels(COMPONENT, name, **{SERVER_LABEL: name})}
    metadata: ObjectMeta = {"labels": pod_labels}
    if spec.pod_annotations:
        metadata["annotations"] = dict(spec.pod_annotations)
    template = _overlay({"metadata": metadata, "spec": pod_spec}, spec)
    # The overlay's labels never replace mcpops' own (the Services select by them).
    template["metadata"]["labels"].update(labels(COMPONENT, name, **{SERVER_LABEL: name}))
    if config_hash:
        template["metadata"].setdefault("annotations", {})[CONFIG_HASH_ANNOTATION] = config_hash
    if settings is not None:  # after the overlay: its annotations never replace the settings
        template["metadata"].setdefault("annotations", {})[security.SETTINGS_ANNOTATION] = (
            security.settings_json(settings)
        )
    return template


def revision_for(template: PodTemplate) -> Revision:
    """A revision is the hash of its pod template."""
    return Revision(digest(template, 10))


def revision_of(
    name: str,
    spec: MCPServerSpec,
    image: str = DEFAULT_OPERATOR_IMAGE,
    proxy_image: str = DEFAULT_PROXY_IMAGE,
    namespace: str = "",
) -> Revision:
    return revision_for(
        pod_template(name, spec, image, proxy_image=proxy_image, namespace=namespace)
    )


# ---------------------------------------------------------------- a revision's Deployment

ROLLING = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


def spec_record(spec: MCPServerSpec, image: str, proxy_image: str = DEFAULT_PROXY_IMAGE) -> str:
    """What a revision's Deployment records of the spec that made it: the fields that shape
    the pod template (defaults left out), the operator and the proxy image. `kubectl mcpops
    rollback` restores them from here (read_spec_record), instead of reading a pod template
    back."""
    fields = spec.model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude_defaults=True,
        exclude=set(NOT_IN_TEMPLATE),
    )  # fmt: skip
    record = {"spec": fields, "operatorImage": image, "proxyImage": proxy_image}
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def read_spec_record(deployment: Body) -> tuple[dict[str, Any], str, str] | None:
    """(template fields of the spec, operator image, proxy image) recorded on a revision's
    Deployment; None on one made before the record existed, or with a record that cannot be
    read."""
    raw = ((deployment.get("metadata") or {}).get("annotations") or {}).get(
        REVISION_SPEC_ANNOTATION
    )
    try:
        record = json.loads(raw) if raw else None
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("spec"), dict):
        return None
    fields: dict[str, Any] = record["spec"]
    return (
        fields,
        str(record.get("operatorImage") or DEFAULT_OPERATOR_IMAGE),
        str(record.get("proxyImage") or DEFAULT_PROXY_IMAGE),
    )


def deployment(
    parent: Body,
    template: PodTemplate,
    revision: Revision,
    replicas: int,
    *,
    record: str | None = None,
) -> Manifest:
    """The Deployment of one revision, from its pod template (see pod_template) and the
    record of the spec that made it (spec_record; the plan always gives it)."""
    name = parent["metadata"]["name"]
    template = copy.deepcopy(template)
    template["metadata"]["labels"][REVISION_LABEL] = revision
    return stamp(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": child_meta(
                parent,
                f"{name}-{revision}",
                labels(COMPONENT, name, **{SERVER_LABEL: name, REVISION_LABEL: revision}),
                annotations={REVISION_SPEC_ANNOTATION: record} if record else {},
            ),
            "spec": {
                "replicas": replicas,
                "revisionHistoryLimit": 0,
                "selector": {"matchLabels": {SERVER_LABEL: name, REVISION_LABEL: revision}},
                "strategy": ROLLING,
                "template": template,
            },
        }
    )


def rescaled(live: Body, replicas: int | None) -> Manifest:
    """An apply manifest for an existing Deployment (another revision than the spec's):
    its own template and spec record, a new replica count (None: the HPA's to set)."""
    meta = live["metadata"]
    manifest: Manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": dict(meta.get("labels") or {}),
            "ownerReferences": meta.get("ownerReferences") or [],
        },
        "spec": {
            "revisionHistoryLimit": 0,
            "selector": live["spec"]["selector"],
            "strategy": live["spec"].get("strategy") or ROLLING,
            "template": live["spec"]["template"],
        },
    }
    record = (meta.get("annotations") or {}).get(REVISION_SPEC_ANNOTATION)
    if record:  # kept: an apply that left it out would remove it
        manifest["metadata"]["annotations"] = {REVISION_SPEC_ANNOTATION: record}
    if replicas is not None:
        manifest["spec"]["replicas"] = replicas
    return stamp(manifest)


def hpa(parent: Body, spec: MCPServerSpec, target: str) -> Manifest:
    """The HorizontalPodAutoscaler of the serving revision's Deployment `target`."""
    assert spec.autoscaling is not None
    target_cpu = spec.autoscaling.target_cpu_utilization_percent
    name = parent["metadata"]["name"]
    return stamp(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": child_meta(parent, name, labels(COMPONENT, name, **{SERVER_LABEL: name})),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "minReplicas": spec.autoscaling.min_replicas,
                "maxReplicas": spec.autoscaling.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": target_cpu},
                        },
                    }
                ],
            },
        }
    )


def disruption_budget(parent: Body, spec: MCPServerSpec, revision: str) -> Manifest:
    """The PodDisruptionBudget of the serving revision `revision` (its selector moves with
    the switch, so a revision that no longer serves has none)."""
    name = parent["metadata"]["name"]
    budget = spec.disruption_budget
    max_unavailable = budget.max_unavailable if budget else 1
    return stamp(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": child_meta(parent, name, labels(COMPONENT, name, **{SERVER_LABEL: name})),
            "spec": {
                "maxUnavailable": max_unavailable,
                # Not the revision's test Job pods: a Job has no scale subresource, and the
                # disruption controller cannot count a budget over them.
                "selector": {
                    "matchLabels": {
                        NAME_LABEL: COMPONENT,
                        SERVER_LABEL: name,
                        REVISION_LABEL: revision,
                    }
                },
            },
        }
    )


def wants_budget(spec: MCPServerSpec) -> bool:
    """A budget unless turned off; by default when the serving revision may run more than
    one pod (with one, a budget would only block node drains)."""
    if spec.disruption_budget and spec.disruption_budget.enabled is not None:
        return spec.disruption_budget.enabled
    most = spec.autoscaling.max_replicas if spec.autoscaling else spec.replicas
    return max(most, spec.replicas) > 1


# ---------------------------------------------------------------- Services


def service(
    parent: Body, spec: MCPServerSpec, *, name: str, revision: str | None, role: str
) -> Manifest:
    """The stable (role=active) or preview (role=preview) Service.

    With no revision to point at, the selector matches nothing rather than
    every revision: traffic must never reach an unintended one.
    """
    server = parent["metadata"]["name"]
    # The name label (the component) keeps the revision's test Job pods, which carry the
    # same server and revision labels, out of the Service: a runner never calls itself.
    selector = {NAME_LABEL: COMPONENT, SERVER_LABEL: server, REVISION_LABEL: revision or "none"}
    return stamp(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": child_meta(
                parent,
                name,
                labels(COMPONENT, server, **{SERVER_LABEL: server}),
                annotations={ROLE: role},
            ),
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


# ---------------------------------------------------------------- test Jobs
#
# Results come from the pod's termination message (written by the runner, or by a user
# container), never from logs (suites.py reads them). A failing test is told apart from a
# disrupted pod by the Job's podFailurePolicy: a non-zero exit fails the Job at once; an
# evicted or preempted pod (DisruptionTarget) is retried and never counts as a pass.


def job_name(server: str, revision: str, suite: str, attempt: int) -> str:
    """Deterministic, at most 63 characters (Job names become pod label values)."""
    base = f"{server}-{revision}-{suite}-{attempt}"
    if len(base) <= 63:
        return base
    return f"{base[:52]}-{digest(base, 10)}"


def test_job(
    parent: Body,
    spec: MCPServerSpec,
    suite: TestSuite,
    *,
    revision: str,
    attempt: int,
    preview_url: str,
    baseline: str | None,
    image: str = DEFAULT_OPERATOR_IMAGE,
    scheduled: bool = False,
) -> Manifest:
    """The Job that runs one suite; `image` is the operator image (the built-in runner);
    `scheduled`: a run on tests[].schedule (then `attempt` is its time, in epoch minutes)."""
    name = parent["metadata"]["name"]
    pod_extra, volumes, mounts, env = security.test_pod_parts(
        spec, parent["metadata"].get("namespace") or "", name
    )
    env = [{"name": "MCP_SERVER_URL", "value": preview_url}, *env]
    if suite.builtin is not None:
        container: dict[str, Any] = {
            "name": "test",
            "image": image,
            "args": [
                "test-runner",
                "--transport",
                "sse" if spec.transport == "sse" else "streamable-http",
            ],
        }
        env.append({"name": "MCPOPS_TEST_SUITE", "value": json.dumps(suite.to_wire())})
        if baseline:
            env.append({"name": "MCPOPS_TEST_BASELINE", "value": baseline})
    else:
        assert suite.container is not None
        container = {"name": "test", "image": suite.container.image}
        if suite.container.command:
            container["command"] = list(suite.container.command)
        if suite.container.args:
            container["args"] = list(suite.container.args)
        env += [e.to_wire() for e in suite.container.env or []]
    container.update(
        {
            "env": env,
            "resources": RUNNER_RESOURCES,
            "securityContext": restricted_container_context(),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *mounts],
            "terminationMessagePolicy": "File",
        }
    )
    pod_labels = labels(
        TEST_COMPONENT,
        name,
        **{SERVER_LABEL: name, REVISION_LABEL: revision, SUITE_LABEL: suite.name},
    )
    pod_labels[ATTEMPT_LABEL] = str(attempt)
    if scheduled:
        pod_labels[SCHEDULED_LABEL] = "true"
    return stamp(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": child_meta(
                parent, job_name(name, revision, suite.name, attempt), dict(pod_labels)
            ),
            "spec": {
                "backoffLimit": 1,
                "activeDeadlineSeconds": suite.timeout_seconds + 30,
                "podFailurePolicy": {
                    "rules": [
                        # Evicted, preempted, node gone: try again, never a pass.
                        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                        # The test said no: fail the Job now, no retries.
                        {
                            "action": "FailJob",
                            "onExitCodes": {
                                "containerName": "test",
                                "operator": "NotIn",
                                "values": [0],
                            },
                        },
                    ]
                },
                "template": {
                    "metadata": {
                        "labels": pod_labels,
                        "annotations": dict(suite.pod_annotations or {}),
                    },
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [container],
                        "volumes": [{"name": "tmp", "emptyDir": {}}, *volumes],
                        "securityContext": restricted_pod_context(65532),
                        "automountServiceAccountToken": False,
                        "enableServiceLinks": False,
                        **pod_extra,
                    },
                },
            },
        }
    )
