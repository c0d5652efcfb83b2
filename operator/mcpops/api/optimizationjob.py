"""OptimizationJob: one optimization problem solved in a limited solver pod (or a sweep of them).

The problem model and the scenario forms are the solver runtime's own pydantic
models (`mcpops_common.optmodel`, which does not import OR-Tools), embedded here so
that the CRD, the operator and the runtime agree on one definition.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mcpops.api.base import (
    MAX_MAP_ENTRIES,
    AnnotationValue,
    ApiModel,
    Condition,
    LabelValue,
    Resources,
    cel,
    keys_rule,
    validations,
)
from mcpops_common.optmodel import (
    MAX_SCENARIOS,
    OptimizationModel,
    ScenarioOverride,
    ScenarioSampling,
    SolverName,
)

Phase = Literal["Queued", "Pending", "Running", "Succeeded", "Failed", "Cancelled"]
ProblemFormat = Literal["auto", "json", "yaml", "mps", "lp", "lp-solve"]

DEFAULT_TIME_LIMIT_SECONDS = 3600.0
DEFAULT_BACKOFF_LIMIT = 1
DEFAULT_PARALLELISM = 4
MAX_PARALLELISM = 1000
# The Job's hard deadline when spec.activeDeadlineSeconds is not given, per solve:
# the solver's own limit, 20% slack, and a minute for the pod to start and write results.
DEADLINE_FACTOR = 1.2
DEADLINE_SLACK_SECONDS = 60


class ProblemFileRef(ApiModel):
    """One key of a ConfigMap or Secret in the OptimizationJob's namespace holding the problem."""

    name: str = Field(
        description="Name of the ConfigMap or Secret.",
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
    )
    key: str = Field(
        description=(
            "The key holding the problem file, e.g. model.mps. Its extension (.json, .yaml, "
            ".mps, .lp, optionally .gz) tells the format when spec.format is auto."
        ),
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
    )


class Sampling(ScenarioSampling):
    """N scenarios drawn at random, deterministically from a seed.

    Sampled scenario k (0-based) draws every parameter from a generator seeded
    with (seed, k) only, so the same seed always gives the same scenarios.
    """

    # The runtime accepts seeds up to 2^63-1, but a CRD bound that large is a float64 the
    # API server cannot compare with an integer default; 2^53 is exact in every JSON reader.
    seed: int = Field(
        default=0,
        description="Seed of the random draws; the same seed gives the same scenarios.",
        ge=0,
        le=2**53,
    )


_SCENARIO_COUNT = (
    "(has(self.scenarios) ? size(self.scenarios) : 0) + "
    "(has(self.sampling) ? self.sampling.samples : 0)"
)


