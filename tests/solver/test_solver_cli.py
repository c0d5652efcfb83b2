"""The ``mcpops-solver`` command as a real process: outputs, exit codes, the API writer,
the termination message, and sweeps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakeapi import serve
from solverkit import EXAMPLE, instance_path, run_cli

from mcpops_common.optmodel import ScenarioSet
from mcpops_common.results import summarize_scenarios
from mcpops_common.scenarios import expand_scenarios
from mcpops_solver import cli

pytestmark = pytest.mark.process

UID = "5f0c2b7a-aaaa-bbbb-cccc-0123456789ab"


def _write(tmp: Path, name: str, doc: Any) -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(doc) if name.endswith((".yaml", ".yml")) else json.dumps(doc))
    return path


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_solves_a_yaml_model_and_writes_manifests_and_termination_log(tmp_path: Path) -> None:
    model = _write(tmp_path, "plan.yaml", EXAMPLE)
    out = tmp_path / "out"
    term = tmp_path / "termination-log"
    run = run_cli(
        str(model),
        "--output-dir",
        str(out),
        "--termination-log",
        str(term),
        env={"MCPOPS_RESULT_NAME": "plan", "POD_NAMESPACE": "team-a", "MCPOPS_OWNER_UID": UID},
    )
    assert run.code == 0, run.stderr
    assert run.summary["status"] == "OPTIMAL" and run.summary["objective"] == pytest.approx(16)
    assert run.summary["configMaps"] == ["plan-result"]
    cm = json.loads((out / "plan-result.json").read_text())
    assert cm["metadata"]["namespace"] == "team-a"
    assert cm["metadata"]["ownerReferences"][0]["uid"] == UID
    assert cm["metadata"]["ownerReferences"][0]["kind"] == "OptimizationJob"
    summary = json.loads(cm["data"]["summary.json"])
    assert summary["solver"] and summary["solverReason"]
    assert json.loads(cm["data"]["solution.json"])["values"] == {"x": 3.0, "y": 1.0}
    message = json.loads(term.read_text())
    assert message["status"] == "OPTIMAL" and message["exitCode"] == 0
    assert message["configMaps"] == ["plan-result"]
    # Logs: JSON lines on stderr naming the job and namespace.
    logs = _json_lines(run.stderr)
    assert logs and all("event" in line for line in logs)
    finished = [line for line in logs if line["event"] == "solve finished"]
    assert finished and finished[0]["job"] == "plan" and finished[0]["namespace"] == "team-a"


def test_reads_standard_input(tmp_path: Path) -> None:
    run = run_cli("-", "--format", "json", "--solver", "SCIP", stdin=json.dumps(EXAMPLE))
    assert run.code == 0 and run.summary["objective"] == pytest.approx(16)
    assert run.summary["solver"] == "SCIP"


def test_mps_instance_through_the_cli(opt_data: Path, manifest: dict[str, Any]) -> None:
    run = run_cli(str(instance_path(opt_data, manifest, "adlittle")), "--print-solution")
    assert run.code == 0
    assert run.summary["objective"] == pytest.approx(
        manifest["adlittle"]["optimal_objective"], rel=1e-6
    )
    solution = json.loads(run.stdout.splitlines()[0])
    assert len(solution["values"]) == 97 and len(solution["duals"]) == 56


INFEASIBLE = {
    "variables": [{"name": "x", "lowerBound": 0}, {"name": "y", "lowerBound": 0}],
    "constraints": [
        {"name": "low", "coefficients": {"x": 1, "y": 1}, "lowerBound": 5},
        {"name": "high", "coefficients": {"x": 1, "y": 1}, "upperBound": 3},
    ],
    "objective": {"coefficients": {"x": 1}},
}
UNBOUNDED = {
    "sense": "maximize",
    "variables": [{"name": "x", "lowerBound": 0}, {"name": "y", "lowerBound": 0}],
    "constraints": [{"name": "c", "coefficients": {"x": 1, "y": -1}, "upperBound": 1}],
    "objective": {"coefficients": {"x": 1, "y": 1}},
}


@pytest.mark.parametrize(("doc", "status"), [(INFEASIBLE, "INFEASIBLE"), (UNBOUNDED, "UNBOUNDED")])
def test_infeasible_and_unbounded_are_results_with_exit_0(
    tmp_path: Path, doc: dict[str, Any], status: str
) -> None:
    run = run_cli(str(_write(tmp_path, "m.json", doc)))
    assert run.code == 0
    assert run.summary["status"] == status
    assert status.lower() in run.summary["message"]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--time-limit", "-3"], {}, "must be a positive number"),
        (["--solver", "gurobi"], {}, "unknown solver 'gurobi'"),
        (["--scenarios", "s.yaml"], {}, "--scenarios needs --scenario-index"),
        ([], {"MCPOPS_RESULT_NAME": "plan", "POD_NAMESPACE": "ns"}, "needs MCPOPS_OWNER_UID"),
        (["--relative-gap", "2"], {}, "between 0 and 1"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    model = _write(tmp_path, "m.json", EXAMPLE)
    run = run_cli(str(model), *args, env=env)
    assert run.code == 2
    assert message in run.stderr + json.dumps(run.summary)


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("{broken", "m.json", "not valid JSON"),
        (
            json.dumps({**EXAMPLE, "objective": {"coefficients": {"zz": 1}}}),
            "m.json",
            "undeclared variable 'zz'",
        ),
        ("NAME x\nROWS\n N obj\nCOLUMNS\n x obj zz\nENDATA\n", "m.mps", "not a valid MPS file"),
        ("Minimize\n obj: x +\nEnd\n", "m.lp", "not a valid LP file"),
    ],
)
def test_malformed_input_exits_3_with_the_reason(
    tmp_path: Path, content: str, name: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    out = tmp_path / "out"
    term = tmp_path / "term"
    run = run_cli(
        str(path),
        "--output-dir",
        str(out),
        "--termination-log",
        str(term),
        env={"MCPOPS_RESULT_NAME": "bad"},
    )
    assert run.code == 3
    assert message in run.summary["message"]
    assert run.summary["errorKind"] == "malformed-input"
    # The failure is recorded too: in the ConfigMap and the termination message.
    summary = json.loads(json.loads((out / "bad-result.json").read_text())["data"]["summary.json"])
    assert summary["status"] == "ERROR" and message in summary["message"]
    assert json.loads(term.read_text())["exitCode"] == 3


def test_missing_file_exits_3(tmp_path: Path) -> None:
    run = run_cli(str(tmp_path / "nope.mps"))
    assert run.code == 3 and "cannot read" in run.summary["message"]


@pytest.mark.parametrize("solver", ["GLOP", "CLP", "PDLP", "BOP"])
def test_backend_that_cannot_take_the_problem_exits_4(tmp_path: Path, solver: str) -> None:
    run = run_cli(str(_write(tmp_path, "m.json", EXAMPLE)), "--solver", solver)
    assert run.code == 4
    assert run.summary["errorKind"] == "unsupported"
    assert solver in run.summary["message"] and "choose" in run.summary["message"]


def test_cp_sat_on_an_lp_exits_4(opt_data: Path, manifest: dict[str, Any]) -> None:
    run = run_cli(str(instance_path(opt_data, manifest, "sc50a")), "--solver", "cp-sat")
    assert run.code == 4 and "linear program" in run.summary["message"]


def test_unwritable_output_exits_6(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    run = run_cli(str(_write(tmp_path, "m.json", EXAMPLE)), "--output-dir", str(blocker / "x"))
    assert run.code == 6
    assert run.summary["status"] == "OPTIMAL"  # the solve was fine; storing it was not
    assert "could not be written" in run.summary["message"]


def test_solver_failure_exits_5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mcpops_solver import backends

    def broken(*_: Any, **__: Any) -> Any:
        raise backends.SolverError("HIGHS failed: injected")

    monkeypatch.setattr(backends, "solve", broken)
    term = tmp_path / "term"
    code = cli.main([str(_write(tmp_path, "m.json", EXAMPLE)), "--termination-log", str(term)])
    assert code == 5
    out = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert out["status"] == "ABNORMAL" and out["errorKind"] == "solver-failure"
    assert json.loads(term.read_text())["exitCode"] == 5


# --------------------------------------------------------------------------- API writer


def _big_model(n: int) -> dict[str, Any]:
    return {
        "variables": [{"name": f"v{i:06d}", "lowerBound": i / 7} for i in range(n)],
        "objective": {"coefficients": {f"v{i:06d}": 1.0 for i in range(n)}},
    }


def test_writes_configmaps_through_the_api_splits_and_cleans_up(tmp_path: Path) -> None:
    env = {
        "MCPOPS_RESULT_NAME": "plan",
        "MCPOPS_OWNER_UID": UID,
        "POD_NAMESPACE": "team-a",
    }
    with serve(tmp_path) as (api, kubeconfig):
        env["KUBECONFIG"] = str(kubeconfig)
        big = _write(tmp_path, "big.json", _big_model(60_000))
        api.fail_next = [503]  # the first request fails; the writer retries
        run = run_cli(str(big), "--solver", "GLOP", env=env)
        assert run.code == 0, run.stderr
        parts = run.summary["solutionParts"]
        assert run.summary["parts"] == len(parts) >= 2
        stored = {name for _, name in api.objects}
        assert stored == {"plan-result", *parts}
        for obj in api.objects.values():
            ref = obj["metadata"]["ownerReferences"][0]
            assert ref == {
                "apiVersion": "mcpops.dev/v1alpha1",
                "kind": "OptimizationJob",
                "name": "plan",
                "uid": UID,
                "controller": True,
            }
            assert sum(len(k) + len(v.encode()) for k, v in obj["data"].items()) <= 900 * 1024
        values: dict[str, float] = {}
        for name in parts:
            values.update(
                json.loads(api.objects[("team-a", name)]["data"]["solution.json"])["values"]
            )
        assert len(values) == 60_000 and values["v000007"] == pytest.approx(1.0)

        # A second run of the same job (a retried pod) replaces the summary and
        # deletes the parts it no longer needs.
        small = _write(tmp_path, "small.json", EXAMPLE)
        run = run_cli(str(small), env=env)
        assert run.code == 0, run.stderr
        assert {name for _, name in api.objects} == {"plan-result"}
        assert ("PUT", "/api/v1/namespaces/team-a/configmaps/plan-result") in api.requests


def test_api_refusal_exits_6(tmp_path: Path) -> None:
    with serve(tmp_path) as (api, kubeconfig):
        api.fail_next = [403]
        run = run_cli(
            str(_write(tmp_path, "m.json", EXAMPLE)),
            env={
                "MCPOPS_RESULT_NAME": "plan",
                "MCPOPS_OWNER_UID": UID,
                "POD_NAMESPACE": "ns",
                "KUBECONFIG": str(kubeconfig),
            },
        )
    assert run.code == 6
    assert "HTTP 403" in run.summary["message"]


# --------------------------------------------------------------------------- sweeps

SWEEP_MODEL = {
    "variables": [{"name": "x", "lowerBound": 0}, {"name": "y", "lowerBound": 0, "upperBound": 10}],
    "constraints": [{"name": "demand", "coefficients": {"x": 1, "y": 1}, "lowerBound": 4}],
    "objective": {"coefficients": {"x": 2, "y": 3}},
}


def test_sweep_runs_each_index_and_summarizes(tmp_path: Path) -> None:
    sset = {
        "scenarios": [
            {"name": "base"},
            {"name": "more-demand", "rhs": {"demand": 8}},
            {
                "name": "impossible",
                "variableBounds": {"x": {"upperBound": 0}},
                "constraintBounds": {"demand": {"lowerBound": 20}},
            },
        ],
        "sampling": {
            "samples": 4,
            "seed": 42,
            "parameters": [
                {
                    "target": "rhs",
                    "constraint": "demand",
                    "distribution": "uniform",
                    "low": 1,
                    "high": 9,
                },
                {
                    "target": "objectiveCoefficient",
                    "variable": "x",
                    "distribution": "normal",
                    "mean": 2,
                    "stddev": 0.5,
                },
            ],
        },
    }
    model = _write(tmp_path, "m.yaml", SWEEP_MODEL)
    scenarios = _write(tmp_path, "s.yaml", sset)
    out = tmp_path / "out"
    count = ScenarioSet.model_validate(sset).count()
    assert count == 7
    for i in range(count):
        run = run_cli(
            str(model),
            "--scenarios",
            str(scenarios),
            "--output-dir",
            str(out),
            env={"MCPOPS_RESULT_NAME": "sweep", "JOB_COMPLETION_INDEX": str(i)},
        )
        assert run.code == 0, run.stderr
        assert run.summary["scenarioIndex"] == i
    summaries = [
        json.loads(json.loads((out / f"sweep-result-{i}.json").read_text())["data"]["summary.json"])
        for i in range(count)
    ]
    assert [s["scenarioName"] for s in summaries][:3] == ["base", "more-demand", "impossible"]
    # Expected objectives: min 2x + 3y with x + y >= d -> d * min(2, cx) when cx > 0.
    expanded = expand_scenarios(ScenarioSet.model_validate(sset))
    expected = [8.0, 16.0, None]
    for s in expanded[3:]:
        assert s.rhs is not None and s.objective_coefficients is not None
        d, cx = s.rhs["demand"], s.objective_coefficients["x"]
        expected.append(d * min(cx, 3.0))
    for got, want in zip(summaries, expected, strict=True):
        if want is None:
            assert got["status"] == "INFEASIBLE"
        else:
            assert got["objective"] == pytest.approx(want, rel=1e-9)
    agg = summarize_scenarios(summaries, expected=count)
    solved = [w for w in expected if w is not None]
    assert agg["solved"] == 6 and agg["infeasible"] == 1 and agg["failed"] == 0
    assert agg["best"] == pytest.approx(min(solved)) and agg["worst"] == pytest.approx(max(solved))


def test_sampling_is_deterministic_and_index_checked(tmp_path: Path) -> None:
    sset = ScenarioSet.model_validate(
        {
            "sampling": {
                "samples": 3,
                "seed": 7,
                "parameters": [
                    {
                        "target": "rhs",
                        "constraint": "demand",
                        "distribution": "uniform",
                        "low": 0,
                        "high": 1,
                    }
                ],
            }
        }
    )
    assert expand_scenarios(sset) == expand_scenarios(sset.model_copy(deep=True))
    draws = [s.rhs["demand"] for s in expand_scenarios(sset) if s.rhs]
    assert len(set(draws)) == 3 and all(0 <= d <= 1 for d in draws)
    model = _write(tmp_path, "m.yaml", SWEEP_MODEL)
    path = _write(
        tmp_path, "s.json", sset.model_dump(mode="json", by_alias=True, exclude_none=True)
    )
    run = run_cli(str(model), "--scenarios", str(path), "--scenario-index", "3")
    assert run.code == 3 and "out of range" in run.summary["message"]
    bad = _write(tmp_path, "bad.json", {"scenarios": [{"rhs": {"nope": 1}}]})
    run = run_cli(str(model), "--scenarios", str(bad), "--scenario-index", "0")
    assert run.code == 3 and "unknown constraint 'nope'" in run.summary["message"]
