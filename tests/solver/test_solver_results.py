"""The result contract: ConfigMaps (names, labels, owners, splitting, refusal),
the termination message, and the sweep summary."""

from __future__ import annotations

import json
import math
import statistics
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcpops_common.results import (
    MAX_CONFIGMAP_DATA_BYTES,
    MAX_TERMINATION_MESSAGE_BYTES,
    ResultSummary,
    SolveResult,
    build_result_configmaps,
    configmap_data_bytes,
    label_value,
    merge_solution_parts,
    summarize_scenarios,
    termination_message,
)

pytestmark = pytest.mark.process

OWNER = {
    "apiVersion": "mcpops.dev/v1alpha1",
    "kind": "OptimizationJob",
    "name": "plan",
    "uid": "0b9f3c1e-1111-2222-3333-444455556666",
}


def _result(n_values: int = 3, duals: bool = True, **kw: Any) -> SolveResult:
    values = {f"x{i}": float(i) / 3 for i in range(n_values)}
    return SolveResult(
        status=kw.pop("status", "OPTIMAL"),
        solver="HIGHS",
        solver_reason="linear program",
        objective=12.5,
        bound=12.5,
        seconds=0.25,
        values=values,
        duals={f"c{i}": -float(i) for i in range(n_values)} if duals else None,
        reduced_costs={k: 0.0 for k in values} if duals else None,
        counts={"variables": n_values, "constraints": n_values},
        **kw,
    )


def test_small_result_is_one_configmap_with_summary_and_solution() -> None:
    cms = build_result_configmaps(
        _result(), name="plan", namespace="team-a", owner=OWNER, index=None
    )
    assert len(cms) == 1
    cm = cms[0]
    assert cm["apiVersion"] == "v1" and cm["kind"] == "ConfigMap"
    meta = cm["metadata"]
    assert meta["name"] == "plan-result" and meta["namespace"] == "team-a"
    assert meta["labels"] == {
        "app.kubernetes.io/managed-by": "mcpops",
        "app.kubernetes.io/part-of": "mcpops",
        "app.kubernetes.io/name": "optimizationjob",
        "app.kubernetes.io/instance": "plan",
        "mcpops.dev/optimizationjob": "plan",
        "mcpops.dev/result-role": "summary",
    }
    assert meta["ownerReferences"] == [{**OWNER, "controller": True}]
    summary = ResultSummary.model_validate_json(cm["data"]["summary.json"])
    assert summary.status == "OPTIMAL" and summary.objective == 12.5 and summary.gap == 0.0
    assert summary.solver == "HIGHS" and summary.solver_reason == "linear program"
    assert summary.parts == 0 and summary.solution_stored
    raw = json.loads(cm["data"]["summary.json"])
    for key in (
        "status",
        "objective",
        "bound",
        "gap",
        "seconds",
        "solver",
        "solverReason",
        "counts",
        "parts",
    ):
        assert key in raw
    solution = json.loads(cm["data"]["solution.json"])
    assert solution["values"]["x2"] == pytest.approx(2 / 3)
    assert solution["duals"]["c1"] == -1.0 and solution["reducedCosts"]["x0"] == 0.0


def test_sweep_scenario_gets_index_in_name_and_label() -> None:
    cms = build_result_configmaps(_result(), name="plan", namespace="ns", owner=OWNER, index=7)
    assert cms[0]["metadata"]["name"] == "plan-result-7"
    assert cms[0]["metadata"]["labels"]["mcpops.dev/scenario-index"] == "7"


def test_long_names_get_valid_label_values() -> None:
    name = "a" * 80 + ".b"
    value = label_value(name)
    assert len(value) <= 63 and value[0].isalnum() and value[-1].isalnum()
    assert label_value(name) == value  # stable
    assert label_value("short-name") == "short-name"


def test_missing_owner_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="uid"):
        build_result_configmaps(
            _result(), name="p", namespace="n", owner={**OWNER, "uid": ""}, index=None
        )


def test_no_owner_for_local_files() -> None:
    cm = build_result_configmaps(_result(), name="p", namespace="n", owner=None, index=None)[0]
    assert "ownerReferences" not in cm["metadata"]


def test_big_solution_is_split_into_parts_under_the_limit() -> None:
    result = _result(n_values=60_000)  # about 3 MB of JSON
    cms = build_result_configmaps(result, name="big", namespace="ns", owner=OWNER, index=2)
    base, parts = cms[0], cms[1:]
    assert len(parts) >= 3
    summary = json.loads(base["data"]["summary.json"])
    assert summary["parts"] == len(parts)
    assert summary["solutionParts"] == [f"big-result-2-part-{k}" for k in range(1, len(parts) + 1)]
    assert "solution.json" not in base["data"]
    for k, cm in enumerate(parts, start=1):
        assert cm["metadata"]["name"] == f"big-result-2-part-{k}"
        assert cm["metadata"]["labels"]["mcpops.dev/result-role"] == "part"
        assert cm["metadata"]["ownerReferences"][0]["uid"] == OWNER["uid"]
        assert configmap_data_bytes(cm) <= MAX_CONFIGMAP_DATA_BYTES
        doc = json.loads(cm["data"]["solution.json"])
        assert doc["part"] == k and doc["parts"] == len(parts)
    merged = merge_solution_parts(cms)
    assert merged["values"] == result.values
    assert merged["duals"] == result.duals
    assert merged["reducedCosts"] == result.reduced_costs