class OptimizationJobSpec(ApiModel):
    """What to solve, with which solver and limits; immutable once created."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "[has(self.model), has(self.configMapRef), has(self.secretRef)]"
                ".filter(x, x).size() == 1",
                "set exactly one of model, configMapRef, secretRef: the problem inline or the "
                "ConfigMap or Secret key that holds it",
            ),
            cel(
                "!has(self.model) || self.format == 'auto' || self.format == 'json'",
                "format applies to configMapRef and secretRef; an inline model needs none",
                field_path=".format",
            ),
            # The schema's minimum is not enough: the API server compares a whole-number value
            # with minimum 0.001 as integers, so it lets 0 through.
            cel(
                "self.timeLimitSeconds >= 0.001",
                "timeLimitSeconds must be greater than 0",
                field_path=".timeLimitSeconds",
            ),
            cel(
                "!has(self.activeDeadlineSeconds) || "
                "double(self.activeDeadlineSeconds) > self.timeLimitSeconds",
                "activeDeadlineSeconds must be greater than timeLimitSeconds: the solver stops "
                "itself at its time limit, and the deadline is the hard stop after that",
                field_path=".activeDeadlineSeconds",
            ),
            cel(
                "!has(self.race) || !self.race || self.solver == 'auto'",
                "race applies to solver auto (it races auto's two best backends); set solver: "
                "auto or leave race out",
                field_path=".race",
            ),
            cel(
                "!has(self.parallelism) || has(self.scenarios) || has(self.sampling)",
                "parallelism applies to a sweep only: set scenarios or sampling",
                field_path=".parallelism",
            ),
            cel(
                "!has(self.maxFailedScenarios) || has(self.scenarios) || has(self.sampling)",
                "maxFailedScenarios applies to a sweep only: set scenarios or sampling",
                field_path=".maxFailedScenarios",
            ),
            cel(
                f"{_SCENARIO_COUNT} <= {MAX_SCENARIOS}",
                f"a sweep may have at most {MAX_SCENARIOS} scenarios (scenarios plus "
                "sampling.samples)",
                field_path=".scenarios",
            ),
        )
    }

    # ---- the problem
    model: OptimizationModel | None = Field(
        default=None,
        description=(
            "The problem inline, in the project's model form: variables with bounds and types, "
            "linear constraints, an objective. Set this, configMapRef or secretRef."
        ),
    )
    config_map_ref: ProblemFileRef | None = Field(
        default=None,
        description="A ConfigMap key holding the problem as an MPS, LP, JSON or YAML file.",
    )
    secret_ref: ProblemFileRef | None = Field(
        default=None,
        description="A Secret key holding the problem as an MPS, LP, JSON or YAML file.",
    )
    format: ProblemFormat = Field(
        default="auto",
        description=(
            "Format of the file in configMapRef/secretRef: json or yaml (the model form), mps, "
            "lp (CPLEX LP) or lp-solve; auto detects it from the key's extension, then the "
            "content."
        ),
    )

    # ---- the solver
    solver: SolverName = Field(
        default="auto",
        description=(
            "auto lets the runtime choose from the problem (LP, MIP, pure integer, size); or one "
            "of GLOP, PDLP, CLP (linear programs), CBC, SCIP, HIGHS (linear and mixed-integer), "
            "CP-SAT (pure integer programs) or BOP (pure 0-1 programs)."
        ),
    )
    time_limit_seconds: float = Field(
        default=DEFAULT_TIME_LIMIT_SECONDS,
        # The same bound as the CEL rule above, which also catches a whole-number 0.
        ge=0.001,
        le=7 * 24 * 3600,
        description=(
            "Wall-clock limit of the solve, enforced by the solver (which then returns the best "
            "solution found, status FEASIBLE, or NOT_SOLVED without one) and by the Job's "
            "deadline. Default 3600."
        ),
    )
    relative_gap: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            "Stop a mixed-integer solve once |objective - bound| / |objective| is at most this "
            "(the runtime's default is 1e-4). Ignored by LP solvers."
        ),
    )
    absolute_gap: float | None = Field(
        default=None,
        ge=0,
        le=1e15,
        description=(
            "Also stop a mixed-integer solve once |objective - bound| is at most this, in the "
            "objective's units (default 0: the relative gap alone decides). Taken by SCIP, "
            "HiGHS and CP-SAT; CBC and BOP ignore it with a warning. Ignored by LP solvers."
        ),
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description=(
            "Threads the solver may use. Also the default CPU request and limit of the solver "
            "pod (default 1 CPU when left out; the runtime then uses the pod's CPU limit)."
        ),
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=2**31 - 1,
        description="Random seed passed to the solver, for reproducible runs.",
    )
    deterministic: bool = Field(
        default=False,
        description=(
            "Reproducible runs: the same problem, settings and seed give the same result. The "
            "seed defaults to 0, CP-SAT uses its interleaved (deterministic) parallel search "
            "and PDLP one thread; the other solvers are deterministic as the runtime runs "
            "them. A solve stopped by timeLimitSeconds can still differ between runs."
        ),
    )

    warm_start_from: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description=(
            "The name of an earlier OptimizationJob in this namespace whose solution seeds "
            "this solve (each scenario of a sweep): a MIP start (solution hint) for SCIP, "
            "CP-SAT, HIGHS and BOP; CBC and the LP solvers solve from scratch with a warning. "
            "The job waits while that one has not finished; one that left no solution is "
            "reported in an Event and this job solves without it."
        ),
    )

    race: bool | None = Field(
        default=None,
        description=(
            "With solver auto and more than one thread: run auto's two best candidate "
            "backends at once, in separate processes with the threads split between them, "
            "keep the first proven answer (OPTIMAL, INFEASIBLE, UNBOUNDED) and stop the "
            "other. Costs up to twice the CPU-seconds for a shorter wall-clock time on "
            "problems where the choice is close; status.solverChoice.raced says whether it "
            "raced. Ignored with one thread. Default false."
        ),
    )

    # ---- the pod
    resources: Resources | None = Field(
        default=None,
        description=(
            "Requests and limits of the solver container; always set on the pod. Defaults: cpu "
            "= threads (else 1) for both, memory request 512Mi and limit 2Gi. A limit given "
            "lower than its request is refused; a request above a defaulted limit raises it."
        ),
    )
    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description=(
            "Solver image (runs mcpops-solver). Default: the operator's MCPOPS_SOLVER_IMAGE, "
            "else its own image with -solver appended to the repository "
            "(ghcr.io/mcpops/mcpops-solver:<version>)."
        ),
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None, description="When the kubelet pulls the solver image."
    )
    backoff_limit: int = Field(
        default=DEFAULT_BACKOFF_LIMIT,
        ge=0,
        le=10,
        description=(
            "Retries of a failed solver pod (per scenario in a sweep). Malformed input, an "
            "unsupported problem and running out of memory are never retried; an evicted or "
            "preempted pod does not count."
        ),
    )
    active_deadline_seconds: int | None = Field(
        default=None,
        ge=1,
        le=30 * 24 * 3600,
        description=(
            "Hard limit on the Job's run time, after which its pods are stopped and the "
            "OptimizationJob fails with DeadlineExceeded. Default: timeLimitSeconds x 1.2 + 60 "
            "per wave of a sweep (scenarios / parallelism, rounded up)."
        ),
    )
    ttl_seconds_after_finished: int | None = Field(
        default=None,
        ge=0,
        le=365 * 24 * 3600,
        description=(
            "Delete the solver Job and its pods this long after it finished. The "
            "OptimizationJob, its status and its result ConfigMaps stay (a CleanupPolicy can "
            "remove those)."
        ),
    )
    pod_annotations: dict[str, AnnotationValue] | None = Field(
        default=None,
        description="Extra annotations on the solver pods.",
        max_length=MAX_MAP_ENTRIES,
        json_schema_extra=keys_rule("podAnnotations"),
    )
    pod_labels: dict[str, LabelValue] | None = Field(
        default=None,
        description="Extra labels on the solver pods.",
        max_length=MAX_MAP_ENTRIES,
        json_schema_extra=keys_rule("podLabels"),
    )
    node_selector: dict[str, LabelValue] | None = Field(
        default=None,
        description="Schedule the solver pods only on nodes with these labels.",
        max_length=MAX_MAP_ENTRIES,
        json_schema_extra=keys_rule("nodeSelector"),
    )

    # ---- a sweep
    scenarios: list[ScenarioOverride] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SCENARIOS,
        description=(
            "A sweep: solve the same problem once per scenario, each a set of overrides of the "
            "base problem (bounds, right-hand sides, coefficients). Runs as an Indexed Job; "
            "scenario i is index i."
        ),
    )
    sampling: Sampling | None = Field(
        default=None,
        description=(
            "A sweep of N scenarios drawn from distributions (deterministic from a seed), "
            "indexed after spec.scenarios."
        ),
    )
    parallelism: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PARALLELISM,
        description="How many scenarios of a sweep are solved at once (default 4).",
    )
    max_failed_scenarios: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SCENARIOS,
        description=(
            "Stop a sweep once more scenarios than this have failed (default: never stop early; "
            "one failing scenario does not fail the others)."
        ),
    )


class ScenarioSummary(ApiModel):
    """The objectives of a sweep's scenarios, summarized."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    total: int = Field(default=0, description="Scenarios in the sweep.")
    reported: int = Field(default=0, description="Scenarios whose result has been read.")
    pending: int = Field(default=0, description="Scenarios without a result yet.")
    solved: int = Field(default=0, description="Scenarios solved (OPTIMAL or FEASIBLE).")
    optimal: int = Field(default=0, description="Scenarios solved to optimality.")
    feasible: int = Field(default=0, description="Scenarios stopped at a limit with a solution.")
    infeasible: int = Field(default=0, description="Scenarios proven infeasible.")
    unbounded: int = Field(
        default=0, description="Scenarios unbounded (or infeasible-or-unbounded)."
    )
    not_solved: int = Field(default=0, description="Scenarios with no solution at the limit.")
    failed: int = Field(
        default=0, description="Scenarios that failed (error, crash, no result when finished)."
    )
    sense: str | None = Field(default=None, description="minimize or maximize.")
    best: float | None = Field(default=None, description="Best objective (by the sense).")
    worst: float | None = Field(default=None, description="Worst objective (by the sense).")
    best_index: int | None = Field(default=None, description="Scenario index of the best.")
    worst_index: int | None = Field(default=None, description="Scenario index of the worst.")
    mean: float | None = Field(default=None, description="Mean objective of solved scenarios.")
    p5: float | None = Field(default=None, description="5th percentile of the objectives.")
    p50: float | None = Field(default=None, description="Median of the objectives.")
    p95: float | None = Field(default=None, description="95th percentile of the objectives.")
    failed_indexes: str | None = Field(
        default=None, description="Indexes the Job reports failed, e.g. 1,4-6."
    )


