"""Results of a solve, and the contract with the operator for handing them over.

This module is pure (no OR-Tools, no Kubernetes client, no I/O): the operator's
tests call :func:`build_result_configmaps` to simulate a solver pod.

Result ConfigMaps
-----------------
``build_result_configmaps(result, name=..., namespace=..., owner=..., index=...)``
returns plain-dict ConfigMap manifests. The solver pod creates them (or
replaces them when a retried pod finds them already there).

* The first is ``<name>-result``, or ``<name>-result-<index>`` for scenario
  ``index`` of a sweep. Its data holds:

  - ``summary.json``: the outcome, see :class:`ResultSummary` (camelCase keys:
    ``formatVersion``, ``status``, ``sense``, ``objective``, ``bound``,
    ``gap``, ``seconds``, ``solver``, ``solverReason``, ``solverChoice``, ``message``,
    ``errorKind``, ``counts``, ``parts``, ``solutionParts``,
    ``solutionStored``, ``solutionRefusedReason``, ``scenarioIndex``, ...).
  - ``solution.json`` (when the solution fits, ``parts == 0``):
    ``{"values": {var: value}, "duals": {constraint: dual} | null,
    "reducedCosts": {var: reduced cost} | null}``. Duals and reduced costs
    are given for linear programs solved to optimality by GLOP, PDLP, CLP or
    HiGHS; otherwise they are null.

* A solution larger than one ConfigMap (each object's data is kept under
  ``MAX_CONFIGMAP_DATA_BYTES`` = 900 KiB, well below the 1 MiB object limit)
  goes to ``<base>-part-1`` .. ``<base>-part-N`` instead. Each part's
  ``solution.json`` is ``{"part": k, "parts": N, "values": {...},
  "duals": {...} | null, "reducedCosts": {...} | null}`` holding a disjoint
  slice of the entries; merging the maps of all parts gives the whole
  solution. ``summary.json`` then has ``parts: N`` and lists the part names in
  ``solutionParts``; the base ConfigMap has no ``solution.json``.
* More than ``MAX_PARTS`` (20) parts is refused: no part is written,
  ``solutionStored`` is false and ``solutionRefusedReason`` says why (how many
  bytes and parts it would have taken). The summary is still written and the
  solver status is still the solver's; nothing is ever silently truncated.
* Every ConfigMap carries the labels ``app.kubernetes.io/managed-by=mcpops``,
  ``app.kubernetes.io/part-of=mcpops``, ``app.kubernetes.io/name=optimizationjob``,
  ``app.kubernetes.io/instance=<name>``, ``mcpops.dev/optimizationjob=<name>``
  (a name longer than 63 characters is shortened to a valid label value with a
  hash suffix), ``mcpops.dev/result-role`` (``summary`` or ``part``) and, for a
  sweep, ``mcpops.dev/scenario-index=<index>``. Each has one ownerReference to
  the owner with ``controller: true`` (``blockOwnerDeletion`` is not set, so the
  pod's service account needs no permission on the owner's finalizers).
* A cancelled solve (SIGTERM) writes the same ConfigMaps with ``cancelled: true`` in
  ``summary.json``: the solution, if any, is the best found until then (status FEASIBLE,
  or NOT_SOLVED without one; OPTIMAL only if the solver had already proven it).

Progress ConfigMap
------------------
While a single solve runs, :func:`build_progress_configmap` gives ``<name>-progress``
(label ``mcpops.dev/result-role=progress``, same owner) whose ``progress.json`` is
``{"objective", "bound", "gap", "solutionsFound", "elapsedSeconds", "solver", "sense",
"updatedAt"}``; the runtime replaces it at most every few seconds, only when it changed.

Termination message
-------------------
:func:`termination_message` gives a compact JSON object (at most 4096 bytes,
the kubelet's limit) that the pod writes to its termination message path:
``{"formatVersion", "status", "exitCode", "sense", "solver", "solverReason",
"solverChoice", "objective", "bound", "gap", "seconds", "message", "errorKind", "configMaps",
"parts", "solutionStored", "scenarioIndex"}``. Long texts are shortened to fit.
The operator can read the outcome from the pod status without reading the
ConfigMaps.

In the solver pod
-----------------
The operator runs ``mcpops-solver [--solver S] [--time-limit T]
[--relative-gap G] [--threads N] [--seed N] [--scenarios FILE] PROBLEM``
(see :mod:`mcpops_solver.cli`) with this environment:

==========================  ===============================================
``MCPOPS_RESULT_NAME``      base name of the ConfigMaps (the job's name);
                            without it (and without --output-dir) nothing
                            is written
``MCPOPS_OWNER_UID``        uid of the owning OptimizationJob (required)
``MCPOPS_OWNER_NAME``       owner name (default ``MCPOPS_RESULT_NAME``)
``MCPOPS_OWNER_KIND``       default ``OptimizationJob``
``MCPOPS_OWNER_API_VERSION`` default ``mcpops.dev/v1alpha1``
``POD_NAMESPACE``           namespace (default: the service account's)
``JOB_COMPLETION_INDEX``    scenario index of an Indexed Job (--scenarios)
==========================  ===============================================

The pod's service account needs ``create``, ``get``, ``update`` on
``configmaps`` in its namespace, and ``list``, ``delete`` to remove parts
left by an earlier attempt (skipped with a warning when not allowed).
Exit codes: 0 a result was recorded (whatever the solver status, except
ABNORMAL), 1 internal error, 2 usage, 3 malformed input, 4 unsupported by the
backend, 5 solver failure, 6 results not written. Except on usage errors, a
failed run still writes ``summary.json`` (status ``ERROR`` or ``ABNORMAL``,
``errorKind``, ``message``, empty solution) when it can, and always the
termination message. Read ``summary.json`` with :class:`ResultSummary`,
reassemble split solutions with :func:`merge_solution_parts`, aggregate a
sweep with :func:`summarize_scenarios`.

Statuses
--------
``OPTIMAL``, ``FEASIBLE`` (a limit was reached with a solution),
``INFEASIBLE``, ``UNBOUNDED``, ``INFEASIBLE_OR_UNBOUNDED`` (the solver could
not tell, nor could a feasibility check in the remaining time),
``NOT_SOLVED`` (a limit was reached without a solution), ``ABNORMAL`` (the
solver failed), ``ERROR`` (the runtime refused the input: see ``errorKind``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from mcpops_common.names import (
    INSTANCE_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    NAME_LABEL,
    OPTJOB_LABEL,
    PART_OF,
    PART_OF_LABEL,
    RESULT_ROLE_LABEL,
    SCENARIO_INDEX_LABEL,
)

__all__ = [
    "FORMAT_VERSION",
    "MAX_CONFIGMAP_DATA_BYTES",
    "MAX_PARTS",
    "MAX_TERMINATION_MESSAGE_BYTES",
    "SOLVED_STATUSES",
    "STATUSES",
    "ResultSummary",
    "SolveResult",
    "build_result_configmaps",
    "compute_gap",
    "label_value",
    "merge_solution_parts",
    "result_configmap_name",
    "result_summary",
    "solution_json",
    "summarize_scenarios",
    "termination_message",
]

FORMAT_VERSION = 1
MAX_CONFIGMAP_DATA_BYTES = 900 * 1024
MAX_PARTS = 20
MAX_TERMINATION_MESSAGE_BYTES = 4096
MAX_NAME_LENGTH = 253

STATUSES = (
    "OPTIMAL",
    "FEASIBLE",
    "INFEASIBLE",
    "UNBOUNDED",
    "INFEASIBLE_OR_UNBOUNDED",
    "NOT_SOLVED",
    "ABNORMAL",
    "ERROR",
)
SOLVED_STATUSES = frozenset({"OPTIMAL", "FEASIBLE"})


def compute_gap(objective: float | None, bound: float | None) -> float | None:
    """Relative gap |objective - bound| / max(|objective|, 1e-9), or None if unknown."""
    if objective is None or bound is None:
        return None
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return None
    diff = abs(objective - bound)
    if diff == 0.0:
        return 0.0
    return diff / max(abs(objective), 1e-9)


@dataclass
class SolveResult:
    """Everything the runtime knows after a solve (or after refusing to solve).

    ``values``, ``duals`` and ``reduced_costs`` map names to numbers. Build one
    by hand to simulate a solver pod::

        SolveResult(status="OPTIMAL", solver="HIGHS", objective=3.0, values={"x": 1.0})
    """

    status: str
    solver: str = ""
    solver_reason: str = ""
    # How auto chose (None for a requested backend): backend, rule (the comparisons that
    # decided), raced (two backends raced, the first proven answer kept), fallbackFrom
    # (backends that refused the model before this one).
    solver_choice: dict[str, Any] | None = None
    sense: Literal["minimize", "maximize"] = "minimize"
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    seconds: float = 0.0
    message: str = ""
    error_kind: str | None = None
    problem_name: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    scenario_index: int | None = None
    scenario_name: str | None = None
    values: dict[str, float] = field(default_factory=dict)
    duals: dict[str, float] | None = None
    reduced_costs: dict[str, float] | None = None
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # Stopped by a cancel (SIGTERM): the solution, if any, is the best found so far and
    # not proven optimal unless status says OPTIMAL.
    cancelled: bool = False

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; one of {', '.join(STATUSES)}")
        if self.gap is None:
            self.gap = compute_gap(self.objective, self.bound)


class ResultSummary(BaseModel):
    """The schema of ``summary.json`` (parse it with ``ResultSummary.model_validate_json``)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    format_version: int = Field(default=FORMAT_VERSION, description="Version of this format.")
    status: str = Field(description="Outcome: one of " + ", ".join(STATUSES) + ".")
    sense: str = Field(default="minimize", description="minimize or maximize.")
    objective: float | None = Field(default=None, description="Objective of the solution.")
    bound: float | None = Field(default=None, description="Best proven bound on the objective.")
    gap: float | None = Field(default=None, description="|objective - bound| / |objective|.")
    seconds: float = Field(default=0.0, description="Wall-clock seconds spent in the solver.")
    solver: str = Field(default="", description="Backend that ran (GLOP, HIGHS, ...).")
    solver_reason: str = Field(default="", description="Why this backend was used.")
    solver_choice: dict[str, Any] | None = Field(
        default=None,
        description="How auto chose: backend, rule (the comparisons that decided), raced "
        "(bool), racedAgainst, fallbackFrom (backends that refused the model first).",
    )
    message: str = Field(default="", description="Human-readable outcome or error.")
    error_kind: str | None = Field(
        default=None,
        description="What went wrong, if anything: usage, malformed-input, unsupported, "
        "solver-failure (status ABNORMAL), write-failed (the solve itself succeeded) or "
        "internal.",
    )
    problem: str = Field(default="", description="Name of the problem.")
    counts: dict[str, int] = Field(default_factory=dict, description="Problem size.")
    scenario_index: int | None = Field(default=None, description="Sweep scenario index.")
    scenario_name: str | None = Field(default=None, description="Sweep scenario label.")
    parts: int = Field(default=0, description="Number of part ConfigMaps (0: inline).")
    solution_parts: list[str] = Field(default_factory=list, description="Part ConfigMaps.")
    solution_stored: bool = Field(default=True, description="Whether the solution is stored.")
    solution_refused_reason: str | None = Field(
        default=None, description="Why the solution was not stored."
    )
    solution_entries: dict[str, int] = Field(
        default_factory=dict, description="Number of values, duals and reduced costs."
    )
    warnings: list[str] = Field(default_factory=list, description="Warnings of the run.")
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per phase.")
    cancelled: bool = Field(
        default=False,
        description="The solve was cancelled: the solution is the best found until then.",
    )


