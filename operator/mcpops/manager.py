"""`mcpops run`: the operator process, and how its parts are wired.

What watches what, and why there are two kinds of watch:

- **Kopf** runs the process (signals, startup and cleanup), logs in (and logs in again
  when the API server refuses its token), and watches the parent kinds: MCPServer,
  OptimizationJob, CleanupPolicy. Those are few and all ours, which is what Kopf's
  watches are for; its handlers here only file each body in the store and wake the
  parent's queue (no state annotations, no finalizers: children are garbage-collected
  through their ownerReferences, and decisions are made by the reconcilers, not by
  Kopf's handler machinery).
- **Our informers** (machinery/informer.py) watch the children: Deployments, Services,
  Jobs, Pods, EndpointSlices, ConfigMaps... Kopf filters labels in the operator, after
  the API server has sent every object of the kind; at fleet scale that is every Pod in
  the cluster, parsed and dropped. The informers ask the API server for only what
  carries our labels (a server-side selector), and resume from the last resourceVersion.

Before any reconcile runs, `prime()` lists every parent and child kind once (our
informers' list), so that no decision is made from a half-filled cache: a reconcile that
ran before the Deployments were listed would, after a restart, not see the serving
revision and take traffic away from it (controller-runtime waits for its caches the same
way). Kopf's parent watches then keep the parents current.

One work queue per kind runs its reconciler (kinds/*/reconciler.py); with leader
election only the Lease holder runs them. Metrics and health are served on one port.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import kopf
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mcpops import metrics
from mcpops.api import GROUP, VERSION
from mcpops.kinds.cleanuppolicy import reconciler as cleanuppolicy
from mcpops.kinds.mcpserver import reconciler as mcpserver
from mcpops.kinds.optimizationjob import reconciler as optimizationjob
from mcpops.machinery import login
from mcpops.machinery.client import Client
from mcpops.machinery.informer import Informer, Watch
from mcpops.machinery.leader import LeaderElector
from mcpops.machinery.queue import Reconcile, WorkQueue
from mcpops.machinery.store import Key, Store
from mcpops.machinery.writer import drain_events
from mcpops.objects.bodies import Body
from mcpops.settings import Settings
from mcpops_common import logs
from mcpops_common.names import FINALIZER

log = structlog.stdlib.get_logger("mcpops.manager")

# Files a child event; the parent (or parents) to wake.
Route = Callable[[Store, str, Any], Key | list[Key] | None]


class Controller(NamedTuple):
    """One reconciled kind: its parent watch (Kopf), child watches and reconciler."""

    kind: str
    plural: str
    reconciler: Callable[[Store, Client, Settings], Reconcile]
    children: tuple[Watch, ...] = ()
    route: Route | None = None  # files a child event; the parent to wake


CONTROLLERS = (
    Controller(
        mcpserver.KIND,
        "mcpservers",
        mcpserver.MCPServerReconciler,
        mcpserver.CHILD_WATCHES,
        mcpserver.route,
    ),
    Controller(
        optimizationjob.KIND,
        "optimizationjobs",
        optimizationjob.OptimizationJobReconciler,
        optimizationjob.CHILD_WATCHES,
        optimizationjob.route,
    ),
    Controller(cleanuppolicy.KIND, "cleanuppolicies", cleanuppolicy.CleanupPolicyReconciler),
)


def trim(kind: str, body: Body) -> Body:
    """What the store keeps of a child body (store kinds: MCPServer children by their own
    kind, OptimizationJob children as "OptimizationJob/<kind>")."""
    owner, _, child = kind.rpartition("/")
    if owner == optimizationjob.KIND:
        return optimizationjob.trim(child, body)
    return mcpserver.trim(kind, body)


class Operator:
    """Process-wide state, created at startup."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.store = Store(trim=trim, reads=mcpserver.reads)
        self.client: Client | None = None
        self.queues: dict[str, WorkQueue] = {}
        self.ready = False
        self.tasks: list[asyncio.Task[None]] = []  # leader election, the child informers
        self.elector: LeaderElector | None = None

    def enqueue(self, kind: str, key: Key) -> None:
        queue = self.queues.get(kind)
        if queue is not None:
            queue.add(key)


OPERATOR = Operator()


