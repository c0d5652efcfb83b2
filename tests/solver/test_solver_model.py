"""The model form (pydantic) and the internal Problem: validation and round trips."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from solverkit import EXAMPLE, finite, problems, same_problem

from mcpops_common.optmodel import (
    OptimizationModel,
    ScenarioOverride,
    ScenarioSet,
    SolverSettings,
)
from mcpops_common.problem import INF, Problem, ProblemError, from_model, to_model

pytestmark = pytest.mark.process


def test_example_model_translates() -> None:
    m = OptimizationModel.model_validate(EXAMPLE)
    p = from_model(m)
    assert p.maximize and p.objective_offset == 5
    assert p.var_names == ["x", "y"]
    assert p.var_lb == [0.0, 0.0] and p.var_ub == [3.0, INF]
    assert p.var_integer == [False, True]
    assert p.objective == [3.0, 2.0]
    assert p.con_names == ["capacity", "mix"]
    assert p.row_vars == [[0, 1], [0, 1]] and p.row_coefs == [[1.0, 1.0], [1.0, 3.0]]
    assert p.con_lb == [-INF, -INF] and p.con_ub == [4.0, 6.0]


def test_snake_case_names_are_accepted_too() -> None:
    m = OptimizationModel.model_validate(
        {"variables": [{"name": "x", "lower_bound": 1, "upper_bound": 2}]}
    )
    assert m.variables[0].lower_bound == 1


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"variables": [{"name": "x"}, {"name": "x"}]}, "declared more than once"),
        ({"constraints": [{"name": "c", "coefficients": {"z": 1}}]}, "undeclared variable 'z'"),
        ({"objective": {"coefficients": {"q": 1}}}, "objective uses undeclared variable 'q'"),
        (
            {"constraints": [{"name": "c", "coefficients": {"x": 1}, "terms": []}]},
            "either terms or coefficients",
        ),
        (
            {
                "constraints": [
                    {"name": "c", "terms": [{"var": "x", "coef": 1}, {"var": "x", "coef": 2}]}
                ]
            },
            "more than once in terms",
        ),
        ({"variables": [{"name": "b", "type": "binary", "upperBound": 2}]}, "outside [0, 1]"),
        ({"variables": [{"name": "x", "lowerBound": 3, "upperBound": 1}]}, "greater than"),
        ({"variables": [{"name": "has space"}]}, "String should match pattern"),
        ({"sense": "minimise"}, "Input should be 'minimize' or 'maximize'"),
        ({"variables": [{"name": "x", "typo": 1}]}, "Extra inputs are not permitted"),
        ({"variables": []}, "at least 1 item"),
    ],
)
def test_invalid_models_are_refused_with_a_reason(patch: dict[str, Any], message: str) -> None:
    doc = {**EXAMPLE, **patch}
    with pytest.raises(ValidationError) as err:
        OptimizationModel.model_validate(doc)
    assert message in str(err.value)


def test_infinite_coefficients_are_refused() -> None:
    doc = {**EXAMPLE, "objective": {"coefficients": {"x": math.inf}}}
    with pytest.raises(ValidationError, match="finite"):
        OptimizationModel.model_validate(doc)


def _walk_schema(schema: dict[str, Any], defs: dict[str, Any], path: str) -> None:
    assert "discriminator" not in schema, path
    for name, prop in schema.get("properties", {}).items():
        target = prop
        if "$ref" in prop:
            target = defs[prop["$ref"].split("/")[-1]]
        assert prop.get("description") or target.get("description"), f"{path}.{name}"


@pytest.mark.parametrize(
    "model", [OptimizationModel, ScenarioSet, ScenarioOverride, SolverSettings]
)
def test_every_field_is_described_for_kubectl_explain(model: Any) -> None:
    schema = model.model_json_schema(by_alias=True)
    defs = schema.get("$defs", {})
    _walk_schema(schema, defs, model.__name__)
    for name, sub in defs.items():
        _walk_schema(sub, defs, name)
        assert sub.get("description"), f"model {name} has no description"
    # No recursive models: no definition refers to itself.
    for name, sub in defs.items():
        assert f"#/$defs/{name}" not in json.dumps(sub), name


def test_model_module_does_not_import_ortools() -> None:
    code = (
        "import sys, mcpops_common.optmodel, mcpops_common.scenarios, mcpops_common.results, "
        "mcpops_common.problem, mcpops_solver.auto;"
        "bad=[m for m in sys.modules if m.startswith(('ortools','kopf','kubernetes'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- round trips


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_problem_to_model_json_and_back_is_identity(p: Problem) -> None:
    p.validate()
    text = to_model(p).model_dump_json(by_alias=True, exclude_none=True)
    back = from_model(OptimizationModel.model_validate_json(text))
    back.name = p.name
    same_problem(p, back)


@settings(max_examples=100, deadline=None)
@given(problems(), st.data())
def test_overrides_change_only_what_they_name(p: Problem, data: st.DataObject) -> None:
    var = data.draw(st.sampled_from(p.var_names))
    new_obj = data.draw(finite)
    override = ScenarioOverride.model_validate(
        {"objectiveCoefficients": {var: new_obj}, "variableBounds": {var: {"upperBound": 7.5}}}
    )
    before = (list(p.objective), list(p.var_ub))
    q = p.apply_override(override)
    j = p.var_names.index(var)
    assert q.objective[j] == new_obj and q.var_ub[j] == 7.5
    assert q.var_lb == p.var_lb
    assert [c for i, c in enumerate(q.objective) if i != j] == [
        c for i, c in enumerate(p.objective) if i != j
    ]
    assert (p.objective, p.var_ub) == before  # the original is untouched


def test_override_rhs_and_coefficients() -> None:
    p = from_model(OptimizationModel.model_validate(EXAMPLE))
    q = p.apply_override(
        ScenarioOverride.model_validate(
            {
                "rhs": {"capacity": 10},
                "coefficients": [
                    {"constraint": "mix", "var": "y", "coef": 0},
                    {"constraint": "capacity", "var": "x", "coef": 2},
                ],
                "constraintBounds": {"mix": {"lowerBound": -1}},
            }
        )
    )
    assert q.con_ub[0] == 10 and q.con_lb[1] == -1
    assert q.row_vars[1] == [0] and q.row_coefs[0] == [2.0, 1.0]
    assert p.con_ub[0] == 4 and p.row_vars[1] == [0, 1]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"rhs": {"nope": 1}}, "unknown constraint 'nope'"),
        ({"variableBounds": {"z": {"lowerBound": 1}}}, "unknown variable 'z'"),
        ({"objectiveCoefficients": {"z": 1}}, "unknown variable 'z'"),
    ],
)
def test_override_with_unknown_names_fails(override: dict[str, Any], message: str) -> None:
    p = from_model(OptimizationModel.model_validate(EXAMPLE))
    with pytest.raises(ProblemError, match=message):
        p.apply_override(ScenarioOverride.model_validate(override))


def test_rhs_of_a_ranged_constraint_is_refused() -> None:
    doc = {
        **EXAMPLE,
        "constraints": [{"name": "r", "coefficients": {"x": 1}, "lowerBound": 0, "upperBound": 2}],
    }
    p = from_model(OptimizationModel.model_validate(doc))
    with pytest.raises(ProblemError, match="ranged"):
        p.apply_override(ScenarioOverride.model_validate({"rhs": {"r": 1}}))


def test_inverted_bounds_are_reported() -> None:
    p = from_model(OptimizationModel.model_validate(EXAMPLE))
    assert p.inverted_bounds() is None
    q = p.apply_override(
        ScenarioOverride.model_validate({"variableBounds": {"x": {"lowerBound": 5}}})
    )
    assert "variable 'x'" in (q.inverted_bounds() or "")
    r = p.apply_override(
        ScenarioOverride.model_validate(
            {"variableBounds": {"y": {"lowerBound": 0.2, "upperBound": 0.8}}}
        )
    )
    assert "no integer" in (r.inverted_bounds() or "")
