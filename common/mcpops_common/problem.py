"""The runtime's internal form of a problem, whatever file it came from.

A :class:`Problem` is a plain, solver-neutral linear/mixed-integer model held
in parallel lists (rows of the constraint matrix as index/coefficient lists).
Readers build it, scenario overrides change it, the backends translate it to
OR-Tools. This module does not import OR-Tools.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from mcpops_common.optmodel import OptimizationModel, ScenarioOverride

INF = math.inf

__all__ = ["INF", "Problem", "ProblemError", "ProblemStats", "from_model", "to_model"]


class ProblemError(ValueError):
    """The problem (or a scenario applied to it) is malformed."""


@dataclass
class Problem:
    """A linear or mixed-integer program: min/max c'x + offset, lb <= Ax <= ub, l <= x <= u."""

    name: str = ""
    maximize: bool = False
    objective_offset: float = 0.0
    var_names: list[str] = field(default_factory=list)
    var_lb: list[float] = field(default_factory=list)
    var_ub: list[float] = field(default_factory=list)
    var_integer: list[bool] = field(default_factory=list)
    objective: list[float] = field(default_factory=list)
    con_names: list[str] = field(default_factory=list)
    con_lb: list[float] = field(default_factory=list)
    con_ub: list[float] = field(default_factory=list)
    row_vars: list[list[int]] = field(default_factory=list)
    row_coefs: list[list[float]] = field(default_factory=list)

    @property
    def num_vars(self) -> int:
        return len(self.var_names)

    @property
    def num_constraints(self) -> int:
        return len(self.con_names)

    @property
    def num_nonzeros(self) -> int:
        return sum(len(r) for r in self.row_vars)

    def add_variable(
        self, name: str, lb: float, ub: float, integer: bool = False, obj: float = 0.0
    ) -> int:
        self.var_names.append(name)
        self.var_lb.append(lb)
        self.var_ub.append(ub)
        self.var_integer.append(integer)
        self.objective.append(obj)
        return len(self.var_names) - 1

    def add_constraint(
        self, name: str, lb: float, ub: float, vars_: list[int], coefs: list[float]
    ) -> int:
        self.con_names.append(name)
        self.con_lb.append(lb)
        self.con_ub.append(ub)
        self.row_vars.append(vars_)
        self.row_coefs.append(coefs)
        return len(self.con_names) - 1

    def copy(self) -> Problem:
        return copy.deepcopy(self)

    def var_index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.var_names)}

    def con_index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.con_names)}

    def validate(self) -> None:
        """Refuse what no solver can take: NaN, infinite coefficients, bad indexes."""
        n = self.num_vars
        if n == 0:
            raise ProblemError("the problem has no variables")
        lists = (self.var_lb, self.var_ub, self.var_integer, self.objective)
        if any(len(x) != n for x in lists):
            raise ProblemError("variable arrays differ in length")
        _check_unique(self.var_names, "variable")
        _check_unique(self.con_names, "constraint")
        self._validate_variables()
        self._validate_constraints()

    def _validate_variables(self) -> None:
        for i in range(self.num_vars):
            if math.isnan(self.var_lb[i]) or math.isnan(self.var_ub[i]):
                raise ProblemError(f"variable {self.var_names[i]!r} has a NaN bound")
            if self.var_lb[i] == INF or self.var_ub[i] == -INF:
                raise ProblemError(f"variable {self.var_names[i]!r} has an impossible bound")
            if not math.isfinite(self.objective[i]):
                raise ProblemError(f"objective coefficient of {self.var_names[i]!r} is not finite")
        if not math.isfinite(self.objective_offset):
            raise ProblemError("objective constant is not finite")

    def _validate_constraints(self) -> None:
        n = self.num_vars
        for r, name in enumerate(self.con_names):
            if math.isnan(self.con_lb[r]) or math.isnan(self.con_ub[r]):
                raise ProblemError(f"constraint {name!r} has a NaN bound")
            if self.con_lb[r] == INF or self.con_ub[r] == -INF:
                raise ProblemError(f"constraint {name!r} has an impossible bound")
            vs, cs = self.row_vars[r], self.row_coefs[r]
            if len(vs) != len(cs):
                raise ProblemError(f"constraint {name!r}: index and coefficient lists differ")
            if len(set(vs)) != len(vs):
                raise ProblemError(f"constraint {name!r} lists a variable twice")
            for j, c in zip(vs, cs, strict=True):
                if not 0 <= j < n:
                    raise ProblemError(f"constraint {name!r} refers to variable #{j}")
                if not math.isfinite(c):
                    raise ProblemError(
                        f"constraint {name!r}: coefficient of {self.var_names[j]!r} is not finite"
                    )

    def inverted_bounds(self) -> str | None:
        """Describe the first variable or constraint whose lower bound exceeds its upper.

        Such a problem is infeasible whatever the solver; the runtime reports
        INFEASIBLE without running one (scenarios can legitimately do this).
        """
        for i, name in enumerate(self.var_names):
            lb, ub = self.var_lb[i], self.var_ub[i]
            if self.var_integer[i]:
                if math.isfinite(lb):
                    lb = math.ceil(lb - 1e-9)
                if math.isfinite(ub):
                    ub = math.floor(ub + 1e-9)
            if lb > ub:
                return (
                    f"variable {name!r} has lower bound {self.var_lb[i]:g} above "
                    f"upper bound {self.var_ub[i]:g}"
                    + (" (no integer in between)" if self.var_integer[i] else "")
                )
        for r, name in enumerate(self.con_names):
            if self.con_lb[r] > self.con_ub[r]:
                return (
                    f"constraint {name!r} has lower bound {self.con_lb[r]:g} above "
                    f"upper bound {self.con_ub[r]:g}"
                )
        return None

    def stats(self) -> ProblemStats:
        return ProblemStats.of(self)

    # ------------------------------------------------------------------
    # scenarios

    def apply_override(self, override: ScenarioOverride) -> Problem:
        """Return a copy of the problem with a scenario's changes applied."""
        out = self.copy()
        vidx = out.var_index()
        cidx = out.con_index()

        def var(name: str, what: str) -> int:
            if name not in vidx:
                raise ProblemError(f"scenario {what}: unknown variable {name!r}")
            return vidx[name]

        def con(name: str, what: str) -> int:
            if name not in cidx:
                raise ProblemError(f"scenario {what}: unknown constraint {name!r}")
            return cidx[name]

        for name, b in (override.variable_bounds or {}).items():
            i = var(name, "variableBounds")
            if b.lower_bound is not None:
                out.var_lb[i] = b.lower_bound
            if b.upper_bound is not None:
                out.var_ub[i] = b.upper_bound
        for name, b in (override.constraint_bounds or {}).items():
            r = con(name, "constraintBounds")
            if b.lower_bound is not None:
                out.con_lb[r] = b.lower_bound
            if b.upper_bound is not None:
                out.con_ub[r] = b.upper_bound
        for name, value in (override.rhs or {}).items():
            r = con(name, "rhs")
            out.set_rhs(r, value)
        for name, value in (override.objective_coefficients or {}).items():
            out.objective[var(name, "objectiveCoefficients")] = value
        for co in override.coefficients or []:
            r = con(co.constraint, "coefficients")
            out.set_coefficient(r, var(co.var, "coefficients"), co.coef)
        return out

    def set_rhs(self, r: int, value: float) -> None:
        lb, ub = self.con_lb[r], self.con_ub[r]
        name = self.con_names[r]
        if lb == ub:
            self.con_lb[r] = self.con_ub[r] = value
        elif lb == -INF and ub != INF:
            self.con_ub[r] = value
        elif ub == INF and lb != -INF:
            self.con_lb[r] = value
        else:
            kind = "free" if lb == -INF else "ranged"
            raise ProblemError(
                f"scenario rhs: constraint {name!r} is {kind} ({lb:g} <= ... <= {ub:g}); "
                "set its constraintBounds instead"
            )

    def set_coefficient(self, r: int, j: int, value: float) -> None:
        vs, cs = self.row_vars[r], self.row_coefs[r]
        try:
            k = vs.index(j)
        except ValueError:
            if value != 0.0:
                vs.append(j)
                cs.append(value)
            return
        if value == 0.0:
            del vs[k]
            del cs[k]
        else:
            cs[k] = value


