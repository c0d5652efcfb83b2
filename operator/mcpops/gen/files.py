"""Files generated from the code (CRDs, reference docs): write them, or report drift."""

from __future__ import annotations

from pathlib import Path


def sync(rendered: dict[str, str], target: Path, *, check: bool, suffix: str) -> list[str]:
    """Make `target` hold exactly `rendered` (name -> text) among its `*{suffix}` files.

    With check, change nothing and return what differs (missing, changed or stale files).
    """
    present = {p.name for p in target.glob(f"*{suffix}")} if target.is_dir() else set()
    drift: list[str] = []
    for name, text in rendered.items():
        path = target / name
        if path.exists() and path.read_text() == text:
            continue
        if check:
            drift.append(str(path))
        else:
            target.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for stale in sorted(present - set(rendered)):
        if check:
            drift.append(f"{target / stale} (no longer generated)")
        else:
            (target / stale).unlink()
    return drift
