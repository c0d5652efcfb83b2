"""Cluster glue for OptimizationJob: read the store, run the pure plan, write the difference."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from mcpops import metrics
from mcpops.api.optimizationjob import DEFAULT_PARALLELISM
from mcpops.kinds.optimizationjob import queue
from mcpops.kinds.optimizationjob.desired import KIND as KIND
from mcpops.kinds.optimizationjob.desired import job_name
from mcpops.kinds.optimizationjob.plan import (
    Observed,
    Outcome,
    Slot,
    cancel_requested,
    plan,
)
from mcpops.kinds.optimizationjob.status import TERMINAL
from mcpops.machinery.client import ApiError, Client
from mcpops.machinery.informer import Watch
from mcpops.machinery.store import Key, Store
from mcpops.machinery.writer import Writer
from mcpops.objects.bodies import Body
from mcpops.objects.children import MANAGED_SELECTOR
from mcpops.settings import Settings
from mcpops_common.names import OPTJOB_LABEL
from mcpops_common.results import label_value

log = structlog.stdlib.get_logger("mcpops.kinds.optimizationjob")

# Store keys of the children: distinct from MCPServer's, whose parents may share names.
CHILD_KINDS = {
    "Job": "OptimizationJob/Job",
    "Pod": "OptimizationJob/Pod",
    "ConfigMap": "OptimizationJob/ConfigMap",
    "ServiceAccount": "OptimizationJob/ServiceAccount",
    "Role": "OptimizationJob/Role",
    "RoleBinding": "OptimizationJob/RoleBinding",
}


def child_key(namespace: str, name: str) -> Key:
    """Children are filed under the parent's label value (the name, or its hashed short form)."""
    return (namespace, label_value(name))


def _owner(meta: Body) -> str | None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == KIND and ref.get("name"):
            return str(ref["name"])
    return None


def resolve_parent(store: Store, body: Body) -> tuple[Key, Key | None]:
    """(store key of the child, the parent's key if it can be told) for a labelled child."""
    meta = body.get("metadata") or {}
    namespace = meta.get("namespace") or ""
    label = (meta.get("labels") or {}).get(OPTJOB_LABEL, "")
    key = (namespace, label)
    owner = _owner(meta)
    if owner is None:
        # A pod is owned by its Job, which names the OptimizationJob: no scan needed.
        job_name = (meta.get("labels") or {}).get("job-name", "")
        job = store.child(CHILD_KINDS["Job"], key, job_name)
        owner = _owner((job or {}).get("metadata") or {})
    if owner is not None:
        return key, (namespace, owner)
    parents = store.parents.get(KIND, {})
    if (namespace, label) in parents:
        return key, (namespace, label)
    for ns, name in parents:
        if ns == namespace and label_value(name) == label:
            return key, (ns, name)
    return key, None


def trim(kind: str, body: Body) -> Body:
    """What the store keeps of a child. Of ConfigMaps only summary.json and progress.json:
    solution parts and the
    input model can be large, and the plan needs neither (the hash annotation tells whether the
    input is current)."""
    if kind != "ConfigMap":
        return body
    out = {k: v for k, v in body.items() if k not in {"data", "binaryData"}}
    data = body.get("data") or {}
    kept = {k: data[k] for k in ("summary.json", "progress.json") if k in data}
    if kept:
        out["data"] = kept
    return out


