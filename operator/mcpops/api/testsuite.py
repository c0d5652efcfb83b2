"""Test suites that gate a blue-green rollout (MCPServer spec.tests[]) and their results.

A suite is either `builtin` (MCP checks run by `mcpops test-runner` against the
candidate revision's preview Service) or `container` (a user image given the
preview URL in MCP_SERVER_URL, passing or failing by its exit code).

`SuiteResult` is what the test runner reports: the full form goes to its
results file, a compact form (see `mcpops.inpod.testrunner.results`) to the pod's
termination message, which is how results reach the operator.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from mcpops.api.base import (
    MAX_MAP_ENTRIES,
    AnnotationValue,
    ApiModel,
    KeySelector,
    cel,
    keys_rule,
    validations,
)

# Suite and check names end up in Job names, labels and result keys.
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
CHECK_NAME_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.:]*[A-Za-z0-9])?$"

# The JSON path subset understood by the runner: $, .name, .*, [n], [*], ['name'], ["name"].
JSON_PATH_PATTERN = (
    r"^\$(\.[A-Za-z_][A-Za-z0-9_-]*|\.\*|\[(\*|-?[0-9]+|'[^'\\]*'|\"[^\"\\]*\")\])*$"
)

ToolName = Annotated[str, Field(min_length=1, max_length=128)]
ResourceUri = Annotated[str, Field(min_length=1, max_length=2048)]
Arg = Annotated[str, Field(max_length=4096)]

DEFAULT_SUITE_TIMEOUT_SECONDS = 300
MAX_SUITE_BYTES = 64 * 1024
DEFAULT_CHECK_TIMEOUT_SECONDS = 30


# --------------------------------------------------------------------------- suite definition


class ConnectCheck(ApiModel):
    """How to connect, and what the server must report when it does."""

    handshake: Literal["auto", "initialize"] = Field(
        default="auto",
        description=(
            "auto: try server/discover (protocol 2026-07-28) and fall back to the initialize "
            "handshake, as MCP clients do; initialize: always use the initialize handshake "
            "(checks that clients of the 2025 protocol revisions can still connect)."
        ),
    )
    server_name: str | None = Field(
        default=None,
        description="The server must report exactly this name (serverInfo.name).",
        min_length=1,
        max_length=256,
    )
    protocol_version: str | None = Field(
        default=None,
        description="The negotiated protocol version must be exactly this, e.g. 2025-11-25.",
        min_length=1,
        max_length=64,
    )
    timeout_seconds: int | None = Field(
        default=None,
        ge=1,
        le=600,
        description="How long connecting may take (default: builtin.checkTimeoutSeconds).",
    )


class JsonPathAssertion(ApiModel):
    """An assertion on the part of a tool result selected by a JSON path."""

    # No CEL rule for "at least one of": CEL cannot see `equals`, a free-form JSON
    # field; the model validator below refuses it and the operator reports the field.

    path: str = Field(
        description=(
            "A JSON path into the result value (see expect.equals): $ is the whole value, "
            "then any of .name, ['name'], [index] (negative counts from the end), .* or [*]. "
            "A path with a wildcard selects the array of all matches. Filters and recursive "
            "descent are not supported."
        ),
        pattern=JSON_PATH_PATTERN,
        max_length=512,
    )
    exists: bool | None = Field(
        default=None,
        description="Whether the path must select something (true) or nothing (false).",
    )
    equals: Any = Field(
        default=None,
        description="The selected value must equal this JSON value (1 and 1.0 are equal, "
        "true and 1 are not; null means not set: use exists to expect nothing).",
    )
    contains: str | None = Field(
        default=None,
        description="The selected value (a string, or else its compact JSON) must contain this.",
        max_length=4096,
    )
    regex: str | None = Field(
        default=None,
        description="The selected value (a string, or else its compact JSON) must match this "
        "Python regular expression (searched, not anchored).",
        max_length=1024,
    )

    @model_validator(mode="after")
    def _one_assertion(self) -> JsonPathAssertion:
        if (
            self.exists is None
            and not self.has_equals
            and self.contains is None
            and self.regex is None
        ):
            raise ValueError("set at least one of exists, equals, contains, regex")
        _check_regex(self.regex)
        return self

    @property
    def has_equals(self) -> bool:
        """Whether `equals` was given (JSON null counts as not given)."""
        return self.equals is not None


class ToolCallExpectation(ApiModel):
    """What a tool call must return. Every field given must hold."""

    is_error: bool = Field(
        default=False,
        description="Whether the tool must report an error (isError). By default it must not.",
    )
    equals: Any = Field(
        default=None,
        description=(
            "The result must equal this. A string is compared with the result text (the text "
            "content blocks joined by newlines). Any other JSON value is compared with the "
            "result value: the tool's structuredContent when it returns one, else the result "
            "text parsed as JSON (null means not set)."
        ),
    )
    contains: str | None = Field(
        default=None,
        description="The result text must contain this string.",
        max_length=4096,
    )
    regex: str | None = Field(
        default=None,
        description="The result text must match this Python regular expression (searched).",
        max_length=1024,
    )
    json_path: list[JsonPathAssertion] | None = Field(
        default=None,
        description="Assertions on parts of the result value selected by JSON paths.",
        max_length=32,
    )

    @model_validator(mode="after")
    def _valid_regex(self) -> ToolCallExpectation:
        _check_regex(self.regex)
        return self

    @property
    def has_equals(self) -> bool:
        """Whether `equals` was given (JSON null counts as not given)."""
        return self.equals is not None


class ToolCallCheck(ApiModel):
    """Call one tool and check what it returns."""

    name: str | None = Field(
        default=None,
        description="Name of the check in the results (default: call:<tool>).",
        pattern=CHECK_NAME_PATTERN,
        max_length=63,
    )
    tool: ToolName = Field(description="The tool to call.")
    arguments: dict[str, Any] | None = Field(
        default=None, description="Arguments of the call (a JSON object)."
    )
    expect: ToolCallExpectation | None = Field(
        default=None,
        description="What the call must return (default: any result that is not an error).",
    )
    timeout_seconds: int | None = Field(
        default=None,
        ge=1,
        le=600,
        description="How long the call may take (default: builtin.checkTimeoutSeconds).",
    )

    @property
    def check_name(self) -> str:
        return self.name or f"call:{self.tool}"


class RegressionRule(ApiModel):
    """Compare a latency with the one recorded for the previous revision."""

    percentile: Literal["p50", "p95"] = Field(
        default="p95", description="Which recorded percentile to compare."
    )
    max_factor: float = Field(
        default=1.5,
        ge=1.0,
        le=100.0,
        description="The latency may be at most the baseline times this factor (plus slackMs).",
    )
    slack_ms: float = Field(
        default=10.0,
        ge=0.0,
        le=600000.0,
        description="Milliseconds allowed on top of baseline x maxFactor, so that tiny baselines "
        "do not fail on noise.",
    )


class LatencyCheck(ApiModel):
    """Time repeated calls of a tool (or pings) and hold the percentiles to a budget."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel("!has(self.arguments) || has(self.tool)", "arguments need a tool")
        )
    }

    name: str = Field(
        description="Name of the measurement; the key its latencies are recorded under for the "
        "next revision's regression check.",
        pattern=CHECK_NAME_PATTERN,
        max_length=63,
    )
    tool: ToolName | None = Field(
        default=None,
        description=(
            "The tool to call. When left out, the check times ping requests (on protocol "
            "2026-07-28, which has no ping, server/discover requests)."
        ),
    )
    arguments: dict[str, Any] | None = Field(
        default=None, description="Arguments of each call (a JSON object)."
    )
    samples: int = Field(default=20, ge=1, le=1000, description="Timed calls, one after another.")
    warmup: int = Field(default=1, ge=0, le=100, description="Untimed calls made first.")
    p50_ms: float | None = Field(
        default=None, ge=0.0, description="Budget for the median, in milliseconds."
    )
    p95_ms: float | None = Field(
        default=None, ge=0.0, description="Budget for the 95th percentile, in milliseconds."
    )
    regression: RegressionRule | None = Field(
        default=None,
        description="Also compare with the previous revision's recorded latencies "
        "(skipped when there are none).",
    )
    timeout_seconds: int | None = Field(
        default=None,
        ge=1,
        le=3600,
        description="How long all the calls together may take (default: "
        "builtin.checkTimeoutSeconds).",
    )

    @model_validator(mode="after")
    def _arguments_need_tool(self) -> LatencyCheck:
        if self.arguments is not None and self.tool is None:
            raise ValueError("arguments need a tool")
        return self


