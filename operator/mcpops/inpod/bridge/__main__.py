"""`python -m mcpops.inpod.bridge`, and the entry script of the frozen (PyInstaller) bridge bundle.

The bundle is copied into MCPServer pods whose image may have no Python at all:
/mcpops/bridge/mcpops-bridge --port P --path /mcp -- <the user's stdio server>.
"""

from __future__ import annotations

import os
import sys


def _restore_library_path() -> None:
    """Give the user's server the library path of its own image, not the bundle's.

    The PyInstaller bootloader points LD_LIBRARY_PATH at the bundle (saving the original
    in LD_LIBRARY_PATH_ORIG); children inherit the environment and would load the
    bundle's libssl/libpython. The running process is unaffected: the dynamic loader read
    the variable at startup.
    """
    if not getattr(sys, "frozen", False):
        return
    original = os.environ.pop("LD_LIBRARY_PATH_ORIG", None)
    if original:
        os.environ["LD_LIBRARY_PATH"] = original
    else:
        os.environ.pop("LD_LIBRARY_PATH", None)


if __name__ == "__main__":
    _restore_library_path()
    from mcpops.inpod.bridge import main

    raise SystemExit(main(sys.argv[1:]))