class SolveProgress(ApiModel):
    """How a running solve is doing, as its solver pod last reported (at most every 5 s)."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    objective: float | None = Field(default=None, description="Best objective found so far.")
    bound: float | None = Field(default=None, description="Best proven bound so far.")
    gap: float | None = Field(
        default=None, description="Relative gap |objective - bound| / |objective| so far."
    )
    solutions_found: int | None = Field(default=None, description="Solutions found so far.")
    elapsed_seconds: float | None = Field(default=None, description="Seconds into the solve.")
    updated_at: str | None = Field(default=None, description="When the pod reported it.")


class SolverChoice(ApiModel):
    """How solver auto chose the backend (absent when a backend was requested)."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    backend: str = Field(description="The backend whose answer was kept.")
    rule: str = Field(
        default="",
        description=(
            "The rule of `solver: auto` that decided and the counts it matched, e.g. "
            "'rule 3: pure 0-1, 53.2 >= 10 columns per row'."
        ),
    )
    raced: bool = Field(default=False, description="Whether two backends were raced (spec.race).")
    raced_against: list[str] | None = Field(
        default=None, description="The backend(s) raced and stopped or beaten."
    )
    cpu_seconds: float | None = Field(
        default=None, description="CPU-seconds of all raced backends together."
    )
    fallback_from: list[str] | None = Field(
        default=None,
        description="Backends that refused the model before this one (e.g. CP-SAT).",
    )