@kopf.on.login()
def kopf_login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo | None:
    # Kopf calls this again when its own requests get 401: it reads the files again.
    info: kopf.ConnectionInfo | None = login.kopf_connection(settings)
    return info


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False  # we post our own Events, one per decision
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 60
    settings.persistence.finalizer = FINALIZER
    # One actor at a time comes from our own Lease (machinery/leader.py), not Kopf peering:
    # peering needs its own CRDs and only pauses handlers, while our queues must stop.
    settings.peering.standalone = True
    try:
        OPERATOR.client = Client(login=lambda: login.login(settings))
    except login.LoginError as exc:
        raise kopf.PermanentError(str(exc)) from exc
    own = OPERATOR.settings
    if own.leader_elect:
        elector = LeaderElector(
            OPERATOR.client,
            namespace=own.lease_namespace,
            name=own.lease_name,
            identity=own.identity,
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
    children = await prime(OPERATOR.client, OPERATOR.settings.namespaces)
    OPERATOR.tasks += [
        asyncio.create_task(informer.run(), name=f"watch-{informer.plural}")
        for informer in children
    ]
    workers = OPERATOR.settings.workers
    for c in CONTROLLERS:
        reconcile = c.reconciler(OPERATOR.store, OPERATOR.client, OPERATOR.settings)
        if isinstance(reconcile, optimizationjob.OptimizationJobReconciler):
            # A finished job wakes the queued ones of its namespace.
            reconcile.wake = functools.partial(OPERATOR.enqueue, c.kind)
        if isinstance(reconcile, mcpserver.MCPServerReconciler):
            # A proxy that answered after its reconcile went on: that server again.
            reconcile.proxies.on_learned = functools.partial(OPERATOR.enqueue, c.kind)
        queue = WorkQueue(c.kind, reconcile, workers)
        OPERATOR.queues[c.kind] = queue
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


def parent_event(kind: str, event: Any) -> None:
    body: Body = dict(event["object"])
    meta = body.get("metadata") or {}
    key = (meta.get("namespace") or "", meta.get("name") or "")
    if event["type"] == "DELETED":
        OPERATOR.store.drop_parent(kind, key)
    else:
        OPERATOR.store.put_parent(kind, body)
        OPERATOR.enqueue(kind, key)
    metrics.MANAGED.labels(kind).set(len(OPERATOR.store.parents.get(kind, {})))


def _child_route(c: Controller) -> Callable[[str, Any], None]:
    assert c.route is not None
    route = c.route

    def on_event(kind: str, event: Any) -> None:
        parent = route(OPERATOR.store, kind, event)
        for key in parent if isinstance(parent, list) else [parent] if parent else []:
            OPERATOR.enqueue(c.kind, key)

    return on_event


def _served(c: Controller) -> Callable[[str, bool], None]:
    """An optional child kind's API appeared or went away: every parent of the controller
    is looked at again (their status says whether what they need is there)."""

    def on_served(kind: str, served: bool) -> None:
        unserved = OPERATOR.store.unserved
        if served == (kind not in unserved):
            return
        (unserved.discard if served else unserved.add)(kind)
        for key in OPERATOR.store.parents.get(c.kind, {}):
            OPERATOR.enqueue(c.kind, key)

    return on_served


def _watch_parent(c: Controller) -> None:
    async def on_event(event: kopf.RawEvent, **_: Any) -> None:
        parent_event(c.kind, event)

    kopf.on.event(GROUP, VERSION, c.plural, id=f"parent/{c.plural}")(on_event)


for _c in CONTROLLERS:
    _watch_parent(_c)


def _scopes(namespaces: Sequence[str]) -> list[str | None]:
    return [*namespaces] or [None]


def informers(client: Client, namespaces: Sequence[str]) -> list[Informer]:
    """The child informers, one per child kind and scope."""
    return [
        Informer(
            client,
            w.api_version,
            w.plural,
            w.kind,
            _child_route(c),
            namespace=ns,
            selector=w.selector,
            page=w.page,
            optional=w.optional,
            on_served=_served(c),
            recheck=OPERATOR.settings.api_recheck_seconds,
        )
        for c in CONTROLLERS
        for w in c.children
        for ns in _scopes(namespaces)
    ]


async def prime(client: Client, namespaces: Sequence[str]) -> list[Informer]:
    """Fill the store with one paginated list per watch before any reconcile runs (see the
    module's docstring). Returns the child informers, listed, for their watches to
    continue from there."""
    parents = [
        Informer(client, f"{GROUP}/{VERSION}", c.plural, c.kind, parent_event, namespace=ns)
        for c in CONTROLLERS
        for ns in _scopes(namespaces)
    ]
    # Parents first: finding a child's parent reads them.
    await asyncio.gather(*(i.list() for i in parents))
    children = informers(client, namespaces)
    await asyncio.gather(*(informer.list() for informer in children))
    log.info("caches filled", **{k: len(v) for k, v in OPERATOR.store.parents.items()})
    return children


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


async def _main(settings: Settings) -> None:
    OPERATOR.settings = settings
    http = await serve_http(settings.metrics_host, settings.metrics_port)
    try:
        await kopf.operator(
            clusterwide=not settings.namespaces,
            namespaces=list(settings.namespaces),
            standalone=True,
            liveness_endpoint=None,
        )
    finally:
        await http.cleanup()


def main(argv: Sequence[str]) -> int:
    env = Settings.from_env()
    parser = argparse.ArgumentParser(prog="mcpops run", description="run the operator")
    parser.add_argument(
        "--namespace",
        action="append",
        default=list(env.namespaces),
        help="watch only this namespace (repeatable; default: all)",
    )
    parser.add_argument("--metrics-host", default=env.metrics_host)
    parser.add_argument("--metrics-port", type=int, default=env.metrics_port)
    parser.add_argument("--log-level", default=env.log_level)
    args = parser.parse_args(list(argv))
    settings = dataclasses.replace(
        env,
        namespaces=tuple(n for n in args.namespace if n),
        metrics_host=args.metrics_host,
        metrics_port=args.metrics_port,
        log_level=args.log_level,
    )
    logs.configure(settings.log_level)
    # Kopf's per-object loggers are noisy at INFO; keep them for warnings.
    logging.getLogger("kopf").setLevel(logging.WARNING)
    # httpx (registry and proxy reads) logs every request at INFO: too much at fleet scale.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(_main(settings))
    return 0