def _finite_or_none(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(x)


def _clean_map(m: Mapping[str, float] | None) -> dict[str, float | None] | None:
    if m is None:
        return None
    return {k: _finite_or_none(v) for k, v in m.items()}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


_LABEL_OK = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def label_value(name: str) -> str:
    """`name` if it is a valid label value, else a valid shortened form with a hash suffix."""
    if len(name) <= 63 and _LABEL_OK.match(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    head = re.sub(r"[^-A-Za-z0-9_.]", "-", name)[:52].strip("-_.")
    return f"{head}-{digest}" if head else digest


def result_configmap_name(name: str, index: int | None = None) -> str:
    """``<name>-result`` or ``<name>-result-<index>``."""
    return f"{name}-result" if index is None else f"{name}-result-{index}"


def _summary(
    result: SolveResult,
    *,
    parts: list[str],
    stored: bool,
    refused: str | None,
) -> ResultSummary:
    return ResultSummary(
        status=result.status,
        sense=result.sense,
        objective=_finite_or_none(result.objective),
        bound=_finite_or_none(result.bound),
        gap=_finite_or_none(result.gap),
        seconds=round(result.seconds, 6),
        solver=result.solver,
        solver_reason=result.solver_reason,
        solver_choice=result.solver_choice,
        message=result.message,
        error_kind=result.error_kind,
        problem=result.problem_name,
        counts=dict(result.counts),
        scenario_index=result.scenario_index,
        scenario_name=result.scenario_name,
        parts=len(parts),
        solution_parts=parts,
        solution_stored=stored,
        solution_refused_reason=refused,
        solution_entries={
            "values": len(result.values),
            "duals": len(result.duals or {}),
            "reducedCosts": len(result.reduced_costs or {}),
        },
        warnings=list(result.warnings[:20]),
        timings={k: round(v, 6) for k, v in result.timings.items()},
        cancelled=result.cancelled,
    )


def _summary_json(s: ResultSummary) -> str:
    return _dumps(s.model_dump(mode="json", by_alias=True))


def result_summary(
    result: SolveResult,
    *,
    parts: list[str] | None = None,
    stored: bool = True,
    refused: str | None = None,
) -> dict[str, Any]:
    """The summary of `result` as a JSON-ready dict (the content of summary.json)."""
    s = _summary(result, parts=list(parts or []), stored=stored, refused=refused)
    out: dict[str, Any] = s.model_dump(mode="json", by_alias=True)
    return out


def solution_json(result: SolveResult) -> str:
    """The whole solution as one JSON document (the content of an inline solution.json)."""
    return _dumps(
        {
            "values": _clean_map(result.values) or {},
            "duals": _clean_map(result.duals),
            "reducedCosts": _clean_map(result.reduced_costs),
        }
    )


_KINDS = ("values", "duals", "reducedCosts")


def _split_solution(
    sections: dict[str, dict[str, float | None] | None], budget: int
) -> list[dict[str, dict[str, float | None] | None]]:
    """Pack the entries of the solution into chunks whose JSON stays within `budget` bytes."""
    # The wrapper of a part, with the widest part numbers and all three maps present.
    wrapper = len(
        _dumps({"part": 99999, "parts": 99999, "values": {}, "duals": {}, "reducedCosts": {}})
    )
    room = budget - wrapper
    chunks: list[dict[str, dict[str, float | None] | None]] = []
    current: dict[str, dict[str, float | None] | None] = {
        k: ({} if sections[k] is not None else None) for k in _KINDS
    }
    used = 0
    for kind in _KINDS:
        entries = sections[kind]
        if entries is None:
            continue
        for key, value in entries.items():
            size = len(_dumps(key).encode()) + 1 + len(_dumps(value).encode()) + 1
            if size > room:
                raise ValueError(f"one solution entry ({key[:40]!r}) is larger than a ConfigMap")
            if used + size > room:
                chunks.append(current)
                current = {k: ({} if sections[k] is not None else None) for k in _KINDS}
                used = 0
            target = current[kind]
            assert target is not None
            target[key] = value
            used += size
    chunks.append(current)
    return chunks


def _owner_refs(owner: Mapping[str, str] | None) -> list[dict[str, Any]]:
    if owner is None:
        return []
    missing = [k for k in ("apiVersion", "kind", "name", "uid") if not owner.get(k)]
    if missing:
        raise ValueError(f"owner lacks {', '.join(missing)}")
    return [
        {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["name"],
            "uid": owner["uid"],
            "controller": True,
        }
    ]


def _result_configmap(
    cm_name: str,
    role: str,
    data: dict[str, str],
    *,
    name: str,
    namespace: str,
    owner: Mapping[str, str] | None,
    index: int | None,
) -> dict[str, Any]:
    labels = {
        MANAGED_BY_LABEL: MANAGED_BY,
        PART_OF_LABEL: PART_OF,
        NAME_LABEL: "optimizationjob",
        INSTANCE_LABEL: label_value(name),
        OPTJOB_LABEL: label_value(name),
        RESULT_ROLE_LABEL: role,
    }
    if index is not None:
        labels[SCENARIO_INDEX_LABEL] = str(index)
    meta: dict[str, Any] = {"name": cm_name, "namespace": namespace, "labels": labels}
    refs = _owner_refs(owner)
    if refs:
        meta["ownerReferences"] = refs
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def progress_configmap_name(name: str) -> str:
    """``<name>-progress``: where a running solve reports its incumbent and bound."""
    return f"{name}-progress"


def build_progress_configmap(
    progress: Mapping[str, Any],
    *,
    name: str,
    namespace: str,
    owner: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The progress ConfigMap of a running solve: ``progress.json`` holds `progress`
    (``objective``, ``bound``, ``gap``, ``solutionsFound``, ``elapsedSeconds``,
    ``solver``, ``sense``, ``updatedAt``). Pure function."""
    if not name or not namespace:
        raise ValueError("name and namespace are required")
    data = {"progress.json": _dumps(dict(progress))}
    return _result_configmap(
        progress_configmap_name(name),
        "progress",
        data,
        name=name,
        namespace=namespace,
        owner=owner,
        index=None,
    )


def build_result_configmaps(
    result: SolveResult,
    *,
    name: str,
    namespace: str,
    owner: Mapping[str, str] | None,
    index: int | None = None,
    max_bytes: int = MAX_CONFIGMAP_DATA_BYTES,
    max_parts: int = MAX_PARTS,
) -> list[dict[str, Any]]:
    """The ConfigMaps that hold `result`: the summary first, then any solution parts.

    `owner` has apiVersion, kind, name and uid; None leaves out the
    ownerReference (only for manifests written to local files). Pure function.
    """
    base = result_configmap_name(name, index)
    longest = f"{base}-part-{max_parts}"
    if len(longest) > MAX_NAME_LENGTH:
        raise ValueError(f"name {name!r} is too long for result ConfigMap names ({longest!r})")
    if not name or not namespace:
        raise ValueError("name and namespace are required")

    def manifest(cm_name: str, role: str, data: dict[str, str]) -> dict[str, Any]:
        return _result_configmap(
            cm_name, role, data, name=name, namespace=namespace, owner=owner, index=index
        )

    sections: dict[str, dict[str, float | None] | None] = {
        "values": _clean_map(result.values) or {},
        "duals": _clean_map(result.duals),
        "reducedCosts": _clean_map(result.reduced_costs),
    }
    whole = _dumps(sections)
    inline_summary = _summary_json(_summary(result, parts=[], stored=True, refused=None))
    inline_size = (
        len("summary.json")
        + len(inline_summary.encode())
        + len("solution.json")
        + len(whole.encode())
    )
    if inline_size <= max_bytes:
        return [manifest(base, "summary", {"summary.json": inline_summary, "solution.json": whole})]

    chunks = _split_solution(sections, max_bytes - len("solution.json"))
    if len(chunks) > max_parts:
        total = len(whole.encode())
        reason = (
            f"the solution is {total} bytes of JSON and would need {len(chunks)} ConfigMaps "
            f"of at most {max_bytes} bytes, more than the limit of {max_parts}; it was not "
            "stored. Reduce the problem size or store solutions elsewhere."
        )
        summary = _summary(result, parts=[], stored=False, refused=reason)
        return [manifest(base, "summary", {"summary.json": _summary_json(summary)})]

    part_names = [f"{base}-part-{k}" for k in range(1, len(chunks) + 1)]
    summary = _summary(result, parts=part_names, stored=True, refused=None)
    out = [manifest(base, "summary", {"summary.json": _summary_json(summary)})]
    for k, chunk in enumerate(chunks, start=1):
        body = _dumps({"part": k, "parts": len(chunks), **chunk})
        out.append(manifest(part_names[k - 1], "part", {"solution.json": body}))
    return out


def configmap_data_bytes(cm: Mapping[str, Any]) -> int:
    """Bytes of a ConfigMap's data (keys and values), the quantity kept under the limit."""
    data: Mapping[str, str] = cm.get("data", {})
    return sum(len(k.encode()) + len(v.encode()) for k, v in data.items())


def merge_solution_parts(configmaps: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Reassemble ``solution.json`` from the ConfigMaps of one result (inline or parts)."""
    merged: dict[str, Any] = {"values": {}, "duals": None, "reducedCosts": None}
    for cm in configmaps:
        raw = cm.get("data", {}).get("solution.json")
        if raw is None:
            continue
        doc = json.loads(raw)
        for kind in _KINDS:
            part = doc.get(kind)
            if part is None:
                continue
            if merged[kind] is None:
                merged[kind] = {}
            merged[kind].update(part)
    return merged


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 3)] + "..."


def _short_choice(choice: dict[str, Any] | None) -> dict[str, Any] | None:
    """The choice record with its rule text bounded (the termination message is 4 KiB)."""
    if not choice:
        return None
    out = dict(choice)
    if isinstance(out.get("rule"), str):
        out["rule"] = _shorten(out["rule"], 300)
    return out


def termination_message(
    result: SolveResult,
    *,
    exit_code: int,
    configmaps: list[str] | None = None,
    parts: int = 0,
    solution_stored: bool = True,
) -> str:
    """A JSON summary of at most 4096 bytes for the container's termination message."""
    doc: dict[str, Any] = {
        "formatVersion": FORMAT_VERSION,
        "status": result.status,
        "exitCode": exit_code,
        # Without it an objective read from the pod alone (a sweep's scenario whose
        # ConfigMap is gone) could not be ranked best or worst.
        "sense": result.sense,
        "solver": result.solver,
        "solverReason": result.solver_reason,
        "objective": _finite_or_none(result.objective),
        "bound": _finite_or_none(result.bound),
        "gap": _finite_or_none(result.gap),
        "seconds": round(result.seconds, 6),
        "message": result.message,
        "errorKind": result.error_kind,
        "configMaps": list(configmaps or []),
        "parts": parts,
        "solutionStored": solution_stored,
        "scenarioIndex": result.scenario_index,
    }
    if result.cancelled:
        doc["cancelled"] = True
    if result.solver_choice:  # auto only: how it chose, raced or fell back
        doc["solverChoice"] = _short_choice(result.solver_choice)
    text = _dumps(doc)
    limit = 1024
    while len(text.encode()) > MAX_TERMINATION_MESSAGE_BYTES and limit >= 16:
        doc["message"] = _shorten(result.message, limit)
        doc["solverReason"] = _shorten(result.solver_reason, limit // 2)
        names = list(configmaps or [])
        if len(names) > 3:
            doc["configMaps"] = names[:2]
        text = _dumps(doc)
        limit //= 2
    if len(text.encode()) > MAX_TERMINATION_MESSAGE_BYTES:  # absurd names; keep the essentials
        keep = ("formatVersion", "status", "exitCode", "sense", "objective", "solver")
        doc = {k: doc[k] for k in keep}
        doc["solver"] = _shorten(str(doc["solver"]), 64)
        text = _dumps(doc)
    return text


# ---------------------------------------------------------------------------
# sweeps


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation percentile (NumPy's default method)."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def summarize_scenarios(
    summaries: Iterable[Mapping[str, Any] | None],
    *,
    expected: int | None = None,
) -> dict[str, Any]:
    """Aggregate per-scenario ``summary.json`` documents (parsed) into a sweep summary.

    Each summary needs ``status`` and, when solved, ``objective``; ``sense``
    and ``scenarioIndex`` are used when present. ``None`` stands for a
    scenario whose result is missing (counted as failed), and so does every
    scenario up to `expected` that is not in `summaries`. Pure function.

    Returns camelCase keys: ``total``, ``solved`` (OPTIMAL or FEASIBLE),
    ``optimal``, ``feasible``, ``infeasible`` (INFEASIBLE), ``unbounded``
    (UNBOUNDED or INFEASIBLE_OR_UNBOUNDED), ``notSolved`` (NOT_SOLVED),
    ``failed`` (ABNORMAL, ERROR, unknown or missing), ``best``, ``worst``
    (by the sense of the problem), ``bestIndex``, ``worstIndex``, ``mean``,
    ``p5``, ``p50``, ``p95`` of the objectives of solved scenarios (None when
    none was solved), and ``sense``.
    """
    total = optimal = feasible = infeasible = unbounded = not_solved = failed = 0
    sense = "minimize"
    objectives: list[tuple[float, int | None]] = []
    for position, s in enumerate(summaries):
        total += 1
        if s is None:
            failed += 1
            continue
        status = str(s.get("status", ""))
        if s.get("sense") in {"minimize", "maximize"}:
            sense = str(s["sense"])
        idx = s.get("scenarioIndex")
        index = int(idx) if isinstance(idx, int) else position
        obj = s.get("objective")
        if status in SOLVED_STATUSES and isinstance(obj, int | float) and math.isfinite(obj):
            if status == "OPTIMAL":
                optimal += 1
            else:
                feasible += 1
            objectives.append((float(obj), index))
        elif status == "INFEASIBLE":
            infeasible += 1
        elif status in {"UNBOUNDED", "INFEASIBLE_OR_UNBOUNDED"}:
            unbounded += 1
        elif status == "NOT_SOLVED":
            not_solved += 1
        else:
            failed += 1
    if expected is not None and expected > total:
        failed += expected - total
        total = expected
    out: dict[str, Any] = {
        "total": total,
        "solved": optimal + feasible,
        "optimal": optimal,
        "feasible": feasible,
        "infeasible": infeasible,
        "unbounded": unbounded,
        "notSolved": not_solved,
        "failed": failed,
        "sense": sense,
        "best": None,
        "worst": None,
        "bestIndex": None,
        "worstIndex": None,
        "mean": None,
        "p5": None,
        "p50": None,
        "p95": None,
    }
    if objectives:
        ordered = sorted(objectives, key=lambda t: t[0])
        values = [v for v, _ in ordered]
        best, worst = (
            (ordered[-1], ordered[0]) if sense == "maximize" else (ordered[0], ordered[-1])
        )
        out.update(
            best=best[0],
            worst=worst[0],
            bestIndex=best[1],
            worstIndex=worst[1],
            mean=math.fsum(values) / len(values),
            p5=_percentile(values, 0.05),
            p50=_percentile(values, 0.50),
            p95=_percentile(values, 0.95),
        )
    return out
