"""Cluster glue for MCPServer: read the store, run the pure plan, write the difference."""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
from datetime import UTC, datetime
from typing import Any, get_args

import structlog
from pydantic import ValidationError

from mcpops import metrics
from mcpops.api.mcpserver import MCPServerSpec, Phase
from mcpops.api.updates import Updates
from mcpops.kinds.mcpserver import (
    analysis,
    desired,
    exposure,
    network,
    references,
    security,
    updates,
)
from mcpops.kinds.mcpserver.netcontext import NetworkContext, cluster_dns
from mcpops.kinds.mcpserver.observed import proxy_endpoints, revision_pods, revision_proxies
from mcpops.kinds.mcpserver.plan import ROLLOUT_PHASES, Observed, plan
from mcpops.machinery.client import HANDOVER_MANAGER, ApiError, Client
from mcpops.machinery.informer import Watch
from mcpops.machinery.proxyinfo import ProxyInfos
from mcpops.machinery.registries import Auth, Lookups, auth_from_secret
from mcpops.machinery.store import Key, Store
from mcpops.machinery.writer import Writer
from mcpops.objects.bodies import Body
from mcpops.objects.children import MANAGED_SELECTOR
from mcpops.objects.timestamps import parse_time
from mcpops.settings import Settings
from mcpops_common.names import REVISION_LABEL, SERVER_LABEL

KIND = "MCPServer"
MOVING_PHASES = frozenset({"Progressing", "Testing", "Verifying"})
# Invalid (422), bad request (400), too large (413): the same object would be refused again.
REFUSED = frozenset({400, 413, 422})
log = structlog.stdlib.get_logger("mcpops.kinds.mcpserver")
MIN_READ_SECONDS = 1.0  # rollout.analysis: the proxies of one server read at most this often


# Test Jobs and their pods are read for their labels and status only; their specs carry
# the whole suite definition (an environment variable) and, across a fleet-wide
# rollout, would be most of what the caches hold.
STATUS_ONLY = frozenset({"Job", "Pod"})


def trim(kind: str, body: Body) -> Body:
    """What the store keeps of a child body (of a ConfigMap or Secret: a hash of its data,
    never the values)."""
    if kind in references.CONFIG_KINDS:
        return references.trim(kind, body)
    if kind not in STATUS_ONLY:
        return body
    return {k: body[k] for k in ("apiVersion", "kind", "metadata", "status") if k in body}


# The children, found by the labels mcpops puts on them (the EndpointSlice controller copies
# our Services' labels onto their slices, so the same selector finds those).
CHILD_WATCHES = (
    Watch("apps/v1", "deployments", "Deployment", MANAGED_SELECTOR),
    Watch("v1", "services", "Service", MANAGED_SELECTOR),
    Watch(
        "autoscaling/v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", MANAGED_SELECTOR
    ),
    Watch("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget", MANAGED_SELECTOR),
    Watch("batch/v1", "jobs", "Job", f"{MANAGED_SELECTOR},{SERVER_LABEL}"),
    # Test Job pods (results) and serving pods (their addresses: the previous revision's
    # proxies are asked for their open sessions while it drains).
    Watch("v1", "pods", "Pod", f"{MANAGED_SELECTOR},{SERVER_LABEL}"),
    Watch("discovery.k8s.io/v1", "endpointslices", "EndpointSlice", MANAGED_SELECTOR),
    # spec.expose. HTTPRoutes only where the Gateway API CRDs are installed (optional: the
    # informer looks for them again until they are, and status says so meanwhile).
    Watch("networking.k8s.io/v1", "ingresses", "Ingress", MANAGED_SELECTOR),
    Watch(exposure.ROUTE_API, "httproutes", exposure.ROUTE, MANAGED_SELECTOR, optional=True),
    Watch(network.API_VERSION, "networkpolicies", network.KIND, MANAGED_SELECTOR),
    # spec.auth: the ServiceAccount the test Jobs run as.
    Watch("v1", "serviceaccounts", "ServiceAccount", f"{MANAGED_SELECTOR},{SERVER_LABEL}"),
    # What the pods read: not ours, so unlabelled; kept as a hash of their data (trim).
    # Listed in small pages: a Helm release Secret alone can hold a megabyte.
    Watch("v1", "configmaps", "ConfigMap", page=100),
    Watch("v1", "secrets", "Secret", page=100),
)


