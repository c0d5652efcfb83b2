"""spec.expose on the control plane: an HTTPRoute (Gateway API CRDs from their release, in
the Go module pinned by hack/gatewayapi) and an Ingress, owned by the MCPServer, following
the blue-green switch, reporting what a Gateway or ingress controller said.

There is no Gateway controller and no ingress controller here: the tests write the route's
and the Ingress's status the way such a controller would (status subresource, the
condition shapes of the Gateway API), and check what the operator makes of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gatewayapi
import pytest
from clusterkit import Cluster, OperatorProcess, replacing, wait_until
from test_mcpserver import cond, mcpserver, patch_spec, stable_revision, status, wait_ready

FAST = {"scaleDownDelaySeconds": 2, "verifySeconds": 2, "progressDeadlineSeconds": 90}
NOT_EXPOSED = ("mcpops_mcpservers_not_exposed", frozenset())
CONTROLLER = "example.com/simulated-gateway-controller"
ROUTE = {
    "httpRoute": {
        "parentRefs": [{"name": "gw", "sectionName": "web"}],
        "hostnames": ["mcp.example.test"],
    }
}


def route_status(route: dict[str, Any], accepted: str, reason: str, message: str) -> dict[str, Any]:
    """What a Gateway controller writes on a route it looked at."""
    generation = route["metadata"]["generation"]

    def condition(type_: str, status_: str, why: str, text: str) -> dict[str, Any]:
        return {
            "type": type_,
            "status": status_,
            "reason": why,
            "message": text,
            "observedGeneration": generation,
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }

    return {
        "parents": [
            {
                "parentRef": {
                    "group": "gateway.networking.k8s.io",
                    "kind": "Gateway",
                    "name": "gw",
                    "sectionName": "web",
                },
                "controllerName": CONTROLLER,
                "conditions": [
                    condition("Accepted", accepted, reason, message),
                    condition("ResolvedRefs", "True", "ResolvedRefs", "backend found"),
                ],
            }
        ]
    }


def write_status(cluster: Cluster, kind: str, name: str, ns: str, body: dict[str, Any]) -> None:
    cluster.kubectl(
        "patch", kind, name, "-n", ns, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": body}),
    )  # fmt: skip


def exposed(cluster: Cluster, name: str, ns: str, reason: str) -> dict[str, Any]:
    st: dict[str, Any] = wait_until(
        lambda: (
            (s := status(cluster, name, ns)) and cond(s, "Exposed").get("reason") == reason and s
        ),
        timeout=60,
        what=f"Exposed/{reason} on {name}",
    )
    return st


def gateway(cluster: Cluster, ns: str) -> None:
    """A GatewayClass and a Gateway with one HTTP listener (no controller acts on them)."""
    cluster.apply(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": "mcpops-test"},
            "spec": {"controllerName": CONTROLLER},
        }
    )
    cluster.apply(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "gw"},
            "spec": {
                "gatewayClassName": "mcpops-test",
                "listeners": [{"name": "web", "protocol": "HTTP", "port": 80}],
            },
        },
        ns,
    )


def assert_owned(cluster: Cluster, child: dict[str, Any], name: str, ns: str) -> None:
    owner = cluster.get("mcpserver", name, ns)
    assert owner is not None
    ref = child["metadata"]["ownerReferences"][0]
    assert ref["uid"] == owner["metadata"]["uid"] and ref["controller"] is True
    labels = child["metadata"]["labels"]
    assert labels["mcpops.dev/server"] == name
    for label in ("name", "instance", "managed-by", "part-of"):
        assert f"app.kubernetes.io/{label}" in labels


@pytest.fixture
def without_gateway_api(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """An operator started on a cluster without the Gateway API CRDs (the session's is
    stopped meanwhile), looking for them again every 2 seconds."""
    env = {"MCPOPS_NAMESPACES": namespace, "MCPOPS_API_RECHECK_SECONDS": "2"}
    with replacing(
        operator, tmp_path / "operator.log", env, lambda: gatewayapi.uninstall(cluster)
    ) as own:
        yield own


def test_an_httproute_once_the_gateway_api_appears_follows_the_switch(
    cluster: Cluster, without_gateway_api: OperatorProcess, namespace: str
) -> None:
    op, ns = without_gateway_api, namespace
    assert op.proc is not None
    pid = op.proc.pid
    cluster.apply(mcpserver("web", expose=ROUTE, rollout=FAST), ns)
    wait_ready(cluster, "web", ns, timeout=90)  # the server runs without its route
    st = exposed(cluster, "web", ns, "GatewayAPIMissing")
    assert cond(st, "Exposed")["status"] == "False"
    assert "standard-install.yaml" in cond(st, "Exposed")["message"]
    assert "externalUrl" not in st
    assert cluster.wait_events(ns, "web", reason="GatewayAPIMissing")[0]["type"] == "Warning"
    assert op.ready()  # no crash, no crash loop
    wait_until(lambda: op.metrics()[NOT_EXPOSED] == 1, timeout=10, what="not-exposed gauge 1")

    # The CRDs are installed: the operator, still the same process, starts watching them.
    gatewayapi.install(cluster)
    gateway(cluster, ns)
    route = wait_until(lambda: cluster.get("httproute", "web", ns), timeout=30, what="HTTPRoute")
    assert op.proc is not None and op.proc.pid == pid
    assert_owned(cluster, route, "web", ns)
    assert route["spec"]["hostnames"] == ["mcp.example.test"]
    assert [(p["name"], p.get("sectionName")) for p in route["spec"]["parentRefs"]] == [
        ("gw", "web")
    ]
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert [(b["kind"], b["name"], b["port"]) for b in rule["backendRefs"]] == [
        ("Service", "web", 8080)
    ]
    st = exposed(cluster, "web", ns, "Pending")
    assert "Gateway" in cond(st, "Exposed")["message"]

    # The Gateway's controller (simulated) refuses the route, then accepts it.
    write_status(
        cluster, "httproute", "web", ns,
        route_status(route, "False", "NotAllowedByListeners", "no listener allows namespace"),
    )  # fmt: skip
    st = exposed(cluster, "web", ns, "RouteNotAccepted")
    message = cond(st, "Exposed")["message"]
    assert "NotAllowedByListeners" in message and f"Gateway {ns}/gw" in message
    assert "externalUrl" not in st
    assert cluster.wait_events(ns, "web", reason="RouteNotAccepted")[0]["type"] == "Warning"
    write_status(cluster, "httproute", "web", ns, route_status(route, "True", "Accepted", ""))
    st = exposed(cluster, "web", ns, "Accepted")
    assert st["externalUrl"] == "https://mcp.example.test/mcp"
    wait_until(lambda: op.metrics()[NOT_EXPOSED] == 0, timeout=10, what="not-exposed gauge 0")

    # A new revision: the route is not rewritten; the stable Service it names moves.
    first = st["activeRevision"]
    before = cluster.get("httproute", "web", ns)
    assert before is not None
    patch_spec(cluster, "web", ns, {"image": "example.invalid/mcp:2"})
    st = wait_until(
        lambda: (s := wait_ready(cluster, "web", ns, timeout=90))["activeRevision"] != first and s,
        timeout=120,
        what="the new revision serving",
    )
    after = cluster.get("httproute", "web", ns)
    assert after is not None
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"] == before["spec"]
    assert stable_revision(cluster, "web", ns) == st["activeRevision"] != first
    assert st["externalUrl"] == "https://mcp.example.test/mcp"

    # expose removed: the route goes, and so do the condition and the URL.
    cluster.kubectl(
        "patch", "mcpserver", "web", "-n", ns, "--type=json",
        "-p", '[{"op": "remove", "path": "/spec/expose"}]',
    )  # fmt: skip
    wait_until(
        lambda: cluster.get("httproute", "web", ns) is None, timeout=30, what="route removed"
    )
    st = wait_until(
        lambda: (s := status(cluster, "web", ns)) and not cond(s, "Exposed") and s,
        timeout=30,
        what="Exposed condition gone",
    )
    assert "externalUrl" not in st
    assert cluster.wait_events(ns, "web", reason="ExposureRemoved")


def test_an_ingress_shows_its_url_once_it_has_an_address(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    ns = namespace
    ingress = {
        "ingress": {
            "className": "nginx",
            "host": "mcp.example.test",
            "path": "/team",
            "tlsSecretName": "mcp-tls",
            "annotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600"},
        }
    }
    cluster.apply(mcpserver("edge", path="/team/mcp", expose=ingress, rollout=FAST), ns)
    ing = wait_until(lambda: cluster.get("ingress", "edge", ns), timeout=60, what="Ingress")
    assert_owned(cluster, ing, "edge", ns)
    assert (
        ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    )
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["spec"]["tls"] == [{"hosts": ["mcp.example.test"], "secretName": "mcp-tls"}]
    (rule,) = ing["spec"]["rules"]
    assert rule["host"] == "mcp.example.test"
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/team", "Prefix")
    assert path["backend"]["service"] == {"name": "edge", "port": {"number": 8080}}
    wait_ready(cluster, "edge", ns, timeout=90)
    st = exposed(cluster, "edge", ns, "WaitingForAddress")
    assert "externalUrl" not in st and "class nginx" in cond(st, "Exposed")["message"]

    # The ingress controller (simulated) publishes its load balancer's address.
    write_status(
        cluster, "ingress", "edge", ns, {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
    )
    st = exposed(cluster, "edge", ns, "AddressAssigned")
    assert st["externalUrl"] == "https://mcp.example.test/team/mcp"
    assert "203.0.113.7" in cond(st, "Exposed")["message"]

    patch_spec(cluster, "edge", ns, {"expose": None})
    wait_until(lambda: cluster.get("ingress", "edge", ns) is None, timeout=30, what="Ingress gone")
    st = wait_until(
        lambda: (s := status(cluster, "edge", ns)) and "externalUrl" not in s and s,
        timeout=30,
        what="externalUrl gone",
    )
    assert not cond(st, "Exposed")


def test_mistakes_in_expose_are_refused_naming_the_field(crds: Cluster, namespace: str) -> None:
    """The CEL rules, as the API server runs them (the hostile corpus has more)."""
    cases = {
        "spec.expose": {"httpRoute": {"parentRefs": [{"name": "gw"}]}, "ingress": {}},
        "spec.expose.httpRoute.path": {
            "httpRoute": {"parentRefs": [{"name": "gw"}], "path": "mcp"}
        },
        "spec.expose.ingress.path": {"ingress": {"path": "/other"}},
    }
    for field, expose in cases.items():
        res = crds.kubectl(
            "create", "-n", namespace, "-f", "-", check=False,
            input_=json.dumps(mcpserver("bad", expose=expose)),
        )  # fmt: skip
        assert res.returncode != 0 and field in res.stderr, (field, res.stderr)
    # What is right is accepted: a path that leads to spec.path by whole segments.
    good = mcpserver("good", path="/team/mcp", expose={"ingress": {"path": "/team"}})
    crds.apply(good, namespace)
