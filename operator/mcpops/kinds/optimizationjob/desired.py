"""The children an OptimizationJob wants, as plain manifests (no API calls here).

One solve is a batch/v1 Job of one pod; a sweep is an Indexed Job with one
index per scenario. The pod runs `mcpops-solver` (solver-runtime/), which
writes its result ConfigMaps through the API with a ServiceAccount that may
only create and update ConfigMaps, and reports a short JSON outcome in its
termination message.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mcpops.api import API_VERSION
from mcpops.api.optimizationjob import (
    DEADLINE_FACTOR,
    DEADLINE_SLACK_SECONDS,
    DEFAULT_PARALLELISM,
    OptimizationJobSpec,
)
from mcpops.objects.bodies import Body, Manifest, ObjectMeta
from mcpops.objects.children import (
    child_meta,
    digest,
    labels,
    restricted_container_context,
    restricted_pod_context,
    stamp,
)
from mcpops_common.names import COMPONENT_LABEL, NOTE_ANNOTATION, OPTJOB_LABEL, ROLE
from mcpops_common.optmodel import ScenarioSet
from mcpops_common.results import (
    MAX_PARTS,
    label_value,
    progress_configmap_name,
    result_configmap_name,
)

KIND = "OptimizationJob"
COMPONENT = "optimizationjob"
CONTAINER = "solver"
DEFAULT_UID = 65532
DEFAULT_MEMORY_REQUEST = "512Mi"
DEFAULT_MEMORY_LIMIT = "2Gi"
# Exit codes of mcpops-solver that no retry can fix: usage (2), malformed input (3),
# a problem the chosen backend does not support (4); and 137, the kernel's OOM kill.
FATAL_EXIT_CODES = (2, 3, 4, 137)
INPUT_DIR = "/input"
WARM_START_DIR = "/warmstart"
# The pod's SIGTERM grace on a cancel: the runtime stops the solver and writes the best
# solution found so far within INTERRUPT_WAIT_SECONDS (10 s), well inside this.
TERMINATION_GRACE_SECONDS = 30
PROBLEM_DIR = "/problem"
# Beyond this many result ConfigMap names the Role's get/update/patch rule is not
# restricted by resourceNames (the Role object would grow past sensible sizes).
MAX_ROLE_RESOURCE_NAMES = 2100
# An inline model larger than this is gzipped into the input ConfigMap (the runtime
# recognises gzip by its magic bytes); a ConfigMap holds at most 1 MiB.
GZIP_ABOVE_BYTES = 512 * 1024


def _short(name: str, limit: int) -> str:
    if len(name) <= limit:
        return name
    return f"{name[: limit - 11].rstrip('-.')}-{digest(name, 10)}"


def job_name(name: str) -> str:
    """The Job's name: at most 52 characters, so that `<job>-<index>` pod hostnames and the
    job-name label stay valid."""
    return _short(name, 52)


def child_name(name: str, suffix: str) -> str:
    return _short(f"{name}-{suffix}", 253)


def service_account_name(name: str) -> str:
    return child_name(name, "solver")


def input_configmap_name(name: str) -> str:
    return child_name(name, "input")


def child_labels(name: str, **extra: str) -> dict[str, str]:
    return labels(COMPONENT, label_value(name), **{OPTJOB_LABEL: label_value(name)}, **extra)


# ---------------------------------------------------------------- quantities


_CPU = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m?)$")
_MEM = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_MEM_FACTOR = {
    None: 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def parse_quantity(resource: str, value: str) -> Decimal:
    """CPU in cores or memory in bytes, for the forms the API schema allows."""
    if resource == "cpu":
        m = _CPU.match(value)
        if not m:
            raise ValueError(f"not a CPU quantity: {value!r}")
        number = Decimal(m.group(1))
        return number / 1000 if m.group(2) else number
    m = _MEM.match(value)
    if not m:
        raise ValueError(f"not a memory quantity: {value!r}")
    return Decimal(m.group(1)) * _MEM_FACTOR[m.group(2)]


class ResourceError(ValueError):
    """The requests and limits given contradict each other."""


def resources(spec: OptimizationJobSpec) -> dict[str, dict[str, str]]:
    """Requests and limits, always both. CPU defaults to threads (else 1)."""
    cpu = str(spec.threads or 1)
    requests = {"cpu": cpu, "memory": DEFAULT_MEMORY_REQUEST}
    limits = {"cpu": cpu, "memory": DEFAULT_MEMORY_LIMIT}
    given_requests = (
        spec.resources.requests.to_wire() if spec.resources and spec.resources.requests else {}
    )
    given_limits = (
        spec.resources.limits.to_wire() if spec.resources and spec.resources.limits else {}
    )
    requests.update(given_requests)
    limits.update(given_limits)
    for res in ("cpu", "memory"):
        if parse_quantity(res, limits[res]) >= parse_quantity(res, requests[res]):
            continue
        if res in given_limits:
            raise ResourceError(
                f"spec.resources.limits.{res} ({limits[res]}) is lower than the request "
                f"({requests[res]}); a limit must be at least its request"
            )
        limits[res] = requests[res]  # a request above a defaulted limit raises the limit
    return {"requests": requests, "limits": limits}


# ---------------------------------------------------------------- the problem and the sweep


@dataclass(frozen=True)
class Layout:
    """Where the pod finds its inputs."""

    problem_path: str
    problem_format: str | None  # None: let the runtime detect it
    scenarios_path: str | None
    scenario_count: int  # 0: not a sweep
    # Warm start: the ConfigMaps holding an earlier job's solution.json (its parts, if split).
    warm_start: tuple[str, ...] = ()


def scenario_set(spec: OptimizationJobSpec) -> ScenarioSet | None:
    """The runtime's ScenarioSet for a sweep (validated by the runtime's own rules)."""
    if not spec.scenarios and spec.sampling is None:
        return None
    return ScenarioSet.model_validate(
        {
            "scenarios": [
                s.model_dump(by_alias=True, exclude_none=True) for s in spec.scenarios or []
            ],
            "sampling": spec.sampling.model_dump(by_alias=True, exclude_none=True)
            if spec.sampling
            else None,
        }
    )


def layout(spec: OptimizationJobSpec, sweep: ScenarioSet | None) -> Layout:
    scenarios_path = f"{INPUT_DIR}/scenarios.json" if sweep else None
    count = sweep.count() if sweep else 0
    if spec.model is not None:
        return Layout(f"{INPUT_DIR}/model.json", "json", scenarios_path, count)
    ref = spec.config_map_ref or spec.secret_ref
    assert ref is not None
    fmt = None if spec.format == "auto" else spec.format
    return Layout(f"{PROBLEM_DIR}/{ref.key}", fmt, scenarios_path, count)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def input_configmap(
    parent: Body, spec: OptimizationJobSpec, sweep: ScenarioSet | None
) -> Manifest | None:
    """The inline model and the scenario set as files for the pod; None when neither is needed."""
    if spec.model is None and sweep is None:
        return None
    name = parent["metadata"]["name"]
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    if spec.model is not None:
        text = _json(spec.model.model_dump(by_alias=True, exclude_none=True, mode="json"))
        if len(text) > GZIP_ABOVE_BYTES:
            import base64

            # The file keeps its name; the runtime sees gzip by its magic bytes.
            binary["model.json"] = base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()
        else:
            data["model.json"] = text
    if sweep is not None:
        data["scenarios.json"] = _json(
            sweep.model_dump(by_alias=True, exclude_none=True, mode="json")
        )
    manifest: Manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": child_meta(
            parent, input_configmap_name(name), child_labels(name, **{ROLE: "input"})
        ),
        "data": data,
    }
    if binary:
        manifest["binaryData"] = binary
    return stamp(manifest)


# ---------------------------------------------------------------- RBAC for the solver pod


def result_configmap_count(scenario_count: int) -> int:
    """How many result ConfigMaps a job may write: each result and its parts (and the
    progress ConfigMap of a single solve)."""
    return max(scenario_count, 1) * (MAX_PARTS + 1) + (0 if scenario_count else 1)


def result_configmap_names(name: str, scenario_count: int) -> list[str]:
    bases = (
        [result_configmap_name(name, i) for i in range(scenario_count)]
        if scenario_count
        else [result_configmap_name(name)]
    )
    out: list[str] = []
    for base in bases:
        out.append(base)
        out.extend(f"{base}-part-{k}" for k in range(1, MAX_PARTS + 1))
    return out if scenario_count else [*out, progress_configmap_name(name)]


def service_account(parent: Body) -> Manifest:
    name = parent["metadata"]["name"]
    return stamp(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": child_meta(parent, service_account_name(name), child_labels(name)),
            # Only the solver pod mounts a token (it writes its result ConfigMaps).
            "automountServiceAccountToken": False,
        }
    )


def role(parent: Body, scenario_count: int) -> Manifest:
    """create on configmaps (RBAC cannot restrict create by name), and get/update/patch only on
    the result ConfigMap names this job can write, when they are few enough to list."""
    name = parent["metadata"]["name"]
    count = result_configmap_count(scenario_count)  # a 10,000 sweep: 210,000, never listed
    write: dict[str, Any] = {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "verbs": ["get", "update", "patch"],
    }
    annotations: dict[str, str] = {}
    if count <= MAX_ROLE_RESOURCE_NAMES:
        write["resourceNames"] = result_configmap_names(name, scenario_count)
    else:
        annotations[NOTE_ANNOTATION] = (
            f"{count} result ConfigMap names are too many to list; get/update/patch is "
            "not restricted by name"
        )
    meta = child_meta(parent, service_account_name(name), child_labels(name), annotations)
    return stamp(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
                write,
            ],
        }
    )


def role_binding(parent: Body) -> Manifest:
    name = parent["metadata"]["name"]
    sa = service_account_name(name)
    return stamp(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": child_meta(parent, sa, child_labels(name)),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
            "subjects": [
                {"kind": "ServiceAccount", "name": sa, "namespace": parent["metadata"]["namespace"]}
            ],
        }
    )


# ---------------------------------------------------------------- the Job


def deadline_seconds(spec: OptimizationJobSpec, scenario_count: int) -> int:
    """spec.activeDeadlineSeconds, else time limit x 1.2 + 60 per wave of scenarios."""
    if spec.active_deadline_seconds is not None:
        return spec.active_deadline_seconds
    per_solve = math.ceil(spec.time_limit_seconds * DEADLINE_FACTOR + DEADLINE_SLACK_SECONDS)
    if not scenario_count:
        return per_solve
    waves = math.ceil(scenario_count / parallelism(spec, scenario_count))
    return per_solve * waves


def parallelism(spec: OptimizationJobSpec, scenario_count: int) -> int:
    return max(1, min(spec.parallelism or DEFAULT_PARALLELISM, scenario_count or 1))


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def solver_args(spec: OptimizationJobSpec, where: Layout) -> list[str]:
    args = [
        where.problem_path,
        "--solver",
        spec.solver,
        "--time-limit",
        _number(spec.time_limit_seconds),
    ]
    if where.problem_format:
        args += ["--format", where.problem_format]
    if spec.relative_gap is not None:
        args += ["--relative-gap", _number(spec.relative_gap)]
    if spec.absolute_gap is not None:
        args += ["--absolute-gap", _number(spec.absolute_gap)]
    if spec.threads is not None:
        args += ["--threads", str(spec.threads)]
    if spec.seed is not None:
        args += ["--seed", str(spec.seed)]
    if spec.deterministic:
        args.append("--deterministic")
    if spec.race:
        args.append("--race")
    if where.scenarios_path:
        args += ["--scenarios", where.scenarios_path]
    for i in range(len(where.warm_start)):
        args += ["--warm-start", f"{WARM_START_DIR}/{i}.json"]
    return args


def pod_failure_policy(indexed: bool) -> dict[str, Any]:
    return {
        "rules": [
            # Evicted, preempted, node drained: try again, and it does not count.
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            # Bad input, an unsupported problem, out of memory: retrying cannot help.
            {
                "action": "FailIndex" if indexed else "FailJob",
                "onExitCodes": {
                    "containerName": CONTAINER,
                    "operator": "In",
                    "values": list(FATAL_EXIT_CODES),
                },
            },
        ]
    }


def job(
    parent: Body,
    spec: OptimizationJobSpec,
    where: Layout,
    image: str,
) -> Manifest:
    name = parent["metadata"]["name"]
    indexed = where.scenario_count > 0
    env: list[dict[str, Any]] = [
        {"name": "MCPOPS_RESULT_NAME", "value": name},
        {"name": "MCPOPS_OWNER_UID", "value": parent["metadata"]["uid"]},
        {"name": "MCPOPS_OWNER_NAME", "value": name},
        {"name": "MCPOPS_OWNER_KIND", "value": parent.get("kind", KIND)},
        {"name": "MCPOPS_OWNER_API_VERSION", "value": parent.get("apiVersion", API_VERSION)},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]
    if spec.model is not None or indexed:
        mounts.append({"name": "input", "mountPath": INPUT_DIR, "readOnly": True})
        volumes.append({"name": "input", "configMap": {"name": input_configmap_name(name)}})
    if spec.config_map_ref is not None:
        ref = spec.config_map_ref
        mounts.append({"name": "problem", "mountPath": PROBLEM_DIR, "readOnly": True})
        volumes.append(
            {
                "name": "problem",
                "configMap": {"name": ref.name, "items": [{"key": ref.key, "path": ref.key}]},
            }
        )
    elif spec.secret_ref is not None:
        ref = spec.secret_ref
        mounts.append({"name": "problem", "mountPath": PROBLEM_DIR, "readOnly": True})
        volumes.append(
            {
                "name": "problem",
                "secret": {
                    "secretName": ref.name,
                    "items": [{"key": ref.key, "path": ref.key}],
                    "defaultMode": 0o440,
                },
            }
        )
    if where.warm_start:
        mounts.append({"name": "warmstart", "mountPath": WARM_START_DIR, "readOnly": True})
        volumes.append(
            {
                "name": "warmstart",
                "projected": {
                    "sources": [
                        {
                            "configMap": {
                                "name": cm,
                                "items": [{"key": "solution.json", "path": f"{i}.json"}],
                            }
                        }
                        for i, cm in enumerate(where.warm_start)
                    ]
                },
            }
        )
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image,
        "command": ["mcpops-solver"],
        "args": solver_args(spec, where),
        "env": env,
        "resources": resources(spec),
        "securityContext": restricted_container_context(),
        "volumeMounts": mounts,
        "terminationMessagePolicy": "File",
    }
    if spec.image_pull_policy:
        container["imagePullPolicy"] = spec.image_pull_policy
    pod_labels = {
        **(spec.pod_labels or {}),
        **child_labels(name, **{COMPONENT_LABEL: "solver"}),
    }
    template_meta: ObjectMeta = {"labels": pod_labels}
    if spec.pod_annotations:
        template_meta["annotations"] = dict(spec.pod_annotations)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "serviceAccountName": service_account_name(name),
        "automountServiceAccountToken": True,
        "enableServiceLinks": False,
        "securityContext": restricted_pod_context(DEFAULT_UID),
        "containers": [container],
        "volumes": volumes,
    }
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    job_spec: dict[str, Any] = {
        "activeDeadlineSeconds": deadline_seconds(spec, where.scenario_count),
        "podFailurePolicy": pod_failure_policy(indexed),
        "podReplacementPolicy": "Failed",
        "template": {"metadata": template_meta, "spec": pod_spec},
    }
    if indexed:
        count = where.scenario_count
        max_failed = (
            count if spec.max_failed_scenarios is None else min(spec.max_failed_scenarios, count)
        )
        job_spec.update(
            completionMode="Indexed",
            completions=count,
            parallelism=parallelism(spec, count),
            backoffLimitPerIndex=spec.backoff_limit,
            maxFailedIndexes=max_failed,
        )
    else:
        job_spec.update(completions=1, parallelism=1, backoffLimit=spec.backoff_limit)
    if spec.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = spec.ttl_seconds_after_finished
    return stamp(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": child_meta(parent, job_name(name), child_labels(name)),
            "spec": job_spec,
        }
    )