def _check_unique(names: list[str], what: str) -> None:
    if len(set(names)) == len(names):
        return
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ProblemError(f"{what} name {name!r} is used more than once")
        seen.add(name)


def _is_integral(x: float) -> bool:
    return math.isinf(x) or x == math.floor(x)


@dataclass(frozen=True)
class ProblemStats:
    """What the automatic solver choice looks at."""

    variables: int
    constraints: int
    nonzeros: int
    integer_variables: int
    binary_variables: int
    continuous_variables: int
    # Every coefficient of the matrix and objective, and every finite bound of
    # the constraints, is a whole number.
    integral_data: bool
    # All variables have finite lower and upper bounds.
    bounded_variables: bool
    max_abs_coefficient: float
    # Constraints whose lower and upper bounds are equal.
    equality_constraints: int = 0

    @property
    def is_lp(self) -> bool:
        return self.integer_variables == 0

    @property
    def pure_binary(self) -> bool:
        return self.variables > 0 and self.binary_variables == self.variables

    @property
    def pure_integer(self) -> bool:
        return self.variables > 0 and self.integer_variables == self.variables

    @property
    def integer_share(self) -> float:
        return self.integer_variables / self.variables if self.variables else 0.0

    @property
    def equality_share(self) -> float:
        return self.equality_constraints / self.constraints if self.constraints else 0.0

    def kind(self) -> str:
        if self.is_lp:
            return "LP"
        if self.pure_binary:
            return "pure 0-1 IP"
        if self.pure_integer:
            return "pure IP"
        return "MIP"

    def as_counts(self) -> dict[str, int]:
        return {
            "variables": self.variables,
            "constraints": self.constraints,
            "nonzeros": self.nonzeros,
            "integerVariables": self.integer_variables,
            "binaryVariables": self.binary_variables,
        }

    @classmethod
    def of(cls, p: Problem) -> ProblemStats:
        n_int = n_bin = 0
        bounded = True
        integral = True
        for i in range(p.num_vars):
            lb, ub = p.var_lb[i], p.var_ub[i]
            if p.var_integer[i]:
                n_int += 1
                if lb > -1 and ub < 2 and math.ceil(lb) >= 0 and math.floor(ub) <= 1:
                    n_bin += 1
            if math.isinf(lb) or math.isinf(ub):
                bounded = False
            if integral and not _is_integral(p.objective[i]):
                integral = False
        max_abs = 0.0
        n_eq = 0
        for r in range(p.num_constraints):
            n_eq += p.con_lb[r] == p.con_ub[r]
            cs = p.row_coefs[r]
            if cs:
                m = max(abs(c) for c in cs)
                if m > max_abs:
                    max_abs = m
            if integral and not (
                all(c == math.floor(c) for c in cs)
                and _is_integral(p.con_lb[r])
                and _is_integral(p.con_ub[r])
            ):
                integral = False
        return cls(
            variables=p.num_vars,
            constraints=p.num_constraints,
            nonzeros=p.num_nonzeros,
            integer_variables=n_int,
            binary_variables=n_bin,
            continuous_variables=p.num_vars - n_int,
            integral_data=integral,
            bounded_variables=bounded,
            max_abs_coefficient=max_abs,
            equality_constraints=n_eq,
        )


