"""The agent server's pure parts: the OptimizationJobs it builds, what it shows, and the
explanation of a solution from what the solver runtime reported."""

from __future__ import annotations

from typing import Any

import pytest

from mcpops.agentserver import explain as explaining
from mcpops.agentserver import jobs
from mcpops.agentserver.server import limits_from, parser
from mcpops_common.optmodel import OptimizationModel
from mcpops_common.problem import from_model

PLAN: dict[str, Any] = {
    "name": "production-plan",
    "sense": "maximize",
    "variables": [{"name": "chairs", "lowerBound": 0}, {"name": "tables", "lowerBound": 0}],
    "constraints": [
        {"name": "wood", "coefficients": {"chairs": 1, "tables": 3}, "upperBound": 60},
        {"name": "labour", "coefficients": {"chairs": 2, "tables": 2}, "upperBound": 80},
        {"name": "table-demand", "coefficients": {"tables": 1}, "upperBound": 15},
    ],
    "objective": {"coefficients": {"chairs": 30, "tables": 50}},
}
LIMITS = jobs.Limits(
    namespace="opt",
    max_time_limit_seconds=120,
    max_threads=2,
    max_scenarios=10,
    pod_annotations={"team": "planning"},
)
MPS = """NAME tiny
ROWS
 N obj
 L cap
COLUMNS
 x obj -1 cap 1
RHS
 rhs cap 4
ENDATA
"""


