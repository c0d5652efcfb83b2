"""Fixtures of the solver runtime tests.

Instances come from the shared data directory: ``$MCPOPS_OPT_DATA``, default
``<repo>/../shared/data/optimization``. Tests that need it are skipped, with
the path in the reason, when it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from solverkit import data_dir


@pytest.fixture(scope="session")
def opt_data() -> Path:
    root = data_dir()
    if not (root / "manifest.json").is_file():
        pytest.skip(f"optimization instances not found at {root} (set MCPOPS_OPT_DATA)")
    return root


@pytest.fixture(scope="session")
def manifest(opt_data: Path) -> dict[str, dict[str, Any]]:
    doc = json.loads((opt_data / "manifest.json").read_text())
    return {inst["name"]: inst for inst in doc["instances"]}
