"""The Kubernetes pod fields an MCPServer passes through: volumes, scheduling, extended
resources. The same field names and meaning as in a Pod (so `kubectl explain pod.spec...`
knowledge carries over), narrowed to what the `restricted` Pod Security Standard allows.

Written out as models rather than copied from Kubernetes' OpenAPI: the CRD generator works
from pydantic models, and the narrowing (no hostPath, no host namespaces, no privileged
mount propagation) is part of the type.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from mcpops.api.base import DNS_SUBDOMAIN, LABEL_VALUE, ApiModel, LabelValue, cel, validations

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# A qualified name (a label key, a topology key): optional DNS prefix and '/', then a name.
QUALIFIED = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
# A relative path inside a volume: no leading '/' (the pattern), no '..' element (CEL, and
# the model: neither regex engine has look-ahead).
RELATIVE_PATH = r"^[^/\x00][^\x00]*$"
NO_DOTDOT = (
    "!(self == '..' || self.startsWith('../') || self.endsWith('/..') || self.contains('/../'))"
)


def _no_dotdot(path: str) -> str:
    if ".." in path.split("/"):
        raise ValueError("a '..' element would leave the volume")
    return path


QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
MAX_ITEMS = 32
# Lists nested in lists: smaller, since the API server bounds a CRD's CEL cost by the most
# items each rule could be run on (the product of the enclosing maxItems).
MAX_NESTED = 16

QualifiedName = Annotated[str, Field(max_length=317, pattern=QUALIFIED)]
RelativePath = Annotated[
    str,
    Field(
        max_length=1024,
        pattern=RELATIVE_PATH,
        json_schema_extra=validations(cel(NO_DOTDOT, "a '..' element would leave the volume")),
    ),
    AfterValidator(_no_dotdot),
]
Quantity = Annotated[str, Field(max_length=64, pattern=QUANTITY)]


def by_name(description: str, max_items: int = MAX_ITEMS, **extra: Any) -> Any:
    """A list keyed by `name`: the API server refuses two items with one name."""
    return Field(
        default=None,
        description=description,
        max_length=max_items,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        **extra,
    )


# ---------------------------------------------------------------- resources

RESOURCE_KEYS = cel(
    "self.all(k, size(k) <= 253 && k.matches('^(cpu|memory|ephemeral-storage|"
    "hugepages-[0-9]+(Ki|Mi|Gi)|([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)+"
    "/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?))$'))",
    "resource names are cpu, memory, ephemeral-storage, hugepages-<size> or an extended "
    "resource with a domain, such as nvidia.com/gpu",
)


class ResourceRequirements(ApiModel):
    """Requests and limits by resource name: cpu, memory, ephemeral-storage, hugepages-<size>
    or an extended resource such as nvidia.com/gpu. cpu and memory left out get the
    operator's defaults."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.requests) || self.requests.all(k, !k.contains('/') || "
                "k.startsWith('kubernetes.io/') || "
                "(has(self.limits) && k in self.limits && self.limits[k] == self.requests[k]))",
                "an extended resource (such as nvidia.com/gpu) in requests must be in limits "
                "with the same value: Kubernetes does not overcommit them",
                field_path=".requests",
            )
        )
    }

    requests: dict[str, Quantity] | None = Field(
        default=None,
        description="What the scheduler reserves for the container, e.g. {cpu: 250m, "
        "memory: 256Mi, nvidia.com/gpu: '1'}.",
        max_length=16,
        json_schema_extra=validations(RESOURCE_KEYS),
    )
    limits: dict[str, Quantity] | None = Field(
        default=None,
        description="The most the container may use; an extended resource is given here "
        "(requests default to limits), e.g. {nvidia.com/gpu: '1'}.",
        max_length=16,
        json_schema_extra=validations(RESOURCE_KEYS),
    )


# ---------------------------------------------------------------- scheduling


