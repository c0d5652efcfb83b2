"""What the watch caches show of one MCPServer's children, and the questions the rollout
asks of them (is a revision available, still settling, stalled?). Pure."""

from __future__ import annotations

from dataclasses import dataclass, field

from mcpops.kinds.mcpserver.analysis import ToolStats
from mcpops.objects.bodies import Body
from mcpops.objects.conditions import true_condition
from mcpops_common.names import REVISION_LABEL

SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # set by the EndpointSlice controller
JOB_NAME_LABEL = "job-name"  # set by the Job controller on its pods
PROXY_CONTAINER = "mcp-proxy"  # the in-pod proxy's container (desired.pod_template)


@dataclass
class Observed:
    """Children of one MCPServer as the watch caches last saw them."""

    deployments: dict[str, Body] = field(default_factory=dict)  # by revision
    services: dict[str, Body] = field(default_factory=dict)  # by name
    hpas: dict[str, Body] = field(default_factory=dict)  # by name
    budgets: dict[str, Body] = field(default_factory=dict)  # PodDisruptionBudgets, by name
    jobs: dict[str, Body] = field(default_factory=dict)  # test Jobs, by name
    pods: dict[str, Body] = field(default_factory=dict)  # test pods, by name
    endpoint_slices: dict[str, Body] = field(default_factory=dict)  # by name
    routes: dict[str, Body] = field(default_factory=dict)  # HTTPRoutes (spec.expose), by name
    ingresses: dict[str, Body] = field(default_factory=dict)  # Ingresses (spec.expose), by name
    network_policies: dict[str, Body] = field(default_factory=dict)  # spec.network, by name
    service_accounts: dict[str, Body] = field(default_factory=dict)  # test Jobs' (auth)
    # Kinds the API server does not serve (the Gateway API CRDs not installed).
    unserved: frozenset[str] = frozenset()
    # ConfigMaps and Secrets of the namespace, by (kind, name): identity and a data hash.
    configs: dict[tuple[str, str], Body] = field(default_factory=dict)
    # The MCP protocol revision each revision's server speaks, as its proxies classified it
    # (asked of the pods by the reconciler: machinery.proxyinfo).
    protocols: dict[str, str] = field(default_factory=dict)
    # Open sessions per revision, summed over the pods whose proxies answered (a revision
    # none answered for is absent): asked of the previous revision's pods after a switch.
    sessions: dict[str, int] = field(default_factory=dict)
    # rollout.analysis: per revision, calls, errors and p95 per tool counted by its proxies
    # since the last switch (absent: no proxy of it answered since).
    traffic: dict[str, dict[str, ToolStats]] = field(default_factory=dict)

    def pods_of(self, job: str) -> list[Body]:
        return [
            p
            for p in self.pods.values()
            if (p["metadata"].get("labels") or {}).get(JOB_NAME_LABEL) == job
        ]


def deployment_available(dep: Body | None, replicas: int) -> bool:
    """All wanted replicas are updated and available, as of the Deployment's latest spec."""
    if dep is None:
        return False
    status = dep.get("status") or {}
    meta = dep.get("metadata") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 1):
        return False
    if (dep.get("spec") or {}).get("replicas", 1) != replicas:
        return False  # not yet scaled to what we want
    if replicas == 0:
        return True
    return bool(
        status.get("updatedReplicas", 0) >= replicas
        and status.get("availableReplicas", 0) >= replicas
        and status.get("readyReplicas", 0) >= replicas
    )


def serving_ready(dep: Body | None, replicas: int) -> bool:
    """Enough ready pods right now. Unlike deployment_available this ignores a
    not-yet-observed generation (an annotation bumps it) so that it does not flap."""
    if dep is None:
        return False
    status = dep.get("status") or {}
    ready = int(status.get("readyReplicas", 0) or 0)
    available = int(status.get("availableReplicas", 0) or 0)
    return replicas == 0 or (ready >= replicas and available >= replicas)


def settling(dep: Body | None, replicas: int) -> bool:
    """The Deployment controller is still acting on the latest spec (scaling, rolling)."""
    if dep is None:
        return True
    status = dep.get("status") or {}
    meta = dep.get("metadata") or {}
    return bool(
        status.get("observedGeneration", 0) < meta.get("generation", 1)
        or status.get("replicas", 0) != replicas
        or status.get("updatedReplicas", 0) < replicas
    )


