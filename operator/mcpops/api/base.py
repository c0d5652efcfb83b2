"""Shared building blocks for the API models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """Base for every API type: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase, no unset optionals."""
        data: dict[str, Any] = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        return data


def cel(rule: str, message: str, *, field_path: str | None = None) -> dict[str, str]:
    """One CEL `x-kubernetes-validations` entry."""
    entry = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """json_schema_extra carrying CEL rules for the CRD generator."""
    return {"x-kubernetes-validations": list(rules)}


# Kubernetes name and label syntax, so that what a child object would be refused for is
# refused here first, naming the MCPServer's (or job's) own field.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
# A qualified name (label or annotation key): an optional DNS-subdomain prefix and a name.
# Checked by CEL on the map's keys (an OpenAPI schema cannot constrain keys); the size
# check first keeps the rule's cost bounded.
QUALIFIED_NAME = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
MAX_MAP_ENTRIES = 32

LabelValue = Annotated[str, Field(max_length=63, pattern=LABEL_VALUE)]
AnnotationValue = Annotated[str, Field(max_length=4096)]


def keys_rule(what: str) -> dict[str, Any]:
    """json_schema_extra for a label or annotation map: every key a qualified name."""
    return validations(
        cel(
            f"self.all(k, size(k) <= 317 && k.matches('{QUALIFIED_NAME}'))",
            f"{what} keys must be qualified names such as example.com/team or team "
            "(letters, digits, '-', '_', '.', at most 63 after an optional DNS prefix and '/')",
        )
    )


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """A standard Kubernetes condition (as in metav1.Condition)."""

    type: str = Field(description="Type of the condition, e.g. Ready.", max_length=316)
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        default="",
        description="A CamelCase word that says why the condition has this status.",
        max_length=1024,
    )
    message: str = Field(
        default="",
        description="A human-readable explanation, including what to do when it is a problem.",
        max_length=32768,
    )
    last_transition_time: str | None = Field(
        default=None,
        description="When the status last changed (RFC 3339).",
    )
    observed_generation: int | None = Field(
        default=None,
        description="The .metadata.generation this condition was computed from.",
        ge=0,
    )


class LocalObjectReference(ApiModel):
    """A reference to an object in the same namespace."""

    name: str = Field(
        description="Name of the referenced object.", max_length=253, pattern=DNS_SUBDOMAIN
    )


class KeySelector(ApiModel):
    """Selects one key of a ConfigMap or Secret."""

    name: str = Field(
        description="Name of the ConfigMap or Secret.", max_length=253, pattern=DNS_SUBDOMAIN
    )
    key: str = Field(description="The key to select.", max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
    optional: bool | None = Field(
        default=None, description="Whether the object or its key may be missing."
    )


class ResourceList(ApiModel):
    """CPU and memory quantities, in Kubernetes quantity notation."""

    cpu: str | None = Field(
        default=None,
        description="CPU, e.g. 250m or 1.",
        pattern=r"^([0-9]+(\.[0-9]+)?m?)$",
        max_length=32,
    )
    memory: str | None = Field(
        default=None,
        description="Memory, e.g. 256Mi or 1Gi.",
        pattern=r"^([0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?)$",
        max_length=32,
    )


class Resources(ApiModel):
    """Requests and limits. Fields left out get the operator's defaults."""

    requests: ResourceList | None = Field(
        default=None, description="What the scheduler reserves for the container."
    )
    limits: ResourceList | None = Field(default=None, description="The most the container may use.")
