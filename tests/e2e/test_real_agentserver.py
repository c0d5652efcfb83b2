"""`mcpops mcp-server` as the chart deploys it, on the real node, with real solver pods.

The agent server runs in the operator image as its own Deployment, ServiceAccount and Role
(rendered from the chart, `agentServer.enabled`); an agent (the `mcp` SDK) submits the
README's production plan, reads the explanation, runs a sweep and cancels a long MIP that
a real SCIP is solving.
"""

from __future__ import annotations

import gzip
import subprocess
from typing import Any

import pytest
import yaml
from clusterkit import REPO, Cluster
from conftest import Installed
from e2ekit import image
from mcp import Client
from mcp_types import CallToolResult
from test_real_optimizationjob import DATA, instance
from toolpaths import require_tool

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

PLAN: dict[str, Any] = yaml.safe_load((REPO / "examples" / "optimizationjob.yaml").read_text())[
    "spec"
]["model"]


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict), result
    return result.structured_content


def deploy_agent_server(cluster: Cluster, ns: str) -> str:
    """The chart's agent server objects, in `ns` (release and served namespace); its URL."""
    helm = require_tool("MCPOPS_HELM", "helm")
    repo, _, tag = image("mcpops").rpartition(":")
    rendered = subprocess.run(
        [helm, "template", "mcpops", str(REPO / "charts" / "mcpops"), "--namespace", ns,
         "--set", "agentServer.enabled=true", "--set", f"image.repository={repo}",
         "--set", f"image.tag={tag}", "--set", "image.pullPolicy=Never",
         "--set", "agentServer.maxTimeLimitSeconds=600",
         "--show-only", "templates/agentserver.yaml"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    for doc in yaml.safe_load_all(rendered):
        if doc:
            cluster.apply(doc, ns)
    cluster.kubectl(
        "rollout", "status", "deployment/mcpops-agent-server", "-n", ns, "--timeout=180s",
        timeout=200,
    )  # fmt: skip
    [pod] = cluster.list("pods", ns, "app.kubernetes.io/name=mcpops-agent-server")
    return f"http://{pod['status']['podIP']}:8090/mcp"


async def wait_done(agent: Client, name: str, timeout_calls: int = 30) -> dict[str, Any]:
    """Poll as an agent does (each call waits up to 20 s for the end)."""
    status: dict[str, Any] = {}
    for _ in range(timeout_calls):
        status = data(await agent.call_tool("get_status", {"name": name, "wait_seconds": 20}))
        if status["done"]:
            return status
    raise AssertionError(f"{name} not done: {status}")


async def test_an_agent_solves_explains_sweeps_and_cancels_on_the_real_node(
    cluster: Cluster, installed: Installed, namespace: str
) -> None:
    url = deploy_agent_server(cluster, namespace)
    async with Client(url) as agent:
        job = data(await agent.call_tool("submit_model", {"model": PLAN, "time_limit_seconds": 60}))
        status = await wait_done(agent, job["name"])
        assert status["phase"] == "Succeeded" and status["solverStatus"] == "OPTIMAL", status
        assert status["objective"] == pytest.approx(1400.0)
        why = data(await agent.call_tool("explain", {"name": job["name"]}))
        assert why["bindingConstraints"] == ["wood", "labour"], why
        rows = {r["name"]: r for r in why["constraints"]}
        assert rows["table-demand"]["slack"] == pytest.approx(5.0)
        assert abs(rows["wood"]["dual"]) == pytest.approx(10.0)

        sweep = data(await agent.call_tool("run_scenarios", {
            "base": job["name"],
            "scenarios": [{"rhs": {"wood": 45}}, {"rhs": {"wood": 60}}, {"rhs": {"wood": 75}}],
            "parallelism": 3,
        }))  # fmt: skip
        status = await wait_done(agent, sweep["name"])
        summary = status["scenarios"]
        assert summary["solved"] == 3 and summary["total"] == 3, status
        # The LP optima: wood 45 -> 37.5 chairs, 2.5 tables: 1250; wood 60 -> 1400; wood 75
        # -> table demand binds: 25 chairs, 15 tables: 1500.
        assert summary["p50"] == pytest.approx(1400.0)
        assert summary["worst"] == pytest.approx(1250.0)
        assert summary["best"] == pytest.approx(1500.0)

        # A long MIP (pk1 runs for minutes on one thread), sent as MPS text, then cancelled.
        text = gzip.decompress((DATA / instance("pk1")["file"]).read_bytes()).decode()
        mip = data(await agent.call_tool("submit_model", {
            "text": text, "solver": "SCIP", "threads": 1, "time_limit_seconds": 600,
        }))  # fmt: skip
        progress: dict[str, Any] = {}
        for _ in range(30):
            running = data(
                await agent.call_tool("get_status", {"name": mip["name"], "wait_seconds": 10})
            )
            progress = running.get("progress") or {}
            if progress.get("objective") is not None:
                break
        assert progress.get("objective") is not None, running
        data(await agent.call_tool("cancel", {"name": mip["name"]}))
        status = await wait_done(agent, mip["name"])
        assert status["phase"] == "Cancelled" and status["solverStatus"] == "FEASIBLE", status
        assert status["objective"] <= progress["objective"] + 1e-9  # minimize: never worse
        kept = data(await agent.call_tool("get_solution", {"name": mip["name"]}))
        assert len(kept["values"]) == instance("pk1")["cols"]
