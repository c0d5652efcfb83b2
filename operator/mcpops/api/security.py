"""spec.auth, spec.tools, spec.rateLimits, spec.audit, spec.tls: what the in-pod proxy
enforces in front of the server (proxy/README.md, "Security settings").

The operator renders these fields into the proxy's settings file (kinds/mcpserver/
security.py); they are part of the pod template, so a change is a new revision, tested
before it takes traffic. A server without `auth` is open to every pod that can reach it
and says so (condition Secured=False, reason OpenToCluster); `auth.mode: None` says it is
meant to be.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from mcpops.api.base import DNS_SUBDOMAIN, ApiModel, cel, validations

# Tool names and patterns as the proxy reads them: 1-256 bytes, `*` is the only wildcard;
# compared as exact bytes (no case folding, no Unicode normalization).
ToolPattern = Annotated[str, Field(min_length=1, max_length=256)]
Audience = Annotated[str, Field(min_length=1, max_length=256)]
Url = Annotated[str, Field(max_length=2048, pattern=r"^https?://\S+$")]
# namespace/name, either part may be `*`.
ServiceAccountRef = Annotated[
    str,
    Field(
        max_length=317,
        pattern=r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)/(\*|[a-z0-9]([-a-z0-9.]*[a-z0-9])?)$",
    ),
]
_SET: dict[str, Any] = {"x-kubernetes-list-type": "set"}


class Issuer(ApiModel):
    """An OIDC issuer whose JWTs are accepted (keys from its discovery document)."""

    issuer: Url = Field(description="The issuer URL, exactly as in the tokens' `iss`.")
    audiences: list[Audience] = Field(
        description="Accepted `aud` values (one must be in the token): a token meant for "
        "another service is refused.",
        min_length=1,
        max_length=16,
        json_schema_extra=_SET,
    )
    groups_claim: str | None = Field(
        default=None,
        description="The claim holding the caller's groups (default groups).",
        max_length=128,
    )
    discovery_url: Url | None = Field(
        default=None,
        alias="discoveryURL",
        description="Where the discovery document is (default "
        "{issuer}/.well-known/openid-configuration).",
    )
    jwks_url: Url | None = Field(
        default=None,
        alias="jwksURL",
        description="The issuer's key set, instead of discovering it.",
    )


class Auth(ApiModel):
    """Who may call the server at all: bearer tokens checked at the proxy."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.mode != 'None' || (!has(self.issuers) && !has(self.audiences))",
                "auth.mode None takes no issuers or audiences: say Bearer to require tokens",
            )
        )
    }

    mode: Literal["Bearer", "None"] = Field(
        default="Bearer",
        description="Bearer: every MCP request needs a valid token (401 with "
        "WWW-Authenticate otherwise). None: open on purpose (silences Secured=False).",
    )
    audiences: list[Audience] | None = Field(
        default=None,
        description="Audiences accepted in Kubernetes ServiceAccount tokens (an in-cluster "
        "caller mounts a projected token with one of them). Default: "
        "mcpops:<namespace>:<name>. The operator's test Jobs use the first.",
        min_length=1,
        max_length=16,
        json_schema_extra=_SET,
    )
    service_account_issuer: Url | None = Field(
        default=None,
        description="The cluster's --service-account-issuer (default "
        "https://kubernetes.default.svc.cluster.local).",
    )
    issuers: list[Issuer] | None = Field(
        default=None,
        description="OIDC issuers whose tokens are accepted besides ServiceAccount tokens.",
        max_length=8,
    )
    clock_skew_seconds: int | None = Field(
        default=None, ge=0, le=600, description="Leeway on exp/nbf/iat (default 60)."
    )
    resource: Url | None = Field(
        default=None,
        description="The protected resource's URL in the metadata served at "
        "/.well-known/oauth-protected-resource (default: the URL the client used).",
    )
    authorization_servers: list[Url] | None = Field(
        default=None,
        description="Authorization servers named in that metadata (default: the issuers).",
        max_length=8,
    )


