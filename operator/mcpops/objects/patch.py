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
