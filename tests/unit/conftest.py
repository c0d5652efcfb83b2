"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest
from toolpaths import require_tool


@pytest.fixture(scope="module")
def helm() -> str:
    """The helm binary (MCPOPS_HELM, else the Makefile's cached build)."""
    return require_tool("MCPOPS_HELM", "helm")