class Override(ApiModel):
    """What clients see of one server tool instead of what the server says."""

    name: ToolPattern | None = Field(
        default=None,
        description="The name clients see and call (the server's name is then refused).",
    )
    description: str | None = Field(default=None, max_length=8192, description="Description.")
    annotations: dict[str, Any] | None = Field(
        default=None,
        description="Tool annotations (replace the server's), e.g. {readOnlyHint: true}.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


class CallerMatch(ApiModel):
    """Callers: any listed value matching is a match; empty matches every caller."""

    subjects: list[Annotated[str, Field(max_length=512)]] | None = Field(
        default=None, description="Token subjects (`sub`).", max_length=64
    )
    groups: list[Annotated[str, Field(max_length=512)]] | None = Field(
        default=None, description="Groups (from the issuer's groups claim).", max_length=64
    )
    service_accounts: list[ServiceAccountRef] | None = Field(
        default=None,
        description="ServiceAccounts as namespace/name; `*` for either part (agents/*).",
        max_length=64,
    )


class ToolRule(ApiModel):
    """Per-caller narrowing; the first rule whose match fits the caller applies."""

    name: str = Field(
        description="The rule's name, also the caller_class of its calls in the metrics.",
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        json_schema_extra=validations(
            cel(
                "!(self in ['anonymous', 'authenticated', 'mcpops-tests'])",
                "anonymous, authenticated and mcpops-tests are taken",
            )
        ),
    )
    match: CallerMatch = Field(description="Which callers the rule is for.")
    when: str | None = Field(
        default=None,
        max_length=4096,
        description="A CEL condition on the caller and the tool (variables sub, groups, "
        "serviceAccount, anonymous, claims, tool, argumentsBytes; proxy/README.md), e.g. "
        '\'"sre" in groups && tool.startsWith("read_")\'. The rule applies only when it '
        "is true; an evaluation that fails refuses the call. Checked when the proxy starts: "
        "an expression that does not compile keeps the new revision from becoming ready.",
    )
    allow: list[ToolPattern] | None = Field(
        default=None, description="Tools these callers may call (default: all).", max_length=256
    )
    deny: list[ToolPattern] | None = Field(
        default=None, description="Tools these callers may not call.", max_length=256
    )


class Tools(ApiModel):
    """Which tools exist, under which name, for whom. Tools a caller may not call are absent
    from tools/list and refused on tools/call (JSON-RPC error saying why)."""

    allow: list[ToolPattern] | None = Field(
        default=None,
        description="Server tool names or patterns (`*` any run of characters) that are "
        "available (default: all).",
        max_length=256,
    )
    deny: list[ToolPattern] | None = Field(
        default=None, description="Server tools never available.", max_length=256
    )
    overrides: dict[str, Override] | None = Field(
        default=None,
        description="By server tool name: rename, describe, annotate.",
        json_schema_extra={"maxProperties": 256},
    )
    rules: list[ToolRule] | None = Field(
        default=None,
        description="Per-caller rules, first match wins. With rules, a caller no rule "
        "matches gets no tools (the operator's test Jobs always match their own rule).",
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )


class Bucket(ApiModel):
    """A token bucket: refilled at perSecond, holding at most burst."""

    per_second: float = Field(gt=0, description="Calls per second, sustained (e.g. 0.5).")
    burst: int = Field(ge=1, le=100000, description="Calls allowed at once.")


class RateLimits(ApiModel):
    """Limits on tools/call; over them: 429 with Retry-After."""

    per_caller: Bucket | None = Field(
        default=None, description="One bucket per caller (anonymous callers share one)."
    )
    per_tool: dict[str, Bucket] | None = Field(
        default=None,
        description="By server tool name or pattern (the most specific wins): one bucket per "
        "tool, all callers.",
        json_schema_extra={"maxProperties": 256},
    )


class Audit(ApiModel):
    """The per-call record: one JSON line per tools/call on the proxy's stdout."""

    enabled: bool = Field(default=True, description="On by default.")
    include_arguments: bool = Field(
        default=False,
        description="Log the arguments' values (only their size and SHA-256 otherwise).",
    )


class Tls(ApiModel):
    """HTTPS at the proxy's port from a kubernetes.io/tls Secret (what cert-manager
    writes); a renewed Secret is picked up without a restart."""

    secret_name: str = Field(
        description="The Secret with tls.crt and tls.key (and ca.crt, which the test Jobs trust).",
        max_length=253,
        pattern=DNS_SUBDOMAIN,
    )