class Toleration(ApiModel):
    """Lets the pods run on nodes with a matching taint."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.operator) || self.operator != 'Exists' || "
                "!has(self.value) || self.value == ''",
                "a toleration with operator Exists takes no value",
                field_path=".value",
            ),
            cel(
                "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
                "tolerationSeconds applies only to effect NoExecute",
                field_path=".tolerationSeconds",
            ),
        )
    }

    key: QualifiedName | None = Field(
        default=None, description="Taint key; empty with operator Exists matches every taint."
    )
    operator: Literal["Exists", "Equal"] | None = Field(
        default=None, description="Exists or Equal (default Equal)."
    )
    value: LabelValue | None = Field(default=None, description="Taint value, for Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to match; empty matches all effects."
    )
    toleration_seconds: int | None = Field(
        default=None,
        ge=0,
        le=31536000,
        description="For NoExecute: how long the pod stays after the taint appears.",
    )


Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]
_VALUES_RULE = cel(
    "(self.operator in ['Exists', 'DoesNotExist']) == "
    "(!has(self.values) || size(self.values) == 0)",
    "operators In and NotIn need values; Exists and DoesNotExist take none",
    field_path=".values",
)


class LabelSelectorRequirement(ApiModel):
    """One label condition."""

    model_config = ApiModel.model_config | {"json_schema_extra": validations(_VALUES_RULE)}

    key: QualifiedName = Field(description="Label key.")
    operator: Operator = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: list[LabelValue] | None = Field(
        default=None, description="Label values, for In and NotIn.", max_length=MAX_ITEMS
    )


class LabelSelector(ApiModel):
    """Selects pods by label; both parts must match."""

    match_labels: dict[str, LabelValue] | None = Field(
        default=None, description="Labels the pods must have.", max_length=MAX_ITEMS
    )
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        default=None, description="Label conditions the pods must meet.", max_length=MAX_ITEMS
    )


class NodeSelectorRequirement(ApiModel):
    """One node label (or field) condition."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "(self.operator in ['Exists', 'DoesNotExist']) == "
                "(!has(self.values) || size(self.values) == 0)",
                "operators In, NotIn, Gt and Lt need values; Exists and DoesNotExist take none",
                field_path=".values",
            ),
            cel(
                "!(self.operator in ['Gt', 'Lt']) || size(self.values) == 1",
                "operators Gt and Lt take exactly one value, an integer",
                field_path=".values",
            ),
        )
    }

    key: QualifiedName = Field(description="Node label key (or field name in matchFields).")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] = Field(
        description="In, NotIn, Exists, DoesNotExist, Gt or Lt."
    )
    values: list[LabelValue] | None = Field(
        default=None, description="Values to compare with.", max_length=MAX_ITEMS
    )


class NodeSelectorTerm(ApiModel):
    """Node conditions that must all hold."""

    match_expressions: list[NodeSelectorRequirement] | None = Field(
        default=None, description="Conditions on node labels.", max_length=MAX_ITEMS
    )
    match_fields: list[NodeSelectorRequirement] | None = Field(
        default=None,
        description="Conditions on node fields (metadata.name only).",
        max_length=MAX_ITEMS,
    )


class NodeSelector(ApiModel):
    """Nodes matching any of the terms."""

    node_selector_terms: list[NodeSelectorTerm] = Field(
        description="Terms, ORed.", min_length=1, max_length=MAX_ITEMS
    )


class PreferredSchedulingTerm(ApiModel):
    """A node preference with a weight."""

    weight: int = Field(ge=1, le=100, description="Weight, 1-100.")
    preference: NodeSelectorTerm = Field(description="The nodes preferred.")


class NodeAffinity(ApiModel):
    """Which nodes the pods may, or prefer to, run on."""

    required_during_scheduling_ignored_during_execution: NodeSelector | None = Field(
        default=None, description="Nodes the pods must run on."
    )
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None = (
        Field(default=None, description="Nodes the pods prefer.", max_length=MAX_ITEMS)
    )


class PodAffinityTerm(ApiModel):
    """Pods (by label) whose topology domain the term is about."""

    label_selector: LabelSelector | None = Field(default=None, description="The pods.")
    namespaces: list[Annotated[str, Field(max_length=63, pattern=DNS_LABEL)]] | None = Field(
        default=None,
        description="Namespaces of those pods (default: the MCPServer's).",
        max_length=MAX_ITEMS,
    )
    namespace_selector: LabelSelector | None = Field(
        default=None, description="Namespaces of those pods, by label."
    )
    topology_key: QualifiedName = Field(
        description="Node label that defines a domain, e.g. kubernetes.io/hostname."
    )
    match_label_keys: list[QualifiedName] | None = Field(
        default=None,
        description="Label keys whose values are taken from the incoming pod.",
        max_length=MAX_ITEMS,
    )


