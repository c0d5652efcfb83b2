"""Write a generated file, or with --check fail when it drifted. Stdlib only (hack/ scripts)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def main(doc: str, out: Path, render: Callable[[], str], how: str) -> int:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail on drift, write nothing")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not out.exists() or out.read_text() != text:
            print(f"{out} is out of date: run `{how}`", file=sys.stderr)
            return 1
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0
