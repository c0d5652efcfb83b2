"""MCPServer: one MCP server, run as a Deployment per revision behind a stable Service."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from mcpops.api.base import (
    DNS_SUBDOMAIN,
    MAX_MAP_ENTRIES,
    AnnotationValue,
    ApiModel,
    Condition,
    KeySelector,
    LabelValue,
    LocalObjectReference,
    cel,
    keys_rule,
    validations,
)
from mcpops.api.exposure import SPEC_RULES as EXPOSE_RULES
from mcpops.api.exposure import Exposure
from mcpops.api.network import Network, NetworkStatus
from mcpops.api.podspec import (
    Affinity,
    PodTemplateOverlay,
    ResourceRequirements,
    Toleration,
    TopologySpreadConstraint,
    Volume,
    VolumeMount,
    by_name,
)
from mcpops.api.security import Audit, Auth, RateLimits, Tls, Tools
from mcpops.api.testsuite import TestSuite
from mcpops.api.updates import Updates, UpdatesStatus

Transport = Literal["streamable-http", "sse", "stdio"]
Phase = Literal[
    "Pending",
    "Progressing",
    "Testing",
    "Promoting",
    "Verifying",
    "Healthy",
    "Degraded",
    "Paused",
    "Failed",
]


# One argv element: no NUL (it cannot be passed to a program), and bounded.
Arg = Annotated[str, Field(max_length=4096, pattern=r"^[^\x00]*$")]
# A container image reference: no whitespace or shell syntax, e.g. ghcr.io/org/server:1.2.3.
IMAGE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$"


class ObjectFieldSelector(ApiModel):
    """Selects a field of the pod (downward API)."""

    field_path: str = Field(
        description="Path of the field, e.g. metadata.name or status.podIP.", max_length=256
    )


class EnvVarSource(ApiModel):
    """Where an environment variable's value comes from. Set exactly one field."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "[has(self.secretKeyRef), has(self.configMapKeyRef), has(self.fieldRef)]"
                ".filter(x, x).size() == 1",
                "set exactly one of secretKeyRef, configMapKeyRef, fieldRef",
            )
        )
    }

    secret_key_ref: KeySelector | None = Field(
        default=None, description="A key of a Secret in the MCPServer's namespace."
    )
    config_map_key_ref: KeySelector | None = Field(
        default=None, description="A key of a ConfigMap in the MCPServer's namespace."
    )
    field_ref: ObjectFieldSelector | None = Field(default=None, description="A field of the pod.")


class EnvVar(ApiModel):
    """An environment variable for the MCP server process."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!(has(self.value) && has(self.valueFrom))",
                "set value or valueFrom, not both",
            )
        )
    }

    name: str = Field(
        description="Variable name.",
        pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$",
        max_length=256,
    )
    value: str | None = Field(default=None, description="Literal value.", max_length=32768)
    value_from: EnvVarSource | None = Field(
        default=None, description="Take the value from a Secret, ConfigMap or pod field."
    )


class EnvFromSource(ApiModel):
    """Every key of a ConfigMap or Secret as environment variables."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "has(self.secretRef) != has(self.configMapRef)",
                "set exactly one of secretRef, configMapRef",
            )
        )
    }

    prefix: str | None = Field(
        default=None,
        description="Prepended to every variable name.",
        max_length=128,
        pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$",
    )
    secret_ref: LocalObjectReference | None = Field(
        default=None, description="A Secret in the MCPServer's namespace."
    )
    config_map_ref: LocalObjectReference | None = Field(
        default=None, description="A ConfigMap in the MCPServer's namespace."
    )


