"""The custom resource kinds and how they show in kubectl."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from mcpops.api import GROUP, VERSION
from mcpops.api.mcpserver import MCPServerSpec, MCPServerStatus


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
    short_names=("mcps",),
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
        _col("Transport", ".spec.transport", priority=1),
        _col(
            "Status",
            '.status.conditions[?(@.type=="Ready")].reason',
        ),
        AGE,
    ),
)

KINDS: tuple[Kind, ...] = (MCPSERVER,)