def test_a_model_becomes_a_labelled_job_with_the_servers_limits() -> None:
    sub = jobs.submission("agent-abcde", LIMITS, model=PLAN, time_limit_seconds=30)
    job = sub.job
    assert job["metadata"]["name"] == "agent-abcde" and job["metadata"]["namespace"] == "opt"
    assert job["metadata"]["labels"][jobs.SUBMITTED_BY_LABEL] == jobs.SUBMITTED_BY
    assert job["spec"]["model"] == PLAN and job["spec"]["timeLimitSeconds"] == 30
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600
    assert job["spec"]["podAnnotations"] == {"team": "planning"}
    assert sub.problem_text is None
    warm = jobs.submission("agent-b", LIMITS, model=PLAN, warm_start_from="agent-abcde").job
    assert warm["spec"]["warmStartFrom"] == "agent-abcde"


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"model": {**PLAN, "sense": "sideways"}}, "model.sense"),
        (
            {"model": {**PLAN, "variables": [{"name": "x", "lowerBound": 2, "upperBound": 1}]}},
            "greater than upperBound",
        ),
        ({"model": PLAN, "time_limit_seconds": 500}, "(0, 120]"),
        ({"model": PLAN, "threads": 8}, "threads must be 1..2"),
        ({"model": PLAN, "text": MPS}, "exactly one of model"),
        ({}, "exactly one of model"),
        ({"model": PLAN, "solver": "CPLEX"}, "solver"),
    ],
)
def test_bad_input_is_refused_naming_the_field(kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(jobs.ToolInputError, match=r".*" + __import__("re").escape(says)):
        jobs.submission("agent-x", LIMITS, **kwargs)


def test_text_goes_to_a_configmap_owned_by_the_job() -> None:
    sub = jobs.submission("agent-x", LIMITS, text=MPS)
    assert sub.job["spec"]["configMapRef"] == {"name": "agent-x-problem", "key": "problem.mps"}
    assert sub.job["spec"]["format"] == "mps" and "model" not in sub.job["spec"]
    created = {**sub.job, "metadata": {**sub.job["metadata"], "uid": "u-1"}}
    cm = jobs.problem_configmap(created, MPS, "problem.mps", "opt")
    assert cm["metadata"]["name"] == "agent-x-problem"
    assert cm["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert cm["data"] == {"problem.mps": MPS}
    lp = jobs.submission("agent-y", LIMITS, text="Maximize\n obj: x\nSubject To\n c: x <= 4\nEnd\n")
    assert lp.job["spec"]["configMapRef"]["key"] == "problem.lp"


def test_sniff_format() -> None:
    assert jobs.sniff_format(MPS) == "mps"
    assert jobs.sniff_format("minimize\n obj: x\nst\n rows: x >= 1\nend") == "lp"


def test_a_sweep_copies_the_base_problem_and_checks_the_count() -> None:
    base = jobs.submission("agent-base", LIMITS, model=PLAN, solver="CLP").job
    sweep = jobs.sweep(
        "agent-sweep",
        LIMITS,
        base,
        scenarios=[{"rhs": {"wood": 50}}, {"rhs": {"wood": 70}}],
        sampling={
            "samples": 3,
            "seed": 1,
            "parameters": [
                {
                    "target": "rhs",
                    "constraint": "labour",
                    "distribution": "uniform",
                    "low": 70,
                    "high": 90,
                }
            ],
        },
        parallelism=2,
        time_limit_seconds=None,
    )
    spec = sweep["spec"]
    assert spec["model"] == PLAN and spec["solver"] == "CLP" and spec["parallelism"] == 2
    assert len(spec["scenarios"]) == 2 and spec["sampling"]["samples"] == 3
    assert sweep["metadata"]["annotations"][jobs.TOOL_ANNOTATION] == "run_scenarios"
    with pytest.raises(jobs.ToolInputError, match="more than this server allows"):
        jobs.sweep(
            "s",
            LIMITS,
            base,
            scenarios=[{"rhs": {"wood": 1}}] * 11,
            sampling=None,
            parallelism=None,
            time_limit_seconds=None,
        )
    with pytest.raises(jobs.ToolInputError, match="give scenarios"):
        jobs.sweep(
            "s",
            LIMITS,
            base,
            scenarios=None,
            sampling=None,
            parallelism=None,
            time_limit_seconds=None,
        )
    with pytest.raises(jobs.ToolInputError, match="itself a sweep"):
        jobs.sweep(
            "s",
            LIMITS,
            sweep,
            scenarios=[{}],
            sampling=None,
            parallelism=None,
            time_limit_seconds=None,
        )
    with pytest.raises(jobs.ToolInputError, match="scenarios"):  # unknown field in an override
        jobs.sweep(
            "s",
            LIMITS,
            base,
            scenarios=[{"rhs": {"wood": 1}, "bogus": 1}],
            sampling=None,
            parallelism=None,
            time_limit_seconds=None,
        )


def test_status_view_tells_what_to_do_next() -> None:
    job = {
        "metadata": {"name": "a", "namespace": "opt"},
        "status": {"phase": "Running", "progress": {"objective": 3.0}},
    }
    view = jobs.status_view(job)
    assert view["done"] is False and "poll get_status" in view["next"]
    assert view["progress"] == {"objective": 3.0}
    job["status"] = {
        "phase": "Succeeded",
        "solverStatus": "OPTIMAL",
        "objective": 1400.0,
        "resultConfigMap": "a-result",
    }
    view = jobs.status_view(job)
    assert view["done"] is True and "get_solution" in view["next"]
    assert jobs.result_names(job) == ["a-result"]
    assert jobs.status_view({"metadata": {"name": "n"}})["phase"] == "New"
    cancelling = {
        "metadata": {"name": "c", "annotations": {"mcpops.dev/cancel": "true"}},
        "status": {"phase": "Running"},
    }
    assert jobs.status_view(cancelling)["cancelRequested"] is True


def _job(spec: dict[str, Any], **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "plan"},
        "spec": spec,
        "status": {"phase": "Succeeded", "solverStatus": "OPTIMAL", **status},
    }


def test_explain_finds_binding_constraints_slack_and_duals_of_the_plan() -> None:
    # The LP optimum: 30 chairs, 10 tables; wood and labour used up, 5 tables of demand left.
    solution = {
        "values": {"chairs": 30.0, "tables": 10.0},
        "duals": {"wood": 10.0, "labour": 10.0, "table-demand": 0.0},
        "reducedCosts": {"chairs": 0.0, "tables": 0.0},
    }
    out = explaining.explain(_job({"model": PLAN}, objective=1400.0), solution)
    assert out["bindingConstraints"] == ["wood", "labour"]
    rows = {r["name"]: r for r in out["constraints"]}
    assert rows["wood"]["activity"] == 60 and rows["wood"]["slack"] == 0
    assert rows["table-demand"]["slack"] == 5 and rows["table-demand"]["binding"] is False
    assert rows["labour"]["dual"] == 10.0 and rows["labour"]["bindingSide"] == "upper"
    assert out["bindingBounds"] == []
    assert out["variables"][0]["reducedCost"] == 0.0


def test_explain_bounds_that_bind_and_a_mip_without_duals() -> None:
    model = {
        **PLAN,
        "variables": [
            {"name": "chairs", "lowerBound": 0, "upperBound": 20, "type": "integer"},
            {"name": "tables", "type": "binary"},
        ],
    }
    solution = {"values": {"chairs": 20.0, "tables": 1.0}, "duals": None, "reducedCosts": None}
    out = explaining.explain(_job({"model": model}), solution)
    assert {(b["variable"], b["bound"]) for b in out["bindingBounds"]} == {
        ("chairs", "upper"),
        ("tables", "upper"),
    }
    assert any("no duals" in n for n in out["notes"])
    assert "dual" not in out["constraints"][0]


def test_explain_a_file_problem_from_duals_alone() -> None:
    spec = {"configMapRef": {"name": "p", "key": "problem.mps"}}
    solution = {
        "values": {"x": 4.0},
        "duals": {"cap": -1.0, "other": 0.0},
        "reducedCosts": {"x": 0.0, "y": 2.5},
    }
    out = explaining.explain(_job(spec), solution)
    assert out["bindingConstraints"] == ["cap"]
    assert [v["name"] for v in out["variables"]] == ["y"]
    assert any("MPS/LP" in n for n in out["notes"])


def test_explain_without_a_solution_says_why() -> None:
    out = explaining.explain({"metadata": {"name": "x"}, "status": {"phase": "Running"}}, None)
    assert "no stored solution" in out["notes"][0]


def test_explain_truncates_large_models_binding_first() -> None:
    n = 30
    model = {
        "sense": "minimize",
        "variables": [{"name": f"x{i}", "lowerBound": 0} for i in range(n)],
        "constraints": [
            {"name": f"c{i}", "coefficients": {f"x{i}": 1}, "lowerBound": 1} for i in range(n)
        ],
        "objective": {"coefficients": {f"x{i}": 1 for i in range(n)}},
    }
    values = {f"x{i}": (1.0 if i % 3 == 0 else 2.0) for i in range(n)}
    out = explaining.explain(_job({"model": model}), {"values": values}, max_items=5)
    assert out["truncated"] is True and len(out["constraints"]) == 5
    assert all(r["binding"] for r in out["constraints"])


def test_explain_agrees_with_the_runtime_problem_form() -> None:
    """The activities explain computes are the rows of the runtime's own Problem."""
    problem = from_model(OptimizationModel.model_validate(PLAN))
    values = {"chairs": 30.0, "tables": 10.0}
    rows = explaining.constraint_rows(PLAN, values, None)
    for i, row in enumerate(rows):
        expected = sum(
            problem.row_coefs[i][k] * values[problem.var_names[v]]
            for k, v in enumerate(problem.row_vars[i])
        )
        assert row["activity"] == pytest.approx(expected)


def test_cli_options_become_limits() -> None:
    args = parser().parse_args(
        [
            "--namespace",
            "opt",
            "--max-threads",
            "3",
            "--pod-annotation",
            "a=b",
            "--pod-annotation",
            "c=d=e",
        ]
    )
    limits = limits_from(args)
    assert limits.namespace == "opt" and limits.max_threads == 3
    assert limits.pod_annotations == {"a": "b", "c": "d=e"}
    with pytest.raises(SystemExit):
        limits_from(parser().parse_args(["--namespace", "o", "--pod-annotation", "novalue"]))


def test_names() -> None:
    assert jobs.job_name("agent-", "ab1c2") == "agent-ab1c2"
    with pytest.raises(jobs.ToolInputError):
        jobs.check_name("Not_A_Name")