class BuiltinChecks(ApiModel):
    """MCP checks run by the mcpops test runner against the candidate revision."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.latency) || self.latency.all(a, "
                "self.latency.exists_one(b, b.name == a.name))",
                "latency check names must be unique",
                field_path=".latency",
            )
        )
    }

    connect: ConnectCheck | None = Field(
        default=None,
        description="How to connect and what the server must report. Connecting and the "
        "MCP handshake are always checked.",
    )
    required_tools: list[ToolName] | None = Field(
        default=None, description="Tools that must be listed.", max_length=256
    )
    required_resources: list[ResourceUri] | None = Field(
        default=None,
        description="Resources that must be listed, by URI (a resource template's uriTemplate "
        "counts too).",
        max_length=256,
    )
    required_prompts: list[ToolName] | None = Field(
        default=None, description="Prompts that must be listed, by name.", max_length=256
    )
    allow_schema_changes: bool = Field(
        default=False,
        description=(
            "Allow tool input schemas to differ from those recorded for the previous revision. "
            "By default a changed or removed tool fails the suite (new tools are fine); the "
            "check names breaking changes: a removed tool, a removed or newly required "
            "argument, a retyped argument."
        ),
    )
    tool_calls: list[ToolCallCheck] | None = Field(
        default=None, description="Tool calls with expected results.", max_length=64
    )
    latency: list[LatencyCheck] | None = Field(
        default=None, description="Latency budgets and regression checks.", max_length=16
    )
    check_timeout_seconds: int = Field(
        default=DEFAULT_CHECK_TIMEOUT_SECONDS,
        ge=1,
        le=600,
        description="Default time limit of each check.",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> BuiltinChecks:
        names = [c.check_name for c in self.tool_calls or []]
        names += [f"latency:{c.name}" for c in self.latency or []]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"check names must be unique; repeated: {', '.join(dupes)}")
        return self


class TestEnvVarSource(ApiModel):
    """Where a test container's variable comes from. Set exactly one field."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "has(self.secretKeyRef) != has(self.configMapKeyRef)",
                "set exactly one of secretKeyRef, configMapKeyRef",
            )
        )
    }

    secret_key_ref: KeySelector | None = Field(
        default=None, description="A key of a Secret in the MCPServer's namespace."
    )
    config_map_key_ref: KeySelector | None = Field(
        default=None, description="A key of a ConfigMap in the MCPServer's namespace."
    )