CHILD_WATCHES = tuple(
    Watch(api_version, plural, kind, f"{MANAGED_SELECTOR},{OPTJOB_LABEL}")
    for api_version, plural, kind in (
        ("batch/v1", "jobs", "Job"),
        ("v1", "pods", "Pod"),
        ("v1", "configmaps", "ConfigMap"),
        ("v1", "serviceaccounts", "ServiceAccount"),
        ("rbac.authorization.k8s.io/v1", "roles", "Role"),
        ("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
    )
)


def route(store: Store, kind: str, event: Body) -> Key | None:
    """File a child's watch event in the store; the OptimizationJob to wake, if known."""
    body: Body = dict(event["object"])
    key, parent = resolve_parent(store, body)
    if event["type"] == "DELETED":
        store.drop_child(CHILD_KINDS[kind], key, body["metadata"]["name"])
    else:
        store.put_child(CHILD_KINDS[kind], key, body)
    return parent


def observe(store: Store, key: Key) -> Observed:
    ck = child_key(*key)

    def get(kind: str) -> dict[str, Body]:
        return store.children_of(CHILD_KINDS[kind], ck)

    jname = job_name(key[1])
    pods = {
        n: p
        for n, p in get("Pod").items()
        if ((p.get("metadata") or {}).get("labels") or {}).get("job-name") in {jname, None}
    }
    return Observed(
        jobs=get("Job"),
        pods=pods,
        configmaps=get("ConfigMap"),
        service_accounts=get("ServiceAccount"),
        roles=get("Role"),
        role_bindings=get("RoleBinding"),
    )


def _pods_wanted(spec: Body) -> int:
    """Pods a job's Job may run at once: 1, or a sweep's parallelism."""
    if spec.get("scenarios") or spec.get("sampling"):
        return int(spec.get("parallelism") or DEFAULT_PARALLELISM)
    return 1


def _warm_start_pending(store: Store, namespace: str, obj: Body) -> bool:
    """Waiting for the job its warm start comes from: not in the line for a slot yet."""
    source = (obj.get("spec") or {}).get("warmStartFrom")
    if not source:
        return False
    found = store.parent(KIND, (namespace, source))
    return ((found or {}).get("status") or {}).get("phase") not in TERMINAL


def namespace_queue(
    store: Store, namespace: str, limit: int, starting: set[str]
) -> queue.Admission:
    """The namespace's queue as the store shows it; `starting`: jobs whose Job this operator
    created but the watch has not delivered yet (they hold their slots already)."""
    entries = []
    for (ns, name), obj in store.parents.get(KIND, {}).items():
        if ns != namespace:
            continue
        meta = obj.get("metadata") or {}
        job = store.child(CHILD_KINDS["Job"], child_key(ns, name), job_name(name))
        phase = (obj.get("status") or {}).get("phase")
        waiting = (
            job is None
            and phase not in TERMINAL
            and not meta.get("deletionTimestamp")
            and not cancel_requested(obj)
            and not _warm_start_pending(store, ns, obj)
        )
        entries.append(
            queue.Entry(
                name=name,
                created=str(meta.get("creationTimestamp") or ""),
                slots=queue.slots(_pods_wanted(obj.get("spec") or {}), limit),
                holding=queue.job_holds_slots(job) or (job is None and name in starting),
                waiting=waiting and name not in starting,
            )
        )
    return queue.admit(entries, limit)


def record(outcome: Outcome) -> None:
    metrics.OPTJOBS_FINISHED.labels(outcome.phase, outcome.reason).inc()
    if outcome.phase == "Cancelled":
        metrics.OPTJOBS_CANCELLED.labels("kept" if outcome.solution else "none").inc()
    solver = outcome.solver or "unknown"
    for seconds in outcome.seconds:
        metrics.SOLVE_SECONDS.labels(solver).observe(seconds)
    for gap in outcome.gaps:
        metrics.OBJECTIVE_GAP.labels(solver).observe(gap)


class OptimizationJobReconciler:
    def __init__(self, store: Store, client: Client, settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or Settings()
        self.write = Writer(client, store, KIND, store_kind=CHILD_KINDS.__getitem__)
        self.client = client
        # Jobs created but not yet seen by the watch, per namespace: they hold their slots.
        self.starting: dict[str, set[str]] = {}
        # Wakes a parent (set by the manager): a freed slot starts the next queued job now.
        self.wake: Callable[[Key], None] | None = None

    def _slot(self, key: Key, obj: Body) -> Slot:
        limit = self.settings.max_solver_pods_per_namespace
        namespace = key[0]
        starting = self.starting.setdefault(namespace, set())
        job_kind = CHILD_KINDS["Job"]
        starting -= {
            n for n in starting if self.store.has_children(job_kind, child_key(namespace, n))
        }
        admission = namespace_queue(self.store, namespace, limit, starting)
        metrics.OPTJOBS_QUEUED.labels(namespace).set(len(admission.queued))
        metrics.SOLVER_SLOTS_USED.labels(namespace).set(admission.used)
        if limit <= 0:
            return Slot()
        name = key[1]
        return Slot(
            admitted=name in admission.started,
            position=admission.position(name),
            used=admission.used,
            limit=limit,
        )

    def _wake_queue(self, namespace: str) -> None:
        """A job finished or was cancelled: look at the namespace's queued jobs again."""
        if self.wake is None:
            return
        for (ns, name), obj in list(self.store.parents.get(KIND, {}).items()):
            if ns == namespace and (obj.get("status") or {}).get("phase") == "Queued":
                self.wake((ns, name))

    async def __call__(self, key: Key) -> float | None:
        obj = self.store.parent(KIND, key)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return None  # children go with their owner (garbage collection)
        bound = log.bind(namespace=key[0], name=key[1], uid=obj["metadata"].get("uid"), kind=KIND)
        # Decided and recorded with no await in between: two reconciles of one namespace
        # cannot both take the last slot.
        slot = self._slot(key, obj)
        warm_from = (obj.get("spec") or {}).get("warmStartFrom")
        warm_source = self.store.parent(KIND, (key[0], warm_from)) if warm_from else None
        result = plan(
            obj,
            observe(self.store, key),
            datetime.now(UTC),
            image=self.settings.solver_image,
            slot=slot,
            warm_source=warm_source,
        )
        if result.started:
            self.starting.setdefault(key[0], set()).add(key[1])
        metrics.WRITES_SKIPPED.labels(KIND).inc(result.skipped_writes)
        try:
            await self.write.apply(child_key(*key), result.apply, bound)
        except BaseException as exc:
            # The Job may not exist: its slot is not held (the next look decides again).
            self.starting.get(key[0], set()).discard(key[1])
            if not isinstance(exc, ApiError) or not exc.forbidden:
                raise
            return await self.write.forbidden(key, obj, exc, bound)
        if result.suspend is not None:
            suspended = await self.client.patch(
                "batch/v1", "jobs", key[0], result.suspend, {"spec": {"suspend": True}}
            )
            self.store.put_child(CHILD_KINDS["Job"], child_key(*key), suspended)
            bound.info("job suspended for a cancel", job=result.suspend)
        patch = await self.write.status(key, obj, result.status)
        if patch is not None:
            bound.info(
                "status",
                phase=result.status.get("phase"),
                solver_status=result.status.get("solverStatus"),
                objective=result.status.get("objective"),
                message=result.status.get("message"),
                changed=sorted(patch),
            )
        if result.finished is not None:
            record(result.finished)
            self._wake_queue(key[0])
        await self.write.events(obj, result.events)
        return result.requeue_after
