"""The shapes of Kubernetes objects as the code reads and builds them.

`Body` is an object as the API server serves it, of a kind we read only a few fields of;
the TypedDicts give the parts every kind shares (metadata, owner references, conditions)
and what the planners build (`Manifest`) names the checker can follow.
"""

from __future__ import annotations

from typing import Any, NewType, NotRequired, TypedDict

# An object as served or stored: JSON whose shape depends on its kind.
Body = dict[str, Any]

# A revision of an MCPServer: the hash of its pod template (desired.revision_for).
Revision = NewType("Revision", str)


class OwnerReference(TypedDict):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: NotRequired[bool]
    blockOwnerDeletion: NotRequired[bool]


class ObjectMeta(TypedDict, total=False):
    name: str
    generateName: str
    namespace: str
    uid: str
    generation: int
    resourceVersion: str
    creationTimestamp: str
    deletionTimestamp: str
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]


class Manifest(TypedDict, total=False):
    """An object a plan applies: the fields mcpops sets (its kind decides the rest)."""

    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: dict[str, Any]
    data: dict[str, str]
    binaryData: dict[str, str]
    rules: list[dict[str, Any]]
    roleRef: dict[str, str]
    subjects: list[dict[str, str]]
    automountServiceAccountToken: bool
    type: str  # a Secret's


class PodTemplate(TypedDict):
    """A pod template: metadata (labels, annotations) and the pod spec."""

    metadata: ObjectMeta
    spec: dict[str, Any]


class ConditionBody(TypedDict, total=False):
    """A status condition as written to the API (see api.base.Condition)."""

    type: str
    status: str
    reason: str
    message: str
    lastTransitionTime: str
    observedGeneration: int


class ContainerTerminated(TypedDict, total=False):
    """A container's state.terminated: how it ended (a test or solver pod's verdict)."""

    exitCode: int
    signal: int
    reason: str
    message: str
    startedAt: str
    finishedAt: str
