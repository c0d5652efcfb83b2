"""spec.expose over plain data: the HTTPRoute or Ingress to the stable Service, what a
Gateway's or ingress controller's status makes of it, and that it follows the switch."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_mcpserver_plan import T0, FakeCluster, server

from mcpops.api.mcpserver import MCPServerSpec
from mcpops.kinds.mcpserver.desired import NOT_IN_TEMPLATE, revision_of, spec_record
from mcpops.kinds.mcpserver.plan import Observed, plan
from mcpops_common.names import HASH_ANNOTATION, REVISION_LABEL, SERVER_LABEL

ROUTE = {
    "httpRoute": {
        "parentRefs": [{"name": "public", "namespace": "gateways", "sectionName": "https"}],
        "hostnames": ["mcp.example.com"],
    }
}
INGRESS = {
    "ingress": {
        "className": "nginx",
        "host": "mcp.example.com",
        "tlsSecretName": "mcp-tls",
        "annotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600"},
    }
}


class ExposingCluster(FakeCluster):
    """FakeCluster with the HTTPRoutes and Ingresses a plan writes (and, unless told
    otherwise, an API server that serves the Gateway API)."""

    def __init__(self, unserved: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.routes: dict[str, dict[str, Any]] = {}
        self.ingresses: dict[str, dict[str, Any]] = {}
        self.unserved = unserved
        self.writes: list[str] = []

    def _store(self, kind: str) -> dict[str, dict[str, Any]] | None:
        return {"HTTPRoute": self.routes, "Ingress": self.ingresses}.get(kind)

    def observed(self) -> Observed:
        seen = super().observed()
        seen.routes, seen.ingresses = dict(self.routes), dict(self.ingresses)
        seen.unserved = self.unserved
        return seen

    def apply(self, manifest: dict[str, Any]) -> None:
        self.writes.append(f"{manifest['kind']}/{manifest['metadata']['name']}")
        store = self._store(manifest["kind"])
        if store is None:
            super().apply(manifest)
            return
        assert manifest["kind"] not in self.unserved, "applied a kind the server does not serve"
        name = manifest["metadata"]["name"]
        live = store.get(name)
        body = copy.deepcopy(manifest)
        body["metadata"]["uid"] = live["metadata"]["uid"] if live else f"uid-{name}"
        body["metadata"]["generation"] = (live or {}).get("metadata", {}).get("generation", 0) + 1
        body["status"] = (live or {}).get("status", {})
        store[name] = body

    def delete(self, kind: str, name: str) -> None:
        store = self._store(kind)
        if store is None:
            super().delete(kind, name)
        else:
            store.pop(name)

    def serve(self, srv: dict[str, Any], now: Any = T0, rounds: int = 4) -> Any:
        """Reconcile with ready pods until the plan goes quiet."""
        result = None
        for i in range(rounds):
            result = self.run(srv, now + timedelta(seconds=i))
            for name in self.deployments:
                self.settle(name, ready=True)
        return result


def cond(status: dict[str, Any], type_: str = "Exposed") -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c["type"] == type_), {})


def accept(
    route: dict[str, Any], status: str = "True", reason: str = "Accepted", **more: Any
) -> None:
    """What a Gateway controller writes on a route it looked at (there is none here)."""
    ref = route["spec"]["parentRefs"][0]
    route["status"] = {
        "parents": [
            {
                "parentRef": ref,
                "controllerName": "example.com/gateway",
                "conditions": [
                    {
                        "type": "Accepted",
                        "status": status,
                        "reason": reason,
                        "message": more.get("message", ""),
                        "observedGeneration": more.get("generation", 1),
                    },
                    {
                        "type": "ResolvedRefs",
                        "status": more.get("resolved", "True"),
                        "reason": more.get("resolved_reason", "ResolvedRefs"),
                        "observedGeneration": more.get("generation", 1),
                    },
                ],
            }
        ]
    }


# ---------------------------------------------------------------- the objects


def test_the_route_sends_the_users_gateways_to_the_stable_service() -> None:
    result = plan(server({"image": "img:1", "port": 9000, "expose": ROUTE}), Observed(), T0)
    route = next(m for m in result.apply if m["kind"] == "HTTPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["metadata"]["name"] == "s" and route["metadata"]["namespace"] == "ns"
    assert route["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert route["metadata"]["ownerReferences"][0]["controller"] is True
    assert route["metadata"]["labels"][SERVER_LABEL] == "s"
    for key in ("name", "instance", "managed-by", "part-of"):
        assert f"app.kubernetes.io/{key}" in route["metadata"]["labels"]
    assert route["metadata"]["annotations"][HASH_ANNOTATION]
    spec = route["spec"]
    assert spec["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "public",
            "namespace": "gateways",
            "sectionName": "https",
        }
    ]
    assert spec["hostnames"] == ["mcp.example.com"]
    assert spec["rules"] == [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [{"group": "", "kind": "Service", "name": "s", "port": 9000}],
        }
    ]
    assert not any(m["kind"] == "Ingress" for m in result.apply)


def test_the_ingress_sends_its_host_to_the_stable_service_with_tls() -> None:
    spec = {
        "image": "img:1",
        "path": "/team/mcp",
        "expose": {"ingress": {**INGRESS["ingress"], "path": "/team"}},
    }
    result = plan(server(spec), Observed(), T0)
    ing = next(m for m in result.apply if m["kind"] == "Ingress")
    assert ing["apiVersion"] == "networking.k8s.io/v1"
    assert ing["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert ing["metadata"]["labels"][SERVER_LABEL] == "s"
    notes = ing["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert notes[HASH_ANNOTATION]
    assert ing["spec"] == {
        "ingressClassName": "nginx",
        "rules": [
            {
                "host": "mcp.example.com",
                "http": {
                    "paths": [
                        {
                            "path": "/team",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "s", "port": {"number": 8080}}},
                        }
                    ]
                },
            }
        ],
        "tls": [{"secretName": "mcp-tls", "hosts": ["mcp.example.com"]}],
    }
    assert not any(m["kind"] == "HTTPRoute" for m in result.apply)


def test_exposure_is_not_part_of_the_revision() -> None:
    plain = MCPServerSpec.model_validate({"image": "img:1"})
    routed = MCPServerSpec.model_validate({"image": "img:1", "expose": ROUTE})
    assert revision_of("s", plain) == revision_of("s", routed)
    # Nor of what a revision's Deployment records (a route change rewrites no Deployment).
    assert "expose" in NOT_IN_TEMPLATE
    assert spec_record(plain, "op:1") == spec_record(routed, "op:1")


hostnames = st.lists(
    st.from_regex(r"\A(\*\.)?[a-z][a-z0-9]{0,8}(\.[a-z]{2,5}){1,2}\Z"), max_size=3, unique=True
)


@settings(max_examples=150, deadline=None)
@given(
    name=st.from_regex(r"\A[a-z][a-z0-9-]{0,20}[a-z0-9]\Z"),
    port=st.integers(min_value=1, max_value=65535),
    hosts=hostnames,
    as_route=st.booleans(),
)
def test_the_backend_is_the_stable_service_never_the_preview(
    name: str, port: int, hosts: list[str], as_route: bool
) -> None:
    expose = (
        {"httpRoute": {"parentRefs": [{"name": "gw"}], "hostnames": hosts}}
        if as_route
        else {"ingress": {"host": hosts[0]} if hosts else {}}
    )
    srv = server({"image": "img:1", "port": port, "expose": expose})
    srv["metadata"]["name"] = name
    result = plan(srv, Observed(), T0)
    (made,) = [m for m in result.apply if m["kind"] in {"HTTPRoute", "Ingress"}]
    if as_route:
        backends = [b for r in made["spec"]["rules"] for b in r["backendRefs"]]
        targets = {(b["name"], b["port"]) for b in backends}
    else:
        paths = [p for r in made["spec"]["rules"] for p in r["http"]["paths"]]
        targets = {
            (p["backend"]["service"]["name"], p["backend"]["service"]["port"]["number"])
            for p in paths
        }
    assert targets == {(name, port)}
    assert f"{name}-preview" not in str(made["spec"])


# ---------------------------------------------------------------- it follows the switch


def test_the_route_follows_the_switch_without_being_written_again() -> None:
    """A blue-green switch moves the stable Service's selector; the route, which names the
    Service, is neither rewritten nor pointed at the candidate meanwhile."""
    cluster = ExposingCluster()
    srv = server(
        {
            "image": "img:1",
            "expose": ROUTE,
            "rollout": {"verifySeconds": 0, "scaleDownDelaySeconds": 0},
        }
    )
    cluster.serve(srv)
    first = srv["status"]["activeRevision"]
    route_before = copy.deepcopy(cluster.routes["s"])
    assert cluster.services["s"]["spec"]["selector"][REVISION_LABEL] == first
    writes_before = cluster.writes.count("HTTPRoute/s")
    assert writes_before == 1

    srv["spec"] = {**srv["spec"], "image": "img:2"}
    srv["metadata"]["generation"] = 2
    seen_candidate = False
    for i in range(8):
        cluster.run(srv, T0 + timedelta(minutes=1, seconds=i))
        seen_candidate |= bool(srv["status"].get("candidateRevision"))
        # While a candidate is tested, the route still names only the stable Service.
        assert cluster.routes["s"]["spec"] == route_before["spec"]
        for name in cluster.deployments:
            cluster.settle(name, ready=True)
    second = srv["status"]["activeRevision"]
    assert seen_candidate and second != first
    assert cluster.services["s"]["spec"]["selector"][REVISION_LABEL] == second
    assert cluster.writes.count("HTTPRoute/s") == writes_before  # never written again
    assert cluster.routes["s"]["spec"]["rules"][0]["backendRefs"][0]["name"] == "s"


# ---------------------------------------------------------------- removal and change


def test_removing_expose_removes_the_route_and_the_condition() -> None:
    cluster = ExposingCluster()
    srv = server({"image": "img:1", "expose": ROUTE})
    cluster.serve(srv)
    accept(cluster.routes["s"])
    cluster.run(srv, T0 + timedelta(minutes=1))
    assert srv["status"]["externalUrl"] == "https://mcp.example.com/mcp"
    uid = cluster.routes["s"]["metadata"]["uid"]

    srv["spec"] = {"image": "img:1"}
    srv["metadata"]["generation"] = 2
    result = cluster.run(srv, T0 + timedelta(minutes=2))
    assert [(d.kind, d.name, d.uid) for d in result.delete] == [("HTTPRoute", "s", uid)]
    assert any(e.reason == "ExposureRemoved" for e in result.events)
    assert cluster.routes == {}
    assert "externalUrl" not in srv["status"] and cond(srv["status"]) == {}
    again = cluster.run(srv, T0 + timedelta(minutes=3))
    assert again.delete == [] and not any(m["kind"] == "HTTPRoute" for m in again.apply)


def test_changing_from_route_to_ingress_replaces_one_with_the_other() -> None:
    cluster = ExposingCluster()
    srv = server({"image": "img:1", "expose": ROUTE})
    cluster.serve(srv)
    srv["spec"] = {"image": "img:1", "expose": INGRESS}
    srv["metadata"]["generation"] = 2
    result = cluster.run(srv, T0 + timedelta(minutes=1))
    assert [d.kind for d in result.delete] == ["HTTPRoute"]
    assert set(cluster.ingresses) == {"s"} and cluster.routes == {}


def test_a_route_change_is_applied_once() -> None:
    cluster = ExposingCluster()
    srv = server({"image": "img:1", "expose": ROUTE})
    cluster.serve(srv)
    changed = copy.deepcopy(ROUTE)
    changed["httpRoute"]["hostnames"] = ["other.example.com"]
    srv["spec"] = {**srv["spec"], "expose": changed}
    cluster.serve(srv, T0 + timedelta(minutes=1))
    assert cluster.writes.count("HTTPRoute/s") == 2
    assert cluster.routes["s"]["spec"]["hostnames"] == ["other.example.com"]


# ---------------------------------------------------------------- no Gateway API


def test_without_the_gateway_api_no_route_and_a_condition_says_to_install_it() -> None:
    cluster = ExposingCluster(unserved=frozenset({"HTTPRoute"}))
    srv = server({"image": "img:1", "expose": ROUTE})
    result = cluster.serve(srv)
    assert cluster.routes == {}
    assert srv["status"]["phase"] == "Healthy"  # the server itself runs
    exposed = cond(srv["status"])
    assert exposed["status"] == "False" and exposed["reason"] == "GatewayAPIMissing"
    assert "standard-install.yaml" in exposed["message"]
    assert "no restart needed" in exposed["message"]
    assert "externalUrl" not in srv["status"]
    # One Warning when it was first found, not one per reconcile.
    assert not any(e.reason == "GatewayAPIMissing" for e in result.events)
    # The CRDs appear: the route is made on the next reconcile.
    cluster.unserved = frozenset()
    cluster.run(srv, T0 + timedelta(minutes=1))
    assert set(cluster.routes) == {"s"}
    assert cond(srv["status"])["reason"] == "Pending"


def test_the_missing_gateway_api_is_announced_once() -> None:
    cluster = ExposingCluster(unserved=frozenset({"HTTPRoute"}))
    srv = server({"image": "img:1", "expose": ROUTE})
    first = cluster.run(srv, T0)
    warnings = [e for e in first.events if e.reason == "GatewayAPIMissing"]
    assert len(warnings) == 1 and warnings[0].type == "Warning"
    second = cluster.run(srv, T0 + timedelta(seconds=5))
    assert not any(e.reason == "GatewayAPIMissing" for e in second.events)


def test_an_ingress_needs_no_gateway_api() -> None:
    cluster = ExposingCluster(unserved=frozenset({"HTTPRoute"}))
    srv = server({"image": "img:1", "expose": INGRESS})
    cluster.serve(srv)
    assert set(cluster.ingresses) == {"s"}


# ---------------------------------------------------------------- what the Gateway says


def routed(status_of: Any = None, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """The MCPServer's status after its route was made and a Gateway controller (simulated
    by `status_of`, which edits the live route) answered."""
    cluster = ExposingCluster()
    srv = server(spec or {"image": "img:1", "expose": ROUTE})
    cluster.serve(srv)
    if status_of is not None:
        status_of(cluster.routes["s"])
    cluster.run(srv, T0 + timedelta(minutes=1))
    return dict(srv["status"])


def test_a_route_no_controller_answered_is_pending() -> None:
    st_ = routed()
    exposed = cond(st_)
    assert (exposed["status"], exposed["reason"]) == ("Unknown", "Pending")
    assert "Gateway gateways/public (listener https)" in exposed["message"]
    assert "https://mcp.example.com/mcp" in exposed["message"]  # what it will be
    assert "externalUrl" not in st_


def test_an_accepted_route_shows_the_external_url() -> None:
    st_ = routed(accept)
    exposed = cond(st_)
    assert (exposed["status"], exposed["reason"]) == ("True", "Accepted")
    assert st_["externalUrl"] == "https://mcp.example.com/mcp"


def test_a_refused_route_names_the_gateway_and_its_reason() -> None:
    st_ = routed(
        lambda r: accept(r, "False", "NotAllowedByListeners", message="namespace ns is not allowed")
    )
    exposed = cond(st_)
    assert (exposed["status"], exposed["reason"]) == ("False", "RouteNotAccepted")
    assert "Gateway gateways/public (listener https)" in exposed["message"]
    assert "NotAllowedByListeners" in exposed["message"]
    assert "namespace ns is not allowed" in exposed["message"]
    assert "externalUrl" not in st_


def test_an_unresolved_backend_is_a_condition_too() -> None:
    st_ = routed(lambda r: accept(r, resolved="False", resolved_reason="BackendNotFound"))
    exposed = cond(st_)
    assert (exposed["status"], exposed["reason"]) == ("False", "RouteRefsNotResolved")
    assert "BackendNotFound" in exposed["message"]


def test_a_verdict_on_an_older_route_spec_does_not_count() -> None:
    def stale(route: dict[str, Any]) -> None:
        route["metadata"]["generation"] = 3
        accept(route, generation=2)

    assert cond(routed(stale))["reason"] == "Pending"


def test_a_verdict_on_another_listener_does_not_count() -> None:
    def elsewhere(route: dict[str, Any]) -> None:
        accept(route)
        route["status"]["parents"][0]["parentRef"] = {
            **route["spec"]["parentRefs"][0],
            "sectionName": "http",
        }

    assert cond(routed(elsewhere))["reason"] == "Pending"


def test_only_wildcard_hostnames_make_no_url() -> None:
    spec = {
        "image": "img:1",
        "expose": {
            "httpRoute": {
                "parentRefs": [{"name": "gw"}],
                "hostnames": ["*.example.com"],
                "scheme": "http",
            }
        },
    }
    st_ = routed(accept, spec)
    exposed = cond(st_)
    assert exposed["status"] == "True" and "no hostname" in exposed["message"]
    assert "externalUrl" not in st_


def test_the_url_uses_the_scheme_and_the_mcp_path() -> None:
    spec = {
        "image": "img:1",
        "path": "/team-a/mcp",
        "expose": {
            "httpRoute": {
                "parentRefs": [{"name": "gw"}],
                "hostnames": ["*.example.com", "a.example.com"],
                "path": "/team-a",
                "scheme": "http",
            }
        },
    }
    assert routed(accept, spec)["externalUrl"] == "http://a.example.com/team-a/mcp"


# ---------------------------------------------------------------- what an ingress controller says


def ingressed(
    addresses: list[dict[str, str]] | None, expose: dict[str, Any] = INGRESS
) -> dict[str, Any]:
    cluster = ExposingCluster()
    srv = server({"image": "img:1", "expose": expose})
    cluster.serve(srv)
    if addresses is not None:
        cluster.ingresses["s"]["status"] = {"loadBalancer": {"ingress": addresses}}
    cluster.run(srv, T0 + timedelta(minutes=1))
    return dict(srv["status"])


def test_an_ingress_without_an_address_waits_for_one() -> None:
    st_ = ingressed(None)
    exposed = cond(st_)
    assert (exposed["status"], exposed["reason"]) == ("Unknown", "WaitingForAddress")
    assert "class nginx" in exposed["message"]
    assert "externalUrl" not in st_


def test_an_ingress_with_an_address_shows_its_host_over_https() -> None:
    st_ = ingressed([{"ip": "203.0.113.7"}])
    exposed = cond(st_)
    assert (exposed["status"], exposed["reason"]) == ("True", "AddressAssigned")
    assert "203.0.113.7" in exposed["message"]
    assert st_["externalUrl"] == "https://mcp.example.com/mcp"


def test_an_ingress_without_host_or_tls_is_reached_at_its_address() -> None:
    st_ = ingressed([{"hostname": "lb.example.net"}], {"ingress": {}})
    assert st_["externalUrl"] == "http://lb.example.net/mcp"


@pytest.mark.parametrize("expose", [ROUTE, INGRESS])
def test_at_rest_nothing_is_written(expose: dict[str, Any]) -> None:
    cluster = ExposingCluster()
    srv = server({"image": "img:1", "expose": expose})
    cluster.serve(srv)
    before = copy.deepcopy(srv["status"])
    result = cluster.run(srv, T0 + timedelta(minutes=5))
    assert result.apply == [] and result.delete == [] and result.events == []
    assert result.status == before
