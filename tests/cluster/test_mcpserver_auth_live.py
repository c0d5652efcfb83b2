"""spec.auth/tools/rateLimits/audit on the control plane: what the operator makes of them
(the proxy's settings in the pod template, the test Jobs' ServiceAccount and token), the
Secured condition, its Event and gauge, and the schema's refusals. Enforcement is the real
proxy's on the real node (tests/e2e/test_real_auth.py)."""

from __future__ import annotations

import json
from typing import Any

from clusterkit import Cluster, OperatorProcess, wait_until
from test_mcpserver import cond, mcpserver, patch_spec, status, wait_ready

OPEN = ("mcpops_mcpservers_open_to_cluster", frozenset())
SETTINGS = "mcpops.dev/proxy-security"


def template_of(cluster: Cluster, name: str, ns: str, revision: str) -> dict[str, Any]:
    dep = cluster.get("deployment", f"{name}-{revision}", ns)
    assert dep is not None
    template: dict[str, Any] = dep["spec"]["template"]
    return template


def test_auth_reaches_the_proxy_and_status(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    ns = namespace
    cluster.apply(mcpserver("open"), ns)
    st = wait_ready(cluster, "open", ns, timeout=90)
    secured = cond(st, "Secured")
    assert (secured["status"], secured["reason"]) == ("False", "OpenToCluster"), secured
    assert "spec.auth" in secured["message"]
    [event] = cluster.wait_events(ns, "open", reason="OpenToCluster")
    assert event["type"] == "Warning"
    # The gauge counts every open server of the cluster (earlier tests' too): judge its change.
    open_before = wait_until(
        lambda: operator.metrics()[OPEN] or None, timeout=10, what="open-to-cluster gauge"
    )
    assert SETTINGS not in (template_of(cluster, "open", ns, st["activeRevision"])["metadata"]
                            .get("annotations") or {})  # fmt: skip

    # auth: {} requires ServiceAccount tokens: a new revision, with the settings in it.
    first = st["activeRevision"]
    tools = {"deny": ["*_admin"], "rules": [{"name": "agents", "match": {"groups": ["a"]}}]}
    patch_spec(cluster, "open", ns, {"auth": {}, "tools": tools})
    st = wait_until(
        lambda: (
            (s := status(cluster, "open", ns)).get("activeRevision") not in (None, first)
            and cond(s, "Ready").get("status") == "True"
            and s
        ),
        timeout=90,
        what="the secured revision to serve",
    )
    assert cond(st, "Secured")["reason"] == "TokensRequired"
    assert f"mcpops:{ns}:open" in cond(st, "Secured")["message"]
    template = template_of(cluster, "open", ns, st["activeRevision"])
    settings = json.loads(template["metadata"]["annotations"][SETTINGS])
    [issuer] = settings["auth"]["issuers"]
    assert issuer["kind"] == "kubernetes" and issuer["audiences"] == [f"mcpops:{ns}:open"]
    rules = settings["tools"]["rules"]
    assert rules[0]["match"] == {"serviceAccounts": [f"{ns}/open-mcpops-test"]}
    assert rules[1]["name"] == "agents"
    proxy = next(c for c in template["spec"]["containers"] if c["name"] == "mcp-proxy")
    assert proxy["args"][:2] == ["--security-file", "/var/run/mcpops/security/settings.json"]
    sa = cluster.get("serviceaccount", "open-mcpops-test", ns)
    assert sa is not None and sa["metadata"]["ownerReferences"][0]["kind"] == "MCPServer"
    wait_until(
        lambda: operator.metrics()[OPEN] <= open_before - 1, timeout=10, what="one open server less"
    )

    # mode None: open on purpose, no warning; the ServiceAccount goes.
    patch_spec(cluster, "open", ns, {"auth": {"mode": "None"}, "tools": None})
    wait_until(
        lambda: cond(status(cluster, "open", ns), "Secured").get("reason") == "AuthDisabled",
        timeout=30,
        what="Secured AuthDisabled",
    )
    wait_until(
        lambda: cluster.get("serviceaccount", "open-mcpops-test", ns) is None,
        timeout=30,
        what="the test ServiceAccount removed",
    )
    assert len(cluster.events(ns, "open", reason="OpenToCluster")) == 1


def test_the_test_job_carries_a_token_for_the_server(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    suite = {"name": "smoke", "builtin": {"requiredTools": ["echo"]}}
    cluster.apply(mcpserver("t", auth={"audiences": ["mcp-t"]}, tests=[suite]), namespace)
    job = wait_until(
        lambda: next(iter(cluster.list("jobs", namespace, "mcpops.dev/server=t")), None),
        timeout=60,
        what="the test Job",
    )
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "t-mcpops-test"
    [token] = [v for v in pod["volumes"] if v["name"] == "mcp-token"]
    source = token["projected"]["sources"][0]["serviceAccountToken"]
    assert source["audience"] == "mcp-t"
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["MCP_TOKEN_FILE"] == "/var/run/mcpops/token/token"


def test_mistakes_in_auth_are_refused_naming_the_field(crds: Cluster, namespace: str) -> None:
    cases = {
        "spec.transport": {"transport": "sse", "auth": {}},
        "spec.auth": {"auth": {"mode": "None", "audiences": ["x"]}},
        "spec.tools.rules[0].name": {"tools": {"rules": [{"name": "mcpops-tests", "match": {}}]}},
        "spec.rateLimits.perCaller.burst": {
            "rateLimits": {"perCaller": {"perSecond": 1, "burst": 0}}
        },
    }
    for field, spec in cases.items():
        res = crds.kubectl(
            "create", "-n", namespace, "-f", "-", check=False,
            input_=json.dumps(mcpserver("bad", **spec)),
        )  # fmt: skip
        assert res.returncode != 0 and field in res.stderr, (field, res.stderr)
