"""Which spec makes an earlier MCPServer revision again. Pure: objects in, a spec out.

The operator has no "roll back" request: a revision is the hash of the pod template
it builds from spec, and "rolling back to an earlier spec reuses that revision's kept
Deployment". So a rollback is a spec change, the one a person would make in Git. The
kept Deployment holds the revision's pod template; this reads the spec fields back
from it (the inverse of mcpops.kinds.mcpserver.desired.pod_template) and keeps a candidate
only if the operator's own code hashes it to the wanted revision.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from mcpops.api.mcpserver import MCPServerSpec, Probe
from mcpops.kinds.mcpserver import desired
from mcpops.objects.children import labels
from mcpops.objects.patch import merge_patch

# Spec fields that shape the pod template (the rest, e.g. replicas, rollout, tests,
# autoscaling, are kept as they are).
TEMPLATE_FIELDS = (
    "image",
    "imagePullPolicy",
    "command",
    "args",
    "env",
    "envFrom",
    "transport",
    "port",
    "path",
    "resources",
    "readiness",
    "serviceAccountName",
    "podLabels",
    "podAnnotations",
    "nodeSelector",
    "runAsUser",
)


class RollbackError(Exception):
    """The revision's spec cannot be found again; the message says why."""


def revision_of(name: str, spec: dict[str, Any], image: str | None) -> str | None:
    try:
        model = MCPServerSpec.model_validate(spec)
    except ValidationError:
        return None
    return desired.revision_of(name, model, image)


