"""spec.expose: the HTTPRoute or Ingress to the stable Service, and what the cluster says
of it (a Gateway's acceptance, an ingress controller's address). Pure.

Both point at the stable Service, never at the preview: the blue-green switch moves the
Service's selector, so the route follows the switch without being written again, and a
candidate under test is never reachable from outside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcpops.api.base import Condition
from mcpops.api.exposure import HTTPRouteExposure, IngressExposure, ParentReference
from mcpops.api.mcpserver import MCPServerSpec
from mcpops.kinds.mcpserver.children import apply
from mcpops.kinds.mcpserver.desired import COMPONENT
from mcpops.kinds.mcpserver.state import Inputs, Plan, State
from mcpops.objects.bodies import Body, Manifest, ObjectMeta
from mcpops.objects.children import child_meta, labels, stamp
from mcpops.objects.effects import Delete
from mcpops_common.names import SERVER_LABEL

GATEWAY_GROUP = "gateway.networking.k8s.io"
ROUTE_API = f"{GATEWAY_GROUP}/v1"
INGRESS_API = "networking.k8s.io/v1"
ROUTE = "HTTPRoute"
INGRESS = "Ingress"
API_VERSIONS = {ROUTE: ROUTE_API, INGRESS: INGRESS_API}
CONDITION = "Exposed"
# How a person installs what is missing; the operator notices without a restart.
INSTALL_HINT = (
    "install the Gateway API CRDs (standard channel, v1.0 or later: kubectl apply "
    "--server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/"
    "<version>/standard-install.yaml); mcpops starts watching HTTPRoutes within "
    "MCPOPS_API_RECHECK_SECONDS (default 30s) of their appearing, no restart needed"
)


def wanted_kind(spec: MCPServerSpec) -> str | None:
    if spec.expose is None:
        return None
    return ROUTE if spec.expose.http_route is not None else INGRESS


# ---------------------------------------------------------------- desired objects


def _meta(parent: Body, annotations: dict[str, str] | None = None) -> ObjectMeta:
    name = parent["metadata"]["name"]
    return child_meta(
        parent, name, labels(COMPONENT, name, **{SERVER_LABEL: name}), dict(annotations or {})
    )


def _parent_ref(ref: ParentReference) -> dict[str, Any]:
    out: dict[str, Any] = {"group": GATEWAY_GROUP, "kind": "Gateway", "name": ref.name}
    if ref.namespace:
        out["namespace"] = ref.namespace
    if ref.section_name:
        out["sectionName"] = ref.section_name
    return out


def http_route(parent: Body, spec: MCPServerSpec, route: HTTPRouteExposure) -> Manifest:
    """The HTTPRoute from the user's Gateways to the stable Service (named like the
    MCPServer, as is the route)."""
    name = parent["metadata"]["name"]
    body: dict[str, Any] = {
        "parentRefs": [_parent_ref(r) for r in route.parent_refs],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": route.path}}],
                "backendRefs": [{"group": "", "kind": "Service", "name": name, "port": spec.port}],
            }
        ],
    }
    if route.hostnames:
        body["hostnames"] = list(route.hostnames)
    return stamp({"apiVersion": ROUTE_API, "kind": ROUTE, "metadata": _meta(parent), "spec": body})


def ingress(parent: Body, spec: MCPServerSpec, ing: IngressExposure) -> Manifest:
    """The Ingress to the stable Service (named like the MCPServer)."""
    name = parent["metadata"]["name"]
    path = {
        "path": ing.path,
        "pathType": "Prefix",
        "backend": {"service": {"name": name, "port": {"number": spec.port}}},
    }
    rule: dict[str, Any] = {"http": {"paths": [path]}}
    if ing.host:
        rule["host"] = ing.host
    body: dict[str, Any] = {"rules": [rule]}
    if ing.class_name:
        body["ingressClassName"] = ing.class_name
    if ing.tls_secret_name:
        tls: dict[str, Any] = {"secretName": ing.tls_secret_name}
        if ing.host:
            tls["hosts"] = [ing.host]
        body["tls"] = [tls]
    return stamp(
        {
            "apiVersion": INGRESS_API,
            "kind": INGRESS,
            "metadata": _meta(parent, ing.annotations),
            "spec": body,
        }
    )


def manifest(parent: Body, spec: MCPServerSpec) -> Manifest | None:
    if spec.expose is None:
        return None
    if spec.expose.http_route is not None:
        return http_route(parent, spec, spec.expose.http_route)
    assert spec.expose.ingress is not None
    return ingress(parent, spec, spec.expose.ingress)


# ---------------------------------------------------------------- what the cluster says


@dataclass(frozen=True)
class Verdict:
    """The Exposed condition and the external URL (None until the exposure is in effect)."""

    condition: Condition
    url: str | None = None


def _conditions(entry: Body) -> dict[str, Body]:
    return {c.get("type", ""): c for c in entry.get("conditions") or []}


def _stale(cond: Body, generation: int) -> bool:
    """Written for an older spec of the route: the controller has not caught up."""
    seen = cond.get("observedGeneration")
    return isinstance(seen, int) and seen < generation


def _parent_status(route: Body, ref: ParentReference, namespace: str) -> Body | None:
    """What a Gateway controller reported for one of our parentRefs."""
    for entry in (route.get("status") or {}).get("parents") or []:
        got = entry.get("parentRef") or {}
        if (
            got.get("name") == ref.name
            and (got.get("namespace") or namespace) == (ref.namespace or namespace)
            and (got.get("sectionName") or "") == (ref.section_name or "")
            and got.get("kind", "Gateway") == "Gateway"
        ):
            return dict(entry)
    return None


def _gateway(ref: ParentReference, namespace: str) -> str:
    listener = f" (listener {ref.section_name})" if ref.section_name else ""
    return f"Gateway {ref.namespace or namespace}/{ref.name}{listener}"


@dataclass
class _Parents:
    accepted: list[str]
    refused: list[str]
    unresolved: list[str]
    pending: list[str]


def _read_parents(route: Body, spec: HTTPRouteExposure, namespace: str) -> _Parents:
    """Each parentRef: accepted, refused (Accepted False), accepted with a backend it
    cannot resolve (ResolvedRefs False), or not reported on for the current spec."""
    generation = int((route.get("metadata") or {}).get("generation") or 1)
    out = _Parents([], [], [], [])
    for ref in spec.parent_refs:
        who = _gateway(ref, namespace)
        conds = _conditions(_parent_status(route, ref, namespace) or {})
        accepted, resolved = conds.get("Accepted"), conds.get("ResolvedRefs")
        if accepted is None or _stale(accepted, generation):
            out.pending.append(who)
        elif accepted.get("status") != "True":
            out.refused.append(_said(who, accepted))
        elif resolved and resolved.get("status") == "False" and not _stale(resolved, generation):
            out.unresolved.append(_said(who, resolved))
        else:
            out.accepted.append(who)
    return out


def _said(who: str, cond: Body) -> str:
    message = str(cond.get("message") or "").strip()
    return f"{who}: {cond.get('reason') or 'no reason given'}" + (
        f" ({message})" if message else ""
    )


def route_url(spec: MCPServerSpec, route: HTTPRouteExposure) -> str | None:
    """The first host name without a wildcard, with the MCP endpoint's path."""
    host = next((h for h in route.hostnames or [] if not h.startswith("*")), None)
    return f"{route.scheme}://{host}{spec.path}" if host else None