class WeightedPodAffinityTerm(ApiModel):
    """A pod (anti-)affinity preference with a weight."""

    weight: int = Field(ge=1, le=100, description="Weight, 1-100.")
    pod_affinity_term: PodAffinityTerm = Field(description="The term.")


class PodAffinity(ApiModel):
    """Run near (affinity) or away from (anti-affinity) other pods."""

    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = Field(
        default=None, description="Terms that must hold.", max_length=MAX_ITEMS
    )
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = (
        Field(default=None, description="Terms preferred.", max_length=MAX_ITEMS)
    )


class Affinity(ApiModel):
    """Node affinity, pod affinity and pod anti-affinity, as in a Pod."""

    node_affinity: NodeAffinity | None = Field(default=None, description="Node affinity.")
    pod_affinity: PodAffinity | None = Field(default=None, description="Pod affinity.")
    pod_anti_affinity: PodAffinity | None = Field(
        default=None, description="Pod anti-affinity (e.g. one replica per node)."
    )


class TopologySpreadConstraint(ApiModel):
    """Spread the pods over topology domains (zones, nodes)."""

    max_skew: int = Field(ge=1, le=1000, description="Most the pod counts of two domains differ.")
    topology_key: QualifiedName = Field(
        description="Node label that defines a domain, e.g. topology.kubernetes.io/zone."
    )
    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"] = Field(
        description="DoNotSchedule or ScheduleAnyway."
    )
    label_selector: LabelSelector | None = Field(
        default=None,
        description="The pods counted. Default: this MCPServer's pods of the same revision.",
    )
    min_domains: int | None = Field(
        default=None, ge=1, le=1000, description="Fewest eligible domains (DoNotSchedule only)."
    )
    match_label_keys: list[QualifiedName] | None = Field(
        default=None, description="Label keys taken from the incoming pod.", max_length=MAX_ITEMS
    )
    node_affinity_policy: Literal["Honor", "Ignore"] | None = Field(
        default=None, description="Whether nodeAffinity/nodeSelector limit the domains."
    )
    node_taints_policy: Literal["Honor", "Ignore"] | None = Field(
        default=None, description="Whether node taints limit the domains."
    )


# ---------------------------------------------------------------- volumes