def route(store: Store, kind: str, event: Body) -> Key | list[Key] | None:
    """File a child's watch event in the store; the MCPServer to wake, if it names one
    (for a ConfigMap or Secret: every MCPServer of its namespace that reads it)."""
    body: Body = dict(event["object"])
    meta = body.get("metadata") or {}
    if kind in references.CONFIG_KINDS:
        return _route_config(store, kind, event["type"], body)
    server = (meta.get("labels") or {}).get(SERVER_LABEL)
    if not server:
        return None
    parent = (meta.get("namespace") or "", server)
    if event["type"] == "DELETED":
        store.drop_child(kind, parent, meta.get("name") or "")
    else:
        store.put_child(kind, parent, body)
    return parent


def _route_config(store: Store, kind: str, type_: str | None, body: Body) -> list[Key]:
    meta = body.get("metadata") or {}
    namespace, name = meta.get("namespace") or "", meta.get("name") or ""
    if type_ == "DELETED":
        store.drop_child(kind, (namespace, ""), name)
    else:
        store.put_child(kind, (namespace, ""), body)
    return store.readers(KIND, namespace, (kind, name))


def reads(kind: str, body: Body) -> set[tuple[str, str]]:
    """What an MCPServer's spec reads, (kind, name): the store's index of who a ConfigMap or
    Secret event wakes (`route`)."""
    return references.names(body.get("spec") or {}) if kind == KIND else set()


def observe(store: Store, key: Key) -> Observed:
    deployments = {}
    for dep in store.children_of("Deployment", key).values():
        rev = (dep["metadata"].get("labels") or {}).get(REVISION_LABEL)
        if rev:
            deployments[rev] = dep
    return Observed(
        deployments=deployments,
        services=store.children_of("Service", key),
        hpas=store.children_of("HorizontalPodAutoscaler", key),
        budgets=store.children_of("PodDisruptionBudget", key),
        jobs=store.children_of("Job", key),
        pods=store.children_of("Pod", key),
        endpoint_slices=store.children_of("EndpointSlice", key),
        routes=store.children_of(exposure.ROUTE, key),
        ingresses=store.children_of(exposure.INGRESS, key),
        network_policies=store.children_of(network.KIND, key),
        service_accounts=store.children_of("ServiceAccount", key),
        unserved=frozenset(store.unserved),
        configs=_configs_read(store, key),
    )


def _configs_read(store: Store, key: Key) -> dict[tuple[str, str], Body]:
    """The ConfigMaps and Secrets the server's spec reads, as the caches hold them (only
    those: its namespace may hold thousands, one session-key Secret per server)."""
    found = {}
    for kind, name in store.reading(KIND, key):
        body = store.child(kind, (key[0], ""), name)
        if body is not None:
            found[(kind, name)] = body
    return found