def route_verdict(inp: Inputs, route: HTTPRouteExposure) -> Verdict:
    name = f"HTTPRoute {inp.name}"
    if ROUTE in inp.observed.unserved:
        return Verdict(
            Condition(
                type=CONDITION,
                status="False",
                reason="GatewayAPIMissing",
                message=f"the API server does not serve {ROUTE_API} HTTPRoutes, so {name} "
                f"cannot be made: {INSTALL_HINT}",
            )
        )
    live = inp.observed.routes.get(inp.name)
    url = route_url(inp.spec, route)
    where = url or "no hostname: the Gateway's address with the path " + inp.spec.path
    if live is None:
        return Verdict(_pending(f"{name} is being created; it will answer at {where}"))
    parents = _read_parents(live, route, inp.namespace)
    shown = url if parents.accepted else None
    if parents.refused or parents.unresolved:
        reason = "RouteNotAccepted" if parents.refused else "RouteRefsNotResolved"
        what = "not accepted by" if parents.refused else "accepted, but a reference unresolved:"
        problems = "; ".join(parents.refused + parents.unresolved)
        message = f"{name} {what} {problems}"
        return Verdict(Condition(type=CONDITION, status="False", reason=reason, message=message))
    if parents.pending:
        waiting = ", ".join(parents.pending)
        return Verdict(
            _pending(
                f"{name} waits for {waiting} to accept it (a Gateway controller writes its "
                f"status; is one running for the Gateway's class?); it will answer at {where}"
            ),
            shown,
        )
    return Verdict(
        Condition(
            type=CONDITION,
            status="True",
            reason="Accepted",
            message=f"{name} accepted by {', '.join(parents.accepted)}; {where}",
        ),
        shown,
    )


