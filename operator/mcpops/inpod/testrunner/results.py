"""Results files of a suite run (the full JSON, written atomically) and the termination log.

The termination message itself (what reaches the operator) is encoded in
mcpops.api.testresult.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mcpops.api.testresult import SuiteResult


def full_json(result: SuiteResult) -> str:
    """The full result as written to the results file."""
    return result.model_dump_json(by_alias=True, indent=2) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file and a rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_termination_log(path: Path, text: str) -> None:
    """Write in place: /dev/termination-log is a file mounted by the kubelet, not renamable."""
    with path.open("w", encoding="utf-8") as f:
        f.write(text)