class Autoscaling(ApiModel):
    """Horizontal autoscaling of the serving revision on CPU utilisation."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.minReplicas <= self.maxReplicas",
                "minReplicas must not exceed maxReplicas",
                field_path=".minReplicas",
            )
        )
    }

    min_replicas: int = Field(default=1, ge=1, le=1000, description="Fewest replicas.")
    max_replicas: int = Field(ge=1, le=1000, description="Most replicas.")
    target_cpu_utilization_percent: int = Field(
        default=80, ge=1, le=100, description="Average CPU utilisation to aim for, in percent."
    )


class DisruptionBudget(ApiModel):
    """A PodDisruptionBudget for the serving revision: voluntary disruptions (a node drain,
    a cluster upgrade) evict at most maxUnavailable of its pods at a time."""

    enabled: bool | None = Field(
        default=None,
        description="Whether to keep one. Default: when the serving revision may run more than "
        "one pod (replicas > 1, or autoscaling.maxReplicas > 1).",
    )
    max_unavailable: int = Field(
        default=1, ge=0, le=1000, description="Pods that may be evicted at once (0: none)."
    )


class Probe(ApiModel):
    """How readiness is checked. The check is an MCP initialize, not an open port."""

    period_seconds: int = Field(default=10, ge=1, le=300, description="How often to check.")
    timeout_seconds: int = Field(
        default=3, ge=1, le=60, description="How long one MCP initialize may take."
    )
    failure_threshold: int = Field(
        default=3, ge=1, le=30, description="Failures in a row before the pod is not ready."
    )
    initial_delay_seconds: int = Field(
        default=0, ge=0, le=600, description="Wait this long after start before the first check."
    )


class Liveness(ApiModel):
    """How liveness is checked: the in-pod proxy's /livez, one MCP request any server
    answers without a session. A hung server fails it and is restarted by the kubelet; a
    slow or busy one stays alive (only readiness fails)."""

    period_seconds: int = Field(default=10, ge=1, le=300, description="How often to check.")
    timeout_seconds: int = Field(
        default=2, ge=1, le=60, description="How long the server may take to answer one check."
    )
    failure_threshold: int = Field(
        default=3,
        ge=1,
        le=30,
        description="Failures in a row before the server container is restarted.",
    )


class Sessions(ApiModel):
    """How MCP sessions are kept across replicas (the in-pod proxy)."""

    mode: Literal["Sticky", "None"] = Field(
        default="Sticky",
        description="Sticky: the proxy issues session ids that name the replica owning the "
        "session, and a request that reaches another replica is forwarded to it (no client-IP "
        "affinity, no shared store); a session whose replica is gone gets HTTP 404, so the "
        "client starts a new one. Servers that issue no session ids (2026-07-28) are not "
        "affected. None: session ids pass through untouched (a single replica, or a server "
        "that keeps sessions in a shared store of its own).",
    )
    idle_seconds: int = Field(
        default=1800,
        ge=0,
        le=604800,
        description="End a session idle this long (0: never).",
    )


class Analysis(ApiModel):
    """Thresholds over what the in-pod proxies of the new revision measure of real traffic
    (tools/call per tool) after a switch, over rollout.verifySeconds. A breach returns traffic
    to the previous revision. Judged only when there is a previous revision to return to and
    the pods carry the proxy (transport sse: readiness only, as without this field)."""

    max_error_rate: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Largest share of failed tool calls (0..1) over the verify window, for "
        "any one tool and for all tools together; above it traffic returns to the previous "
        "revision.",
    )
    max_p95_latency_ms: int | None = Field(
        default=None,
        ge=1,
        le=600000,
        description="Largest 95th-percentile call latency over the verify window, per tool.",
    )
    min_calls: int = Field(
        default=20,
        ge=1,
        le=1000000,
        description="A tool with fewer calls in the window is not judged (too few to tell); "
        "all tools together are judged from this many calls.",
    )
    interval_seconds: int = Field(
        default=10,
        ge=1,
        le=3600,
        description="How often the new revision's proxies are read (their /metrics) during "
        "the verify window; a breach is acted on at the first reading that shows it.",
    )


class Rollout(ApiModel):
    """How a new revision replaces the serving one (blue-green, gated by spec.tests)."""

    auto_promote: bool = Field(
        default=True,
        description=(
            "Switch traffic as soon as every test suite passes. When false, the candidate "
            "waits in Promoting until a person sets the annotation mcpops.dev/promote to the "
            "candidate revision."
        ),
    )
    auto_promote_seconds: int | None = Field(
        default=None,
        ge=0,
        le=86400,
        description="With autoPromote, wait this long after every suite passed before switching "
        "(a window to look at the candidate, or pause it with mcpops.dev/paused=true). "
        "Default: switch at once.",
    )
    abort_scale_down_delay_seconds: int = Field(
        default=0,
        ge=0,
        le=86400,
        description="How long a failed or aborted candidate stays up (out of traffic) before it "
        "is scaled to zero, to inspect it.",
    )
    scale_down_delay_seconds: int = Field(
        default=30,
        ge=0,
        le=86400,
        description="How long the previous revision stays up after the switch, for a fast undo.",
    )
    drain_seconds: int = Field(
        default=300,
        ge=0,
        le=86400,
        description="After the switch, sessions already open on the previous revision keep "
        "working (the new revision's proxies forward their requests to it): it is scaled down "
        "once its open sessions have ended (as its proxies report), but no later than this many "
        "seconds after the switch (and never before verifySeconds and scaleDownDelaySeconds). "
        "0: do not wait for sessions. Servers without sessions (2026-07-28, sse) do not wait.",
    )
    progress_deadline_seconds: int = Field(
        default=600,
        ge=10,
        le=86400,
        description=(
            "A candidate that is not available and tested within this time is rolled back."
        ),
    )
    verify_seconds: int = Field(
        default=60,
        ge=0,
        le=86400,
        description=(
            "After the switch, traffic returns to the previous revision automatically if the "
            "new one stops being ready within this window, or (rollout.analysis) its real "
            "traffic breaches a threshold."
        ),
    )
    revision_history_limit: int = Field(
        default=3,
        ge=0,
        le=50,
        description="Inactive revisions kept, scaled to zero, for rollback.",
    )
    preview_replicas: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Run the candidate with this many pods while it is tested (fewer than the "
        "serving revision, to save capacity); it is scaled to full size, and must be available "
        "at it, before traffic switches. Default: full size from the start.",
    )
    analysis: Analysis | None = Field(
        default=None,
        description="Post-switch analysis of real traffic (error rate, latency per tool, as "
        "the in-pod proxies count it) over verifySeconds: on a breach traffic returns to the "
        "previous revision, which is marked failed with the metric, tool and numbers.",
    )


class MCPServerSpec(ApiModel):
    """The desired state of an MCP server."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.transport != 'stdio' || (has(self.command) && size(self.command) > 0)",
                "transport stdio needs spec.command: the stdio server's program to start",
                field_path=".command",
            ),
            cel(
                "self.transport != 'sse' || ((!has(self.auth) || self.auth.mode == 'None') && "
                "!has(self.tools) && !has(self.rateLimits) && !has(self.tls))",
                "auth, tools, rateLimits and tls are enforced by the in-pod proxy, which does "
                "not speak the sse transport: use streamable-http or stdio",
                field_path=".transport",
            ),
            cel(
                "!has(self.autoscaling) || self.replicas >= self.autoscaling.minReplicas",
                "replicas must be at least autoscaling.minReplicas",
                field_path=".replicas",
            ),
            cel(
                "!has(self.volumeMounts) || self.volumeMounts.all(m, has(self.volumes) && "
                "self.volumes.exists(v, v.name == m.name))",
                "every volumeMounts[].name must be the name of a volume in spec.volumes",
                field_path=".volumeMounts",
            ),
            cel(
                "!has(self.volumeMounts) || self.volumeMounts.all(m, "
                "self.volumeMounts.exists_one(n, n.mountPath == m.mountPath))",
                "two volumeMounts share a mountPath",
                field_path=".volumeMounts",
            ),
            *EXPOSE_RULES,
        )
    }

    image: str = Field(
        description="Container image of the MCP server, e.g. ghcr.io/org/server:1.2.3.",
        min_length=1,
        max_length=512,
        pattern=IMAGE_PATTERN,
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None, description="When the kubelet pulls the image."
    )
    command: list[Arg] | None = Field(
        default=None,
        description=(
            "Entrypoint. Required for transport stdio (the program the proxy starts); "
            "otherwise the image's entrypoint is used when left out."
        ),
        max_length=64,
    )
    args: list[Arg] | None = Field(
        default=None, description="Arguments to the entrypoint.", max_length=256
    )
    env: list[EnvVar] | None = Field(
        default=None, description="Environment variables for the server.", max_length=256
    )
    env_from: list[EnvFromSource] | None = Field(
        default=None,
        description="ConfigMaps and Secrets whose keys become environment variables.",
        max_length=32,
    )
    transport: Transport = Field(
        default="streamable-http",
        description=(
            "How the server speaks MCP. streamable-http: the in-pod proxy (mcpops-proxy) runs "
            "beside the server and the Services target it; stdio: the proxy starts the "
            "program (spec.command) once per session and serves it over Streamable HTTP; sse "
            "(the older transport): served directly, readiness by mcpops' health sidecar."
        ),
    )
    port: int = Field(
        default=8080,
        ge=1,
        le=65535,
        description="Port the server listens on (stdio: the proxy's port); the Services' port.",
    )
    path: str = Field(
        default="/mcp",
        description="HTTP path of the MCP endpoint (for sse, the SSE endpoint, e.g. /sse).",
        pattern=r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$",
        max_length=256,
    )
    replicas: int = Field(
        default=1,
        ge=0,
        le=1000,
        description="Pods per serving revision. Under autoscaling, a new revision starts at the "
        "serving revision's current scale when the autoscaler has scaled it beyond this.",
    )
    resources: ResourceRequirements | None = Field(
        default=None,
        description=(
            "Requests and limits of the server container, by resource name (extended "
            "resources such as nvidia.com/gpu included). Defaults: requests cpu 100m, "
            "memory 128Mi (192Mi for stdio: the container holds the proxy and, at rest, two "
            "server processes, one for checks and one warm for the next session); limits cpu "
            "500m, memory 512Mi."
        ),
    )
    autoscaling: Autoscaling | None = Field(
        default=None, description="Scale the serving revision on CPU (a HorizontalPodAutoscaler)."
    )
    readiness: Probe | None = Field(default=None, description="Tuning of the MCP readiness check.")
    liveness: Liveness | None = Field(
        default=None,
        description="Tuning of the MCP liveness check (streamable-http and stdio servers).",
    )
    sessions: Sessions | None = Field(
        default=None,
        description="How sessions are kept across replicas and revisions (streamable-http and "
        "stdio servers). Default: Sticky.",
    )
    disruption_budget: DisruptionBudget | None = Field(
        default=None,
        description="A PodDisruptionBudget for the serving revision (on by default when it may "
        "run more than one pod); it moves with the switch.",
    )
    service_account_name: str | None = Field(
        default=None,
        description="ServiceAccount the pods run as (default: the namespace's default).",
        max_length=253,
        pattern=DNS_SUBDOMAIN,
    )
    pod_labels: dict[str, LabelValue] | None = Field(
        default=None,
        description="Extra labels on the server's pods.",
        max_length=MAX_MAP_ENTRIES,
        json_schema_extra=keys_rule("podLabels"),
    )
    pod_annotations: dict[str, AnnotationValue] | None = Field(
        default=None,
        description="Extra annotations on the server's pods. Changing them makes a new revision.",
        max_length=MAX_MAP_ENTRIES,
        json_schema_extra=keys_rule("podAnnotations"),
    )
    node_selector: dict[str, LabelValue] | None = Field(
        default=None,
        description="Schedule the pods only on nodes with these labels.",
        max_length=MAX_MAP_ENTRIES,
        json_schema_extra=keys_rule("nodeSelector"),
    )
    volumes: list[Volume] | None = by_name(
        "Volumes the server container can mount (spec.volumeMounts): configMap, secret, "
        "emptyDir, persistentVolumeClaim, projected. The content of referenced ConfigMaps and "
        "Secrets is part of the revision: a change rolls out like an image change."
    )
    volume_mounts: list[VolumeMount] | None = Field(
        default=None,
        description="Where the volumes appear in the server container.",
        max_length=32,
    )
    tolerations: list[Toleration] | None = Field(
        default=None, description="Taints the pods tolerate.", max_length=32
    )
    affinity: Affinity | None = Field(
        default=None, description="Node affinity, pod affinity and anti-affinity of the pods."
    )
    topology_spread_constraints: list[TopologySpreadConstraint] | None = Field(
        default=None,
        description="How the pods spread over zones or nodes. A constraint without "
        "labelSelector counts this MCPServer's pods of the same revision.",
        max_length=8,
    )
    priority_class_name: str | None = Field(
        default=None,
        description="PriorityClass of the pods.",
        max_length=253,
        pattern=DNS_SUBDOMAIN,
    )
    image_pull_secrets: list[LocalObjectReference] | None = by_name(
        "Secrets with registry credentials for pulling spec.image.", 16
    )
    termination_grace_period_seconds: int | None = Field(
        default=None,
        ge=0,
        le=3600,
        description="How long a pod gets to finish in-flight requests after SIGTERM (default 30).",
    )
    pod_template: PodTemplateOverlay | None = Field(
        default=None,
        description=(
            "Escape hatch: a strategic-merge patch over the pod template mcpops builds, for "
            "pod fields not named above (e.g. dnsConfig, a sidecar, a csi volume). It may add "
            "and change, never remove, and may not touch the security context, host "
            "namespaces, hostPath volumes, or the image, command, ports and probes of "
            "mcpops' containers."
        ),
    )
    run_as_user: int | None = Field(
        default=None,
        ge=1,
        le=2147483647,
        description="UID the server runs as (non-root is always enforced). Default 65532.",
    )
    rollout: Rollout | None = Field(
        default=None, description="Blue-green update behaviour (defaults apply when left out)."
    )
    expose: Exposure | None = Field(
        default=None,
        description="Reach the stable Service from outside the cluster through a Gateway API "
        "HTTPRoute or an Ingress (owned by the MCPServer, removed with this field). It points "
        "at the stable Service, never the preview: it follows the switch without changing.",
    )
    network: Network | None = Field(
        default=None,
        description="The server's NetworkPolicy: who may connect (default: the MCPServer's "
        "namespace) and where it may connect (default: anywhere, reported in status).",
    )
    auth: Auth | None = Field(
        default=None,
        description="Who may call: bearer tokens (Kubernetes ServiceAccount tokens, OIDC JWTs) "
        "checked at the in-pod proxy. Without it every pod that can reach the server may "
        "call every tool (condition Secured=False); mode: None says that is meant.",
    )
    tools: Tools | None = Field(
        default=None,
        description="Tool policy at the proxy: allow/deny lists, renames, per-caller rules.",
    )
    rate_limits: RateLimits | None = Field(
        default=None, description="Rate limits on tools/call, per caller and per tool (429)."
    )
    audit: Audit | None = Field(
        default=None,
        description="The audit record of every tool call (on by default with auth, tools or "
        "rateLimits set).",
    )
    tls: Tls | None = Field(
        default=None, description="HTTPS at the proxy from a kubernetes.io/tls Secret."
    )
    tests: list[TestSuite] | None = Field(
        default=None,
        description=(
            "Test suites run as Jobs against every new revision before it takes traffic. "
            "All must pass for the switch."
        ),
        max_length=16,
    )
    updates: Updates | None = Field(
        default=None,
        description="Find new versions of the server and roll them out, tested (see "
        "status.updates). spec itself is never written: what runs is pinned in status.",
    )