class KeyToPath(ApiModel):
    """One key of a ConfigMap or Secret, as a file."""

    key: str = Field(description="The key.", max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
    path: RelativePath = Field(description="Relative file path in the volume (no '..').")
    mode: int | None = Field(default=None, ge=0, le=0o777, description="File mode, e.g. 0440.")


class KeyFiles(ApiModel):
    """Keys of a ConfigMap or Secret as files (which, with what mode, whether required)."""

    items: list[KeyToPath] | None = Field(
        default=None, description="Only these keys, at these paths.", max_length=MAX_NESTED
    )
    default_mode: int | None = Field(default=None, ge=0, le=0o777, description="File mode.")
    optional: bool | None = Field(default=None, description="Whether it may be missing.")


class ConfigMapVolumeSource(KeyFiles):
    """A ConfigMap's keys as files."""

    name: str = Field(description="ConfigMap name.", max_length=253, pattern=DNS_SUBDOMAIN)


class SecretVolumeSource(KeyFiles):
    """A Secret's keys as files."""

    secret_name: str = Field(description="Secret name.", max_length=253, pattern=DNS_SUBDOMAIN)


class EmptyDirVolumeSource(ApiModel):
    """A scratch directory that lives as long as the pod."""

    medium: Literal["", "Memory"] | None = Field(
        default=None, description="'' (node disk) or Memory (tmpfs)."
    )
    size_limit: Quantity | None = Field(default=None, description="Most it may hold, e.g. 1Gi.")


class PersistentVolumeClaimVolumeSource(ApiModel):
    """A PersistentVolumeClaim in the MCPServer's namespace."""

    claim_name: str = Field(description="Claim name.", max_length=253, pattern=DNS_SUBDOMAIN)
    read_only: bool | None = Field(default=None, description="Mount read-only.")


class ProjectedConfigMap(ApiModel):
    """A ConfigMap's keys in a projected volume."""

    name: str = Field(description="ConfigMap name.", max_length=253, pattern=DNS_SUBDOMAIN)
    items: list[KeyToPath] | None = Field(
        default=None, description="Only these keys, at these paths.", max_length=MAX_NESTED
    )
    optional: bool | None = Field(default=None, description="Whether it may be missing.")


class ProjectedSecret(ProjectedConfigMap):
    """A Secret's keys in a projected volume."""


class ObjectFieldRef(ApiModel):
    """A field of the pod."""

    field_path: str = Field(
        description="e.g. metadata.name, metadata.labels['app'].", max_length=256
    )


class DownwardAPIFile(ApiModel):
    """A pod field as a file."""

    path: RelativePath = Field(description="Relative file path.")
    field_ref: ObjectFieldRef = Field(description="The pod field.")


class DownwardAPIProjection(ApiModel):
    """Pod fields as files."""

    items: list[DownwardAPIFile] = Field(description="The files.", max_length=MAX_NESTED)


class ServiceAccountTokenProjection(ApiModel):
    """A token of the pod's ServiceAccount for an audience, rotated by the kubelet."""

    path: RelativePath = Field(description="Relative file path.")
    audience: str | None = Field(default=None, description="Intended audience.", max_length=253)
    expiration_seconds: int | None = Field(
        default=None, ge=600, le=86400 * 2, description="Token lifetime."
    )


class VolumeProjection(ApiModel):
    """One source of a projected volume. Set exactly one field."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "[has(self.configMap), has(self.secret), has(self.downwardAPI), "
                "has(self.serviceAccountToken)].filter(x, x).size() == 1",
                "set exactly one of configMap, secret, downwardAPI, serviceAccountToken",
            )
        )
    }

    config_map: ProjectedConfigMap | None = Field(default=None, description="A ConfigMap.")
    secret: ProjectedSecret | None = Field(default=None, description="A Secret.")
    downward_api: DownwardAPIProjection | None = Field(
        default=None, alias="downwardAPI", description="Pod fields."
    )
    service_account_token: ServiceAccountTokenProjection | None = Field(
        default=None, description="A ServiceAccount token."
    )


class ProjectedVolumeSource(ApiModel):
    """Several sources in one directory."""

    sources: list[VolumeProjection] = Field(description="The sources.", min_length=1, max_length=8)
    default_mode: int | None = Field(default=None, ge=0, le=0o777, description="File mode.")


# Names mcpops gives its own volumes (and mount paths of its own): not for the user's.
RESERVED_VOLUMES = ("tmp", "mcpops-proxy", "mcpops-session")

VOLUME_SOURCES = ("configMap", "secret", "emptyDir", "persistentVolumeClaim", "projected")


class Volume(ApiModel):
    """A volume the server container can mount. Set exactly one source; hostPath and the
    other types the restricted Pod Security Standard forbids are refused."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.hostPath)",
                "hostPath volumes are refused: they break the restricted Pod Security "
                "Standard (the pod could read the node); use a persistentVolumeClaim, "
                "configMap, secret, projected or emptyDir volume",
                field_path=".hostPath",
            ),
            cel(
                "[" + ", ".join(f"has(self.{s})" for s in VOLUME_SOURCES) + "]"
                ".filter(x, x).size() == 1",
                "set exactly one of " + ", ".join(VOLUME_SOURCES),
            ),
            cel(
                "!(self.name in " + str(list(RESERVED_VOLUMES)).replace('"', "'") + ")",
                "volume names tmp, mcpops-proxy and mcpops-session are mcpops' own; choose "
                "another name",
                field_path=".name",
            ),
        )
    }

    name: str = Field(description="Volume name (a DNS label).", max_length=63, pattern=DNS_LABEL)
    config_map: ConfigMapVolumeSource | None = Field(default=None, description="A ConfigMap.")
    secret: SecretVolumeSource | None = Field(default=None, description="A Secret.")
    empty_dir: EmptyDirVolumeSource | None = Field(default=None, description="A scratch dir.")
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = Field(
        default=None, description="A PersistentVolumeClaim."
    )
    projected: ProjectedVolumeSource | None = Field(
        default=None, description="Several sources in one directory."
    )
    host_path: dict[str, Any] | None = Field(
        default=None,
        description="Refused (restricted Pod Security Standard); present only to say so.",
    )

    @model_validator(mode="after")
    def _no_host_path(self) -> Volume:
        if self.host_path is not None:
            raise ValueError("hostPath volumes are refused (restricted Pod Security Standard)")
        return self


