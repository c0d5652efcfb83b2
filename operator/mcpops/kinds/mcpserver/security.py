"""spec.auth/tools/rateLimits/audit/tls rendered for the in-pod proxy, and what status says
of them. Pure.

The settings file (proxy/README.md, "Security settings") travels in the pod template: as an
annotation, projected into the proxy's filesystem by a downward API volume. So a change is a
new revision (tested before it takes traffic, blue keeps its own settings until it is gone),
and there is no ConfigMap to keep per revision and prune. Nothing in it is secret (issuer
URLs, audiences, tool names).

Kubernetes ServiceAccount tokens are always accepted with auth (the API server is an OIDC
issuer; the proxy checks them locally against its keys). The proxy fetches those keys with a
token of the pod's ServiceAccount and the cluster's CA, projected beside the settings (the
pods mount no token otherwise). The operator's test Jobs run as their own ServiceAccount
(`<name>-mcpops-test`, no RBAC) with a projected token for the server's first audience, and
a first rule lets it call every tool the server offers (tools.allow/deny still apply: the
suites test what clients see).
"""

from __future__ import annotations

import json
from typing import Any

from mcpops.api.base import Condition
from mcpops.api.mcpserver import MCPServerSpec

SETTINGS_ANNOTATION = "mcpops.dev/proxy-security"
SETTINGS_DIR = "/var/run/mcpops/security"
SETTINGS_FILE = "settings.json"
APISERVER_DIR = "/var/run/mcpops/apiserver"  # token and CA to fetch the API server's keys
TLS_DIR = "/var/run/mcpops/tls"
TOKEN_DIR = "/var/run/mcpops/token"  # noqa: S105 (a path) test Jobs: the projected token
TOKEN_FILE_ENV = "MCP_TOKEN_FILE"  # noqa: S105 (a variable name)
APISERVER_JWKS = "https://kubernetes.default.svc/openid/v1/jwks"
TEST_RULE = "mcpops-tests"
TOKEN_SECONDS = 3600  # the kubelet renews a projected token at 80% of its life
CONDITION = "Secured"


def uses_proxy(transport: str | None) -> bool:
    """The proxy serves Streamable HTTP (and wraps stdio); the older sse transport keeps the
    health sidecar (the proxy does not speak it)."""
    return transport != "sse"


def proxied(spec: MCPServerSpec) -> bool:
    return uses_proxy(spec.transport)


def requires_token(spec: MCPServerSpec) -> bool:
    """Every MCP request needs a bearer token (the operator's own callers carry one)."""
    return proxied(spec) and spec.auth is not None and spec.auth.mode == "Bearer"


def test_account(name: str) -> str:
    """The ServiceAccount the server's test Jobs run as."""
    return f"{name}-mcpops-test"


def audiences(spec: MCPServerSpec, namespace: str, name: str) -> list[str]:
    """Audiences accepted in ServiceAccount tokens; the test Jobs use the first."""
    if spec.auth and spec.auth.audiences:
        return list(spec.auth.audiences)
    return [f"mcpops:{namespace}:{name}"]


def _auth(spec: MCPServerSpec, namespace: str, name: str) -> dict[str, Any]:
    auth = spec.auth
    assert auth is not None
    if auth.mode == "None":
        return {"mode": "None"}
    kube: dict[str, Any] = {
        "kind": "kubernetes",
        "audiences": audiences(spec, namespace, name),
        # The keys by their in-cluster address: the discovery document names the API
        # server's advertised address, which a pod may not reach.
        "jwksURL": APISERVER_JWKS,
        "caFile": f"{APISERVER_DIR}/ca.crt",
        "tokenFile": f"{APISERVER_DIR}/token",
    }
    if auth.service_account_issuer:
        kube["issuer"] = auth.service_account_issuer
    out: dict[str, Any] = {
        "mode": "Bearer",
        "issuers": [kube, *(i.to_wire() for i in auth.issuers or [])],
    }
    if auth.clock_skew_seconds is not None:
        out["clockSkew"] = f"{auth.clock_skew_seconds}s"
    if auth.resource:
        out["resource"] = auth.resource
    if auth.authorization_servers:
        out["authorizationServers"] = list(auth.authorization_servers)
    return out


def _tools(spec: MCPServerSpec, namespace: str, name: str) -> dict[str, Any] | None:
    wire = spec.tools.to_wire() if spec.tools else {}
    if wire.get("rules") and requires_token(spec):
        # With rules, a caller no rule matches gets nothing: the test Jobs match first.
        tests = {
            "name": TEST_RULE,
            "match": {"serviceAccounts": [f"{namespace}/{test_account(name)}"]},
            "allow": ["*"],
        }
        wire["rules"] = [tests, *wire["rules"]]
    return wire or None