class RevisionRecord(ApiModel):
    """One revision in the history."""

    revision: str = Field(description="Revision name (a hash of the pod template).")
    image: str = Field(default="", description="The image this revision runs.")
    created_at: str | None = Field(default=None, description="When the revision was first seen.")
    promoted_at: str | None = Field(default=None, description="When it took traffic.")
    outcome: str = Field(
        default="",
        description="Promoted, Failed, Superseded, RolledBack or Active.",
    )
    phases: dict[str, str] | None = Field(
        default=None,
        description="When this revision's rollout entered each phase (Progressing, Testing, "
        "Paused, Promoting, Verifying) and when it ended (Healthy or Degraded).",
    )
    passed_suites: list[str] | None = Field(
        default=None,
        description="The suites this revision last passed (before its switch or on schedule): "
        "what onFailure: Rollback looks for in a revision to return to.",
        max_length=64,
    )


class SuiteStatus(ApiModel):
    """The last result of one test suite."""

    suite: str = Field(description="Suite name.")
    revision: str = Field(default="", description="Revision the suite ran against.")
    result: str = Field(default="", description="Passed, Failed, Error or Running.")
    passed: int = Field(default=0, ge=0, description="Checks passed.")
    failed: int = Field(default=0, ge=0, description="Checks failed.")
    skipped: int = Field(default=0, ge=0, description="Checks skipped.")
    duration_seconds: float | None = Field(default=None, description="Wall time of the suite.")
    messages: list[str] | None = Field(
        default=None, description="The first failure messages.", max_length=10
    )
    job: str | None = Field(default=None, description="The Job that ran the suite.")


