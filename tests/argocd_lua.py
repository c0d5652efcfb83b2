"""Run the Argo CD health checks (charts/mcpops/argocd/*.lua) in a real Lua 5.1 interpreter.

Argo CD evaluates them with gopher-lua, a Lua 5.1: the script sees the object as the
global `obj` and returns a table {status, message}. lupa's lua51 runtime does the same
here; os, io and debug are removed since Argo CD's sandbox has no use for them either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lupa import lua51

REPO = Path(__file__).resolve().parents[1]
ARGOCD = REPO / "charts" / "mcpops" / "argocd"
HEALTH_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def script(kind: str) -> str:
    return (ARGOCD / f"{kind}.lua").read_text()


def health(obj: dict[str, Any], kind: str | None = None) -> tuple[str, str]:
    """(status, message) that Argo CD would show for obj."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    env = lua.globals()
    for lib in ("os", "io", "debug"):
        env[lib] = None
    env.obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script(kind or obj["kind"]))
    status, message = result["status"], result["message"]
    assert status in HEALTH_STATUSES, status
    assert isinstance(message, str) and message, message
    return str(status), str(message)