class TestEnvVar(ApiModel):
    """An environment variable for a test container."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel("!(has(self.value) && has(self.valueFrom))", "set value or valueFrom, not both")
        )
    }

    name: str = Field(
        description="Variable name. MCP_SERVER_URL is set by the operator and cannot be used.",
        pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$",
        max_length=256,
    )
    value: str | None = Field(default=None, description="Literal value.", max_length=32768)
    value_from: TestEnvVarSource | None = Field(
        default=None, description="Take the value from a Secret or ConfigMap."
    )


class ContainerTest(ApiModel):
    """A user-supplied test container. It gets the preview URL in MCP_SERVER_URL and passes
    when it exits 0."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.env) || self.env.all(e, e.name != 'MCP_SERVER_URL')",
                "MCP_SERVER_URL is set by the operator",
                field_path=".env",
            )
        )
    }

    image: str = Field(
        description="Container image of the test, e.g. ghcr.io/org/mcp-tests:1.0.",
        min_length=1,
        max_length=512,
    )
    command: list[Arg] | None = Field(
        default=None, description="Entrypoint (default: the image's).", max_length=64
    )
    args: list[Arg] | None = Field(
        default=None, description="Arguments to the entrypoint.", max_length=256
    )
    env: list[TestEnvVar] | None = Field(
        default=None, description="Extra environment variables.", max_length=128
    )

    @model_validator(mode="after")
    def _no_url_override(self) -> ContainerTest:
        if any(e.name == "MCP_SERVER_URL" for e in self.env or []):
            raise ValueError("MCP_SERVER_URL is set by the operator")
        return self


class TestSuite(ApiModel):
    """One test suite run against a candidate revision before it may take traffic."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "has(self.builtin) != has(self.container)",
                "set exactly one of builtin, container",
            )
        )
    }

    name: str = Field(
        description="Name of the suite, unique within the MCPServer (a DNS label).",
        pattern=NAME_PATTERN,
        max_length=63,
    )
    builtin: BuiltinChecks | None = Field(
        default=None, description="MCP checks run by the mcpops test runner."
    )
    container: ContainerTest | None = Field(
        default=None, description="A user-supplied test container, judged by its exit code."
    )
    timeout_seconds: int = Field(
        default=DEFAULT_SUITE_TIMEOUT_SECONDS,
        ge=1,
        le=3600,
        description="The whole suite must finish within this time, or it fails.",
    )
    pod_annotations: dict[str, AnnotationValue] | None = Field(
        default=None,
        description="Extra annotations on the test pod (e.g. to opt out of sidecar injection).",
        max_length=MAX_MAP_ENTRIES,
        json_schema_extra=keys_rule("podAnnotations"),
    )
    schedule: str | None = Field(
        default=None,
        description="Cron expression (five fields, or @hourly, @daily and the like, read in "
        "timeZone): also re-run this suite as a Job against the serving revision (the stable "
        "Service) on this schedule, while no rollout is in progress. A failure sets the "
        "condition Degraded (reason ScheduledSuiteFailed) and posts an Event.",
        min_length=1,
        max_length=128,
    )
    time_zone: str | None = Field(
        default=None,
        description="IANA time zone the schedule is read in (default UTC).",
        max_length=64,
    )
    on_failure: Literal["Degrade", "Rollback"] | None = Field(
        default=None,
        description="What a failed scheduled run does. Degrade (the default): condition, "
        "Event and metric only; traffic stays. Rollback: traffic also returns to the newest "
        "kept revision (not yet deleted beyond rollout.revisionHistoryLimit) that passed this "
        "same suite, if there is one.",
    )

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> TestSuite:
        if (self.builtin is None) == (self.container is None):
            raise ValueError("set exactly one of builtin, container")
        # The definition travels to the runner in an environment variable of the test pod;
        # the schema cannot bound free-form tool arguments, so the size is checked here.
        size = len(json.dumps(self.to_wire(), separators=(",", ":")))
        if size > MAX_SUITE_BYTES:
            raise ValueError(
                f"the suite definition is {size} bytes; at most {MAX_SUITE_BYTES} "
                "(tool call arguments and expected values count)"
            )
        return self


def _check_regex(pattern: str | None) -> None:
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