class OptimizationJobStatus(ApiModel):
    """The observed state of an optimization job and its outcome."""

    model_config = ApiModel.model_config | {"extra": "ignore"}

    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation this status describes."
    )
    phase: Phase | None = Field(
        default=None,
        description=(
            "Queued (waiting for a solver slot in the namespace), Pending (the solver pod is "
            "not running yet), Running, Succeeded (a result was recorded: see solverStatus, "
            "which may be INFEASIBLE), Failed (no result: see the Failed condition) or "
            "Cancelled (stopped by a cancel; the best solution found until then is kept)."
        ),
    )
    job: str | None = Field(default=None, description="The batch/v1 Job that runs the solver.")
    solver: str | None = Field(default=None, description="The solver backend that ran.")
    solver_reason: str | None = Field(
        default=None, description="Why the runtime chose this solver."
    )
    solver_choice: SolverChoice | None = Field(
        default=None, description="How solver auto chose, raced or fell back."
    )
    solver_status: str | None = Field(
        default=None,
        description=(
            "OPTIMAL, FEASIBLE (a limit was reached with a solution), INFEASIBLE, UNBOUNDED, "
            "INFEASIBLE_OR_UNBOUNDED, NOT_SOLVED, ABNORMAL or ERROR. For a sweep: the best "
            "scenario's."
        ),
    )
    objective: float | None = Field(
        default=None, description="Objective value of the solution (a sweep: the best)."
    )
    bound: float | None = Field(default=None, description="Best proven bound on the objective.")
    gap: float | None = Field(
        default=None, description="Relative gap |objective - bound| / |objective|."
    )
    progress: SolveProgress | None = Field(
        default=None,
        description=(
            "While Running: the best objective, bound and gap so far (SCIP, CP-SAT and HIGHS "
            "report them during a MIP solve; CBC, BOP and the LP solvers only at the end)."
        ),
    )
    cancelled: bool | None = Field(
        default=None,
        description=(
            "True when the job was cancelled. The solution, if any, is the best found until "
            "then and not proven optimal unless solverStatus is OPTIMAL."
        ),
    )
    queue_position: int | None = Field(
        default=None, description="While Queued: the place in the namespace's queue (1: next)."
    )
    warm_start_from: str | None = Field(
        default=None, description="The OptimizationJob whose solution seeded this solve."
    )
    solve_seconds: float | None = Field(
        default=None, description="Seconds spent in the solver (a sweep: summed over scenarios)."
    )
    result_config_map: str | None = Field(
        default=None,
        description=(
            "ConfigMap with summary.json and, when it fits, solution.json (variable values, and "
            "for LPs duals and reduced costs). A sweep: the best scenario's."
        ),
    )
    result_parts: list[str] | None = Field(
        default=None,
        description="ConfigMaps holding the parts of a solution too large for one ConfigMap.",
    )
    solution_stored: bool | None = Field(
        default=None,
        description="False when the solution was too large to store (see message); never cut.",
    )
    scenarios: ScenarioSummary | None = Field(
        default=None, description="A sweep: counts by outcome and percentiles of the objective."
    )
    start_time: str | None = Field(default=None, description="When the solver Job started.")
    completion_time: str | None = Field(default=None, description="When it finished.")
    message: str | None = Field(default=None, description="What happened, in one sentence.")
    conditions: list[Condition] | None = Field(
        default=None,
        description=(
            "Complete (a result was recorded), Failed (no result, with the reason: "
            "OOMKilled, DeadlineExceeded, MalformedInput, ...) and Ready (True once a result "
            "is available)."
        ),
    )
