"""Where the Makefile caches the tools tests run (helm, promtool), for tests run outside make.

`make` exports MCPOPS_HELM / MCPOPS_PROMTOOL; a bare `pytest` asks `make -s
controlplane-env` (one source of truth for the cache paths).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


@functools.cache
def makefile_env() -> dict[str, str]:
    try:
        out = subprocess.run(
            ["make", "-s", "--no-print-directory", "controlplane-env"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return dict(line.partition("=")[::2] for line in out.splitlines() if "=" in line)


def tool_path(env: str) -> str | None:
    """The tool named by the environment variable, else the Makefile's cached build."""
    path = os.environ.get(env)
    if path:
        return path
    cached = makefile_env().get(env)
    return cached if cached and Path(cached).is_file() else None


def require_tool(env: str, target: str) -> str:
    """For a fixture: the tool, a skip when it was never built, a failure when misnamed."""
    path = tool_path(env)
    if path is None:
        pytest.skip(f"{env} is unset and `make {target}` has not built it")
    assert Path(path).is_file(), f"{env}={path} does not exist (run `make {target}`)"
    return path


def load_hack(name: str) -> ModuleType:
    """A script under hack/ as a module (hack/ is not a package; its scripts import each
    other by name, e.g. realnode imports images for the pause image's name)."""
    hack = REPO / "hack"
    sys.path.insert(0, str(hack))
    try:
        spec = importlib.util.spec_from_file_location(name, hack / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(hack))