class MCPServerReconciler:
    def __init__(self, store: Store, client: Client, settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or Settings()
        self.write = Writer(client, store, KIND)
        self.client = client
        self.lookups = Lookups()  # spec.updates: one cache for every server (per source)
        self.proxies = ProxyInfos()  # what the in-pod proxies say (protocol revision)
        self.keyed: set[Key] = set()  # servers whose session-key Secret this process made
        self.windows: dict[Key, analysis.Window] = {}  # rollout.analysis: counted so far
        self.next_read: dict[Key, float] = {}  # rollout.analysis: not read again before
        self.phases: dict[Key, str] = {}
        self.rollouts: dict[Key, datetime] = {}  # rollouts moving on their own: since when
        self.waiting: set[Key] = set()  # servers whose revision waits for a missing reference
        self.unexposed: set[Key] = set()  # servers whose spec.expose is not in effect
        self.egress_open: set[Key] = set()  # servers whose pods may connect anywhere
        self.open: set[Key] = set()  # servers without spec.auth (Secured: OpenToCluster)
        self.net = NetworkContext(
            dns=tuple(cluster_dns(self.settings.cluster_dns)),
            operator_namespace=self.settings.operator_namespace or None,
            operator_name=self.settings.operator_name,
        )
        metrics.ROLLOUT_OLDEST_SECONDS.set_function(self._oldest_rollout)
        self.phase_counts: dict[str, int] = dict.fromkeys(get_args(Phase), 0)

    def _count_phase(self, key: Key, phase: str | None) -> None:
        """Keep the per-phase gauge in step, one object at a time (no scan of the fleet)."""
        before = self.phases.pop(key, None) if phase is None else self.phases.get(key)
        if before == phase:
            return
        if before is not None:
            self.phase_counts[before] -= 1
            metrics.SERVERS_BY_PHASE.labels(before).set(self.phase_counts[before])
        if phase is not None:
            self.phases[key] = phase
            self.phase_counts[phase] = self.phase_counts.get(phase, 0) + 1
            metrics.SERVERS_BY_PHASE.labels(phase).set(self.phase_counts[phase])

    def _oldest_rollout(self) -> float:
        if not self.rollouts:
            return 0.0
        return max(0.0, (datetime.now(UTC) - min(self.rollouts.values())).total_seconds())

    def _track_rollout(self, key: Key, status: Body | None) -> None:
        st = status or {}
        started = parse_time((st.get("rollout") or {}).get("startedAt")) or parse_time(
            st.get("phaseSince")
        )
        if st.get("phase") in MOVING_PHASES and started is not None:
            self.rollouts[key] = started
        else:
            self.rollouts.pop(key, None)

    def _track_conditions(self, key: Key, status: Body | None) -> None:
        for type_, reason, keys, gauge in (
            ("ReferencesResolved", None, self.waiting, metrics.WAITING_FOR_REFERENCES),
            (exposure.CONDITION, None, self.unexposed, metrics.NOT_EXPOSED),
            (network.CONDITION, None, self.egress_open, metrics.EGRESS_OPEN),
            (security.CONDITION, "OpenToCluster", self.open, metrics.OPEN_TO_CLUSTER),
        ):
            false = any(
                c.get("type") == type_
                and c.get("status") == "False"
                and reason in (None, c.get("reason"))
                for c in (status or {}).get("conditions") or []
            )
            (keys.add if false else keys.discard)(key)
            gauge.set(len(keys))

    async def __call__(self, key: Key) -> float | None:
        server = self.store.parent(KIND, key)
        if server is None or server["metadata"].get("deletionTimestamp"):
            self._count_phase(key, None)
            self._track_rollout(key, None)
            self._track_conditions(key, None)
            self.proxies.forget(key)
            self.keyed.discard(key)
            self.windows.pop(key, None)
            self.next_read.pop(key, None)
            return None  # children go with their owner (garbage collection)
        bound = log.bind(
            namespace=key[0], name=key[1], uid=server["metadata"].get("uid"), kind=KIND
        )
        observed = await self.ask_proxies(key, server, observe(self.store, key))
        result = plan(
            server,
            observed,
            datetime.now(UTC),
            image=self.settings.operator_image,
            proxy_image=self.settings.proxy_image,
            found=await self.found(server),
            net=self.net,
        )
        metrics.WRITES_SKIPPED.labels(KIND).inc(result.skipped_writes)
        metrics.TEST_JOBS.inc(sum(1 for m in result.apply if m["kind"] == "Job"))
        try:
            await self.session_key(key, server, bound)
            await self.write.apply(key, result.handover, bound, manager=HANDOVER_MANAGER)
            await self.write.apply(key, result.apply, bound)
            await self.write.delete(key[0], result.delete, bound)
        except ApiError as exc:
            if exc.forbidden:
                return await self.write.forbidden(key, server, exc, bound)
            if exc.status not in REFUSED:
                raise
            # The schema let through something the API server will not take in a child
            # (it names the field). Retrying cannot help until the spec changes: say so.
            await self.write.refused(key, server, result.status, exc, bound)
            self._count_phase(key, "Failed")
            return None
        patch = await self.write.status(key, server, result.status)
        # Counted once the status recording them is written: a failed write replans the
        # same step, which must not count twice.
        for outcome in result.outcomes:
            metrics.ROLLOUTS.labels(outcome).inc()
        for phase, seconds in result.phase_durations:
            if phase in ROLLOUT_PHASES:
                metrics.ROLLOUT_PHASE_SECONDS.labels(phase).observe(seconds)
        for outcome, seconds in result.drains:
            metrics.DRAINS.labels(outcome).inc()
            metrics.DRAIN_SECONDS.observe(seconds)
        for revision, verdict, message in result.analyses:
            metrics.ROLLOUT_ANALYSES.labels(verdict.lower()).inc()
            bound.info("analysis", revision=revision, result=verdict, message=message)
        for outcome in result.test_results:
            metrics.TEST_RESULTS.labels(outcome).inc()
        for outcome in result.scheduled_results:
            metrics.SCHEDULED_SUITE_RESULTS.labels(outcome).inc()
        if result.new_revision:
            metrics.REVISIONS_CREATED.inc()
        if patch is not None:
            bound.info(
                "status",
                phase=result.status.get("phase"),
                active=result.status.get("activeRevision"),
                candidate=result.status.get("candidateRevision"),
                changed=sorted(patch),
            )
        self._count_phase(key, result.status.get("phase"))
        self._track_rollout(key, result.status)
        self._track_conditions(key, result.status)
        await self.write.events(server, result.events)
        return result.requeue_after

    async def ask_proxies(self, key: Key, server: Body, observed: Observed) -> Observed:
        """What the pods' proxies say: the protocol revision of the revisions behind the
        Services, and the open sessions of the previous revision after a switch."""
        if not desired.uses_proxy((server.get("spec") or {}).get("transport")):
            return observed
        endpoints = proxy_endpoints(observed.services, observed.endpoint_slices)
        scheme = "https" if (server.get("spec") or {}).get("tls") else "http"  # spec.tls
        observed.protocols = await self.proxies.protocols(key, endpoints, scheme)
        previous = ((server.get("status") or {}).get("rollout") or {}).get("previous")
        if isinstance(previous, str) and previous in observed.deployments:
            addresses = revision_proxies(observed.pods, observed.deployments[previous], previous)
            count = await self.proxies.sessions(addresses, scheme) if addresses else None
            if count is not None:
                observed.sessions[previous] = count
        await self.read_traffic(key, server, observed, scheme)
        return observed

    async def read_traffic(
        self, key: Key, server: Body, observed: Observed, scheme: str = "http"
    ) -> None:
        """rollout.analysis: read the /metrics of the proxies of the revision being verified
        (or, before the switch, of the candidate: the baseline) and count what they served
        since the switch (kept in memory: a restarted operator counts from its first look)."""
        aim = analysis.target(server)
        if aim is None:
            self.windows.pop(key, None)
            self.next_read.pop(key, None)
            return
        revision, since = aim
        window = self.windows.get(key)
        now = time.monotonic()
        if window and (window.revision, window.since) == aim and now < self.next_read.get(key, 0):
            # A burst of reconciles (watch events) reads the proxies once.
            if since and window.readings:
                observed.traffic[revision] = analysis.stats(window.totals)
            return
        self.next_read[key] = now + MIN_READ_SECONDS
        pods = revision_pods(observed.pods, observed.deployments.get(revision), revision)
        texts = await asyncio.gather(*(self.proxies.metrics(p.address, scheme) for p in pods))
        readings: dict[str, analysis.Sample] = {}
        for pod, text in zip(pods, texts, strict=True):
            if text is None:
                continue  # not this look; the next one counts what it missed
            try:
                readings[pod.reading] = analysis.parse(text)
            except ValueError:
                log.warning("unreadable proxy metrics", pod=pod.name, namespace=key[0])
        fresh = analysis.born_after({p.name: p.created for p in pods}, since)
        window = analysis.advance(window, revision, since, readings, fresh)
        self.windows[key] = window
        if since and window.readings:
            observed.traffic[revision] = analysis.stats(window.totals)
            log.debug(
                "analysis look",
                namespace=key[0],
                name=key[1],
                revision=revision,
                pods=len(readings),
                traffic=analysis.summary(observed.traffic[revision]),
            )

    async def session_key(self, key: Key, server: Body, bound: Any) -> None:
        """Create the Secret the proxies sign session ids with, once per MCPServer: created
        (never applied), so that a key is never replaced under open sessions; an existing
        one (409) is kept. Random bytes cannot come from the pure plan."""
        if not desired.uses_proxy((server.get("spec") or {}).get("transport")) or key in self.keyed:
            return
        name = desired.session_secret_name(key[1])
        if self.store.child("Secret", (key[0], ""), name) is not None:
            self.keyed.add(key)
            return
        try:
            await self.client.create(desired.session_secret(server, secrets.token_bytes(32)))
        except ApiError as exc:
            if exc.status != 409:
                raise
        else:
            metrics.SESSION_KEYS_CREATED.inc()
            bound.info("session key created", secret=name)
        self.keyed.add(key)

    async def found(self, server: Body) -> updates.Found | None:
        """What spec.updates' source offers now (cached per source and interval)."""
        spec = server.get("spec") or {}
        if spec.get("updates") is None:
            return None
        try:
            parsed = MCPServerSpec.model_validate(spec)
        except ValidationError:
            return None  # the plan says what is wrong
        policy = parsed.updates
        if policy is None or updates.check(policy) is not None:
            return None
        q = updates.query(parsed, policy)
        if q is None:
            return updates.Found(error=f"no {policy.source} package launched in spec.command/args")
        auth = await self.credentials(server, policy, q)
        if isinstance(auth, str):
            return updates.Found(error=auth)
        ask = functools.partial(
            self.lookups.get,
            q.source,
            q.name,
            index=q.index,
            auth=auth,
            interval=policy.check_interval_seconds,
        )
        got = await ask(list_tags=q.list_tags)
        found = updates.Found(list(got.versions), dict(got.digests), got.checked_at, got.error)
        tags = updates.wanted_tags(found, policy, updates.person(server)[1])
        if tags:
            # the digests of the tags the decision needs: a second (also cached) lookup
            dig = await ask(tags=tags, list_tags=False)
            found.digests = dict(dig.digests)
            found.error = found.error or dig.error
        return found

    async def credentials(
        self, server: Body, policy: Updates, q: updates.Query
    ) -> Auth | str | None:
        """Credentials for the lookup: spec.updates.credentialsSecret, else (images) the
        first of the pod's imagePullSecrets with an entry for the registry; or why not."""
        names = [policy.credentials_secret.name] if policy.credentials_secret else []
        if not names and q.source == "image":
            pull = (server.get("spec") or {}).get("imagePullSecrets") or []
            names = [p["name"] for p in pull if isinstance(p, dict) and p.get("name")]
        for name in names:
            try:
                secret = await self.client.get(
                    "v1", "secrets", server["metadata"]["namespace"], name
                )
            except ApiError as exc:
                if not exc.forbidden:
                    raise
                # The chart grants no Secrets: a person grants `get` on this one (operating.md).
                return f"cannot read Secret {name}: grant the operator get on it"
            auth = auth_from_secret(secret or {}, q.registry_host or "")
            if auth is not None:
                return auth
        return None
