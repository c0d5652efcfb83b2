"""`mcpops mcp-server` on the control plane, driven by a real MCP client (the `mcp` SDK).

The server is a real process acting as its own ServiceAccount, with exactly the Role the
chart renders (`agentServer.enabled`); the operator is a real process too. Solver pods are
simulated (kwok runs no code), so where the solver pod would write its result ConfigMaps
this test writes them: it solves the job's problem with the solver runtime itself (OR-Tools,
in this process) and writes what the runtime would, with the runtime's own builders.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from clusterkit import (
    REPO,
    Cluster,
    OperatorProcess,
    assert_rights,
    token_kubeconfig,
    wait_until,
)
from mcp import Client
from mcp_types import CallToolResult
from ports import free_port
from test_optimizationjob import get, wait_phase, write_results
from test_optimizationjob_service import report_progress
from toolpaths import tool_path

from mcpops.api.optimizationjob import OptimizationJobSpec
from mcpops_common.optmodel import ScenarioSet
from mcpops_common.problem import from_model
from mcpops_common.results import SolveResult, summarize_scenarios
from mcpops_common.scenarios import expand_scenarios
from mcpops_solver.backends import SolveParams
from mcpops_solver.readers import parse_problem
from mcpops_solver.runtime import solve_problem

pytestmark = pytest.mark.cluster

# The README's production plan (examples/optimizationjob.yaml), as an agent would send it.
PLAN: dict[str, Any] = yaml.safe_load((REPO / "examples" / "optimizationjob.yaml").read_text())[
    "spec"
]["model"]
# A MIP that would run long: the test's "solver" never finishes it (simulated pod hangs).
BIG_MIP: dict[str, Any] = {
    "sense": "maximize",
    "variables": [{"name": f"x{i}", "type": "binary"} for i in range(40)],
    "constraints": [
        {
            "name": "weight",
            "coefficients": {f"x{i}": 3 + (7 * i) % 11 for i in range(40)},
            "upperBound": 100,
        }
    ],
    "objective": {"coefficients": {f"x{i}": 5 + (13 * i) % 17 for i in range(40)}},
}
MPS = """NAME          TWO
ROWS
 N  COST
 L  LIM1
 G  LIM2
COLUMNS
    X         COST         1.0   LIM1         1.0
    X         LIM2         1.0
    Y         COST         2.0   LIM1         1.0
RHS
    RHS       LIM1         4.0   LIM2         1.0
ENDATA
"""
SA = "rel-mcpops-agent-server"


class AgentServer:
    """`mcpops mcp-server` as a real process, as the agent server's ServiceAccount."""

    def __init__(self, kubeconfig: Path, namespace: str, log: Path, *annotations: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            sys.executable, "-m", "mcpops.cli", "mcp-server", f"--namespace={namespace}",
            f"--listen=127.0.0.1:{self.port}", "--max-time-limit=120",
            *(f"--pod-annotation={a}" for a in annotations),
        ]  # fmt: skip
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                args,
                env={**os.environ, "KUBECONFIG": str(kubeconfig)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.log = log
        wait_until(self.healthy, timeout=60, what="mcp-server /healthz")

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"mcp-server exited: {self.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def metric(self, name: str, **labels: str) -> float:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith(f"{name}{{{want}}} "):
                return float(line.split()[-1])
        return 0.0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)


