#!/usr/bin/env python3
"""Print the project's dependencies (and those of the extras named) from pyproject.toml.

    docker/requirements.py [EXTRA...] > requirements.txt

The image builds install these in a layer of their own, before the sources are copied, so a
code change reuses it and reinstalls only the project itself (`pip install --no-deps .`).
Standard library only (tomllib, Python 3.11).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def requirements(pyproject: dict[str, object], extras: list[str]) -> list[str]:
    project = pyproject["project"]
    assert isinstance(project, dict)
    found = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        found += optional[extra]
    return found


if __name__ == "__main__":
    data = tomllib.loads(Path("pyproject.toml").read_text())
    print("\n".join(requirements(data, sys.argv[1:])))