def test_too_big_solution_is_refused_with_a_reason_not_truncated() -> None:
    result = _result(n_values=400)
    cms = build_result_configmaps(
        result, name="big", namespace="ns", owner=OWNER, index=None, max_bytes=2000, max_parts=5
    )
    assert len(cms) == 1
    summary = json.loads(cms[0]["data"]["summary.json"])
    assert summary["status"] == "OPTIMAL"  # the solve itself succeeded
    assert summary["solutionStored"] is False and summary["parts"] == 0
    assert "more than the limit of 5" in summary["solutionRefusedReason"]
    assert "solution.json" not in cms[0]["data"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.dictionaries(
        st.text(min_size=1, max_size=12),
        st.floats(allow_nan=False, allow_infinity=False),
        max_size=200,
    ),
    duals=st.one_of(
        st.none(),
        st.dictionaries(st.text(min_size=1, max_size=8), st.floats(-1e9, 1e9), max_size=100),
    ),
    budget=st.integers(min_value=600, max_value=6000),
)
def test_splitting_never_loses_or_oversizes(
    values: dict[str, float], duals: dict[str, float] | None, budget: int
) -> None:
    result = SolveResult(status="FEASIBLE", objective=1.0, values=values, duals=duals)
    cms = build_result_configmaps(
        result, name="h", namespace="ns", owner=OWNER, index=None, max_bytes=budget, max_parts=1000
    )
    summary = json.loads(cms[0]["data"]["summary.json"])
    if summary["parts"]:
        for cm in cms[1:]:
            assert configmap_data_bytes(cm) <= budget
    else:
        assert len(cms) == 1
    merged = merge_solution_parts(cms)
    assert merged["values"] == values
    assert merged["duals"] == duals


def test_non_finite_numbers_become_null() -> None:
    result = SolveResult(status="FEASIBLE", objective=math.inf, values={"x": math.nan})
    cm = build_result_configmaps(result, name="p", namespace="n", owner=None, index=None)[0]
    assert json.loads(cm["data"]["summary.json"])["objective"] is None
    assert json.loads(cm["data"]["solution.json"])["values"]["x"] is None


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown status"):
        SolveResult(status="DONE")


def test_termination_message_fits_4096_bytes() -> None:
    result = _result(status="ERROR", error_kind="malformed-input", sense="maximize")
    result.message = "x" * 20_000
    result.solver_reason = "é" * 5000
    text = termination_message(result, exit_code=3, configmaps=["a" * 250] * 30)
    assert len(text.encode()) <= MAX_TERMINATION_MESSAGE_BYTES
    doc = json.loads(text)
    assert doc["status"] == "ERROR" and doc["exitCode"] == 3 and doc["sense"] == "maximize"
    assert doc["errorKind"] == "malformed-input" and doc["message"].endswith("...")


def test_termination_message_of_a_normal_run() -> None:
    doc = json.loads(termination_message(_result(), exit_code=0, configmaps=["p-result"]))
    assert doc == {
        "formatVersion": 1,
        "status": "OPTIMAL",
        "exitCode": 0,
        "sense": "minimize",
        "solver": "HIGHS",
        "solverReason": "linear program",
        "objective": 12.5,
        "bound": 12.5,
        "gap": 0.0,
        "seconds": 0.25,
        "message": "",
        "errorKind": None,
        "configMaps": ["p-result"],
        "parts": 0,
        "solutionStored": True,
        "scenarioIndex": None,
    }


# --------------------------------------------------------------------------- sweeps


def test_summarize_scenarios_counts_and_percentiles() -> None:
    summaries: list[dict[str, Any] | None] = [
        {"status": "OPTIMAL", "objective": 10.0, "sense": "minimize", "scenarioIndex": 0},
        {"status": "FEASIBLE", "objective": 30.0, "sense": "minimize", "scenarioIndex": 1},
        {"status": "INFEASIBLE", "objective": None, "scenarioIndex": 2},
        {"status": "OPTIMAL", "objective": 20.0, "scenarioIndex": 3},
        {"status": "ERROR", "errorKind": "malformed-input", "scenarioIndex": 4},
        None,
        {"status": "NOT_SOLVED", "scenarioIndex": 6},
        {"status": "UNBOUNDED", "scenarioIndex": 7},
    ]
    out = summarize_scenarios(summaries, expected=10)
    assert out["total"] == 10
    assert (out["solved"], out["optimal"], out["feasible"]) == (3, 2, 1)
    assert (out["infeasible"], out["unbounded"], out["notSolved"]) == (1, 1, 1)
    assert out["failed"] == 4  # ERROR, a missing one, and two never reported
    assert (out["best"], out["worst"], out["bestIndex"], out["worstIndex"]) == (10, 30, 0, 1)
    assert out["p50"] == 20 and out["p5"] == pytest.approx(11) and out["p95"] == pytest.approx(29)
    assert out["mean"] == 20


def test_summarize_scenarios_maximize_and_empty() -> None:
    out = summarize_scenarios(
        [{"status": "OPTIMAL", "objective": v, "sense": "maximize"} for v in (1.0, 5.0, 3.0)]
    )
    assert out["best"] == 5 and out["worst"] == 1 and out["bestIndex"] == 1
    empty = summarize_scenarios([])
    assert empty["total"] == 0 and empty["best"] is None and empty["p50"] is None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60))
def test_percentiles_match_the_linear_method(objectives: list[float]) -> None:
    out = summarize_scenarios([{"status": "OPTIMAL", "objective": v} for v in objectives])
    qs = (
        statistics.quantiles(objectives, n=100, method="inclusive")
        if len(objectives) > 1
        else [objectives[0]] * 99
    )
    assert out["p5"] == pytest.approx(qs[4], abs=1e-6)
    assert out["p50"] == pytest.approx(qs[49], abs=1e-6)
    assert out["p95"] == pytest.approx(qs[94], abs=1e-6)
    assert out["best"] == min(objectives) and out["worst"] == max(objectives)
