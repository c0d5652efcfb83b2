"""Prometheus metrics of the operator. One registry; names are part of the API.

The dashboard and alerts in charts/ query only names defined here.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

API_REQUESTS = Counter(
    "mcpops_api_requests",
    "Requests the operator made to the Kubernetes API server.",
    ["verb", "resource", "code"],
)
WATCH_EVENTS = Counter(
    "mcpops_watch_events",
    "Watch events the child informers received, by kind: what a fleet's churn costs the "
    "operator (each is decoded, filed and wakes its parent).",
    ["kind"],
)
API_LOGINS = Counter(
    "mcpops_api_logins",
    "Times the operator logged in again after the API server refused its token (401), by "
    "outcome: renewed (a newer token, the request was sent again), unchanged (no newer "
    "token: the request failed), failed (the credentials could not be read).",
    ["outcome"],
)
RECONCILES = Counter(
    "mcpops_reconciles",
    "Reconciles by kind and result (ok, error, gone: the object or its namespace went away).",
    ["kind", "result"],
)
RECONCILE_SECONDS = Histogram(
    "mcpops_reconcile_duration_seconds",
    "Time one reconcile took.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
QUEUE_DEPTH = Gauge("mcpops_queue_depth", "Objects waiting to be reconciled.", ["kind"])
WRITES_SKIPPED = Counter(
    "mcpops_writes_skipped",
    "Child or status writes skipped because the cluster already matched.",
    ["kind"],
)
MANAGED = Gauge("mcpops_managed_objects", "Custom resources the operator manages.", ["kind"])
SERVERS_BY_PHASE = Gauge(
    "mcpops_mcpservers", "MCPServers by phase (as last reconciled).", ["phase"]
)
REVISIONS_CREATED = Counter(
    "mcpops_revisions_created",
    "New MCPServer revisions (a changed pod template, or changed content of a ConfigMap or "
    "Secret the pods read).",
)
WAITING_FOR_REFERENCES = Gauge(
    "mcpops_mcpservers_waiting_for_references",
    "MCPServers whose new revision waits for a ConfigMap or Secret that does not exist.",
)
NOT_EXPOSED = Gauge(
    "mcpops_mcpservers_not_exposed",
    "MCPServers whose spec.expose is not in effect (condition Exposed False): the HTTPRoute "
    "refused by a Gateway or with an unresolved reference, or the Gateway API not installed.",
)
EGRESS_OPEN = Gauge(
    "mcpops_mcpservers_egress_open",
    "MCPServers whose pods may connect anywhere (condition EgressRestricted False: no "
    "spec.network.egress, or spec.network.enabled false).",
)
OPEN_TO_CLUSTER = Gauge(
    "mcpops_mcpservers_open_to_cluster",
    "MCPServers any pod that can reach them may call (condition Secured False, reason "
    "OpenToCluster: no spec.auth). auth.mode None is not counted: open on purpose.",
)
EVENTS_POSTED = Counter(
    "mcpops_events_posted", "Kubernetes Events posted, by reason.", ["kind", "reason"]
)

ROLLOUTS = Counter(
    "mcpops_rollouts",
    "Rollouts by outcome: promoted, failed, aborted, superseded, rolled_back.",
    ["outcome"],
)
TEST_JOBS = Counter("mcpops_test_jobs_created", "Test suite Jobs created for candidates.")
OPTJOBS_FINISHED = Counter(
    "mcpops_optimizationjobs_finished",
    "OptimizationJobs that finished, by phase (Succeeded, Failed, Cancelled) and reason (the "
    "solver outcome such as Optimal or Infeasible, or the failure such as OOMKilled).",
    ["phase", "reason"],
)
OPTJOBS_QUEUED = Gauge(
    "mcpops_optimizationjobs_queued",
    "OptimizationJobs waiting for a solver slot (MCPOPS_MAX_SOLVER_PODS_PER_NAMESPACE).",
    ["namespace"],
)
SOLVER_SLOTS_USED = Gauge(
    "mcpops_solver_slots_used",
    "Solver pods that running OptimizationJobs may run at once, per namespace.",
    ["namespace"],
)
OPTJOBS_CANCELLED = Counter(
    "mcpops_optimizationjobs_cancelled",
    "OptimizationJobs cancelled, by whether a solution was kept.",
    ["solution"],
)
SOLVE_SECONDS = Histogram(
    "mcpops_solver_solve_seconds",
    "Seconds spent in the solver per solve (per scenario of a sweep), as the runtime reported.",
    ["solver"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400),
)
OBJECTIVE_GAP = Histogram(
    "mcpops_solver_objective_gap",
    "Relative gap |objective - bound| / |objective| of finished solves (0 is proven optimal).",
    ["solver"],
    buckets=(0.0, 1e-9, 1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0),
)

# Blue-green: how long each rollout phase lasted, and what the test suites said.
ROLLOUT_PHASE_SECONDS = Histogram(
    "mcpops_rollout_phase_duration_seconds",
    "Seconds a rollout spent in a phase (Progressing, Testing, Promoting, Verifying), "
    "observed when the phase ends.",
    ["phase"],
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
ROLLOUT_OLDEST_SECONDS = Gauge(
    "mcpops_rollout_oldest_seconds",
    "Age of the oldest rollout still moving on its own (Progressing, Testing, Verifying; not "
    "Promoting or Paused, which wait for a person), 0 when none: what a stuck alert watches.",
)
SCHEDULED_SUITE_RESULTS = Counter(
    "mcpops_scheduled_suite_results",
    "Finished scheduled runs of test suites (tests[].schedule) against serving revisions, "
    "by outcome: passed, failed, timeout.",
    ["outcome"],
)
# Every outcome exported from the start: increase() in the alert sees the first failure.
for _outcome in ("passed", "failed", "timeout"):
    SCHEDULED_SUITE_RESULTS.labels(_outcome)
TEST_RESULTS = Counter(
    "mcpops_test_results",
    "Finished test suite runs by outcome: passed, failed, timeout, cancelled.",
    ["outcome"],
)

# CleanupPolicy.
CLEANUP_RUNS = Counter(
    "mcpops_cleanup_runs",
    "CleanupPolicy runs by mode (DryRun, Enforce) and result (ok, blocked, error).",
    ["namespace", "policy", "mode", "result"],
)
CLEANUP_OBJECTS = Counter(
    "mcpops_cleanup_objects",
    "Objects a cleanup run acted on, by kind and outcome: deleted, would_delete, "
    "protected, failed.",
    ["namespace", "policy", "kind", "outcome"],
)
CLEANUP_CANDIDATES = Gauge(
    "mcpops_cleanup_candidates",
    "Objects the last run of a policy selected for deletion.",
    ["namespace", "policy"],
)
CLEANUP_BLOCKED = Gauge(
    "mcpops_cleanup_blocked",
    "1 while a policy's circuit breaker holds it (waiting for acknowledgement).",
    ["namespace", "policy"],
)
CLEANUP_RUN_SECONDS = Histogram(
    "mcpops_cleanup_run_duration_seconds",
    "Time one cleanup run took (list, select, delete).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)

# High availability.
LEADER = Gauge(
    "mcpops_leader", "1 while this replica holds the leader Lease and reconciles, else 0."
)

# spec.updates (machinery.registries): lookups of version sources.
UPDATE_LOOKUPS = Counter(
    "mcpops_update_lookups",
    "Lookups of update sources (OCI registry, PyPI, npm), by source and outcome (ok, error).",
    ["source", "outcome"],
)
UPDATE_NOT_MODIFIED = Counter(
    "mcpops_update_not_modified",
    "Registry answers that were unchanged since the last lookup (HTTP 304 to If-None-Match).",
)
UPDATE_VERSIONS_FOUND = Counter(
    "mcpops_update_versions_found",
    "Versions (tags, releases) seen for the first time by this operator process, by source.",
    ["source"],
)

# The in-pod proxies (machinery.proxyinfo): what the operator asks of them.
PROXY_INFO_REQUESTS = Counter(
    "mcpops_proxy_info_requests",
    "Requests for a pod proxy's /mcpops/info (protocol revision, open sessions), by outcome "
    "(ok, error).",
    ["outcome"],
)
ANALYSIS_READS = Counter(
    "mcpops_rollout_analysis_reads",
    "Reads of a pod proxy's /metrics for rollout.analysis, by outcome (ok, error).",
    ["outcome"],
)
ROLLOUT_ANALYSES = Counter(
    "mcpops_rollout_analysis",
    "rollout.analysis verdicts after a switch, by result (passed; failed: a threshold was "
    "breached and traffic returned to the previous revision; inconclusive: too few calls).",
    ["result"],
)
for _result in ("passed", "failed", "inconclusive"):  # increase() sees the first of each
    ROLLOUT_ANALYSES.labels(_result)
SESSION_KEYS_CREATED = Counter(
    "mcpops_session_keys_created",
    "Session-key Secrets created (one per MCPServer, shared by all its revisions).",
)
DRAINS = Counter(
    "mcpops_drains",
    "Previous revisions kept up after a switch for their open sessions, by how the wait "
    "ended (ended: the sessions ended; timeout: rollout.drainSeconds passed with some open).",
    ["outcome"],
)
DRAIN_SECONDS = Histogram(
    "mcpops_drain_seconds",
    "How long a previous revision waited for its open sessions past the scale-down window.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
AGENT_TOOL_CALLS = Counter(
    "mcpops_agent_tool_calls",
    "Tool calls to `mcpops mcp-server` (the agent server, its own process), by tool and "
    "outcome: ok, refused (bad input or an unknown job), forbidden (its RBAC refused), "
    "api-error, error.",
    ["tool", "outcome"],
)
AGENT_TOOL_SECONDS = Histogram(
    "mcpops_agent_tool_duration_seconds",
    "Time one tool call of `mcpops mcp-server` took (get_status includes its wait).",
    ["tool"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
