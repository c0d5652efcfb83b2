"""CleanupPolicy: deletes what is no longer needed in its own namespace, on a schedule, safely.

Safe by default: a new policy only reports (mode DryRun); deletions per run are
capped; a circuit breaker holds a run whose candidates exceed a threshold until
a person acknowledges it; an object labelled or annotated mcpops.dev/protected=true
is never deleted.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mcpops.api.base import ApiModel, Condition, cel, validations

Mode = Literal["DryRun", "Enforce"]


DEFAULT_MAX_DELETIONS = 100
DEFAULT_BREAKER = 500
DEFAULT_DELETES_PER_SECOND = 10.0
MAX_LISTED = 50  # candidates / deletions kept in status

DURATION_PATTERN = r"^([0-9]+(s|m|h|d))+$"
# Five cron fields (minute hour day-of-month month day-of-week) or a @descriptor. The operator
# checks each field's values with croniter and reports what it refuses in the Ready condition.
SCHEDULE_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)"
    r"|[0-9A-Za-z*/,?#-]+( +[0-9A-Za-z*/,?#-]+){4})$"
)
# An IANA zone name's shape (Area/Location, Etc/GMT+1, UTC); the operator checks that the
# zone exists.
TIME_ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$"
LABEL_KEY = r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
CLOCK_PATTERN = rf"^(created|finished|annotation:{LABEL_KEY})$"
GROUP_PATTERN = rf"^(none|owner|label:{LABEL_KEY})$"
# An int-or-string: a count, or a percentage of the objects the rules matched.
COUNT_OR_PERCENT = "type({f}) == int ? int({f}) >= 0 : string({f}).matches('^[0-9]{{1,3}}%$')"

LabelValue = Annotated[str, Field(max_length=63)]


class LabelSelectorRequirement(ApiModel):
    """One set-based requirement on a label."""

    key: str = Field(description="The label key.", min_length=1, max_length=317)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="In, NotIn, Exists or DoesNotExist."
    )
    values: list[LabelValue] | None = Field(
        default=None,
        max_length=64,
        description="Values for In and NotIn (at least one); none for Exists and DoesNotExist.",
    )


class LabelSelector(ApiModel):
    """Which objects, by label (as in metav1.LabelSelector). Evaluated by the API server, and
    again by the operator before anything is deleted."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.matchExpressions) || self.matchExpressions.all(e, "
                "(e.operator in ['In', 'NotIn']) == (has(e.values) && size(e.values) > 0))",
                "matchExpressions: In and NotIn need values; Exists and DoesNotExist take none",
                field_path=".matchExpressions",
            ),
        )
    }

    match_labels: dict[str, LabelValue] | None = Field(
        default=None, description="Labels the object must carry with exactly these values."
    )
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        default=None, max_length=16, description="Set-based requirements, all of which must hold."
    )


class ResourceTarget(ApiModel):
    """Any namespaced kind, chosen by apiVersion/kind and a label selector (required)."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "(has(self.selector.matchLabels) && size(self.selector.matchLabels) > 0) || "
                "(has(self.selector.matchExpressions) && size(self.selector.matchExpressions) > 0)",
                "selector must not be empty: a policy never deletes every object of a kind",
                field_path=".selector",
            ),
        )
    }

    api_version: str = Field(
        description="apiVersion of the kind, e.g. v1 or batch/v1.",
        min_length=1,
        max_length=253,
        pattern=r"^([a-z0-9.-]+/)?v[0-9]+((alpha|beta)[0-9]+)?$",
    )
    kind: str = Field(
        description="The kind, e.g. ConfigMap. The operator needs RBAC to list and delete it.",
        min_length=1,
        max_length=63,
        pattern=r"^[A-Z][A-Za-z0-9]*$",
    )
    selector: LabelSelector = Field(description="Which objects of the kind (must not be empty).")


class ServerTarget(ApiModel):
    """Children of MCPServers in the policy's namespace."""

    servers: list[Annotated[str, Field(max_length=253)]] | None = Field(
        default=None,
        max_length=100,
        description="Only these MCPServers (by name); default all in the namespace.",
    )


class OptimizationJobTarget(ApiModel):
    """Finished OptimizationJobs (their result ConfigMaps go with them)."""

    selector: LabelSelector | None = Field(
        default=None, description="Only OptimizationJobs with these labels; default all."
    )


