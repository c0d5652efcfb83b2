"""The README's layout table matches the tree: every path it names exists, and every part of
the packages is in it (a new folder or top-level module has to be placed there)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {
    "operator/mcpops": REPO / "operator" / "mcpops",
    "solver-runtime/mcpops_solver": REPO / "solver-runtime" / "mcpops_solver",
    "common/mcpops_common": REPO / "common" / "mcpops_common",
}


def layout_paths() -> set[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    first_cells = [row.split("|")[1] for row in section.splitlines() if row.startswith("| `")]
    return {p.rstrip("/") for cell in first_cells for p in re.findall(r"`([^`]+)`", cell)}


def test_every_path_in_the_layout_table_exists() -> None:
    for path in layout_paths():
        assert (REPO / path).exists(), f"README layout names {path}, which does not exist"


def test_every_part_of_the_operator_package_is_in_the_layout_table() -> None:
    named = layout_paths()
    root = PACKAGES["operator/mcpops"]
    parts = [p for p in root.iterdir() if p.name != "__pycache__" and not p.name.startswith(".")]
    for part in parts:
        if part.is_dir():
            assert f"operator/mcpops/{part.name}" in named, f"{part.name}/ is not in the layout"
    for package in PACKAGES:
        assert package in named, f"{package} is not in the layout"
