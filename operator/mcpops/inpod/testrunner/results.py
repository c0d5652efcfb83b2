"""Results: the compact termination message (how results reach the operator) and files.

The termination message is a `SuiteResult` as compact JSON (camelCase, fields
at their defaults left out) without the full tool schemas, at most
`TERMINATION_MESSAGE_LIMIT` bytes of UTF-8. When it does not fit, it is
shortened step by step, and `truncated` is set:

1. per-check messages are cut (to 1024, 256, 64, 16 characters, then to
   nothing), each cut one ending in `TRUNCATION_MARKER`;
2. passed and skipped checks are left out, from the last, then the tool schema
   hashes, then the latencies, then failed checks (`checksOmitted` counts the
   checks left out);
3. last, the suite-level error and the server info are cut.

The counts (`passed`, `failed`, `skipped`), `outcome`, `suite` and
`durationSeconds` are never changed. `parse_termination_message` reads the
message back into a `SuiteResult`.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mcpops.api.testsuite import CheckResult, SuiteResult

TERMINATION_MESSAGE_LIMIT = 4096
TRUNCATION_MARKER = "...[truncated]"
_MESSAGE_CAPS = (1024, 256, 64, 16, 0)


def _dump(result: SuiteResult) -> str:
    data: dict[str, Any] = result.model_dump(
        mode="json", by_alias=True, exclude_defaults=True, exclude={"tool_schemas"}
    )
    # Always present, so that a reader never has to know the defaults.
    for key in ("passed", "failed", "skipped", "outcome", "suite"):
        data[key] = getattr(result, key)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _fits(text: str, limit: int) -> bool:
    return len(text.encode("utf-8")) <= limit


def truncate_text(text: str, cap: int) -> str:
    """`text` cut to at most `cap` characters plus the marker (unchanged when it fits)."""
    if len(text) <= cap:
        return text
    return text[:cap] + TRUNCATION_MARKER


def _cut_messages(checks: list[CheckResult], cap: int) -> list[CheckResult]:
    return [
        c.model_copy(update={"message": truncate_text(c.message, cap)})
        if len(c.message) > cap
        else c
        for c in checks
    ]


def termination_message(result: SuiteResult, limit: int = TERMINATION_MESSAGE_LIMIT) -> str:
    """The compact form of `result`, at most `limit` bytes (UTF-8). Pure."""
    compact = result.model_copy(update={"tool_schemas": {}})
    text = _dump(compact)
    if _fits(text, limit):
        return text

    compact = compact.model_copy(update={"truncated": True})
    checks = list(compact.checks)
    for cap in _MESSAGE_CAPS:
        checks = _cut_messages(checks, cap)
        compact = compact.model_copy(update={"checks": checks})
        text = _dump(compact)
        if _fits(text, limit):
            return text

    def omit(predicate_failed: bool) -> str | None:
        nonlocal compact
        current = list(compact.checks)
        for i in range(len(current) - 1, -1, -1):
            if (current[i].status == "failed") != predicate_failed:
                continue
            del current[i]
            compact = compact.model_copy(
                update={"checks": current, "checks_omitted": compact.checks_omitted + 1}
            )
            candidate = _dump(compact)
            if _fits(candidate, limit):
                return candidate
        return None

    if (done := omit(predicate_failed=False)) is not None:
        return done
    for field in ("tool_schema_hashes", "latencies"):
        compact = compact.model_copy(update={field: {}})
        text = _dump(compact)
        if _fits(text, limit):
            return text
    if (done := omit(predicate_failed=True)) is not None:
        return done
    compact = compact.model_copy(
        update={"error": truncate_text(compact.error, 256), "server": None}
    )
    text = _dump(compact)
    if _fits(text, limit):
        return text
    # Only the suite name can still be long (the model bounds it); cut it as a last resort.
    compact = compact.model_copy(update={"error": "", "suite": truncate_text(compact.suite, 63)})
    return _dump(compact)


def parse_termination_message(text: str) -> SuiteResult:
    """Read a termination message (or a full results file) back into a `SuiteResult`.

    Raises ValueError when the text is not one.
    """
    try:
        return SuiteResult.model_validate_json(text.strip())
    except ValidationError as exc:
        raise ValueError(f"not an mcpops suite result: {exc}") from None


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