def _flag(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args[:-1] else None


def _strip_env(env: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop what the API server defaulted into the template (fieldRef.apiVersion)."""
    out = copy.deepcopy(env)
    for var in out:
        ref = (var.get("valueFrom") or {}).get("fieldRef")
        if ref is not None:
            ref.pop("apiVersion", None)
    return out


# The containers the operator puts into every pod template, carrying its own image.
OPERATOR_CONTAINERS = ("install-bridge", "mcp-health")


def operator_image_of(template: dict[str, Any]) -> str | None:
    """The operator image a revision's pod template was built with."""
    pod = template.get("spec") or {}
    for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        if c.get("name") in OPERATOR_CONTAINERS:
            return str(c.get("image"))
    return None


def spec_from_template(name: str, template: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """(template fields of the spec, the operator image) that built this pod template."""
    pod = template.get("spec") or {}
    containers = {c["name"]: c for c in pod.get("containers") or []}
    server = containers.get("server")
    if server is None:
        raise RollbackError("the Deployment's pod template has no `server` container")
    out: dict[str, Any] = {"image": server["image"]}
    port = (server.get("ports") or [{}])[0].get("containerPort")
    if port:
        out["port"] = port
    if server.get("env"):
        out["env"] = _strip_env(server["env"])
    if server.get("envFrom"):
        out["envFrom"] = copy.deepcopy(server["envFrom"])
    res = server.get("resources") or {}
    if (res.get("requests") or {}) != desired.DEFAULT_REQUESTS or (
        res.get("limits") or {}
    ) != desired.DEFAULT_LIMITS:
        out["resources"] = copy.deepcopy(res)
    probe_source: dict[str, Any] = {}
    timeout: str | None = None
    bridge = [c for c in pod.get("initContainers") or [] if c.get("name") == "install-bridge"]
    if bridge:
        command = list(server.get("command") or [])
        out["transport"] = "stdio"
        out["path"] = _flag(command, "--path") or "/mcp"
        out["command"] = command[command.index("--") + 1 :] if "--" in command else []
        probe_source = server.get("readinessProbe") or {}
    else:
        health = containers.get("mcp-health") or {}
        args = list(health.get("args") or [])
        out["transport"] = "sse" if _flag(args, "--transport") == "sse" else "streamable-http"
        url = _flag(args, "--url") or ""
        out["path"] = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/mcp"
        timeout = _flag(args, "--timeout")
        probe_source = health.get("readinessProbe") or {}
        if server.get("command"):
            out["command"] = list(server["command"])
        if server.get("args"):
            out["args"] = list(server["args"])
    probe = Probe(
        period_seconds=probe_source.get("periodSeconds", 10),
        timeout_seconds=int(timeout) if timeout else probe_source.get("timeoutSeconds", 4) - 1,
        failure_threshold=probe_source.get("failureThreshold", 3),
        initial_delay_seconds=probe_source.get("initialDelaySeconds", 0),
    )
    if probe != Probe():
        out["readiness"] = probe.to_wire()
    uid = (pod.get("securityContext") or {}).get("runAsUser")
    if uid and uid != desired.DEFAULT_UID:
        out["runAsUser"] = uid
    if pod.get("serviceAccountName"):
        out["serviceAccountName"] = pod["serviceAccountName"]
    if pod.get("nodeSelector"):
        out["nodeSelector"] = dict(pod["nodeSelector"])
    ours = set(labels(desired.COMPONENT, name, **{desired.SERVER_LABEL: name}))
    ours.add(desired.REVISION_LABEL)
    meta = template.get("metadata") or {}
    pod_labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in ours}
    if pod_labels:
        out["podLabels"] = pod_labels
    if meta.get("annotations"):
        out["podAnnotations"] = dict(meta["annotations"])
    if server.get("imagePullPolicy"):
        out["imagePullPolicy"] = server["imagePullPolicy"]
    return out, operator_image_of(template)


def with_fields(spec: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """spec with its template fields replaced by `fields` (absent ones removed)."""
    out = {k: v for k, v in spec.items() if k not in TEMPLATE_FIELDS}
    out.update(fields)
    return out


def candidates(
    name: str,
    spec: dict[str, Any],
    deployment: dict[str, Any] | None,
    image: str | None,
    op_image_hint: str | None = None,
) -> Iterator[tuple[str, dict[str, Any], str | None]]:
    """(how, spec, operator image) that may make `revision`, most likely first."""
    if deployment is not None:
        template = (deployment.get("spec") or {}).get("template") or {}
        fields, op_image = spec_from_template(name, template)
        yield "the revision's image", {**spec, "image": fields["image"]}, op_image
        # The API server defaults imagePullPolicy into a stored template: try without it.
        without = {k: v for k, v in fields.items() if k != "imagePullPolicy"}
        yield "the revision's pod template", with_fields(spec, without), op_image
        yield "the revision's pod template", with_fields(spec, fields), op_image
    if image:
        yield "the image recorded in status.revisions", {**spec, "image": image}, op_image_hint


def rollback_spec(
    server: dict[str, Any],
    revision: str,
    deployment: dict[str, Any] | None,
    op_image_hint: str | None = None,
) -> tuple[dict[str, Any], str]:
    """The spec to write so that the operator serves `revision` again, and how it was found.

    op_image_hint: the operator image of any revision of this server (it is part of every
    pod template), for when the revision's own Deployment is gone.
    """
    name = server["metadata"]["name"]
    spec: dict[str, Any] = server.get("spec") or {}
    status: dict[str, Any] = server.get("status") or {}
    record = next((r for r in status.get("revisions") or [] if r["revision"] == revision), None)
    if record is None and deployment is None:
        known = ", ".join(r["revision"] for r in status.get("revisions") or []) or "none"
        raise RollbackError(
            f"revision {revision} is neither in status.revisions ({known}) nor kept as a "
            f"Deployment {name}-{revision}"
        )
    tried = []
    for how, candidate, op_image in candidates(
        name, spec, deployment, (record or {}).get("image"), op_image_hint
    ):
        got = revision_of(name, candidate, op_image)
        if got == revision:
            return candidate, how
        tried.append(f"{how} -> {got}")
    raise RollbackError(
        f"no spec found that makes revision {revision} again (tried: {'; '.join(tried)}). "
        "Restore the spec from Git (or your records) and apply it."
    )


def spec_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch of spec that turns old into new (null removes a field, at any
    depth: a key missing from a nested map such as podLabels would otherwise survive)."""
    return {"spec": merge_patch(old, new)}
