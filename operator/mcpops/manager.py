"""`mcpops run`: the operator process.

Kopf logs in and watches; its handlers only feed the store and the work
queues (no state annotations, no finalizers: children are garbage-collected
through their ownerReferences). Metrics and health are served on one port.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

import kopf
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mcpops import metrics
from mcpops.api import GROUP, VERSION
from mcpops.kinds.cleanuppolicy import reconciler as cleanuppolicy
from mcpops.kinds.mcpserver.desired import SERVER_LABEL
from mcpops.kinds.mcpserver.reconciler import KIND as MCPSERVER
from mcpops.kinds.mcpserver.reconciler import MCPServerReconciler
from mcpops.kinds.mcpserver.reconciler import keep as mcpserver_keep
from mcpops.kinds.optimizationjob import reconciler as optjob
from mcpops.kinds.optimizationjob.desired import KIND as OPTIMIZATIONJOB
from mcpops.kinds.optimizationjob.desired import OPTJOB_LABEL
from mcpops.machinery.client import Client, credentials_from_kopf
from mcpops.machinery.informer import Informer, Route
from mcpops.machinery.leader import LeaderElector, default_namespace
from mcpops.machinery.queue import WorkQueue
from mcpops.machinery.store import Key, Store
from mcpops.machinery.writer import drain_events
from mcpops.objects.children import MANAGED_BY, MANAGED_BY_LABEL
from mcpops_common import logs

log = structlog.stdlib.get_logger("mcpops.manager")


def _trim(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """What the store keeps of a child body (store kinds: MCPServer children by their own
    kind, OptimizationJob children as "OptimizationJob/<kind>")."""
    owner, _, child = kind.rpartition("/")
    if owner == OPTIMIZATIONJOB:
        return optjob.slim(child, body)
    return mcpserver_keep(kind, body)


class Operator:
    """Process-wide state, created at startup."""

    def __init__(self) -> None:
        self.store = Store(trim=_trim)
        self.client: Client | None = None
        self.queues: dict[str, WorkQueue] = {}
        self.connection: Any = None
        self.ready = False
        self.namespaces: list[str] = []
        self.tasks: list[asyncio.Task[None]] = []  # leader election, the child informers
        self.elector: LeaderElector | None = None

    def enqueue(self, kind: str, key: Key) -> None:
        queue = self.queues.get(kind)
        if queue is not None:
            queue.add(key)


OPERATOR = Operator()
MANAGED = f"{MANAGED_BY_LABEL}={MANAGED_BY}"  # the selector of every child watch


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    info: kopf.ConnectionInfo | None = kopf.login_with_service_account(
        **kwargs
    ) or kopf.login_with_kubeconfig(**kwargs)
    OPERATOR.connection = info
    return info


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False  # we post our own Events, one per decision
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 60
    settings.persistence.finalizer = "mcpops.dev/finalizer"
    # One actor at a time comes from our own Lease (leader.py), not Kopf peering:
    # peering needs its own CRDs and only pauses handlers, while our queues must stop.
    settings.peering.standalone = True
    if OPERATOR.connection is None:
        # Startup runs before Kopf's own login; log in the same way for our client.
        OPERATOR.connection = kopf.login_with_service_account(
            settings=settings
        ) or kopf.login_with_kubeconfig(settings=settings)
    if OPERATOR.connection is None:
        raise kopf.PermanentError("no Kubernetes credentials (no kubeconfig, not in a pod)")
    OPERATOR.client = Client(credentials_from_kopf(OPERATOR.connection))
    if os.environ.get("MCPOPS_LEADER_ELECT", "").lower() in ("1", "true", "yes"):
        elector = LeaderElector(
            OPERATOR.client,
            namespace=default_namespace(),
            name=os.environ.get("MCPOPS_LEASE_NAME", "mcpops-leader"),
        )
        OPERATOR.elector = elector
        OPERATOR.tasks.append(asyncio.create_task(elector.run(start_reconciling, _exit_now)))
        log.info("standing for leader", lease=elector.name, identity=elector.identity)
    else:
        metrics.LEADER.set(1)
        await start_reconciling()
    OPERATOR.ready = True


async def start_reconciling() -> None:
    """Fill the caches, then start one work queue per kind and queue every parent."""
    assert OPERATOR.client is not None
    children = await prime(OPERATOR.client, OPERATOR.namespaces)
    OPERATOR.tasks += [
        asyncio.create_task(informer.run(), name=f"watch-{informer.plural}")
        for informer in children
    ]
    workers = int(os.environ.get("MCPOPS_WORKERS", "16"))
    for kind, reconciler in (
        (MCPSERVER, MCPServerReconciler),
        (OPTIMIZATIONJOB, optjob.OptimizationJobReconciler),
        (cleanuppolicy.KIND, cleanuppolicy.CleanupPolicyReconciler),
    ):
        queue = WorkQueue(kind, reconciler(OPERATOR.store, OPERATOR.client), workers)
        OPERATOR.queues[kind] = queue
        queue.start()
    for kind, parents in OPERATOR.store.parents.items():
        for key in parents:
            OPERATOR.enqueue(kind, key)
    log.info("reconciling", workers=workers)


def _exit_now() -> None:
    """Leadership lost: stop at once, mid-reconcile if need be, so that two replicas
    never act together; the Deployment restarts us as a standby (as controller-runtime
    does)."""
    sys.stderr.flush()
    os._exit(1)


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    for task in OPERATOR.tasks:
        task.cancel()
    await asyncio.gather(*OPERATOR.tasks, return_exceptions=True)
    for queue in OPERATOR.queues.values():
        await queue.stop()
    await drain_events()
    if OPERATOR.elector is not None:
        await OPERATOR.elector.release()
    if OPERATOR.client is not None:
        await OPERATOR.client.close()


# ---------------------------------------------------------------- watches
#
# Handlers are coroutines: Kopf runs plain functions in a thread pool, and the
# store and the work queues belong to the event loop. They only file the body
# and wake the parent; reconciles read the store.


def _parent_event(kind: str, event: kopf.RawEvent) -> None:
    body: dict[str, Any] = dict(event["object"])
    meta = body.get("metadata") or {}
    key = (meta.get("namespace") or "", meta.get("name") or "")
    if event["type"] == "DELETED":
        OPERATOR.store.drop_parent(kind, key)
    else:
        OPERATOR.store.put_parent(kind, body)
        OPERATOR.enqueue(kind, key)
    metrics.MANAGED.labels(kind).set(len(OPERATOR.store.parents.get(kind, {})))


def _mcpserver_child(kind: str, event: kopf.RawEvent) -> None:
    body: dict[str, Any] = dict(event["object"])
    meta = body.get("metadata") or {}
    server = (meta.get("labels") or {}).get(SERVER_LABEL)
    if not server:
        return
    parent = (meta.get("namespace") or "", server)
    if event["type"] == "DELETED":
        OPERATOR.store.drop_child(kind, parent, meta.get("name") or "")
    else:
        OPERATOR.store.put_child(kind, parent, body)
    OPERATOR.enqueue(MCPSERVER, parent)


def _optjob_child(kind: str, event: kopf.RawEvent) -> None:
    body: dict[str, Any] = dict(event["object"])
    child_key, parent = optjob.resolve_parent(OPERATOR.store, body)
    if event["type"] == "DELETED":
        OPERATOR.store.drop_child(optjob.CHILD_KINDS[kind], child_key, body["metadata"]["name"])
    else:
        OPERATOR.store.put_child(optjob.CHILD_KINDS[kind], child_key, body)
    if parent is not None:
        OPERATOR.enqueue(OPTIMIZATIONJOB, parent)


class Watch(NamedTuple):
    api_version: str
    plural: str
    kind: str
    route: Route
    selector: str = ""  # server-side label selector


# Parents are watched by Kopf (and listed by prime()); children by our own informers with
# server-side label selectors (Kopf filters labels in the operator, after the API server
# sent it every object of the kind).
WATCHES: list[Watch] = []
CHILD_WATCHES: list[Watch] = []


def _watch(plural: str, kind: str, route: Route) -> None:
    async def on_event(event: kopf.RawEvent, **_: Any) -> None:
        route(kind, event)

    handler_id = f"{route.__name__.strip('_')}/{plural}"
    kopf.on.event(GROUP, VERSION, plural, id=handler_id)(on_event)
    WATCHES.append(Watch(f"{GROUP}/{VERSION}", plural, kind, route))


def _scopes(namespaces: list[str]) -> list[str | None]:
    return [*namespaces] or [None]


def _informers(watches: list[Watch], client: Client, namespaces: list[str]) -> list[Informer]:
    return [
        Informer(
            client, w.api_version, w.plural, w.kind, w.route, namespace=ns, selector=w.selector
        )
        for w in watches
        for ns in _scopes(namespaces)
    ]


def informers(client: Client, namespaces: list[str]) -> list[Informer]:
    return _informers(CHILD_WATCHES, client, namespaces)


async def prime(client: Client, namespaces: list[str]) -> list[Informer]:
    """Fill the store with one paginated list per watch before any reconcile runs.

    The watches start independently; a reconcile that ran before the Deployment
    watch delivered its first list would, after a restart, not see the serving
    revision and take traffic away from it. Deciding only from a filled cache
    (as controller-runtime waits for its informers) rules that out. Returns the
    child informers, listed, for their watches to continue from there.
    """
    # Parents first: finding a child's parent reads them.
    await asyncio.gather(*(i.list() for i in _informers(WATCHES, client, namespaces)))
    children = informers(client, namespaces)
    await asyncio.gather(*(informer.list() for informer in children))
    log.info("caches filled", **{k: len(v) for k, v in OPERATOR.store.parents.items()})
    return children


_watch("mcpservers", MCPSERVER, _parent_event)
_watch("optimizationjobs", OPTIMIZATIONJOB, _parent_event)
_watch("cleanuppolicies", cleanuppolicy.KIND, _parent_event)

# MCPServer children; the EndpointSlice controller copies our Services' labels
# onto their slices, so the same selector finds them.
for _av, _plural, _kind, _extra in (
    ("apps/v1", "deployments", "Deployment", ""),
    ("v1", "services", "Service", ""),
    ("autoscaling/v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", ""),
    ("batch/v1", "jobs", "Job", f",{SERVER_LABEL}"),
    ("v1", "pods", "Pod", f",{SERVER_LABEL},job-name"),
    ("discovery.k8s.io/v1", "endpointslices", "EndpointSlice", ""),
):
    CHILD_WATCHES.append(Watch(_av, _plural, _kind, _mcpserver_child, MANAGED + _extra))

for _av, _plural, _kind in (
    ("batch/v1", "jobs", "Job"),
    ("v1", "pods", "Pod"),
    ("v1", "configmaps", "ConfigMap"),
    ("v1", "serviceaccounts", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "roles", "Role"),
    ("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
):
    CHILD_WATCHES.append(Watch(_av, _plural, _kind, _optjob_child, f"{MANAGED},{OPTJOB_LABEL}"))


# ---------------------------------------------------------------- metrics, health


async def _metrics(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _readyz(_: web.Request) -> web.Response:
    if OPERATOR.ready:
        return web.Response(text="ready")
    return web.Response(status=503, text="starting")


async def serve_http(host: str, port: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def _main(args: argparse.Namespace) -> None:
    http = await serve_http(args.metrics_host, args.metrics_port)
    namespaces = [n for n in args.namespace if n]
    OPERATOR.namespaces = namespaces
    try:
        await kopf.operator(
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=True,
            liveness_endpoint=None,
        )
    finally:
        await http.cleanup()


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="mcpops run", description="run the operator")
    parser.add_argument(
        "--namespace",
        action="append",
        default=[n for n in os.environ.get("MCPOPS_NAMESPACES", "").split(",") if n],
        help="watch only this namespace (repeatable; default: all)",
    )
    parser.add_argument("--metrics-host", default=os.environ.get("MCPOPS_METRICS_HOST", "0.0.0.0"))  # noqa: S104
    parser.add_argument(
        "--metrics-port", type=int, default=int(os.environ.get("MCPOPS_METRICS_PORT", "8080"))
    )
    parser.add_argument("--log-level", default=os.environ.get("MCPOPS_LOG_LEVEL", "INFO"))
    args = parser.parse_args(list(argv))
    logs.configure(args.log_level)
    # Kopf's per-object loggers are noisy at INFO; keep them for warnings.
    logging.getLogger("kopf").setLevel(logging.WARNING)
    # httpx logs every request at INFO: at fleet scale that is most of the CPU spent logging.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(_main(args))
    return 0
