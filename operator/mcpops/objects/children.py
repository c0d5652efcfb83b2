"""What every child object carries: labels, an ownerReference, a content hash.

The hash annotation lets a reconcile skip the write when the live child
already matches what it would apply (no write at rest).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mcpops.objects.bodies import Body, Manifest, ObjectMeta, OwnerReference
from mcpops_common.names import (
    HASH_ANNOTATION,
    INSTANCE_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    NAME_LABEL,
    PART_OF,
    PART_OF_LABEL,
)

# The label selector of every child watch: what mcpops made.
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"


def labels(component: str, instance: str, **extra: str) -> dict[str, str]:
    return {
        NAME_LABEL: component,
        INSTANCE_LABEL: instance,
        MANAGED_BY_LABEL: MANAGED_BY,
        PART_OF_LABEL: PART_OF,
        **extra,
    }


def owner_reference(parent: Body) -> OwnerReference:
    meta = parent["metadata"]
    return {
        "apiVersion": parent["apiVersion"],
        "kind": parent["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def child_meta(
    parent: Body, name: str, labels: dict[str, str], annotations: dict[str, str] | None = None
) -> ObjectMeta:
    """The metadata of a child: in its parent's namespace, controlled by the parent."""
    meta: ObjectMeta = {
        "name": name,
        "namespace": parent["metadata"]["namespace"],
        "labels": labels,
        "ownerReferences": [owner_reference(parent)],
    }
    if annotations:
        meta["annotations"] = annotations
    return meta


def digest(value: Any, length: int = 10) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]


def stamp(manifest: Manifest) -> Manifest:
    """Add the content-hash annotation (computed without it) and return the manifest."""
    annotations = manifest["metadata"].setdefault("annotations", {})
    annotations.pop(HASH_ANNOTATION, None)
    annotations[HASH_ANNOTATION] = digest(manifest, 16)
    return manifest


# Fields the operator owns that someone else commonly changes behind its back (kubectl
# scale, an edited selector). The hash says what was applied last, not what is live now,
# so these are compared with the live object too: a difference is drift to put back.
DRIFT_FIELDS: tuple[tuple[str, ...], ...] = (("spec", "replicas"), ("spec", "selector"))


def _at(obj: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def up_to_date(desired: Manifest, live: Body | None) -> bool:
    if live is None:
        return False
    want = desired["metadata"].get("annotations", {}).get(HASH_ANNOTATION)
    have = (live.get("metadata", {}).get("annotations") or {}).get(HASH_ANNOTATION)
    if want is None or want != have:
        return False
    return all(
        _at(live, path) == _at(desired, path)
        for path in DRIFT_FIELDS
        if _at(desired, path) is not None
    )


# The restricted Pod Security Standard, for every pod the operator creates.
def restricted_container_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_pod_context(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
