"""Scenario sets: explicit overrides and deterministic samples. Pure, no OR-Tools.

Index ``i`` of a :class:`~mcpops_common.optmodel.ScenarioSet` is the explicit
scenario ``i`` while ``i < len(scenarios)``, then sample ``k = i -
len(scenarios)``. Sample ``k`` draws its parameters, in the order they are
listed, from ``random.Random(f"mcpops:{seed}:{k}")``: uniform with
``Random.uniform(low, high)``, normal with ``Random.gauss(mean, stddev)``. A
string seed is hashed with SHA-512 by CPython, so the draws are the same on
every platform and Python version, and each pod computes its own scenario
without drawing the others.
"""

from __future__ import annotations

import random
from pathlib import Path

import yaml
from pydantic import ValidationError

from mcpops_common.optmodel import (
    BoundOverride,
    CoefficientOverride,
    SampledParameter,
    ScenarioOverride,
    ScenarioSampling,
    ScenarioSet,
)

__all__ = ["ScenarioError", "expand_scenarios", "load_scenario_set", "sample", "scenario_at"]


class ScenarioError(ValueError):
    """The scenario file or index is not valid."""


def load_scenario_set(path: str) -> ScenarioSet:
    """Read a ScenarioSet from a JSON or YAML file (YAML is a superset of JSON).

    A bare list is taken as the explicit scenario list.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenarios {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid JSON or YAML: {exc}") from exc
    if isinstance(data, list):
        data = {"scenarios": data}
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping with scenarios and/or sampling")
    try:
        return ScenarioSet.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ScenarioError(f"{path}: invalid scenarios: {loc}: {msg}{more}") from exc


def _draw(rng: random.Random, p: SampledParameter) -> float:
    if p.distribution == "uniform":
        assert p.low is not None and p.high is not None
        return rng.uniform(p.low, p.high)
    assert p.mean is not None and p.stddev is not None
    return rng.gauss(p.mean, p.stddev)


def sample(sampling: ScenarioSampling, k: int) -> ScenarioOverride:
    """Sample scenario `k` (0-based) of `sampling`."""
    if not 0 <= k < sampling.samples:
        raise ScenarioError(f"sample {k} is out of range 0..{sampling.samples - 1}")
    # Reproducible sampling, not security: a seeded Mersenne Twister is what is wanted.
    rng = random.Random(f"mcpops:{sampling.seed}:{k}")  # noqa: S311
    var_bounds: dict[str, BoundOverride] = {}
    con_bounds: dict[str, BoundOverride] = {}
    rhs: dict[str, float] = {}
    obj: dict[str, float] = {}
    coefs: dict[tuple[str, str], float] = {}
    for p in sampling.parameters:
        value = _draw(rng, p)
        if p.target == "objectiveCoefficient":
            assert p.variable
            obj[p.variable] = value
        elif p.target in {"variableLowerBound", "variableUpperBound"}:
            assert p.variable
            b = var_bounds.setdefault(p.variable, BoundOverride())
            if p.target == "variableLowerBound":
                b.lower_bound = value
            else:
                b.upper_bound = value
        elif p.target == "rhs":
            assert p.constraint
            rhs[p.constraint] = value
        elif p.target in {"constraintLowerBound", "constraintUpperBound"}:
            assert p.constraint
            b = con_bounds.setdefault(p.constraint, BoundOverride())
            if p.target == "constraintLowerBound":
                b.lower_bound = value
            else:
                b.upper_bound = value
        else:
            assert p.constraint and p.variable
            coefs[(p.constraint, p.variable)] = value
    return ScenarioOverride(
        name=f"sample-{k}",
        variable_bounds=var_bounds or None,
        constraint_bounds=con_bounds or None,
        rhs=rhs or None,
        objective_coefficients=obj or None,
        coefficients=[
            CoefficientOverride(constraint=c, var=v, coef=x) for (c, v), x in coefs.items()
        ]
        or None,
    )


def scenario_at(scenarios: ScenarioSet, index: int) -> ScenarioOverride:
    """Scenario number `index` of the set (see the module docstring for the order)."""
    count = scenarios.count()
    if not 0 <= index < count:
        raise ScenarioError(f"scenario index {index} is out of range: the set has {count}")
    if index < len(scenarios.scenarios):
        return scenarios.scenarios[index]
    assert scenarios.sampling is not None
    return sample(scenarios.sampling, index - len(scenarios.scenarios))


def expand_scenarios(scenarios: ScenarioSet) -> list[ScenarioOverride]:
    """All scenarios of the set, in index order."""
    return [scenario_at(scenarios, i) for i in range(scenarios.count())]
