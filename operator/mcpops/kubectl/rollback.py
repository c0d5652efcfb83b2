"""Which spec makes an earlier MCPServer revision again. Pure: objects in, a spec out.

The operator has no "roll back" request: a revision is the hash of the pod template
it builds from spec, and rolling back to an earlier spec reuses that revision's kept
Deployment. So a rollback is a spec change, the one a person would make in Git. Each
revision's Deployment records the spec fields that made its pod template (and the
operator and proxy images), and this reads them back (desired.read_spec_record); a candidate spec
is kept only if the operator's own code hashes it to the wanted revision.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from pydantic import ValidationError

from mcpops.api.mcpserver import MCPServerSpec
from mcpops.kinds.mcpserver import desired
from mcpops.objects.bodies import Body
from mcpops.objects.patch import merge_patch
from mcpops.settings import DEFAULT_OPERATOR_IMAGE, DEFAULT_PROXY_IMAGE


class PodImages(NamedTuple):
    """The images of mcpops' own in a pod template: part of its hash (the revision)."""

    operator: str = DEFAULT_OPERATOR_IMAGE  # sse servers' health sidecar
    proxy: str = DEFAULT_PROXY_IMAGE  # every other server's proxy


# The containers the operator puts into pod templates, by the image they carry.
OPERATOR_CONTAINERS = ("mcp-health",)
PROXY_CONTAINERS = ("mcp-proxy", "install-proxy")


class RollbackError(Exception):
    """The revision's spec cannot be found again; the message says why."""


def revision_of(
    name: str, spec: dict[str, Any], images: PodImages, namespace: str = ""
) -> str | None:
    try:
        model = MCPServerSpec.model_validate(spec)
    except ValidationError:
        return None
    return desired.revision_of(name, model, images.operator, images.proxy, namespace)


def images_of(template: dict[str, Any]) -> PodImages | None:
    """The images of mcpops' own containers in a pod template (None: it carries none)."""
    pod = template.get("spec") or {}
    found = {}
    for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        if c.get("name") in OPERATOR_CONTAINERS:
            found["operator"] = str(c.get("image"))
        elif c.get("name") in PROXY_CONTAINERS:
            found["proxy"] = str(c.get("image"))
    return PodImages(**found) if found else None


def with_fields(spec: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """spec with the fields that shape the pod template replaced by `fields` (those absent
    from `fields` removed); the others (replicas, rollout, tests, autoscaling) kept."""
    return {**{k: v for k, v in spec.items() if k in desired.NOT_IN_TEMPLATE}, **fields}


def _from_deployment(
    spec: dict[str, Any], deployment: Body
) -> Iterator[tuple[str, dict[str, Any], PodImages]]:
    recorded = desired.read_spec_record(deployment)
    if recorded is not None:
        fields, op_image, proxy_image = recorded
        images = PodImages(op_image, proxy_image)
        if "image" in fields:
            yield "the revision's image", {**spec, "image": fields["image"]}, images
        yield "the revision's pod template", with_fields(spec, fields), images
        return
    # Made before Deployments recorded their spec: its image is all that can be told.
    template = (deployment.get("spec") or {}).get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    server = next((c for c in containers if c.get("name") == "server"), None)
    if server is not None:
        images = images_of(template) or PodImages()
        yield "the revision's image", {**spec, "image": server["image"]}, images


def candidates(
    spec: dict[str, Any],
    deployment: Body | None,
    image: str | None,
    images_hint: PodImages | None = None,
) -> Iterator[tuple[str, dict[str, Any], PodImages]]:
    """(how, spec, images) that may make the revision, most likely first."""
    if deployment is not None:
        yield from _from_deployment(spec, deployment)
    if image:
        hint = images_hint or PodImages()
        yield "the image recorded in status.revisions", {**spec, "image": image}, hint


def rollback_spec(
    server: Body,
    revision: str,
    deployment: Body | None,
    images_hint: PodImages | None = None,
) -> tuple[dict[str, Any], str]:
    """The spec to write so that the operator serves `revision` again, and how it was found.

    images_hint: mcpops' images in any revision of this server (they are part of every
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
    for how, candidate, images in candidates(
        spec, deployment, (record or {}).get("image"), images_hint
    ):
        got = revision_of(name, candidate, images, server["metadata"].get("namespace") or "")
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