class VolumeMount(ApiModel):
    """A volume mounted into the server container."""

    name: str = Field(
        description="Name of a volume in spec.volumes.", max_length=63, pattern=DNS_LABEL
    )
    mount_path: str = Field(
        description="Absolute path in the container, e.g. /data (not /tmp, /mcpops or "
        "/var/run/mcpops).",
        max_length=1024,
        pattern=r"^/[^\x00:]*$",
        json_schema_extra=validations(
            cel(
                "!(self in ['/tmp', '/mcpops', '/var/run/mcpops']) && "
                "!self.startsWith('/tmp/') && !self.startsWith('/mcpops/') && "
                "!self.startsWith('/var/run/mcpops/')",
                "/tmp, /mcpops and /var/run/mcpops are mcpops' own mounts; choose another "
                "mountPath",
            )
        ),
    )
    sub_path: RelativePath | None = Field(
        default=None,
        description="A path inside the volume to mount instead of its root (no '..').",
    )
    read_only: bool | None = Field(default=None, description="Mount read-only.")


# ---------------------------------------------------------------- the podTemplate overlay
#
# What the schema does not name, as a strategic-merge patch over the pod template mcpops
# builds (as ToolHive's podTemplateSpec and kmcp's deployment do). It may add and change;
# it may not remove (no `$patch`/`$retainKeys` directives, no nulls) nor touch what mcpops
# relies on: the containers it runs (their image, command, ports, probes), any container's
# or the pod's security context, host namespaces, hostPath volumes. The fields below are
# declared only so that the CRD's rules can refuse them; everything else passes through.

OWN_CONTAINERS = ("server", "mcp-proxy", "install-proxy", "mcp-health")
OWNED_CONTAINER_FIELDS = ("image", "command", "args", "ports", "readinessProbe", "livenessProbe")
Free = dict[str, Any]


def _refused(field: str, why: str) -> dict[str, str]:
    return cel(f"!has(self.{field})", why, field_path=f".{field}")


class ContainerOverlay(ApiModel):
    """A container of the overlay, merged by name into mcpops' (server, mcp-proxy) or
    added (a sidecar). Any Container field except those mcpops owns."""

    model_config = ApiModel.model_config | {
        "extra": "allow",
        "json_schema_extra": validations(
            _refused(
                "securityContext",
                "mcpops gives every container the restricted security context; the "
                "overlay may not set one",
            ),
            cel(
                "!(self.name in "
                + str(list(OWN_CONTAINERS)).replace('"', "'")
                + ") || ("
                + " && ".join(f"!has(self.{f})" for f in OWNED_CONTAINER_FIELDS)
                + ")",
                "the overlay may not change image, command, args, ports or probes of mcpops' "
                "containers (server, mcp-proxy, install-proxy, mcp-health): use the "
                "MCPServer's own "
                "fields",
            ),
        ),
    }

    name: str = Field(description="Container name.", max_length=63, pattern=DNS_LABEL)
    image: str | None = Field(default=None, description="Image (sidecars only).")
    command: list[str] | None = Field(default=None, description="Entrypoint (sidecars only).")
    args: list[str] | None = Field(default=None, description="Arguments (sidecars only).")
    ports: list[Free] | None = Field(default=None, description="Ports (sidecars only).")
    readiness_probe: Free | None = Field(default=None, description="Probe (sidecars only).")
    liveness_probe: Free | None = Field(default=None, description="Probe (sidecars only).")
    security_context: Free | None = Field(default=None, description="Refused: set by mcpops.")

    @model_validator(mode="after")
    def _owned(self) -> ContainerOverlay:
        # The same rules as the CRD's, for an object that reached us without them.
        if self.security_context is not None:
            raise ValueError("securityContext is set by mcpops")
        if any(isinstance(p, dict) and "hostPort" in p for p in self.ports or []):
            raise ValueError("hostPort is refused (restricted Pod Security Standard)")
        if self.name in OWN_CONTAINERS:
            owned = [f for f in OWNED_CONTAINER_FIELDS if getattr(self, _snake(f)) is not None]
            if owned:
                raise ValueError(f"{', '.join(owned)} of container {self.name} belong to mcpops")
        return self


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


