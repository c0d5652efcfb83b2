"""What the agent server creates and what it shows: pure functions over plain dicts.

OptimizationJobs are built here and validated with the API's own pydantic models before
they are sent, so an agent gets a field-level error at once instead of an API server
refusal; the CRD's CEL rules stay the last word.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from mcpops.api import API_VERSION
from mcpops.api.optimizationjob import OptimizationJobSpec
from mcpops_common.names import CANCEL_ANNOTATION, OPTJOB_LABEL, PART_OF, PART_OF_LABEL

# Who made a job: the agent server's jobs carry this label (a selector for people, for
# list_jobs and for the cancel tool, which touches only its own jobs).
SUBMITTED_BY_LABEL = "mcpops.dev/submitted-by"
SUBMITTED_BY = "agent-server"
TOOL_ANNOTATION = "mcpops.dev/agent-tool"  # which tool created it
PROBLEM_KEY = {"mps": "problem.mps", "lp": "problem.lp", "lp-solve": "problem.lp"}
# Text larger than this does not fit a ConfigMap (1 MiB object limit, with room for
# metadata); such problems belong in a ConfigMap or Secret made by other means.
MAX_PROBLEM_TEXT_BYTES = 900 * 1024
FINISHED_PHASES = frozenset({"Succeeded", "Failed", "Cancelled"})

TextFormat = Literal["auto", "mps", "lp", "lp-solve"]


class ToolInputError(ValueError):
    """The agent's input is refused; the message names the field and the fix."""


@dataclass(frozen=True)
class Limits:
    """What the server lets an agent ask for (set by whoever deploys it)."""

    namespace: str
    max_time_limit_seconds: float = 3600.0
    max_threads: int = 4
    max_scenarios: int = 200
    ttl_seconds_after_finished: int = 3600
    pod_annotations: dict[str, str] = field(default_factory=dict)
    name_prefix: str = "agent-"


def _errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def sniff_format(text: str) -> Literal["mps", "lp"]:
    """MPS when a line starts a ROWS or COLUMNS section, else CPLEX LP."""
    for line in text.splitlines():
        head = line.strip().split(maxsplit=1)
        if head and head[0].upper() in {"ROWS", "COLUMNS"} and not line[:1].isspace():
            return "mps"
    return "lp"


def _spec(
    limits: Limits,
    *,
    solver: str,
    time_limit_seconds: float,
    relative_gap: float | None,
    threads: int | None,
    warm_start_from: str | None,
) -> dict[str, Any]:
    if not 0 < time_limit_seconds <= limits.max_time_limit_seconds:
        raise ToolInputError(
            f"time_limit_seconds must be in (0, {limits.max_time_limit_seconds:g}] "
            "(the server's limit)"
        )
    if threads is not None and not 1 <= threads <= limits.max_threads:
        raise ToolInputError(f"threads must be 1..{limits.max_threads} (the server's limit)")
    spec: dict[str, Any] = {
        "solver": solver,
        "timeLimitSeconds": time_limit_seconds,
        "ttlSecondsAfterFinished": limits.ttl_seconds_after_finished,
    }
    if relative_gap is not None:
        spec["relativeGap"] = relative_gap
    if threads is not None:
        spec["threads"] = threads
    if warm_start_from:
        spec["warmStartFrom"] = warm_start_from
    if limits.pod_annotations:
        spec["podAnnotations"] = dict(limits.pod_annotations)
    return spec


def _validated(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        OptimizationJobSpec.model_validate(spec)
    except ValidationError as exc:
        raise ToolInputError(f"the OptimizationJob would be refused: {_errors(exc)}") from exc
    return spec


def job_name(prefix: str, suffix: str) -> str:
    """A job name like the API server's generateName makes (chosen here because a problem
    given as text goes to a ConfigMap the job's spec must name when it is created)."""
    return check_name(f"{prefix}{suffix}"[:253])


def _job(name: str, limits: Limits, spec: dict[str, Any], tool: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "OptimizationJob",
        "metadata": {
            "name": name,
            "namespace": limits.namespace,
            "labels": {SUBMITTED_BY_LABEL: SUBMITTED_BY, PART_OF_LABEL: PART_OF},
            "annotations": {TOOL_ANNOTATION: tool},
        },
        "spec": _validated(spec),
    }


@dataclass(frozen=True)
class Submission:
    """An OptimizationJob to create and, for a problem given as text, the ConfigMap that
    holds it (created after the job, owned by it, so both go away together)."""

    job: dict[str, Any]
    problem_text: str | None = None
    problem_key: str | None = None


def submission(
    name: str,
    limits: Limits,
    *,
    model: Mapping[str, Any] | None = None,
    text: str | None = None,
    text_format: TextFormat = "auto",
    solver: str = "auto",
    time_limit_seconds: float = 60.0,
    relative_gap: float | None = None,
    threads: int | None = None,
    warm_start_from: str | None = None,
    tool: str = "submit_model",
) -> Submission:
    """The job for one solve of `model` (the OptimizationJob model form) or `text` (MPS/LP)."""
    if (model is None) == (text is None):
        raise ToolInputError(
            "give exactly one of model (the JSON model form) or text (an MPS or LP file)"
        )
    spec = _spec(
        limits,
        solver=solver,
        time_limit_seconds=time_limit_seconds,
        relative_gap=relative_gap,
        threads=threads,
        warm_start_from=warm_start_from,
    )
    if model is not None:
        spec["model"] = dict(model)
        return Submission(job=_job(name, limits, spec, tool))
    assert text is not None
    if len(text.encode()) > MAX_PROBLEM_TEXT_BYTES:
        raise ToolInputError(
            f"text is {len(text.encode())} bytes, more than {MAX_PROBLEM_TEXT_BYTES} fit in a "
            "ConfigMap; put the file in a ConfigMap or Secret and create the OptimizationJob "
            "with configMapRef/secretRef"
        )
    fmt = sniff_format(text) if text_format == "auto" else text_format
    key = PROBLEM_KEY[fmt]
    spec["configMapRef"] = {"name": problem_configmap_name(name), "key": key}
    spec["format"] = fmt
    return Submission(job=_job(name, limits, spec, tool), problem_text=text, problem_key=key)


def problem_configmap_name(job_name: str) -> str:
    return f"{job_name}-problem"


def problem_configmap(
    job: Mapping[str, Any], text: str, key: str, namespace: str
) -> dict[str, Any]:
    """The ConfigMap holding a text problem, owned by its (created) job."""
    meta = job["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": problem_configmap_name(meta["name"]),
            "namespace": namespace,
            "labels": {
                SUBMITTED_BY_LABEL: SUBMITTED_BY,
                PART_OF_LABEL: PART_OF,
                OPTJOB_LABEL: meta["name"],
            },
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "OptimizationJob",
                    "name": meta["name"],
                    "uid": meta["uid"],
                }
            ],
        },
        "data": {key: text},
    }


