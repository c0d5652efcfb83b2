"""JSON merge patches (RFC 7386): how a status is written, only what changed."""

from __future__ import annotations

from typing import Any


def merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The RFC 7386 JSON merge patch that turns old into new.

    Nested maps merge on the server, so a key dropped at any depth must be sent
    as null, or it would come back on the next read.
    """
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            sub = merge_patch(before, value)
            if sub:
                patch[key] = sub
        elif value != before or key not in old:
            patch[key] = value
    for gone in set(old) - set(new):
        patch[gone] = None
    return patch


def status_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """A merge patch from old to new status, or None when they are equal."""
    if old == new:
        return None
    return merge_patch(old, new) or None


# The lists of a pod template that Kubernetes' strategic merge merges by a key (its
# patchMergeKey); every other list is replaced whole.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "env": "name",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}


def strategic_merge(base: Any, patch: Any, key: str = "") -> Any:
    """`patch` merged over `base` as a strategic-merge patch of a pod template does it,
    for patches without directives or nulls (the overlay's model refuses those): maps
    merge, keyed lists merge item by item (new items appended), other lists and scalars
    are replaced. Neither argument is changed."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = strategic_merge(base[k], v, k) if k in base else v
        return out
    merge_key = MERGE_KEYS.get(key)
    if merge_key and isinstance(base, list) and isinstance(patch, list):
        merged = list(base)
        index = {item.get(merge_key): i for i, item in enumerate(merged) if isinstance(item, dict)}
        for item in patch:
            at = index.get(item.get(merge_key)) if isinstance(item, dict) else None
            if at is None:
                merged.append(item)
            else:
                merged[at] = strategic_merge(merged[at], item)
        return merged
    return patch
