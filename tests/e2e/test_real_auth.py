"""A secured MCPServer on the real node: spec.auth, spec.tools, spec.rateLimits and
spec.audit rendered by the operator and enforced by the real proxy in real pods.

The server is server-everything from npm (Streamable HTTP, the proxy beside it). Callers are
ServiceAccounts: the operator's own test Job (an in-cluster pod with a projected token for
the server's audience) must pass its suite for the server to become Ready; this test process
calls the stable Service with tokens the API server issues for a ServiceAccount (TokenRequest,
the same signed JWT a projected volume holds).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import httpx
import pytest
from clusterkit import Cluster, wait_until
from conftest import Installed
from process.proxykit import ACCEPT, INIT, answer
from test_real_mcpservers import FAST, cond, pods_of, stable_url, wait_ready
from test_real_sessions import everything

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SUITE = {
    "name": "smoke",
    "timeoutSeconds": 120,
    "builtin": {
        "requiredTools": ["echo", "get-sum"],
        "toolCalls": [
            {"tool": "get-sum", "arguments": {"a": 1, "b": 2}, "expect": {"contains": "3"}}
        ],
    },
}


def secured(name: str) -> dict[str, Any]:
    return everything(
        name,
        rollout=FAST,
        auth={},
        tools={
            "allow": ["echo", "get-sum", "get-env"],
            "deny": ["get-env"],
            "rules": [{"name": "agents", "match": {"serviceAccounts": ["*/agent"]}}],
        },
        rateLimits={"perTool": {"echo": {"perSecond": 0.1, "burst": 2}}},
        audit={},
        tests=[SUITE],
    )


class Caller:
    """One MCP session over plain HTTP with a bearer token (or none)."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.headers = dict(ACCEPT)
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.session = ""

    def post(self, body: dict[str, Any]) -> httpx.Response:
        h = dict(self.headers)
        if self.session:
            h["Mcp-Session-Id"] = self.session
        return httpx.post(self.url, json=body, headers=h, timeout=30)

    def open(self) -> Caller:
        resp = self.post(INIT)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        self.session = resp.headers["mcp-session-id"]
        note = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert note.status_code == 202, note.text
        return self

    def tools(self) -> list[str]:
        msg = answer(self.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        return [t["name"] for t in msg["result"]["tools"]]

    def call(self, tool: str, arguments: dict[str, Any]) -> httpx.Response:
        params = {"name": tool, "arguments": arguments}
        return self.post({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params})


def token(cluster: Cluster, ns: str, account: str, audience: str) -> str:
    cluster.kubectl("create", "serviceaccount", account, "-n", ns, check=False)
    out = cluster.kubectl(
        "create", "token", account, "-n", ns, "--audience", audience, "--duration", "1h"
    ).stdout
    return out.strip()


def metric(pod: dict[str, Any], series: str) -> float:
    with urllib.request.urlopen(f"http://{pod['status']['podIP']}:8090/metrics", timeout=10) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[1])
    return 0.0


def audit_records(cluster: Cluster, ns: str, pod: dict[str, Any]) -> list[dict[str, Any]]:
    logs = cluster.kubectl(
        "logs", "-n", ns, pod["metadata"]["name"], "-c", "mcp-proxy", "--tail=-1"
    ).stdout
    out = []
    for line in logs.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("event") == "audit":
            out.append(rec)
    return out


def test_a_secured_server(cluster: Cluster, installed: Installed, namespace: str) -> None:
    name = "sec"
    cluster.apply(secured(name), namespace)
    # Ready means: the readiness probe passed (no token needed) and the test Job, with its
    # projected ServiceAccount token, passed the suite through the auth-required proxy.
    try:
        st = wait_ready(cluster, name, namespace, timeout=300)
    except AssertionError:
        for pod in cluster.list("pods", namespace, f"mcpops.dev/server={name},!job-name"):
            logs = cluster.kubectl(
                "logs", "-n", namespace, pod["metadata"]["name"], "-c", "mcp-proxy", check=False
            )
            print(f"--- proxy of {pod['metadata']['name']} ---\n{logs.stdout[-6000:]}")
        raise
    assert cond(st, "TestsPassed").get("status") == "True", st
    assert cond(st, "Secured")["reason"] == "TokensRequired", st
    audience = f"mcpops:{namespace}:{name}"
    assert audience in cond(st, "Secured")["message"]
    url = stable_url(cluster, name, namespace)
    [pod] = pods_of(cluster, name, namespace, st["activeRevision"])

    # No token: 401 and where to find out how to get one (MCP authorization, RFC 9728).
    anon = Caller(url, None).post(INIT)
    assert anon.status_code == 401, anon.text
    assert "resource_metadata=" in anon.headers["www-authenticate"], anon.headers
    # A token for another audience is no token for this server.
    wrong = Caller(url, token(cluster, namespace, "agent", "someone-else")).post(INIT)
    assert wrong.status_code == 401, wrong.text

    agent = Caller(url, token(cluster, namespace, "agent", audience)).open()
    assert sorted(agent.tools()) == ["echo", "get-sum"]  # get-env denied: not listed
    ok = answer(agent.call("get-sum", {"a": 2, "b": 3}))
    assert "5" in json.dumps(ok["result"]), ok
    denied = answer(agent.call("get-env", {}))
    assert "error" in denied and "result" not in denied, denied
    # A ServiceAccount no rule names authenticates, and gets no tools.
    stranger = Caller(url, token(cluster, namespace, "stranger", audience)).open()
    assert stranger.tools() == []

    # echo: burst 2, then one call every 10 s. The third call at once is refused...
    codes = [agent.call("echo", {"message": f"m{i}"}).status_code for i in range(3)]
    assert codes[:2] == [200, 200] and codes[2] == 429, codes
    limited = agent.call("echo", {"message": "again"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    # ... and the limit recovers as the bucket refills.
    wait_until(
        lambda: agent.call("echo", {"message": "later"}).status_code == 200,
        timeout=90,
        what="the echo rate limit to recover",
    )

    # Every call is in the audit log (the proxy container's stdout) and in the metrics.
    caller = f"system:serviceaccount:{namespace}:agent"
    tester = f"system:serviceaccount:{namespace}:{name}-mcpops-test"

    def audited() -> list[dict[str, Any]] | None:
        recs = audit_records(cluster, namespace, pod)
        outcomes = {(r.get("caller"), r.get("tool"), r.get("outcome")) for r in recs}
        want = {
            (caller, "get-sum", "ok"),
            (caller, "get-env", "denied"),
            (caller, "echo", "rate_limited"),
            (caller, "echo", "ok"),
        }
        return recs if want <= outcomes else None

    recs = wait_until(audited, timeout=30, what="the audit records in the proxy's log")
    assert all("arguments" not in r and r.get("argumentsSha256") for r in recs), recs
    assert all(r.get("revision") == st["activeRevision"] for r in recs), recs
    assert (
        metric(
            pod, 'mcpops_proxy_tool_calls_total{tool="get-sum",outcome="ok",caller_class="agents"}'
        )
        >= 1
    )
    # The test Job's calls went to the preview Service, which pointed at this same pod.
    assert any(r.get("caller") == tester and r.get("tool") == "get-sum" for r in recs), recs