class Rule(ApiModel):
    """One target and the conditions under which its objects are deleted.

    An object is a candidate when it matches the target, is in one of `phases` (if set), is not
    among the `keepNewest` newest of its group (if set), and is older than `olderThan` by
    `clock` (if set). Protected objects are never deleted.
    """

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "[has(self.mcpServerRevisions), has(self.testJobs), has(self.optimizationJobs), "
                "has(self.resources)].filter(x, x).size() == 1",
                "set exactly one target: mcpServerRevisions, testJobs, optimizationJobs or "
                "resources",
            ),
            cel(
                "has(self.olderThan) || has(self.keepNewest)",
                "a rule needs olderThan or keepNewest: without either it would delete everything "
                "it matches",
                field_path=".olderThan",
            ),
        )
    }

    name: str = Field(
        description="Names the rule in status, Events and metrics.",
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    )
    # ---- the target (exactly one)
    mcp_server_revisions: ServerTarget | None = Field(
        default=None,
        description=(
            "Inactive MCPServer revisions (their Deployments). Never the active or candidate "
            "revision, nor the previous one while inside its scale-down delay, nor one with "
            "replicas. Grouped per MCPServer; phase is the revision's outcome (Superseded, "
            "Failed, RolledBack, Promoted)."
        ),
    )
    test_jobs: ServerTarget | None = Field(
        default=None,
        description=(
            "Finished test-suite Jobs of MCPServers (their pods go with them). Grouped per "
            "MCPServer and split by outcome, so keepNewest keeps N succeeded and N failed; "
            "phase is Succeeded or Failed."
        ),
    )
    optimization_jobs: OptimizationJobTarget | None = Field(
        default=None,
        description=(
            "Finished (Succeeded, Failed or Cancelled) OptimizationJobs; their result "
            "ConfigMaps are owned by them and deleted with them."
        ),
    )
    resources: ResourceTarget | None = Field(
        default=None,
        description=(
            "Any other namespaced kind, by apiVersion/kind and labels. Never an MCPServer's own "
            "children (use mcpServerRevisions and testJobs, which know what serves traffic)."
        ),
    )
    # ---- the conditions
    older_than: str | None = Field(
        default=None,
        max_length=32,
        pattern=DURATION_PATTERN,
        description="Only objects older than this by `clock`, e.g. 30m, 24h, 7d, 1d12h.",
    )
    clock: str = Field(
        default="created",
        max_length=330,
        pattern=CLOCK_PATTERN,
        description=(
            "What olderThan measures from: created (creationTimestamp), finished (when a Job "
            "or OptimizationJob finished; unfinished objects never match) or "
            "annotation:<key> (an RFC 3339 time in that annotation; objects without it never "
            "match)."
        ),
    )
    keep_newest: int | None = Field(
        default=None,
        ge=0,
        le=10000,
        description="Keep this many of the newest (by creation) objects of each group.",
    )
    group_by: str | None = Field(
        default=None,
        max_length=330,
        pattern=GROUP_PATTERN,
        description=(
            "Groups for keepNewest: owner (the controlling ownerReference), label:<key>, or none "
            "(one group). Default: per MCPServer for its revisions and test Jobs, none for "
            "OptimizationJobs, owner for resources."
        ),
    )
    phases: list[Annotated[str, Field(max_length=63)]] | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description=(
            "Only objects in one of these phases (status.phase; for Jobs Succeeded or Failed; "
            "for revisions their outcome). Objects without a phase never match."
        ),
    )


class CircuitBreaker(ApiModel):
    """Stops a run that would delete surprisingly much until a person says it is fine."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                COUNT_OR_PERCENT.format(f="self.maxCandidates"),
                "maxCandidates must be a count (0 or more) or a percentage such as 50%",
                field_path=".maxCandidates",
            ),
        )
    }

    max_candidates: int | str = Field(
        default=DEFAULT_BREAKER,
        description=(
            "When a run selects more candidates than this (a count, or a percentage of the "
            "objects the rules matched, e.g. 50%), it deletes nothing, sets the Blocked "
            "condition and posts a Warning Event. Deleting resumes once the annotation "
            "mcpops.dev/acknowledge is set to the token the Blocked condition names."
        ),
    )


class CleanupPolicySpec(ApiModel):
    """What to clean up in this namespace, when, and how carefully."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.rules.all(r, self.rules.exists_one(x, x.name == r.name))",
                "rule names must be unique",
                field_path=".rules",
            ),
            cel(
                COUNT_OR_PERCENT.format(f="self.maxDeletionsPerRun"),
                "maxDeletionsPerRun must be a count (0 or more) or a percentage such as 10%",
                field_path=".maxDeletionsPerRun",
            ),
            cel(
                "self.deletesPerSecond >= 0.1",
                "deletesPerSecond must be at least 0.1",
                field_path=".deletesPerSecond",
            ),
        )
    }

    schedule: str = Field(
        description=(
            "When to run, in cron syntax, in timeZone (UTC unless set): five fields (minute "
            "hour day-of-month month day-of-week, e.g. '0 3 * * *') or @hourly, @daily, "
            "@weekly, @monthly, @yearly. A run missed while the operator was down runs once "
            "when it is back. Annotate mcpops.dev/run-now=<any new value> to run at once."
        ),
        min_length=1,
        max_length=128,
        pattern=SCHEDULE_PATTERN,
    )
    time_zone: str | None = Field(
        default=None,
        description=(
            "The IANA time zone the schedule is read in, e.g. Europe/Berlin (as a CronJob's "
            "timeZone). Unset: UTC. When clocks go forward, a time that does not exist "
            "runs at the first time after it; when they go back, a time that occurs twice "
            "runs once, at the first."
        ),
        min_length=1,
        max_length=64,
        pattern=TIME_ZONE_PATTERN,
    )
    mode: Mode = Field(
        default="DryRun",
        description=(
            "DryRun (default) lists in status what a run would delete and deletes nothing; it "
            "also runs at once on every spec change, as a preview. Enforce deletes."
        ),
    )
    rules: list[Rule] = Field(
        min_length=1, max_length=32, description="What to delete; an object any rule selects."
    )
    max_deletions_per_run: int | str = Field(
        default=DEFAULT_MAX_DELETIONS,
        description=(
            "At most this many deletions per run (a count, or a percentage of the objects the "
            "rules matched, rounded down); the oldest candidates go first, the rest wait for the "
            "next run. Default 100."
        ),
    )
    deletes_per_second: float = Field(
        default=DEFAULT_DELETES_PER_SECOND,
        ge=0.1,
        le=1000,
        description="Pace of deletions within a run, so a run does not flood the API server.",
    )
    circuit_breaker: CircuitBreaker = Field(
        default_factory=CircuitBreaker,
        description="Holds a run with too many candidates (default: more than 500).",
    )


