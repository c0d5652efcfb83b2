"""Generated files are what their generator writes now (edit the source, then `make ...`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "generator",
    [
        "hack/argocd_health.py",  # charts/mcpops/argocd/argocd-cm.yaml from the .lua files
        "hack/grafana_dashboard.py",  # charts/mcpops/dashboards/mcpops.json
    ],
)
def test_generated_file_is_current(generator: str) -> None:
    res = subprocess.run(
        [sys.executable, str(REPO / generator), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