def deadline_exceeded(dep: Body | None) -> str | None:
    """The Deployment controller's own verdict that progress stalled, if any."""
    for cond in ((dep or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return str(cond.get("message", "progress deadline exceeded"))
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            return str(cond.get("message", "replica failure"))
    return None


def ready_endpoints(slices: dict[str, Body], service: str) -> int:
    """Ready endpoints behind a Service, over all its EndpointSlices."""
    count = 0
    for eps in slices.values():
        if (eps.get("metadata", {}).get("labels") or {}).get(SERVICE_NAME_LABEL) != service:
            continue
        for endpoint in eps.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready"):
                count += 1
    return count


def proxy_endpoints(services: dict[str, Body], slices: dict[str, Body]) -> dict[str, list[str]]:
    """revision -> host:port of the ready proxies behind the Services that select it (the
    Services' port "mcp" is the proxy's), sorted: the addresses to ask /mcpops/info."""
    out: dict[str, list[str]] = {}
    for eps in slices.values():
        service = (eps.get("metadata", {}).get("labels") or {}).get(SERVICE_NAME_LABEL)
        selector = ((services.get(service or "") or {}).get("spec") or {}).get("selector") or {}
        revision = selector.get(REVISION_LABEL)
        port = next((p.get("port") for p in eps.get("ports") or [] if p.get("name") == "mcp"), None)
        if not revision or revision == "none" or not port:
            continue
        for endpoint in eps.get("endpoints") or []:
            if not (endpoint.get("conditions") or {}).get("ready"):
                continue
            for address in endpoint.get("addresses") or []:
                host = f"[{address}]" if ":" in address else address
                out.setdefault(revision, []).append(f"{host}:{port}")
    return {rev: sorted(set(addrs)) for rev, addrs in out.items()}


def revision_proxies(pods: dict[str, Body], deployment: Body | None, revision: str) -> list[str]:
    """host:port of the running proxies of a revision's serving pods (not its test pods),
    the port read from its Deployment's template (the container port named "mcp")."""
    return sorted(p.address for p in revision_pods(pods, deployment, revision))


@dataclass(frozen=True)
class ProxyPod:
    """A running serving pod of a revision, and where its proxy listens."""

    name: str
    address: str  # host:port
    created: str  # metadata.creationTimestamp
    restarts: int = 0  # of its proxy container: a restarted proxy counts from zero again

    @property
    def reading(self) -> str:
        """The key of its proxy's readings: a restart starts a new series of them."""
        return f"{self.name}#{self.restarts}"


def revision_pods(pods: dict[str, Body], deployment: Body | None, revision: str) -> list[ProxyPod]:
    """The running serving pods of a revision (not its test pods), with their proxies'
    addresses, the port read from its Deployment's template (the container port "mcp")."""
    template = ((deployment or {}).get("spec") or {}).get("template") or {}
    port = next(
        (
            p.get("containerPort")
            for c in (template.get("spec") or {}).get("containers") or []
            for p in c.get("ports") or []
            if p.get("name") == "mcp"
        ),
        None,
    )
    if not port:
        return []
    out = []
    for pod in pods.values():
        meta, st = pod.get("metadata") or {}, pod.get("status") or {}
        labels = meta.get("labels") or {}
        if labels.get(REVISION_LABEL) != revision or JOB_NAME_LABEL in labels:
            continue
        ip = st.get("podIP")
        if st.get("phase") == "Running" and ip and not meta.get("deletionTimestamp"):
            address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
            restarts = sum(
                int(c.get("restartCount") or 0)
                for c in st.get("containerStatuses") or []
                if c.get("name") == PROXY_CONTAINER
            )
            created = str(meta.get("creationTimestamp") or "")
            out.append(ProxyPod(str(meta.get("name")), address, created, restarts))
    return sorted(out, key=lambda p: p.name)


def ready_replicas(dep: Body | None) -> int:
    return int(((dep or {}).get("status") or {}).get("readyReplicas", 0) or 0)


def replicas_of(dep: Body | None) -> int:
    """Pods the Deployment has now (status.replicas)."""
    return int(((dep or {}).get("status") or {}).get("replicas", 0) or 0)


def finished(job: Body) -> bool:
    return bool(true_condition(job, "Complete") or true_condition(job, "Failed"))
