"""What a plan asks for besides the manifests it applies: deletions and Events."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventSpec:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Delete:
    api_version: str
    kind: str
    name: str
    uid: str