def _addresses(live: Body) -> list[str]:
    found = ((live.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [
        str(a.get("hostname") or a.get("ip")) for a in found if a.get("hostname") or a.get("ip")
    ]


def ingress_verdict(inp: Inputs, ing: IngressExposure) -> Verdict:
    name = f"Ingress {inp.name}"
    scheme = "https" if ing.tls_secret_name else "http"
    live = inp.observed.ingresses.get(inp.name)
    if live is None:
        return Verdict(_pending(f"{name} is being created"))
    addresses = _addresses(live)
    if not addresses:
        cls = f"class {ing.class_name}" if ing.class_name else "the default class"
        return Verdict(
            Condition(
                type=CONDITION,
                status="Unknown",
                reason="WaitingForAddress",
                message=f"{name} has no load-balancer address yet (an ingress controller "
                f"writes it; is one running for {cls}?)",
            )
        )
    url = f"{scheme}://{ing.host or addresses[0]}{inp.spec.path}"
    return Verdict(
        Condition(
            type=CONDITION,
            status="True",
            reason="AddressAssigned",
            message=f"{name} at {', '.join(addresses)}; {url}",
        ),
        url,
    )


def _pending(message: str) -> Condition:
    return Condition(type=CONDITION, status="Unknown", reason="Pending", message=message)


def verdict(inp: Inputs) -> Verdict | None:
    """None when nothing is exposed."""
    expose = inp.spec.expose
    if expose is None:
        return None
    if expose.http_route is not None:
        return route_verdict(inp, expose.http_route)
    assert expose.ingress is not None
    return ingress_verdict(inp, expose.ingress)


# ---------------------------------------------------------------- the step


def expose(st: State, inp: Inputs, out: Plan) -> None:
    """The wanted HTTPRoute or Ingress applied (an HTTPRoute only when the API server
    serves them); any other of this server's removed; an Event when the verdict changes."""
    want = wanted_kind(inp.spec)
    wanted = manifest(inp.server, inp.spec)
    if wanted is not None and want not in inp.observed.unserved:
        assert want is not None
        live = (inp.observed.routes if want == ROUTE else inp.observed.ingresses).get(inp.name)
        apply(out, wanted, live)
    for kind, found in ((ROUTE, inp.observed.routes), (INGRESS, inp.observed.ingresses)):
        for name, body in found.items():
            if kind == want and name == inp.name:
                continue
            out.delete.append(Delete(API_VERSIONS[kind], kind, name, body["metadata"]["uid"]))
            out.event("Normal", "ExposureRemoved", f"{kind} {name} removed (spec.expose)")
    _announce(inp, out)


def _announce(inp: Inputs, out: Plan) -> None:
    """One Event per change of the verdict (not per reconcile): accepted, or why not."""
    now = verdict(inp)
    if now is None or now.condition.status == "Unknown":
        return
    conditions = (inp.server.get("status") or {}).get("conditions") or []
    old: Body = next((c for c in conditions if c.get("type") == CONDITION), {})
    c = now.condition
    if (old.get("status"), old.get("reason"), old.get("message")) == (
        c.status,
        c.reason,
        c.message,
    ):
        return
    out.event("Normal" if c.status == "True" else "Warning", c.reason, c.message)
