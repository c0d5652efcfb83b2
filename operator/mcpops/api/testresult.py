"""Test results: what a suite run reports, and how it reaches the operator.

A suite run's `SuiteResult` reaches the operator as the test pod's termination message
(`termination_message`, read back with `parse_termination_message`): the contract between
the test runner in the pod (inpod/testrunner) and the operator (kinds/mcpserver/suites.py).

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
`durationSeconds` are never changed.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, ValidationError

from mcpops.api.base import ApiModel

CheckStatus = Literal["passed", "failed", "skipped"]
SuiteOutcome = Literal["Passed", "Failed", "Unreachable", "Error"]


class _ResultModel(ApiModel):
    # Results cross process (and possibly version) boundaries: tolerate fields a newer
    # runner adds rather than failing to read the whole result.
    model_config = ApiModel.model_config | {"extra": "ignore"}


class CheckResult(_ResultModel):
    """The outcome of one check."""

    name: str = Field(description="Check name, e.g. connect, tools or call:add.", max_length=128)
    status: CheckStatus = Field(description="passed, failed or skipped.")
    message: str = Field(
        default="", description="What was found, or why it failed.", max_length=8192
    )
    duration_ms: float = Field(default=0.0, ge=0.0, description="Wall time of the check.")


class LatencyStats(_ResultModel):
    """Measured latencies of one latency check, in milliseconds."""

    samples: int = Field(ge=0, description="Timed calls.")
    p50_ms: float = Field(ge=0.0, description="Median.")
    p95_ms: float = Field(ge=0.0, description="95th percentile (nearest rank).")
    max_ms: float = Field(default=0.0, ge=0.0, description="Slowest call.")


class ServerInfo(_ResultModel):
    """What the server reported about itself."""

    name: str = Field(default="", description="serverInfo.name.", max_length=256)
    version: str = Field(default="", description="serverInfo.version.", max_length=256)
    protocol_version: str = Field(
        default="", description="The negotiated protocol version.", max_length=64
    )


class SuiteResult(_ResultModel):
    """The result of one suite run. Counts are always exact, even when the check list or
    its messages were shortened to fit the termination message."""

    suite: str = Field(description="Suite name.", max_length=253)
    outcome: SuiteOutcome = Field(
        description="Passed (no check failed), Failed (a check failed or the suite timed out), "
        "Unreachable (no MCP session could be established) or Error (the suite itself is bad)."
    )
    passed: int = Field(default=0, ge=0, description="Checks passed.")
    failed: int = Field(default=0, ge=0, description="Checks failed.")
    skipped: int = Field(default=0, ge=0, description="Checks skipped.")
    duration_seconds: float = Field(default=0.0, ge=0.0, description="Wall time of the suite.")
    error: str = Field(
        default="", description="Why the suite as a whole failed, if it did.", max_length=4096
    )
    server: ServerInfo | None = Field(default=None, description="The server that was tested.")
    checks: list[CheckResult] = Field(
        default_factory=list, description="Every check in the order run (maybe shortened)."
    )
    checks_omitted: int = Field(
        default=0, ge=0, description="Checks left out of `checks` to save space."
    )
    truncated: bool = Field(
        default=False, description="Whether messages or records were shortened or left out."
    )
    latencies: dict[str, LatencyStats] = Field(
        default_factory=dict,
        description="Measured latencies by latency check name: the baseline for the next "
        "revision's regression checks.",
    )
    tool_schema_hashes: dict[str, str] = Field(
        default_factory=dict,
        description="Hash of each tool's input schema: the baseline for the next revision's "
        "schema check.",
    )
    tool_output_schema_hashes: dict[str, str] = Field(
        default_factory=dict,
        description="Hash of each tool's output schema (tools that declare one): the "
        "baseline for the next revision's schema check.",
    )
    tool_schemas: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Each tool's input schema (results file only; too big for the "
        "termination message).",
    )

    @property
    def exit_code(self) -> int:
        """The runner's exit code for this result."""
        return {"Passed": 0, "Failed": 1, "Error": 2, "Unreachable": 3}[self.outcome]


class Baseline(_ResultModel):
    """What the previous revision recorded: read from its SuiteResult (full or compact)."""

    latencies: dict[str, LatencyStats] = Field(
        default_factory=dict, description="Latencies by latency check name."
    )
    tool_schema_hashes: dict[str, str] = Field(
        default_factory=dict, description="Input schema hash by tool name."
    )
    tool_output_schema_hashes: dict[str, str] = Field(
        default_factory=dict, description="Output schema hash by tool name."
    )
    tool_schemas: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Input schema by tool name."
    )


# ------------------------------------------------------------------ the termination message

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
