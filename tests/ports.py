"""free_port for the tests' servers: hack/freeport.py, one choice of port everywhere."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hack"))

from freeport import free_port

__all__ = ["free_port"]