class ScheduledSuiteStatus(ApiModel):
    """The scheduled runs of one test suite (tests[].schedule) against the serving revision."""

    suite: str = Field(description="Suite name.")
    revision: str = Field(default="", description="The serving revision the runs are against.")
    schedule: str = Field(default="", description="The suite's schedule.")
    last_run_at: str | None = Field(
        default=None, description="The scheduled time of the last run started."
    )
    next_run_at: str | None = Field(
        default=None, description="When the next run is due (none while a rollout is on)."
    )
    job: str | None = Field(default=None, description="The Job of the last run.")
    running: bool | None = Field(
        default=None, description="True while the Job of the last run has not finished."
    )
    outcome: str = Field(
        default="",
        description="Of the last finished run: Passed or Failed (kept while the next one "
        "runs); Invalid for a schedule that cannot run (message names the field and the fix).",
    )
    message: str | None = Field(default=None, description="Why it failed, or what happens.")
    finished_at: str | None = Field(default=None, description="When the last run finished.")
    restoring: str | None = Field(
        default=None,
        description="onFailure: Rollback: the kept revision being scaled up to take traffic.",
    )


class RolloutRecord(ApiModel):
    """The operator's record of a rollout, kept in status between reconciles.

    Written by the operator only. Unknown keys (from another version of mcpops) are
    ignored when it is read, never an error.
    """

    model_config = ApiModel.model_config | {"extra": "ignore"}

    revision: str | None = Field(
        default=None, description="The candidate revision being rolled out, if any."
    )
    attempt: int | None = Field(
        default=None,
        ge=0,
        description="Rollouts started so far (a new candidate or a retry each add one); "
        "names this attempt's test Jobs.",
    )
    started_at: str | None = Field(
        default=None,
        description="When this attempt started (moved later by the time it was paused: "
        "progressDeadlineSeconds does not run while paused).",
    )
    paused_at: str | None = Field(default=None, description="When a person paused it.")
    tests_passed_at: str | None = Field(
        default=None, description="When every suite had passed against the candidate."
    )
    previous: str | None = Field(
        default=None,
        description="The revision that served before the last switch, kept up while the new "
        "one is verified (verifySeconds) and for a fast undo (scaleDownDelaySeconds).",
    )
    switched_at: str | None = Field(default=None, description="When traffic last switched.")
    baselines: dict[str, str] | None = Field(
        default=None,
        description="Per suite, the result of the serving revision's passing run, for the "
        "next candidate's regression checks.",
    )
    retry_token: str | None = Field(
        default=None, description="The mcpops.dev/retry value already acted on."
    )
    abort_token: str | None = Field(
        default=None, description="The mcpops.dev/abort value already acted on."
    )
    failure_reason: str | None = Field(
        default=None, description="Why the failed revision failed (or was rolled back)."
    )
    failed_at: str | None = Field(
        default=None, description="When it failed (abortScaleDownDelaySeconds runs from here)."
    )
    rolled_back: bool | None = Field(
        default=None,
        description="True when traffic returned to the previous revision after a switch.",
    )
    drain_started_at: str | None = Field(
        default=None,
        description="When the previous revision started waiting for its open sessions to end.",
    )
    drain_sessions: int | None = Field(
        default=None, ge=0, description="Open sessions on the previous revision at the last look."
    )
    analysis_result: Literal["Running", "Passed", "Failed", "Inconclusive"] | None = Field(
        default=None,
        description="rollout.analysis of the revision that took traffic at the last switch: "
        "Running during the verify window, then Passed, Failed (traffic returned) or "
        "Inconclusive (too few calls to judge).",
    )
    analysis_message: str | None = Field(
        default=None, description="What the analysis saw: calls, errors and p95 per tool."
    )

    @classmethod
    def load(cls, raw: Any) -> RolloutRecord:
        """The record as stored, without what cannot be read: a field of the wrong type
        (written by hand, or by a version that meant something else by it) is dropped,
        not an error that would stop every reconcile of the object."""
        data = dict(raw) if isinstance(raw, dict) else {}
        for _ in range(len(data) + 1):
            try:
                return cls.model_validate(data)
            except ValidationError as exc:
                bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
                if not bad & set(data):
                    break
                data = {k: v for k, v in data.items() if k not in bad}
        return cls()


