#!/usr/bin/env python3
"""Install the frozen stdio bridge into a shared volume (init container of stdio MCPServers).

    /opt/mcpops-bridge/install /mcpops/bridge

copies the self-contained bundle /opt/mcpops-bridge/mcpops-bridge/ to the target
directory, so that /mcpops/bridge/mcpops-bridge is the bridge executable the server
container starts. Runs in the operator image (which has this Python); the user's
image needs none. Standard library only; idempotent (an init container may run
again): the copy is made beside the target and renamed into place.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

BUNDLE = Path(os.environ.get("MCPOPS_BRIDGE_BUNDLE", "/opt/mcpops-bridge/mcpops-bridge"))
EXECUTABLE = "mcpops-bridge"


def install(bundle: Path, target: Path) -> Path:
    if not (bundle / EXECUTABLE).is_file():
        raise SystemExit(f"install: no bridge bundle at {bundle}")
    target = target.absolute()
    staging = target.with_name(f".{target.name}.installing")
    shutil.rmtree(staging, ignore_errors=True)
    # copy2 keeps the modes: the executable and the bundled shared libraries stay executable.
    shutil.copytree(bundle, staging, symlinks=True, copy_function=shutil.copy2)
    # Any uid may run the server container: readable and executable by all, writable by none.
    for path in [staging, *staging.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        if path.is_dir() or mode & stat.S_IXUSR:
            path.chmod(0o555)
        else:
            path.chmod(0o444)
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        staging.rename(target)
        _remove(old)
    else:
        staging.rename(target)
    return target / EXECUTABLE


def _remove(path: Path) -> None:
    """Remove a read-only tree (its directories are 0555)."""
    for sub in [path, *path.rglob("*")]:
        if sub.is_dir() and not sub.is_symlink():
            sub.chmod(0o755)
    shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: install TARGET_DIR   (e.g. /mcpops/bridge)", file=sys.stderr)
        return 2
    executable = install(BUNDLE, Path(argv[0]))
    print(f"installed {executable}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
