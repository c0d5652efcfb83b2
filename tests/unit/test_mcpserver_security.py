"""spec.auth/tools/rateLimits/audit/tls: the proxy's settings rendered from the spec, where
they go in the pod, the test Job's token, the Secured condition and its Event."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from mcpops.api.mcpserver import MCPServerSpec
from mcpops.kinds.mcpserver import desired, secured, security
from mcpops.kinds.mcpserver.observed import Observed
from mcpops.kinds.mcpserver.plan import plan
from mcpops.objects.timestamps import parse_time

NOW = parse_time("2026-12-07T12:00:00Z")
assert NOW is not None


def spec(**fields: Any) -> MCPServerSpec:
    return MCPServerSpec.model_validate({"image": "img:1", **fields})


def server(**fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": "s", "namespace": "ns", "uid": "u1", "generation": 1},
        "spec": {"image": "img:1", **fields},
    }


def test_nothing_asked_renders_nothing_and_keeps_the_revision() -> None:
    assert security.render(spec(), "ns", "s") is None
    assert security.render(spec(auth={"mode": "None"}), "ns", "s") is None
    plain = desired.pod_template("s", spec(), namespace="ns")
    assert security.SETTINGS_ANNOTATION not in (plain["metadata"].get("annotations") or {})
    assert not any("security" in str(c.get("args")) for c in plain["spec"]["containers"])
    # auth None changes nothing in the pods: the same revision as no auth at all.
    assert desired.revision_of("s", spec(), namespace="ns") == desired.revision_of(
        "s", spec(auth={"mode": "None"}), namespace="ns"
    )


def test_auth_renders_a_kubernetes_issuer_for_the_servers_audience() -> None:
    out = security.render(spec(auth={}), "ns", "s")
    assert out is not None
    [kube] = out["auth"]["issuers"]
    assert kube["kind"] == "kubernetes"
    assert kube["audiences"] == ["mcpops:ns:s"]
    assert kube["jwksURL"] == "https://kubernetes.default.svc/openid/v1/jwks"
    assert kube["tokenFile"].startswith(security.APISERVER_DIR)
    assert "tools" not in out  # no rules of the user's: no rule of ours either
    oidc = {"issuer": "https://login.example.com", "audiences": ["mcp"], "groupsClaim": "roles"}
    full = security.render(
        spec(
            auth={"audiences": ["a", "b"], "issuers": [oidc], "clockSkewSeconds": 5,
                  "serviceAccountIssuer": "https://issuer.example"},
            rateLimits={"perCaller": {"perSecond": 2, "burst": 4}},
            audit={"includeArguments": True},
        ),
        "ns", "s",
    )  # fmt: skip
    assert full is not None
    assert full["auth"]["issuers"][0]["audiences"] == ["a", "b"]
    assert full["auth"]["issuers"][0]["issuer"] == "https://issuer.example"
    assert full["auth"]["issuers"][1] == oidc
    assert full["auth"]["clockSkew"] == "5s"
    assert full["rateLimits"] == {"perCaller": {"perSecond": 2.0, "burst": 4}}
    assert full["audit"] == {"enabled": True, "includeArguments": True}


def test_with_rules_the_test_jobs_account_matches_first() -> None:
    rules = [
        {
            "name": "agents",
            "match": {"serviceAccounts": ["agents/*"]},
            "deny": ["x"],
            "when": 'tool.startsWith("read_")',
        }
    ]
    out = security.render(spec(auth={}, tools={"allow": ["echo"], "rules": rules}), "ns", "s")
    assert out is not None
    first, users = out["tools"]["rules"]
    assert first == {
        "name": "mcpops-tests",
        "match": {"serviceAccounts": ["ns/s-mcpops-test"]},
        "allow": ["*"],
    }
    assert users["name"] == "agents" and users["when"] == 'tool.startsWith("read_")'
    assert out["tools"]["allow"] == ["echo"]  # the global list still binds the tests
    # Without auth there is no caller identity to add a rule for.
    open_ = security.render(spec(tools={"rules": rules}), "ns", "s")
    assert open_ is not None and open_["tools"]["rules"][0]["name"] == "agents"


@pytest.mark.parametrize("transport", ["streamable-http", "stdio"])
def test_the_settings_reach_the_proxy_through_the_template(transport: str) -> None:
    extra = {"command": ["srv"]} if transport == "stdio" else {}
    s = spec(transport=transport, auth={}, tools={"deny": ["a"]}, **extra)
    template = desired.pod_template("s", s, namespace="ns")
    settings = json.loads(template["metadata"]["annotations"][security.SETTINGS_ANNOTATION])
    assert settings == security.render(s, "ns", "s")
    proxy = next(
        c for c in template["spec"]["containers"]
        if c["name"] == ("server" if transport == "stdio" else "mcp-proxy")
    )  # fmt: skip
    argv = proxy.get("command", []) + proxy.get("args", [])
    assert "--security-file" in argv
    mounts = {m["mountPath"] for m in proxy["volumeMounts"]}
    assert {security.SETTINGS_DIR, security.APISERVER_DIR} <= mounts
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    item = volumes["mcpops-security"]["downwardAPI"]["items"][0]
    assert security.SETTINGS_ANNOTATION in item["fieldRef"]["fieldPath"]
    sources = volumes["mcpops-apiserver"]["projected"]["sources"]
    assert "audience" not in sources[0]["serviceAccountToken"]  # the API server's own
    # A change of policy is a new revision (tested blue-green), and so is the namespace.
    other = spec(transport=transport, auth={}, tools={"deny": ["b"]}, **extra)
    assert desired.revision_of("s", s, namespace="ns") != desired.revision_of(
        "s", other, namespace="ns"
    )


def test_pod_annotations_never_replace_the_settings() -> None:
    s = spec(auth={}, podAnnotations={security.SETTINGS_ANNOTATION: "{}"})
    template = desired.pod_template("s", s, namespace="ns")
    assert template["metadata"]["annotations"][security.SETTINGS_ANNOTATION] != "{}"


def test_tls_mounts_the_secret_and_checks_over_https() -> None:
    s = spec(auth={}, tls={"secretName": "cert"})
    template = desired.pod_template("s", s, namespace="ns")
    proxy = next(c for c in template["spec"]["containers"] if c["name"] == "mcp-proxy")
    assert proxy["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    settings = json.loads(template["metadata"]["annotations"][security.SETTINGS_ANNOTATION])
    assert settings["tls"]["certFile"].startswith(security.TLS_DIR)
    plain = desired.pod_template("s", spec(), namespace="ns")
    http = next(c for c in plain["spec"]["containers"] if c["name"] == "mcp-proxy")
    assert "scheme" not in http["readinessProbe"]["httpGet"]


def test_the_test_job_runs_as_its_account_with_a_token_for_the_server() -> None:
    from mcpops.api.testsuite import TestSuite

    suite = TestSuite.model_validate({"name": "t", "builtin": {"requiredTools": ["x"]}})
    body = server(auth={"audiences": ["mcp-s"]})
    job = desired.test_job(
        body, MCPServerSpec.model_validate(body["spec"]), suite,
        revision="r1", attempt=1, preview_url="http://p", baseline=None,
    )  # fmt: skip
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "s-mcpops-test"
    assert pod["automountServiceAccountToken"] is False  # only the projected token
    [vol] = [v for v in pod["volumes"] if v["name"] == "mcp-token"]
    token = vol["projected"]["sources"][0]["serviceAccountToken"]
    assert token["audience"] == "mcp-s"
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env[security.TOKEN_FILE_ENV] == f"{security.TOKEN_DIR}/token"
    open_job = desired.test_job(
        server(), MCPServerSpec.model_validate(server()["spec"]), suite,
        revision="r1", attempt=1, preview_url="http://p", baseline=None,
    )  # fmt: skip
    assert "serviceAccountName" not in open_job["spec"]["template"]["spec"]


def test_secured_condition() -> None:
    c = security.condition(spec(), "ns", "s")
    assert (c.status, c.reason) == ("False", "OpenToCluster")
    assert "every tool" in c.message and "spec.auth" in c.message and "None" in c.message
    c = security.condition(spec(auth={"mode": "None"}), "ns", "s")
    assert (c.status, c.reason) == ("False", "AuthDisabled")
    c = security.condition(spec(auth={}), "ns", "s")
    assert (c.status, c.reason) == ("True", "TokensRequired") and "mcpops:ns:s" in c.message
    c = security.condition(spec(transport="sse"), "ns", "s")
    assert c.reason == "OpenToCluster" and "sse" in c.message


def test_the_open_event_is_posted_once_and_the_account_follows_auth() -> None:
    first = plan(server(), Observed(), NOW)
    assert [e.reason for e in first.events if e.type == "Warning"] == ["OpenToCluster"]
    cond = next(c for c in first.status["conditions"] if c["type"] == "Secured")
    again = server()
    again["status"] = {"conditions": [cond]}
    assert "OpenToCluster" not in [e.reason for e in plan(again, Observed(), NOW).events]

    auth = plan(server(auth={}), Observed(), NOW)
    [sa] = [m for m in auth.apply if m["kind"] == "ServiceAccount"]
    assert sa["metadata"]["name"] == "s-mcpops-test"
    assert sa["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert "OpenToCluster" not in [e.reason for e in auth.events]
    live = secured.test_service_account(server())
    live["metadata"]["uid"] = "sa1"
    gone = plan(
        server(auth={"mode": "None"}), Observed(service_accounts={"s-mcpops-test": live}), NOW
    )
    assert [(d.kind, d.name) for d in gone.delete] == [("ServiceAccount", "s-mcpops-test")]


@pytest.mark.parametrize(
    "fields",
    [
        {"auth": {"mode": "Basic"}},
        {"tools": {"rules": [{"name": "Bad Name", "match": {}}]}},
        {"tools": {"allow": [""]}},
        {"rateLimits": {"perTool": {"echo": {"perSecond": 0, "burst": 1}}}},
        {"auth": {"issuers": [{"issuer": "login.example.com", "audiences": ["a"]}]}},
        {"auth": {"issuers": [{"issuer": "https://x", "audiences": []}]}},
        {"tools": {"rules": [{"name": "r", "match": {"serviceAccounts": ["no-slash"]}}]}},
    ],
)
def test_the_model_refuses_what_the_proxy_would(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        spec(**fields)