class DrainStatus(ApiModel):
    """The previous revision, kept up after a switch for its open sessions."""

    revision: str = Field(description="The revision draining.")
    open_sessions: int = Field(ge=0, description="Sessions still open on it (its proxies' count).")
    since: str = Field(description="When it started waiting for them.")
    deadline: str = Field(description="When it is scaled down even if sessions remain open.")


class ConfigReference(ApiModel):
    """A ConfigMap or Secret whose content is part of the spec's revision."""

    kind: Literal["ConfigMap", "Secret"] = Field(description="ConfigMap or Secret.")
    name: str = Field(description="Its name, in the MCPServer's namespace.")
    resource_version: str = Field(
        default="", description="The resourceVersion whose content the revision was made from."
    )


class MCPServerStatus(ApiModel):
    """The observed state of an MCP server."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation this status describes."
    )
    phase: Phase | None = Field(default=None, description="Where the server is in its life.")
    phase_since: str | None = Field(
        default=None, description="When the server entered its current phase."
    )
    active_revision: str | None = Field(
        default=None, description="The revision the stable Service sends traffic to."
    )
    candidate_revision: str | None = Field(
        default=None, description="A new revision being brought up and tested."
    )
    failed_revision: str | None = Field(
        default=None,
        description="The last revision that failed; it is not retried until the spec changes.",
    )
    replicas: int | None = Field(default=None, description="Pods of the active revision.")
    ready_replicas: int | None = Field(
        default=None, description="Ready pods of the active revision."
    )
    draining: DrainStatus | None = Field(
        default=None,
        description="While the previous revision waits for its open sessions to end "
        "(rollout.drainSeconds): which, how many, until when.",
    )
    protocol_version: str | None = Field(
        default=None,
        description="The MCP protocol revision the active revision's server speaks (e.g. "
        "2026-07-28, 2025-11-25), as the in-pod proxy classified it: server/discover first, "
        "then initialize. Unset until a ready pod has classified it, and for sse servers.",
    )
    url: str | None = Field(default=None, description="In-cluster URL of the MCP endpoint.")
    external_url: str | None = Field(
        default=None,
        description="URL of the MCP endpoint outside the cluster (spec.expose), once it is in "
        "effect: the HTTPRoute accepted by a Gateway, or the Ingress given an address. The "
        "Exposed condition says why it is not.",
    )
    preview_url: str | None = Field(
        default=None, description="In-cluster URL that reaches only the candidate revision."
    )
    conditions: list[Condition] | None = Field(
        default=None,
        description="Ready, Progressing, Degraded, TestsPassed, ReferencesResolved, Exposed "
        "and others.",
    )
    tests: list[SuiteStatus] | None = Field(
        default=None, description="The last results of each test suite."
    )
    scheduled_tests: list[ScheduledSuiteStatus] | None = Field(
        default=None,
        description="Suites with a schedule: last run, next run and outcome of each.",
    )
    revisions: list[RevisionRecord] | None = Field(
        default=None, description="Revision history, newest first."
    )
    rollout: RolloutRecord | None = Field(
        default=None,
        description="The rollout in progress and the last switch: what the operator "
        "remembers between reconciles.",
    )
    references: list[ConfigReference] | None = Field(
        default=None,
        description="The ConfigMaps and Secrets the pods read (env, envFrom, volumes), whose "
        "content is part of the spec's revision: a change to them rolls out like a new image. "
        "Names and resourceVersions only, never values.",
    )
    updates: UpdatesStatus | None = Field(
        default=None, description="What the update manager found, runs, and why."
    )
    network: NetworkStatus | None = Field(
        default=None, description="What the NetworkPolicy (spec.network) allows, in short."
    )
