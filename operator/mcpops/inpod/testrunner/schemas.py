"""Which changes to a tool's input schema break the agents that call it, by name.

A removed tool, a removed argument that was required, a new required argument (old callers
do not send it) and an argument whose JSON type changed break existing calls; a new optional
argument or a changed description does not.
"""

from __future__ import annotations

from typing import Any


def _types(schema: Any) -> list[str]:
    if not isinstance(schema, dict):
        return []
    kind = schema.get("type")
    if isinstance(kind, list):
        return sorted(str(k) for k in kind)
    if kind is not None:
        return [str(kind)]
    # anyOf/oneOf of typed branches (what pydantic writes for Optional[...])
    branches = schema.get("anyOf") or schema.get("oneOf") or []
    return sorted({t for b in branches for t in _types(b)})


def breaking(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The breaking changes from `before` to `now` (input schemas of one tool), each naming
    the argument."""
    props_before: dict[str, Any] = before.get("properties") or {}
    props_now: dict[str, Any] = now.get("properties") or {}
    req_before = set(before.get("required") or [])
    req_now = set(now.get("required") or [])
    found: list[str] = []
    for arg in sorted(req_before - set(props_now)):
        found.append(f"required argument {arg!r} removed")
    for arg in sorted(req_now - req_before):
        found.append(f"argument {arg!r} is now required")
    for arg in sorted(set(props_before) & set(props_now)):
        was, is_ = _types(props_before[arg]), _types(props_now[arg])
        if was and is_ and was != is_:
            found.append(f"argument {arg!r} retyped {'|'.join(was)} -> {'|'.join(is_)}")
    return found
