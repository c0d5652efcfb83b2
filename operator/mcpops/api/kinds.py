"""The custom resource kinds and how they show in kubectl."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from mcpops.api import GROUP, VERSION
from mcpops.api.base import cel
from mcpops.api.cleanuppolicy import CleanupPolicySpec, CleanupPolicyStatus
from mcpops.api.mcpserver import MCPServerSpec, MCPServerStatus
from mcpops.api.optimizationjob import OptimizationJobSpec, OptimizationJobStatus


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    spec: type[BaseModel]
    status: type[BaseModel]
    description: str
    printer_columns: tuple[dict[str, Any], ...]
    categories: tuple[str, ...] = ("mcpops",)
    # CEL rules on the whole spec (e.g. immutability) beyond the model's own.
    spec_validations: tuple[dict[str, str], ...] = field(default_factory=tuple)
    # CEL rules on the whole object: the only place that can see metadata.name.
    root_validations: tuple[dict[str, str], ...] = field(default_factory=tuple)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group(self) -> str:
        return GROUP

    @property
    def version(self) -> str:
        return VERSION


def _col(name: str, json_path: str, type_: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "jsonPath": json_path, **extra}


AGE = _col("Age", ".metadata.creationTimestamp", "date")

MCPSERVER = Kind(
    kind="MCPServer",
    plural="mcpservers",
    short_names=("mosrv",),
    spec=MCPServerSpec,
    status=MCPServerStatus,
    description=(
        "MCPServer runs one Model Context Protocol server: a Deployment per revision, a "
        "stable Service, MCP-aware readiness, and blue-green updates gated by test suites."
    ),
    printer_columns=(
        _col("Phase", ".status.phase"),
        _col("Active", ".status.activeRevision"),
        _col("Candidate", ".status.candidateRevision", priority=1),
        _col("Ready", ".status.readyReplicas", "integer"),
        _col("Protocol", ".status.protocolVersion"),
        _col("Transport", ".spec.transport", priority=1),
        _col("External", ".status.externalUrl", priority=1),
        _col(
            "Status",
            '.status.conditions[?(@.type=="Ready")].reason',
        ),
        AGE,
    ),
    root_validations=(
        cel(
            "size(self.metadata.name) <= 55 && "
            "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
            "metadata.name must be a DNS label of at most 55 characters that starts with a "
            "letter: it names the Services <name> and <name>-preview (at most 63)",
        ),
    ),
)

OPTIMIZATIONJOB = Kind(
    kind="OptimizationJob",
    plural="optimizationjobs",
    short_names=("optjob",),
    spec=OptimizationJobSpec,
    status=OptimizationJobStatus,
    description=(
        "OptimizationJob solves a linear or mixed-integer problem (inline, or an MPS/LP/JSON/"
        "YAML file from a ConfigMap or Secret) with OR-Tools in a solver pod with resource "
        "limits, or a sweep of scenarios of it as an Indexed Job; the outcome lands in status "
        "and the solution in a ConfigMap owned by the job."
    ),
    printer_columns=(
        _col("Phase", ".status.phase"),
        _col("Solver", ".status.solver"),
        _col("Status", ".status.solverStatus"),
        _col("Objective", ".status.objective", "number"),
        _col("Gap", ".status.gap", "number"),
        _col("Seconds", ".status.solveSeconds", "number", priority=1),
        _col("Result", ".status.resultConfigMap", priority=1),
        # While it runs: the incumbent and gap so far (kubectl get -o wide).
        _col("Incumbent", ".status.progress.objective", "number", priority=1),
        _col("Gap so far", ".status.progress.gap", "number", priority=1),
        AGE,
    ),
    spec_validations=(
        cel(
            "self == oldSelf",
            "spec is immutable: an OptimizationJob is one solve; create a new OptimizationJob "
            "(a new name) to solve a changed problem",
        ),
    ),
)

CLEANUPPOLICY = Kind(
    kind="CleanupPolicy",
    plural="cleanuppolicies",
    short_names=("moclean",),
    spec=CleanupPolicySpec,
    status=CleanupPolicyStatus,
    description=(
        "CleanupPolicy deletes what is no longer needed in its own namespace (old MCPServer "
        "revisions, finished test Jobs and OptimizationJobs, any kind by label) on a cron "
        "schedule: DryRun by default, capped per run, held by a circuit breaker until "
        "acknowledged, never touching protected or serving objects, and showing its work in "
        "status and Events."
    ),
    printer_columns=(
        _col("Mode", ".spec.mode"),
        _col("Schedule", ".spec.schedule"),
        _col("Matched", ".status.lastRun.matched", "integer"),
        _col("Candidates", ".status.lastRun.candidates", "integer"),
        _col("Deleted", ".status.lastRun.deleted", "integer"),
        _col("Last Run", ".status.lastRunTime", "date"),
        _col("Next Run", ".status.nextRunTime", priority=1),
        _col("Status", '.status.conditions[?(@.type=="Ready")].reason'),
        _col("Blocked", '.status.conditions[?(@.type=="Blocked")].status', priority=1),
        AGE,
    ),
)

KINDS: tuple[Kind, ...] = (MCPSERVER, OPTIMIZATIONJOB, CLEANUPPOLICY)