def sweep(
    name: str,
    limits: Limits,
    base: Mapping[str, Any],
    *,
    scenarios: list[dict[str, Any]] | None,
    sampling: Mapping[str, Any] | None,
    parallelism: int | None,
    time_limit_seconds: float | None,
) -> dict[str, Any]:
    """A sweep job over the problem of `base` (an existing OptimizationJob): the same model
    or problem file, solver and limits, with `scenarios` and/or `sampling`."""
    if not scenarios and not sampling:
        raise ToolInputError(
            "give scenarios (a list of overrides) or sampling (distributions and samples)"
        )
    count = len(scenarios or []) + int((sampling or {}).get("samples", 0))
    if count > limits.max_scenarios:
        raise ToolInputError(
            f"{count} scenarios is more than this server allows ({limits.max_scenarios})"
        )
    base_spec = base.get("spec") or {}
    if base_spec.get("scenarios") or base_spec.get("sampling"):
        raise ToolInputError(
            f"{base['metadata']['name']} is itself a sweep; name a single solve as base"
        )
    spec = _spec(
        limits,
        solver=str(base_spec.get("solver", "auto")),
        time_limit_seconds=float(time_limit_seconds or base_spec.get("timeLimitSeconds", 60)),
        relative_gap=base_spec.get("relativeGap"),
        threads=base_spec.get("threads"),
        warm_start_from=None,
    )
    for key in ("model", "configMapRef", "secretRef", "format"):
        if key in base_spec:
            spec[key] = base_spec[key]
    if scenarios:
        spec["scenarios"] = scenarios
    if sampling:
        spec["sampling"] = dict(sampling)
    if parallelism is not None:
        spec["parallelism"] = parallelism
    return _job(name, limits, spec, "run_scenarios")


def cancel_patch() -> dict[str, Any]:
    return {"metadata": {"annotations": {CANCEL_ANNOTATION: "true"}}}


def submitted_here(job: Mapping[str, Any]) -> bool:
    labels = (job.get("metadata") or {}).get("labels") or {}
    return labels.get(SUBMITTED_BY_LABEL) == SUBMITTED_BY


_STATUS_KEYS = (
    "phase",
    "solverStatus",
    "objective",
    "bound",
    "gap",
    "solver",
    "solverReason",
    "progress",
    "cancelled",
    "queuePosition",
    "solveSeconds",
    "message",
    "scenarios",
    "startTime",
    "completionTime",
    "warmStartFrom",
    "solutionStored",
)


def next_step(phase: str | None, has_result: bool) -> str:
    """What an agent should do next, in words (agents read it; people too)."""
    if phase in FINISHED_PHASES:
        if has_result:
            return "finished: call get_solution or explain"
        return "finished without a result: read message"
    if phase == "Queued":
        return "queued behind other solves in the namespace: poll get_status"
    return "still solving: poll get_status (wait_seconds lets it wait for the end)"


def status_view(job: Mapping[str, Any]) -> dict[str, Any]:
    """What get_status returns: the job's status fields an agent needs, and what next."""
    meta = job.get("metadata") or {}
    st = job.get("status") or {}
    phase = st.get("phase")
    out: dict[str, Any] = {"name": meta.get("name"), "namespace": meta.get("namespace")}
    out.update({k: st[k] for k in _STATUS_KEYS if st.get(k) is not None})
    out["phase"] = phase or "New"
    out["done"] = phase in FINISHED_PHASES
    if meta.get("annotations", {}).get(CANCEL_ANNOTATION) == "true" and not out["done"]:
        out["cancelRequested"] = True
    out["next"] = next_step(phase, bool(st.get("resultConfigMap")))
    return out


def result_names(job: Mapping[str, Any]) -> list[str]:
    """The ConfigMaps holding the job's solution (the summary one first, then any parts)."""
    st = job.get("status") or {}
    if not st.get("resultConfigMap"):
        return []
    return [st["resultConfigMap"], *(st.get("resultParts") or [])]


NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def check_name(name: str) -> str:
    if not NAME_RE.match(name) or len(name) > 253:
        raise ToolInputError(f"{name!r} is not an OptimizationJob name")
    return name
