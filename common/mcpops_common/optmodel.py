"""The project's own problem form: a linear or mixed-integer model in JSON or YAML.

These pydantic models are the single source of truth for the model form. The
operator embeds them in the OptimizationJob CRD schema, so this module must not
import OR-Tools, and every field carries a description written for
``kubectl explain`` readers.

Conventions:

- Field names are camelCase on the wire (``lowerBound``) and snake_case in
  Python (``lower_bound``); both are accepted when parsing.
- An omitted bound means "no bound on that side" (minus or plus infinity).
  JSON has no infinity, so this is the only way to say it.
- Unknown fields are refused, so a typo fails loudly instead of being ignored.

Example (YAML)::

    sense: maximize
    variables:
      - {name: x, lowerBound: 0, upperBound: 3}
      - {name: y, lowerBound: 0, type: integer}
    constraints:
      - {name: capacity, coefficients: {x: 1, y: 1}, upperBound: 4}
      - name: mix
        terms: [{var: x, coef: 1}, {var: y, coef: 3}]
        upperBound: 6
    objective:
      coefficients: {x: 3, y: 2}
      constant: 5
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "MAX_CONSTRAINTS",
    "MAX_SAMPLES",
    "MAX_SCENARIOS",
    "MAX_TERMS",
    "MAX_VARIABLES",
    "NAME_PATTERN",
    "SOLVER_NAMES",
    "BoundOverride",
    "CoefficientOverride",
    "Constraint",
    "Objective",
    "OptimizationModel",
    "SampledParameter",
    "ScenarioOverride",
    "ScenarioSampling",
    "ScenarioSet",
    "SolverName",
    "SolverSettings",
    "Term",
    "Variable",
]

# Sizes are bounded so that the API server can estimate the cost of CEL rules
# and so that a model stays well inside etcd's object size limit.
MAX_VARIABLES = 100_000
MAX_CONSTRAINTS = 100_000
MAX_TERMS = 100_000
MAX_SCENARIOS = 10_000
MAX_SAMPLES = 10_000
MAX_NAME_LENGTH = 255
# Names must be usable in MPS and LP files: no whitespace.
NAME_PATTERN = r"^[^\s]+$"

SolverName = Literal["auto", "GLOP", "PDLP", "CLP", "CBC", "SCIP", "HIGHS", "CP-SAT", "BOP"]
SOLVER_NAMES: tuple[str, ...] = (
    "auto",
    "GLOP",
    "PDLP",
    "CLP",
    "CBC",
    "SCIP",
    "HIGHS",
    "CP-SAT",
    "BOP",
)


class _Base(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
    )


def _check_bounds(lower: float | None, upper: float | None, what: str) -> None:
    if lower is not None and upper is not None and lower > upper:
        raise ValueError(f"{what}: lowerBound {lower} is greater than upperBound {upper}")


def _collect_terms(
    terms: list[Term] | None, coefficients: dict[str, float] | None, what: str
) -> dict[str, float]:
    """Merge the two ways of writing a linear expression, refusing repeats."""
    if terms is not None and coefficients is not None:
        raise ValueError(f"{what}: give either terms or coefficients, not both")
    if coefficients is not None:
        return dict(coefficients)
    merged: dict[str, float] = {}
    for term in terms or []:
        if term.var in merged:
            raise ValueError(f"{what}: variable {term.var!r} appears more than once in terms")
        merged[term.var] = term.coef
    return merged


class Term(_Base):
    """One term ``coef * var`` of a linear expression."""

    var: str = Field(
        description="Name of the variable, as declared in spec.model.variables.",
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        pattern=NAME_PATTERN,
    )
    coef: float = Field(
        description="Coefficient multiplying the variable (a finite number).",
        allow_inf_nan=False,
    )


class Variable(_Base):
    """A decision variable."""

    name: str = Field(
        description="Unique name of the variable (no whitespace). Results are keyed by it.",
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        pattern=NAME_PATTERN,
    )
    lower_bound: float | None = Field(
        default=None,
        description="Smallest value the variable may take. Omit for no lower bound (-infinity).",
        allow_inf_nan=False,
    )
    upper_bound: float | None = Field(
        default=None,
        description="Largest value the variable may take. Omit for no upper bound (+infinity).",
        allow_inf_nan=False,
    )
    type: Literal["continuous", "integer", "binary"] = Field(
        default="continuous",
        description=(
            "continuous (any real value), integer (whole numbers) or binary (0 or 1; "
            "bounds, if given, must lie within [0, 1])."
        ),
    )

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        _check_bounds(self.lower_bound, self.upper_bound, f"variable {self.name!r}")
        if self.type == "binary":
            for side, value in (("lowerBound", self.lower_bound), ("upperBound", self.upper_bound)):
                if value is not None and not 0 <= value <= 1:
                    raise ValueError(
                        f"variable {self.name!r} is binary but its {side} {value} is outside [0, 1]"
                    )
        return self


class Constraint(_Base):
    """A linear constraint ``lowerBound <= sum(coef * var) <= upperBound``.

    Write the expression either as ``terms`` (a list of {var, coef}) or as
    ``coefficients`` (a map from variable name to coefficient). An equality is
    a constraint whose two bounds are equal.
    """

    name: str = Field(
        description="Unique name of the constraint (no whitespace). Duals are keyed by it.",
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        pattern=NAME_PATTERN,
    )
    terms: list[Term] | None = Field(
        default=None,
        description="The expression as a list of {var, coef}. Give this or coefficients.",
        max_length=MAX_TERMS,
    )
    coefficients: dict[str, FiniteFloat] | None = Field(
        default=None,
        description="The expression as a map from variable name to coefficient. "
        "Give this or terms.",
        max_length=MAX_TERMS,
    )
    lower_bound: float | None = Field(
        default=None,
        description="The expression must be at least this. Omit for no lower bound.",
        allow_inf_nan=False,
    )
    upper_bound: float | None = Field(
        default=None,
        description="The expression must be at most this. Omit for no upper bound.",
        allow_inf_nan=False,
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        _check_bounds(self.lower_bound, self.upper_bound, f"constraint {self.name!r}")
        self.linear_terms()
        return self

    def linear_terms(self) -> dict[str, float]:
        """The expression as one map from variable name to coefficient."""
        return _collect_terms(self.terms, self.coefficients, f"constraint {self.name!r}")


class Objective(_Base):
    """The linear objective ``constant + sum(coef * var)``."""

    terms: list[Term] | None = Field(
        default=None,
        description="The objective as a list of {var, coef}. Give this or coefficients.",
        max_length=MAX_TERMS,
    )
    coefficients: dict[str, FiniteFloat] | None = Field(
        default=None,
        description="The objective as a map from variable name to coefficient. Give this or terms.",
        max_length=MAX_TERMS,
    )
    constant: float = Field(
        default=0.0,
        description="Constant added to the objective value.",
        allow_inf_nan=False,
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        self.linear_terms()
        return self

    def linear_terms(self) -> dict[str, float]:
        """The objective as one map from variable name to coefficient."""
        return _collect_terms(self.terms, self.coefficients, "objective")


class OptimizationModel(_Base):
    """A linear program or mixed-integer linear program."""

    name: str | None = Field(
        default=None,
        description="Optional name of the model, shown in logs and results.",
        max_length=MAX_NAME_LENGTH,
    )
    sense: Literal["minimize", "maximize"] = Field(
        default="minimize",
        description="Whether to minimize or maximize the objective.",
    )
    variables: list[Variable] = Field(
        description="The decision variables. Names must be unique.",
        min_length=1,
        max_length=MAX_VARIABLES,
    )
    constraints: list[Constraint] = Field(
        default_factory=list,
        description="The linear constraints. Names must be unique.",
        max_length=MAX_CONSTRAINTS,
    )
    objective: Objective = Field(
        default_factory=Objective,
        description="The linear objective. Omit to only look for a feasible point.",
    )

    @model_validator(mode="after")
    def _check_names(self) -> Self:
        seen: set[str] = set()
        for var in self.variables:
            if var.name in seen:
                raise ValueError(f"variable name {var.name!r} is declared more than once")
            seen.add(var.name)
        cons: set[str] = set()
        for con in self.constraints:
            if con.name in cons:
                raise ValueError(f"constraint name {con.name!r} is declared more than once")
            cons.add(con.name)
            for var_name in con.linear_terms():
                if var_name not in seen:
                    raise ValueError(
                        f"constraint {con.name!r} uses undeclared variable {var_name!r}"
                    )
        for var_name in self.objective.linear_terms():
            if var_name not in seen:
                raise ValueError(f"objective uses undeclared variable {var_name!r}")
        return self


# --------------------------------------------------------------------------
# Scenarios


class BoundOverride(_Base):
    """New bounds for a variable or constraint. A side that is omitted keeps its value."""

    lower_bound: float | None = Field(
        default=None,
        description="New lower bound. Omit to keep the model's lower bound.",
        allow_inf_nan=False,
    )
    upper_bound: float | None = Field(
        default=None,
        description="New upper bound. Omit to keep the model's upper bound.",
        allow_inf_nan=False,
    )


class CoefficientOverride(_Base):
    """A new coefficient of one variable in one constraint."""

    constraint: str = Field(
        description="Name of the constraint.",
        min_length=1,
        max_length=MAX_NAME_LENGTH,
    )
    var: str = Field(
        description="Name of the variable.",
        min_length=1,
        max_length=MAX_NAME_LENGTH,
    )
    coef: float = Field(
        description="The new coefficient (0 removes the variable from the constraint).",
        allow_inf_nan=False,
    )


class ScenarioOverride(_Base):
    """Changes applied to the base model for one scenario of a sweep.

    Every name must exist in the model (the variables and constraints of an
    MPS or LP file are named in the file); an unknown name fails the scenario.
    """

    name: str | None = Field(
        default=None,
        description="Optional label of the scenario, repeated in its result.",
        max_length=MAX_NAME_LENGTH,
    )
    variable_bounds: dict[str, BoundOverride] | None = Field(
        default=None,
        description="New bounds per variable name.",
        max_length=MAX_VARIABLES,
    )
    constraint_bounds: dict[str, BoundOverride] | None = Field(
        default=None,
        description="New bounds per constraint name.",
        max_length=MAX_CONSTRAINTS,
    )
    rhs: dict[str, FiniteFloat] | None = Field(
        default=None,
        description=(
            "New right-hand side per constraint name: sets the upper bound of a <= "
            "constraint, the lower bound of a >= constraint, or both bounds of an "
            "equality. Ranged and free constraints need constraintBounds instead."
        ),
        max_length=MAX_CONSTRAINTS,
    )
    objective_coefficients: dict[str, FiniteFloat] | None = Field(
        default=None,
        description="New objective coefficient per variable name.",
        max_length=MAX_VARIABLES,
    )
    coefficients: list[CoefficientOverride] | None = Field(
        default=None,
        description="New constraint coefficients, one {constraint, var, coef} each.",
        max_length=MAX_TERMS,
    )


class SampledParameter(_Base):
    """One model parameter drawn from a distribution in every sampled scenario.

    ``target`` says what is drawn; ``variable`` and/or ``constraint`` say where:
    objectiveCoefficient, variableLowerBound and variableUpperBound need
    ``variable``; rhs, constraintLowerBound and constraintUpperBound need
    ``constraint``; coefficient needs both.
    """

    target: Literal[
        "objectiveCoefficient",
        "variableLowerBound",
        "variableUpperBound",
        "rhs",
        "constraintLowerBound",
        "constraintUpperBound",
        "coefficient",
    ] = Field(description="Which number of the model is drawn.")
    variable: str | None = Field(
        default=None,
        description="Variable name (for objectiveCoefficient, variable bounds and coefficient).",
        max_length=MAX_NAME_LENGTH,
    )
    constraint: str | None = Field(
        default=None,
        description="Constraint name (for rhs, constraint bounds and coefficient).",
        max_length=MAX_NAME_LENGTH,
    )
    distribution: Literal["uniform", "normal"] = Field(
        description="uniform draws from [low, high]; normal draws from N(mean, stddev^2).",
    )
    low: float | None = Field(
        default=None, description="Smallest value (uniform only).", allow_inf_nan=False
    )
    high: float | None = Field(
        default=None, description="Largest value (uniform only).", allow_inf_nan=False
    )
    mean: float | None = Field(default=None, description="Mean (normal only).", allow_inf_nan=False)
    stddev: float | None = Field(
        default=None,
        description="Standard deviation, at least 0 (normal only).",
        ge=0,
        allow_inf_nan=False,
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        needs_var = self.target in {
            "objectiveCoefficient",
            "variableLowerBound",
            "variableUpperBound",
            "coefficient",
        }
        needs_con = self.target in {
            "rhs",
            "constraintLowerBound",
            "constraintUpperBound",
            "coefficient",
        }
        if needs_var and not self.variable:
            raise ValueError(f"target {self.target} needs variable")
        if needs_con and not self.constraint:
            raise ValueError(f"target {self.target} needs constraint")
        if not needs_var and self.variable:
            raise ValueError(f"target {self.target} takes no variable")
        if not needs_con and self.constraint:
            raise ValueError(f"target {self.target} takes no constraint")
        if self.distribution == "uniform":
            if self.low is None or self.high is None:
                raise ValueError("a uniform distribution needs low and high")
            if self.low > self.high:
                raise ValueError(f"uniform: low {self.low} is greater than high {self.high}")
            if self.mean is not None or self.stddev is not None:
                raise ValueError("a uniform distribution takes low and high, not mean/stddev")
        else:
            if self.mean is None or self.stddev is None:
                raise ValueError("a normal distribution needs mean and stddev")
            if self.low is not None or self.high is not None:
                raise ValueError("a normal distribution takes mean and stddev, not low/high")
        return self


class ScenarioSampling(_Base):
    """N scenarios drawn at random, deterministically from a seed.

    Sampled scenario k (0-based) draws every parameter from a generator seeded
    with (seed, k) only, so the same seed always gives the same scenarios and
    each solver pod can compute its own scenario without the others.
    """

    samples: int = Field(
        description="How many scenarios to draw.",
        ge=1,
        le=MAX_SAMPLES,
    )
    seed: int = Field(
        default=0,
        description="Seed of the random draws; the same seed gives the same scenarios.",
        ge=0,
        le=2**63 - 1,
    )
    parameters: list[SampledParameter] = Field(
        description="The parameters drawn in every sampled scenario.",
        min_length=1,
        max_length=1000,
    )


class ScenarioSet(_Base):
    """The scenarios of a sweep: an explicit list, N sampled ones, or both.

    Scenario indexes run over the explicit list first, then the sampled ones:
    index i < len(scenarios) is scenarios[i]; the rest are sample
    i - len(scenarios).
    """

    scenarios: list[ScenarioOverride] = Field(
        default_factory=list,
        description="Scenarios given one by one.",
        max_length=MAX_SCENARIOS,
    )
    sampling: ScenarioSampling | None = Field(
        default=None,
        description="Scenarios drawn from distributions, appended after the explicit ones.",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.count() == 0:
            raise ValueError("a scenario set needs at least one scenario or sampling")
        if self.count() > MAX_SCENARIOS:
            raise ValueError(f"a scenario set may hold at most {MAX_SCENARIOS} scenarios")
        return self

    def count(self) -> int:
        """Number of scenarios (the completions of the Indexed Job)."""
        return len(self.scenarios) + (self.sampling.samples if self.sampling else 0)


class SolverSettings(_Base):
    """Which solver to run and its limits."""

    solver: SolverName = Field(
        default="auto",
        description=(
            "auto lets the runtime choose from the problem; or one of GLOP, PDLP, CLP "
            "(linear programs), CBC, SCIP, HIGHS (linear and mixed-integer), CP-SAT "
            "(integer programs) or BOP (pure 0-1 programs)."
        ),
    )
    time_limit_seconds: float | None = Field(
        default=None,
        description="Wall-clock limit of the solve. On reaching it the best solution "
        "found so far is the result (status FEASIBLE), or NOT_SOLVED if there is none.",
        gt=0,
        le=7 * 24 * 3600,
    )
    relative_gap: float | None = Field(
        default=None,
        description="Stop a mixed-integer solve once |objective - bound| / |objective| "
        "is at most this (default 1e-4). Ignored by LP solvers.",
        ge=0,
        le=1,
    )
    threads: int | None = Field(
        default=None,
        description="Number of threads the solver may use (default: the solver's own).",
        ge=1,
        le=256,
    )
    seed: int | None = Field(
        default=None,
        description="Random seed passed to the solver, for reproducible runs.",
        ge=0,
        le=2**31 - 1,
    )
