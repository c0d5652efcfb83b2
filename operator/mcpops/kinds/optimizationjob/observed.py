"""What the watch caches show of one OptimizationJob's children, and how the solver pods'
reports are read from them (the result ConfigMaps' summary.json, a container's termination
message). Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast

from mcpops.kinds.optimizationjob.desired import CONTAINER
from mcpops.objects.bodies import Body, ContainerTerminated
from mcpops_common.results import STATUSES

INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
NO_RESULT_STATUSES = frozenset({"ERROR", "ABNORMAL"})


class Report(TypedDict, total=False):
    """What a solver pod reports, in summary.json or its termination message, as far as the
    operator reads it (the whole contract: mcpops_common.results)."""

    status: str  # one of mcpops_common.results.STATUSES
    message: str
    errorKind: str
    solver: str
    solverReason: str
    solverChoice: dict[str, object]  # backend, rule, raced, racedAgainst, fallbackFrom
    sense: str
    objective: float
    bound: float
    gap: float
    seconds: float
    configMaps: list[str]  # termination message: the ConfigMaps written, summary first
    parts: int
    solutionParts: list[str]
    solutionStored: bool
    solutionRefusedReason: str
    scenarioIndex: int
    cancelled: bool


@dataclass
class Observed:
    """Children of one OptimizationJob as the watch caches last saw them."""

    jobs: dict[str, Body] = field(default_factory=dict)  # by name
    pods: dict[str, Body] = field(default_factory=dict)  # by name
    configmaps: dict[str, Body] = field(default_factory=dict)  # input and results
    service_accounts: dict[str, Body] = field(default_factory=dict)
    roles: dict[str, Body] = field(default_factory=dict)
    role_bindings: dict[str, Body] = field(default_factory=dict)


def _owned_by(obj: Body, uid: str) -> bool:
    """Not left by an earlier OptimizationJob of the same name."""
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    return not owners or any(o.get("uid") == uid for o in owners)


def read_summary(cm: Body | None, uid: str) -> Report | None:
    """summary.json of a result ConfigMap, when it is one of this job's and well formed."""
    if cm is None or not _owned_by(cm, uid):
        return None
    return _status_doc((cm.get("data") or {}).get("summary.json"))


def read_progress(cm: Body | None, uid: str) -> dict[str, Any] | None:
    """progress.json of the progress ConfigMap, when it is this job's and well formed."""
    if cm is None or not _owned_by(cm, uid):
        return None
    raw = (cm.get("data") or {}).get("progress.json")
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def terminated(pod: Body) -> ContainerTerminated | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == CONTAINER:
            term = (cs.get("state") or {}).get("terminated")
            return cast(ContainerTerminated, dict(term)) if term else None
    return None


def read_termination(term: ContainerTerminated | None) -> Report | None:
    """The runtime's termination message (a JSON object with a known status), if any."""
    return _status_doc((term or {}).get("message"))


def _status_doc(raw: str | None) -> Report | None:
    """A JSON object from the runtime with a status it knows (summary or termination)."""
    if not raw:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("status") not in STATUSES:
        return None
    return cast(Report, doc)


def created(pod: Body) -> str:
    return str((pod.get("metadata") or {}).get("creationTimestamp") or "")


def finished_pods(pods: list[Body]) -> list[tuple[Body, ContainerTerminated]]:
    """(pod, terminated state) of finished pods, newest first."""
    out = []
    for pod in sorted(pods, key=created, reverse=True):
        term = terminated(pod)
        if term is not None and (pod.get("status") or {}).get("phase") in {"Succeeded", "Failed"}:
            out.append((pod, term))
    return out


def pod_index(pod: Body) -> int | None:
    meta = pod.get("metadata") or {}
    raw = (meta.get("labels") or {}).get(INDEX_LABEL) or (meta.get("annotations") or {}).get(
        INDEX_LABEL
    )
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def parse_indexes(text: str | None) -> set[int]:
    """The Job API's interval form, e.g. "1,3-5" -> {1, 3, 4, 5}."""
    out: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            out.update(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            continue
    return out