class VolumeOverlay(ApiModel):
    """A volume of the overlay: any Volume source the restricted standard allows (csi,
    ephemeral...), merged by name."""

    model_config = ApiModel.model_config | {
        "extra": "allow",
        "json_schema_extra": validations(
            _refused("hostPath", "hostPath volumes are refused (restricted Pod Security Standard)")
        ),
    }

    name: str = Field(description="Volume name.", max_length=63, pattern=DNS_LABEL)
    host_path: Free | None = Field(default=None, description="Refused.")

    @model_validator(mode="after")
    def _no_host_path(self) -> VolumeOverlay:
        if self.host_path is not None:
            raise ValueError("hostPath volumes are refused (restricted Pod Security Standard)")
        return self


class PodSpecOverlay(ApiModel):
    """Any PodSpec field, merged over the pod spec mcpops builds, except those that would
    break the restricted Pod Security Standard or what mcpops relies on."""

    model_config = ApiModel.model_config | {
        "extra": "allow",
        "json_schema_extra": validations(
            *(
                _refused(
                    f,
                    f"{f} is refused: mcpops keeps pods within the restricted Pod "
                    "Security Standard",
                )
                for f in ("securityContext", "hostNetwork", "hostPID", "hostIPC")
            ),
        ),
    }

    containers: list[ContainerOverlay] | None = by_name("Containers, merged by name.")
    init_containers: list[ContainerOverlay] | None = by_name("Init containers, merged by name.")
    volumes: list[VolumeOverlay] | None = by_name("Volumes, merged by name.")
    security_context: Free | None = Field(default=None, description="Refused: set by mcpops.")
    host_network: bool | None = Field(default=None, description="Refused.")
    host_pid: bool | None = Field(default=None, alias="hostPID", description="Refused.")
    host_ipc: bool | None = Field(default=None, alias="hostIPC", description="Refused.")

    @model_validator(mode="after")
    def _restricted(self) -> PodSpecOverlay:
        refused = {
            "securityContext": self.security_context,
            "hostNetwork": self.host_network,
            "hostPID": self.host_pid,
            "hostIPC": self.host_ipc,
        }
        for wire, value in refused.items():
            if value is not None:
                raise ValueError(f"{wire} is refused: pods stay within the restricted standard")
        return self


class OverlayMetadata(ApiModel):
    """Labels and annotations added to the pods."""

    labels: dict[str, LabelValue] | None = Field(
        default=None, description="Labels.", max_length=MAX_ITEMS
    )
    annotations: dict[str, Annotated[str, Field(max_length=4096)]] | None = Field(
        default=None, description="Annotations.", max_length=MAX_ITEMS
    )


DIRECTIVES = ("$patch", "$retainKeys", "$deleteFromPrimitiveList", "$setElementOrder")


def _removals(node: Any, path: str) -> str | None:
    """The first place in the overlay that would remove something, if any."""
    if node is None:
        return f"{path} is null (in a strategic merge that removes the field)"
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key).startswith("$"):
                return (
                    f"{path}.{key}: strategic-merge directives are refused (the overlay "
                    "may add and change, never remove)"
                )
            found = _removals(value, f"{path}.{key}")
            if found:
                return found
    if isinstance(node, list):
        for i, item in enumerate(node):
            found = _removals(item, f"{path}[{i}]")
            if found:
                return found
    return None


class PodTemplateOverlay(ApiModel):
    """A strategic-merge patch over the pod template mcpops builds, for what the MCPServer's
    fields do not name. Changing it makes a new revision."""

    metadata: OverlayMetadata | None = Field(default=None, description="Pod labels, annotations.")
    spec: PodSpecOverlay | None = Field(default=None, description="Pod spec fields.")

    @model_validator(mode="before")
    @classmethod
    def _adds_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            found = _removals(data, "spec.podTemplate")
            if found:
                raise ValueError(found)
        return data


# A label value is also what imagePullSecrets and priority classes are checked against.
__all__ = [
    "DNS_LABEL",
    "LABEL_VALUE",
    "Affinity",
    "ResourceRequirements",
    "Toleration",
    "TopologySpreadConstraint",
    "Volume",
    "VolumeMount",
]