@pytest.fixture
def agent_kubeconfig(cluster: Cluster, namespace: str, tmp_path: Path) -> Path:
    """The chart's agent-server ServiceAccount, Role and RoleBinding (release namespace =
    the served one), and a kubeconfig with that account's token."""
    helm = tool_path("MCPOPS_HELM")
    if helm is None:
        pytest.fail("helm is not built: run `make helm` (or `make test-cluster`)")
    rendered = subprocess.run(
        [helm, "template", "rel", str(REPO / "charts" / "mcpops"), "--namespace", namespace,
         "--set", "agentServer.enabled=true", "--show-only", "templates/agentserver.yaml"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    for doc in yaml.safe_load_all(rendered):
        if doc and doc["kind"] in {"ServiceAccount", "Role", "RoleBinding"}:
            cluster.apply(doc, namespace)
    return token_kubeconfig(cluster, SA, namespace, tmp_path / "agent.kubeconfig")


@pytest.fixture
def servers(
    agent_kubeconfig: Path, namespace: str, tmp_path: Path
) -> Iterator[dict[str, AgentServer]]:
    """Two servers: `fast` whose simulated solver pods end after 2 s, `hang` whose never do
    (a long MIP). The same code; only the solver pods' annotation differs."""
    started: dict[str, AgentServer] = {}
    try:
        started["fast"] = AgentServer(
            agent_kubeconfig, namespace, tmp_path / "fast.log", "sim.mcpops.dev/delay=2s"
        )
        started["hang"] = AgentServer(
            agent_kubeconfig, namespace, tmp_path / "hang.log", "sim.mcpops.dev/outcome=hang"
        )
        yield started
    finally:
        for server in started.values():
            server.stop()


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict), result
    return result.structured_content


def solve_as_the_pod_would(cluster: Cluster, namespace: str, name: str) -> SolveResult:
    """What the solver pod of job `name` does: solve its problem, write its results."""
    job = get(cluster, name, namespace)
    spec = OptimizationJobSpec.model_validate(job["spec"])
    if spec.model is not None:
        problem = from_model(spec.model)
    else:
        assert spec.config_map_ref is not None
        cm = cluster.get("configmap", spec.config_map_ref.name, namespace)
        assert cm is not None
        problem = parse_problem(cm["data"][spec.config_map_ref.key], spec.format)
    result = solve_problem(problem, spec.solver, SolveParams(time_limit=spec.time_limit_seconds))
    write_results(cluster, namespace, name, result)
    return result


def solve_sweep_as_the_pods_would(cluster: Cluster, namespace: str, name: str) -> list[float]:
    job = get(cluster, name, namespace)
    spec = OptimizationJobSpec.model_validate(job["spec"])
    assert spec.model is not None
    overrides = expand_scenarios(ScenarioSet(scenarios=spec.scenarios, sampling=spec.sampling))
    objectives = []
    for i, override in enumerate(overrides):
        problem = from_model(spec.model).apply_override(override)
        result = solve_problem(problem, spec.solver, SolveParams(time_limit=10))
        result.scenario_index = i
        write_results(cluster, namespace, name, result, index=i)
        assert result.objective is not None
        objectives.append(result.objective)
    return objectives


async def test_an_agent_session(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    servers: dict[str, AgentServer],
) -> None:
    ns = namespace
    # Least privilege: what the chart's Role lets the agent server do, and nothing more.
    sa = f"system:serviceaccount:{ns}:{SA}"
    assert_rights(cluster, sa, ns, {
        ("create", "optimizationjobs.mcpops.dev"): True,
        ("patch", "optimizationjobs.mcpops.dev"): True,
        ("delete", "optimizationjobs.mcpops.dev"): False,
        ("update", "optimizationjobs.mcpops.dev"): False,
        ("patch", "optimizationjobs.mcpops.dev/status"): False,
        ("get", "configmaps"): True,
        ("list", "configmaps"): False,
        ("delete", "configmaps"): False,
        ("get", "secrets"): False,
        ("create", "pods"): False,
        ("create", "jobs.batch"): False,
    })  # fmt: skip
    assert_rights(cluster, sa, "default", {("create", "optimizationjobs.mcpops.dev"): False})

    async with Client(f"{servers['fast'].url}/mcp") as agent:
        tools = {t.name for t in (await agent.list_tools()).tools}
        assert tools >= {"submit_model", "get_status", "get_solution", "explain",
                         "run_scenarios", "cancel", "list_jobs"}  # fmt: skip

        # A mistake is told back, naming the field; nothing is created.
        bad = await agent.call_tool("submit_model", {"model": {**PLAN, "sense": "most"}})
        assert bad.is_error and "sense" in str(bad.content)
        too_long = await agent.call_tool(
            "submit_model", {"model": PLAN, "time_limit_seconds": 1000}
        )
        assert too_long.is_error and "the server's limit" in str(too_long.content)
        assert not cluster.list("optimizationjobs", ns)

        # Submit the README's production plan; it is an OptimizationJob like any other.
        submitted = data(
            await agent.call_tool("submit_model", {"model": PLAN, "time_limit_seconds": 30})
        )
        name = submitted["name"]
        assert name.startswith("agent-") and submitted["done"] is False
        job = get(cluster, name, ns)
        assert job["metadata"]["labels"]["mcpops.dev/submitted-by"] == "agent-server"
        assert job["spec"]["model"]["name"] == "production-plan"
        # Written at once, as a real pod would before it ends (the operator reads them when
        # the simulated pod has ended, 2 s after it started).
        solved = solve_as_the_pod_would(cluster, ns, name)
        assert solved.status == "OPTIMAL" and solved.duals is not None

        # Poll as an agent does: get_status waits (bounded) until done.
        status: dict[str, Any] = {}
        for _ in range(12):  # at most 12 x 10 s
            status = data(await agent.call_tool("get_status", {"name": name, "wait_seconds": 10}))
            if status["done"]:
                break
        assert status["phase"] == "Succeeded" and status["solverStatus"] == "OPTIMAL", status
        assert status["objective"] == pytest.approx(1400.0)
        assert "get_solution" in status["next"]

        solution = data(await agent.call_tool("get_solution", {"name": name}))
        assert solution["values"] == pytest.approx({"chairs": 30.0, "tables": 10.0})
        assert set(solution["duals"]) == {"wood", "labour", "table-demand"}

        why = data(await agent.call_tool("explain", {"name": name}))
        assert why["bindingConstraints"] == ["wood", "labour"]
        rows = {r["name"]: r for r in why["constraints"]}
        assert rows["table-demand"]["slack"] == pytest.approx(5.0)
        assert rows["wood"]["slack"] == pytest.approx(0.0, abs=1e-9)
        assert abs(rows["wood"]["dual"]) == pytest.approx(10.0)
        assert abs(rows["labour"]["dual"]) == pytest.approx(10.0)
        assert rows["table-demand"]["dual"] == pytest.approx(0.0, abs=1e-9)

        # What if: the plan under three wood supplies and sampled labour.
        sweep = data(await agent.call_tool("run_scenarios", {
            "base": name,
            "scenarios": [{"name": "less-wood", "rhs": {"wood": 45}},
                          {"name": "more-wood", "rhs": {"wood": 75}},
                          {"name": "as-is"}],
            "sampling": {"samples": 3, "seed": 7, "parameters": [
                {"target": "rhs", "constraint": "labour", "distribution": "uniform",
                 "low": 60, "high": 100}]},
            "parallelism": 3,
        }))  # fmt: skip
        sweep_name = sweep["name"]
        wait_until(lambda: cluster.get("job", sweep_name, ns), timeout=60, what="the sweep's Job")
        objectives = solve_sweep_as_the_pods_would(cluster, ns, sweep_name)
        assert len(objectives) == 6
        for _ in range(12):
            status = data(
                await agent.call_tool("get_status", {"name": sweep_name, "wait_seconds": 10})
            )
            if status["done"]:
                break
        assert status["phase"] == "Succeeded", status
        expected = summarize_scenarios(
            [{"status": "OPTIMAL", "objective": o, "sense": "maximize"} for o in objectives]
        )
        summary = status["scenarios"]
        assert summary["total"] == 6 and summary["solved"] == 6
        for key in ("best", "worst", "p5", "p50", "p95"):
            assert summary[key] == pytest.approx(expected[key]), key

        # A problem as an MPS file: its ConfigMap is created, owned by the job.
        text_job = data(await agent.call_tool("submit_model", {"text": MPS, "solver": "CLP"}))
        cm = wait_until(lambda: cluster.get("configmap", f"{text_job['name']}-problem", ns),
                        timeout=60, what="the problem ConfigMap")  # fmt: skip
        owner = get(cluster, text_job["name"], ns)["metadata"]["uid"]
        assert cm["metadata"]["ownerReferences"][0]["uid"] == owner
        solve_as_the_pod_would(cluster, ns, text_job["name"])
        for _ in range(12):
            status = data(
                await agent.call_tool("get_status", {"name": text_job["name"], "wait_seconds": 10})
            )
            if status["done"]:
                break
        assert status["phase"] == "Succeeded" and status["objective"] == pytest.approx(1.0)
        why = data(await agent.call_tool("explain", {"name": text_job["name"]}))
        assert why["bindingConstraints"] == ["LIM2"]
        assert any("MPS/LP" in n for n in why["notes"])

        listed = data(await agent.call_tool("list_jobs", {}))
        assert {j["name"] for j in listed["jobs"]} >= {name, sweep_name, text_job["name"]}

    # A long MIP, cancelled: the solve stops and its best solution so far is kept.
    async with Client(f"{servers['hang'].url}/mcp") as agent:
        mip = data(
            await agent.call_tool(
                "submit_model", {"model": BIG_MIP, "solver": "SCIP", "time_limit_seconds": 120}
            )
        )
        mip_name = mip["name"]
        wait_phase(cluster, mip_name, ns, "Running")
        report_progress(cluster, ns, mip_name, objective=150.0, bound=210.0, gap=0.4,
                        solutionsFound=3, sense="maximize")  # fmt: skip

        async def progressed() -> dict[str, Any]:
            for _ in range(60):
                st = data(
                    await agent.call_tool("get_status", {"name": mip_name, "wait_seconds": 1})
                )
                if (st.get("progress") or {}).get("objective") == 150.0:
                    return st
            raise AssertionError(f"no progress in get_status: {st}")

        running = await progressed()
        assert running["phase"] == "Running" and running["progress"]["gap"] == 0.4
        cancelled = data(await agent.call_tool("cancel", {"name": mip_name}))
        assert cancelled["cancelRequested"] is True
        wait_until(
            lambda: (cluster.get("job", mip_name, ns) or {}).get("spec", {}).get("suspend"),
            timeout=60,
            what="the solver Job suspended",
        )
        # The runtime, on SIGTERM, writes the best solution it had, marked cancelled.
        values = {f"x{i}": float(i % 2) for i in range(40)}
        write_results(cluster, ns, mip_name, SolveResult(
            status="FEASIBLE", solver="SCIP", sense="maximize", objective=150.0, bound=210.0,
            seconds=12.0, values=values, cancelled=True, message="cancelled",
        ))  # fmt: skip
        for _ in range(12):
            status = data(
                await agent.call_tool("get_status", {"name": mip_name, "wait_seconds": 10})
            )
            if status["done"]:
                break
        assert status["phase"] == "Cancelled" and status["cancelled"] is True, status
        assert status["solverStatus"] == "FEASIBLE" and status["objective"] == 150.0
        kept = data(await agent.call_tool("get_solution", {"name": mip_name}))
        assert kept["values"] == values
        why = data(await agent.call_tool("explain", {"name": mip_name}))
        assert any("cancelled" in n for n in why["notes"])

        # Only its own jobs: a job someone else made is not the agent's to cancel.
        hang = {"sim.mcpops.dev/outcome": "hang"}
        cluster.apply({"apiVersion": "mcpops.dev/v1alpha1", "kind": "OptimizationJob",
                       "metadata": {"name": "someone-elses"},
                       "spec": {"model": PLAN, "podAnnotations": hang}}, ns)  # fmt: skip
        refused = await agent.call_tool("cancel", {"name": "someone-elses"})
        assert refused.is_error and "not submitted through this server" in str(refused.content)
        missing = await agent.call_tool("get_status", {"name": "no-such-job"})
        assert missing.is_error and "no OptimizationJob" in str(missing.content)

    fast = servers["fast"]
    assert fast.metric("mcpops_agent_tool_calls_total", tool="submit_model", outcome="ok") == 2
    assert fast.metric("mcpops_agent_tool_calls_total", tool="submit_model", outcome="refused") == 1
    assert fast.metric("mcpops_agent_tool_calls_total", tool="explain", outcome="ok") == 2
    hanging = servers["hang"]
    assert hanging.metric("mcpops_agent_tool_calls_total", tool="cancel", outcome="ok") == 1
    assert hanging.metric("mcpops_agent_tool_calls_total", tool="cancel", outcome="refused") == 1
    lines = [json.loads(line) for line in fast.log.read_text().splitlines() if line.startswith("{")]
    calls = [line for line in lines if line.get("event") == "tool call"]
    assert {"tool": "submit_model", "outcome": "refused"}.items() <= calls[0].items()


async def test_stdio_for_a_local_agent(
    cluster: Cluster, operator: OperatorProcess, namespace: str, agent_kubeconfig: Path
) -> None:
    """`mcpops mcp-server --stdio`: an agent on a laptop starts it with a kubeconfig."""
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcpops.cli", "mcp-server", f"--namespace={namespace}", "--stdio",
              "--pod-annotation=sim.mcpops.dev/outcome=hang"],
        env={"KUBECONFIG": str(agent_kubeconfig), "PATH": os.environ.get("PATH", "")},
    )  # fmt: skip
    async with Client(stdio_client(params)) as agent:
        job = data(await agent.call_tool("submit_model", {"model": PLAN}))
        listed = data(await agent.call_tool("list_jobs", {}))
        assert [j["name"] for j in listed["jobs"]] == [job["name"]]
    assert get(cluster, job["name"], namespace)["spec"]["model"]["name"] == "production-plan"