def _bound(x: float | None, default: float) -> float:
    return default if x is None else float(x)


def from_model(m: OptimizationModel) -> Problem:
    """Translate the project's model form into a Problem."""
    p = Problem(
        name=m.name or "",
        maximize=m.sense == "maximize",
        objective_offset=m.objective.constant,
    )
    for v in m.variables:
        lb = _bound(v.lower_bound, -INF)
        ub = _bound(v.upper_bound, INF)
        if v.type == "binary":
            lb, ub = max(lb, 0.0), min(ub, 1.0)
        p.add_variable(v.name, lb, ub, v.type != "continuous")
    vidx = p.var_index()
    for name, coef in m.objective.linear_terms().items():
        p.objective[vidx[name]] += coef
    for c in m.constraints:
        terms = c.linear_terms()
        vars_ = [vidx[k] for k, v in terms.items() if v != 0.0]
        coefs = [float(v) for v in terms.values() if v != 0.0]
        p.add_constraint(
            c.name, _bound(c.lower_bound, -INF), _bound(c.upper_bound, INF), vars_, coefs
        )
    return p


def _opt(x: float) -> float | None:
    return None if math.isinf(x) else x


def to_model(p: Problem) -> OptimizationModel:
    """Translate a Problem into the project's model form (for export and tests)."""
    variables = []
    for i, name in enumerate(p.var_names):
        lb, ub = p.var_lb[i], p.var_ub[i]
        vtype = "continuous"
        if p.var_integer[i]:
            vtype = "binary" if (lb == 0.0 and ub == 1.0) else "integer"
        variables.append(
            {"name": name, "lowerBound": _opt(lb), "upperBound": _opt(ub), "type": vtype}
        )
    constraints = [
        {
            "name": name,
            "coefficients": {
                p.var_names[j]: c for j, c in zip(p.row_vars[r], p.row_coefs[r], strict=True)
            },
            "lowerBound": _opt(p.con_lb[r]),
            "upperBound": _opt(p.con_ub[r]),
        }
        for r, name in enumerate(p.con_names)
    ]
    objective = {
        "coefficients": {p.var_names[i]: c for i, c in enumerate(p.objective) if c != 0.0},
        "constant": p.objective_offset,
    }
    return OptimizationModel.model_validate(
        {
            "name": p.name or None,
            "sense": "maximize" if p.maximize else "minimize",
            "variables": variables,
            "constraints": constraints,
            "objective": objective,
        }
    )