def render(spec: MCPServerSpec, namespace: str, name: str) -> dict[str, Any] | None:
    """The proxy's settings, or None when nothing is asked of it (no file: the proxy runs
    as before, and existing servers keep their revision)."""
    if not proxied(spec):
        return None
    out: dict[str, Any] = {}
    if spec.auth is not None and spec.auth.mode == "Bearer":
        out["auth"] = _auth(spec, namespace, name)
    if tools := _tools(spec, namespace, name):
        out["tools"] = tools
    if spec.rate_limits is not None and (limits := spec.rate_limits.to_wire()):
        out["rateLimits"] = limits
    if spec.tls is not None:
        out["tls"] = {"certFile": f"{TLS_DIR}/tls.crt", "keyFile": f"{TLS_DIR}/tls.key"}
    if spec.audit is not None and (out or spec.audit.enabled):
        out["audit"] = spec.audit.to_wire()
    return out or None


def settings_json(settings: dict[str, Any]) -> str:
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def scheme(spec: MCPServerSpec) -> str:
    return "https" if proxied(spec) and spec.tls is not None else "http"


# ---------------------------------------------------------------- the pod's parts


def pod_volumes(spec: MCPServerSpec) -> list[dict[str, Any]]:
    """Volumes the proxy reads its settings (and what they point at) from."""
    items = [
        {
            "path": SETTINGS_FILE,
            "fieldRef": {"fieldPath": f"metadata.annotations['{SETTINGS_ANNOTATION}']"},
        }
    ]
    out: list[dict[str, Any]] = [{"name": "mcpops-security", "downwardAPI": {"items": items}}]
    if requires_token(spec):
        out.append(
            {
                "name": "mcpops-apiserver",
                "projected": {
                    "sources": [
                        {
                            "serviceAccountToken": {
                                "path": "token",
                                "expirationSeconds": TOKEN_SECONDS,
                            }
                        },
                        {
                            "configMap": {
                                "name": "kube-root-ca.crt",
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            }
                        },
                    ]
                },
            }
        )
    if spec.tls is not None:
        out.append({"name": "mcpops-tls", "secret": {"secretName": spec.tls.secret_name}})
    return out


def proxy_mounts(spec: MCPServerSpec) -> list[dict[str, Any]]:
    """The proxy container's mounts of pod_volumes."""
    out = [{"name": "mcpops-security", "mountPath": SETTINGS_DIR, "readOnly": True}]
    if requires_token(spec):
        out.append({"name": "mcpops-apiserver", "mountPath": APISERVER_DIR, "readOnly": True})
    if spec.tls is not None:
        out.append({"name": "mcpops-tls", "mountPath": TLS_DIR, "readOnly": True})
    return out


def proxy_flags() -> list[str]:
    return ["--security-file", f"{SETTINGS_DIR}/{SETTINGS_FILE}"]


def test_pod_parts(
    spec: MCPServerSpec, namespace: str, name: str
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """What a test Job's pod needs to reach an auth-required (or TLS) server: pod spec
    fields, volumes, mounts and env of the test container."""
    pod: dict[str, Any] = {}
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    env: list[dict[str, Any]] = []
    if requires_token(spec):
        pod["serviceAccountName"] = test_account(name)
        token = {
            "path": "token",
            "audience": audiences(spec, namespace, name)[0],
            "expirationSeconds": TOKEN_SECONDS,
        }
        volumes.append(
            {"name": "mcp-token", "projected": {"sources": [{"serviceAccountToken": token}]}}
        )
        mounts.append({"name": "mcp-token", "mountPath": TOKEN_DIR, "readOnly": True})
        env.append({"name": TOKEN_FILE_ENV, "value": f"{TOKEN_DIR}/token"})
    if proxied(spec) and spec.tls is not None:
        # The runner trusts the Secret's CA (cert-manager writes ca.crt beside the pair).
        volumes.append(
            {
                "name": "mcp-ca",
                "secret": {
                    "secretName": spec.tls.secret_name,
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                },
            }
        )
        mounts.append({"name": "mcp-ca", "mountPath": "/var/run/mcpops/ca", "readOnly": True})
        env.append({"name": "SSL_CERT_FILE", "value": "/var/run/mcpops/ca/ca.crt"})
    return pod, volumes, mounts, env


# ---------------------------------------------------------------- status


def condition(spec: MCPServerSpec, namespace: str, name: str) -> Condition:
    """Secured: True when tokens are required; False (a warning, not a failure) otherwise."""
    if requires_token(spec):
        aud = audiences(spec, namespace, name)[0]
        return Condition(
            type=CONDITION,
            status="True",
            reason="TokensRequired",
            message=f"callers need a bearer token: a ServiceAccount token with audience "
            f"{aud!r}"
            + (" or a token of spec.auth.issuers" if spec.auth and spec.auth.issuers else ""),
        )
    if spec.auth is not None and spec.auth.mode == "None":
        return Condition(
            type=CONDITION,
            status="False",
            reason="AuthDisabled",
            message="spec.auth.mode is None: open on purpose to every pod that can reach it",
        )
    how = (
        "set spec.auth: {} to require ServiceAccount tokens (or OIDC issuers)"
        if proxied(spec)
        else "sse servers cannot require tokens: use transport streamable-http or stdio"
    )
    return Condition(
        type=CONDITION,
        status="False",
        reason="OpenToCluster",
        message=f"no spec.auth: any pod that can reach the server may call every tool; {how}, "
        "or spec.auth.mode: None to say it is meant to be open",
    )
