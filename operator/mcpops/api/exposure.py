"""spec.expose: the stable Service reached from beyond the cluster, through a Gateway API
HTTPRoute or an Ingress. Either points at the stable Service only (never the preview), so
it moves with the blue-green switch without being rewritten: the Service's selector moves.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mcpops.api.base import (
    DNS_SUBDOMAIN,
    MAX_MAP_ENTRIES,
    AnnotationValue,
    ApiModel,
    cel,
    keys_rule,
    validations,
)
from mcpops.api.podspec import DNS_LABEL

# A host name as the Gateway API and Ingress take it: lower case, dot-separated DNS labels,
# a leading "*." for a wildcard; no IP address, no port.
HOSTNAME = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# The characters of a URL path (no query, no fragment); the leading '/' is a CEL rule, so
# that leaving it out is refused with a message that says so.
PATH_CHARS = r"^[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$"

Hostname = Annotated[str, Field(max_length=253, pattern=HOSTNAME)]


ExposedPath = Annotated[
    str,
    Field(
        max_length=1024,
        pattern=PATH_CHARS,
        json_schema_extra=validations(
            cel("self.startsWith('/')", "path must start with '/', e.g. / or /team-a")
        ),
    ),
]


PATH_HELP = (
    "Path prefix sent to the server (PathPrefix match; the request path is passed on "
    "unchanged, so it must be '/' or a prefix of spec.path by whole segments). Default '/': "
    "with transport sse keep it, the server names its own message endpoint."
)


class ParentReference(ApiModel):
    """A Gateway, or one listener of it, that the HTTPRoute attaches to."""

    name: str = Field(description="Name of the Gateway.", max_length=253, pattern=DNS_SUBDOMAIN)
    namespace: str | None = Field(
        default=None,
        description="Namespace of the Gateway (default: the MCPServer's). A Gateway in another "
        "namespace must allow routes from this one (listeners[].allowedRoutes).",
        max_length=63,
        pattern=DNS_LABEL,
    )
    section_name: str | None = Field(
        default=None,
        description="The Gateway's listener to attach to (default: every listener that allows "
        "the route), e.g. https.",
        max_length=253,
        pattern=DNS_SUBDOMAIN,
    )


# Two references to one Gateway must each name a listener, and not the same one: what the
# Gateway API's own schema refuses, refused here first, naming spec.expose.
# (`namespace` is a CEL reserved word: a field of that name is `__namespace__` in a rule.)
_SAME_NS = (
    "(has(a.__namespace__) == has(b.__namespace__) && "
    "(!has(a.__namespace__) || a.__namespace__ == b.__namespace__))"
)
_SAME_SEC = (
    "(has(a.sectionName) == has(b.sectionName) && "
    "(!has(a.sectionName) || a.sectionName == b.sectionName))"
)
PARENT_RULES = validations(
    cel(
        f"self.all(a, self.all(b, a.name != b.name || !{_SAME_NS} || "
        "has(a.sectionName) == has(b.sectionName)))",
        "two parentRefs name the same Gateway: give each a sectionName (a listener)",
    ),
    cel(
        f"self.all(a, self.exists_one(b, a.name == b.name && {_SAME_NS} && {_SAME_SEC}))",
        "two parentRefs name the same Gateway and listener",
    ),
)


class HTTPRouteExposure(ApiModel):
    """A Gateway API HTTPRoute (gateway.networking.k8s.io/v1) from the Gateways named in
    parentRefs to the stable Service. Needs the Gateway API CRDs (v1.0 or later) and a
    Gateway controller."""

    parent_refs: list[ParentReference] = Field(
        description="The Gateways (or listeners) the route attaches to.",
        min_length=1,
        max_length=16,
        json_schema_extra=PARENT_RULES,
    )
    hostnames: list[Hostname] | None = Field(
        default=None,
        description="Host names the route answers for, e.g. mcp.example.com (default: those of "
        "the Gateway's listeners). The first one without a wildcard makes status.externalUrl.",
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    path: ExposedPath = Field(default="/", description=PATH_HELP)
    scheme: Literal["https", "http"] = Field(
        default="https",
        description="Scheme of status.externalUrl: https when the Gateway's listener terminates "
        "TLS, http otherwise (the route itself is the same).",
    )


class IngressExposure(ApiModel):
    """An Ingress (networking.k8s.io/v1) to the stable Service."""

    class_name: str | None = Field(
        default=None,
        description="IngressClass that serves it (default: the cluster's default class).",
        max_length=253,
        pattern=DNS_SUBDOMAIN,
    )
    host: Hostname | None = Field(
        default=None,
        description="Host name it answers for, e.g. mcp.example.com (default: any host; the "
        "URL is then the load balancer's address).",
    )
    path: ExposedPath = Field(default="/", description=PATH_HELP)
    tls_secret_name: str | None = Field(
        default=None,
        description="A Secret (kubernetes.io/tls) in the MCPServer's namespace with the "
        "certificate for host: the Ingress terminates TLS and status.externalUrl is https.",
        max_length=253,
        pattern=DNS_SUBDOMAIN,
    )
    annotations: dict[str, AnnotationValue] | None = Field(
        default=None,
        description="Annotations for the ingress controller, e.g. a longer read timeout so "
        "that streaming MCP responses are not cut off.",
        max_length=MAX_MAP_ENTRIES,
        json_schema_extra=keys_rule("annotations"),
    )


class Exposure(ApiModel):
    """The stable Service reached from beyond the cluster: set exactly one of httpRoute,
    ingress. Removing it removes the route."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "has(self.httpRoute) != has(self.ingress)",
                "set exactly one of httpRoute, ingress",
            )
        )
    }

    http_route: HTTPRouteExposure | None = Field(
        default=None, description="Expose through a Gateway API HTTPRoute."
    )
    ingress: IngressExposure | None = Field(default=None, description="Expose through an Ingress.")


def _prefix_rule(kind: str) -> dict[str, str]:
    p = f"self.expose.{kind}.path"
    return cel(
        f"!has(self.expose) || !has(self.expose.{kind}) || {p} == '/' || self.path == {p} || "
        f"self.path.startsWith({p}.endsWith('/') ? {p} : {p} + '/')",
        f"expose.{kind}.path must be '/' or a prefix of spec.path by whole segments (the "
        "request path reaches the server unchanged)",
        field_path=f".expose.{kind}.path",
    )


# On MCPServerSpec: the exposed path must lead to the MCP endpoint.
SPEC_RULES = (_prefix_rule("httpRoute"), _prefix_rule("ingress"))