class CandidateStatus(ApiModel):
    """One object a run selected (DryRun) or deleted (Enforce)."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    rule: str = Field(description="The rule that selected it.")
    kind: str = Field(description="Kind of the object.")
    name: str = Field(description="Name of the object.")
    age: str = Field(default="", description="Its age by the rule's clock when selected.")
    time: str | None = Field(default=None, description="When it was deleted (Enforce).")


class RunSummary(ApiModel):
    """Counts of the last run."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    mode: str = Field(default="", description="DryRun or Enforce.")
    trigger: str = Field(
        default="", description="schedule, run-now, acknowledge or spec (a DryRun preview)."
    )
    matched: int = Field(default=0, description="Objects the rules' targets matched.")
    candidates: int = Field(default=0, description="Objects selected for deletion.")
    deleted: int = Field(default=0, description="Objects deleted.")
    protected: int = Field(
        default=0, description="Objects selected but kept by mcpops.dev/protected=true."
    )
    failed: int = Field(default=0, description="Deletions that failed.")
    deferred: int = Field(
        default=0, description="Candidates left for a later run by maxDeletionsPerRun."
    )
    skipped: int = Field(
        default=0, description="Candidates already gone or re-created (new UID) when deleted."
    )
    duration_seconds: float | None = Field(default=None, description="Wall time of the run.")


class BreakerStatus(ApiModel):
    """The circuit breaker's state."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    state: Literal["Blocked", "Acknowledged"] = Field(
        description=(
            "Blocked: nothing is deleted until acknowledged. Acknowledged: runs delete while "
            "candidates stay at or below the acknowledged count."
        )
    )
    token: str = Field(description="The value mcpops.dev/acknowledge must have to resume.")
    candidates: int = Field(description="Candidates the block (or acknowledgement) is for.")
    threshold: int = Field(description="The threshold they exceeded.")
    since: str | None = Field(default=None, description="When the breaker tripped.")


class CleanupPolicyStatus(ApiModel):
    """What the policy did last and will do next."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation this status describes."
    )
    last_run_time: str | None = Field(default=None, description="When the last run ended.")
    last_schedule_time: str | None = Field(
        default=None, description="The scheduled time the last scheduled run was for."
    )
    next_run_time: str | None = Field(default=None, description="When the next run is due.")
    last_run: RunSummary | None = Field(default=None, description="Counts of the last run.")
    run_started: str | None = Field(
        default=None,
        description="Set while an Enforce run deletes (when it started); cleared by its report. "
        "Its trigger is spent before the first deletion, so a run is never repeated.",
    )
    candidates: list[CandidateStatus] | None = Field(
        default=None,
        max_length=MAX_LISTED,
        description=(
            f"What the last run selected, oldest first, at most {MAX_LISTED} (DryRun: what "
            "Enforce would delete; while Blocked: what the acknowledgement would allow)."
        ),
    )
    deletions: list[CandidateStatus] | None = Field(
        default=None,
        max_length=MAX_LISTED,
        description=f"The most recent deletions, newest first, at most {MAX_LISTED}.",
    )
    breaker: BreakerStatus | None = Field(
        default=None, description="Set while the circuit breaker is blocked or acknowledged."
    )
    run_now_token: str | None = Field(
        default=None, description="The mcpops.dev/run-now value already acted on."
    )
    conditions: list[Condition] | None = Field(
        default=None,
        description=(
            "Ready (the spec is valid and the last run succeeded; reason NoMatches when the "
            "rules matched nothing), Blocked (the circuit breaker holds deletions) and Degraded "
            "(some targets could not be listed or deleted, e.g. missing RBAC)."
        ),
    )
