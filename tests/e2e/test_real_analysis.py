"""rollout.analysis on the real node: what the new revision's in-pod proxies count of real
traffic after the switch decides whether it keeps it.

The server is a real MCP server (the `mcp` SDK's MCPServer, from the mcp-python image) over
stdio, whose one tool fails while BROKEN=1 is in its environment: a revision that passes its
suite (the tool is listed) but fails what clients do with it. Clients are this test process,
calling the stable Service (routed here by kube-proxy) on fresh sessions until the operator
has decided, each wait on a condition with a deadline.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from clusterkit import Cluster, wait_until
from conftest import Installed
from e2ekit import image
from mcp import Client
from test_real_install import metric, scrape
from test_real_mcpservers import cond, mcpserver, stable_url, status, wait_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SERVER = """
import os

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

app = MCPServer("inventory")


@app.tool()
def lookup(key: str) -> str:
    \"\"\"The stock of an item.\"\"\"
    if os.environ.get("BROKEN") == "1":
        raise ToolError("inventory backend unavailable")
    return f"{key}: 42 in stock"


app.run()
"""
SUITE = {"name": "smoke", "timeoutSeconds": 120, "builtin": {"requiredTools": ["lookup"]}}
ANALYSIS = {"maxErrorRate": 0.2, "minCalls": 5, "intervalSeconds": 2}
ROLLOUT = {
    "scaleDownDelaySeconds": 5,
    "drainSeconds": 0,
    "progressDeadlineSeconds": 240,
    "verifySeconds": 60,
    "analysis": ANALYSIS,
}


def inventory(name: str, env: dict[str, str]) -> dict[str, Any]:
    return mcpserver(
        name,
        image=image("mcp-python"),
        transport="stdio",
        command=["python3", "-c", SERVER],
        env=[{"name": k, "value": v} for k, v in env.items()],
        tests=[SUITE],
        rollout=ROLLOUT,
    )


def lookup(url: str) -> bool | None:
    """One call on a fresh session: True when the tool answered, False when it failed,
    None when the call did not get through (kube-proxy still moving to new endpoints)."""

    async def go() -> bool:
        async with Client(url) as client:
            result = await client.call_tool("lookup", {"key": "apples"})
            return not result.is_error

    try:
        return anyio.run(go)
    except Exception:  # a connection refused or reset mid-switch: try again
        return None


def drive_until(url: str, done: Any, what: str, timeout: float = 180) -> dict[str, Any]:
    """Call the tool once per look until `done()` gives a status (a deadline, never a
    fixed number of calls: how many reach the new revision depends on kube-proxy)."""
    return wait_until(lambda: (lookup(url), done())[1], timeout=timeout, interval=0.5, what=what)


def events(cluster: Cluster, ns: str, reason: str) -> str:
    return cluster.kubectl(
        "get", "events", "-n", ns, "--field-selector", f"reason={reason}", "-o", "json"
    ).stdout


def patch_env(cluster: Cluster, name: str, ns: str, env: dict[str, str]) -> None:
    spec = {"env": [{"name": k, "value": v} for k, v in env.items()]}
    cluster.kubectl(
        "patch", "mcpserver", name, "-n", ns, "--type=merge", "-p", json.dumps({"spec": spec})
    )


def switched_from(cluster: Cluster, name: str, ns: str, blue: str) -> str:
    """Wait for the switch to the spec's next revision; its name."""
    st = wait_until(
        lambda: (
            (s := status(cluster, name, ns)).get("activeRevision") not in (None, blue)
            and (s.get("rollout") or {}).get("analysisResult") == "Running"
            and s
        ),
        timeout=300,
        what="the switch to the new revision, under analysis",
    )
    return str(st["activeRevision"])


def test_a_revision_whose_tool_fails_after_the_switch_is_rolled_back_and_a_healthy_one_passes(
    cluster: Cluster, installed: Installed, namespace: str
) -> None:
    name = "inventory"
    cluster.apply(inventory(name, {"BROKEN": "0"}), namespace)
    blue = wait_ready(cluster, name, namespace)["activeRevision"]
    url = stable_url(cluster, name, namespace)
    assert lookup(url) is True

    # Green lists its tool (the suite passes) but every call fails.
    patch_env(cluster, name, namespace, {"BROKEN": "1"})
    green = switched_from(cluster, name, namespace, blue)
    rolled = drive_until(
        url,
        lambda: (s := status(cluster, name, namespace)).get("failedRevision") == green and s,
        "the analysis to return traffic from the failing revision",
    )
    assert rolled["activeRevision"] == blue, rolled
    record = rolled["rollout"]
    assert record["analysisResult"] == "Failed", record
    assert "tool lookup" in record["analysisMessage"], record
    assert "calls failed" in record["analysisMessage"] and "> 20.0%" in record["analysisMessage"]
    assert cond(rolled, "RolledBack")["reason"] == "AnalysisFailed", rolled["conditions"]
    passed = cond(rolled, "AnalysisPassed")
    assert passed["status"] == "False" and passed["reason"] == "ThresholdBreached", passed
    assert "tool lookup" in events(cluster, namespace, "AnalysisFailed")
    assert "rollout.analysis" in events(cluster, namespace, "RolledBack")
    # The stable Service is blue's again: calls succeed once kube-proxy has moved.
    wait_until(lambda: lookup(url) is True, timeout=60, what="a call served by blue again")

    # A healthy revision: the same traffic, counted over the whole window, passes.
    patch_env(cluster, name, namespace, {"BROKEN": "0", "RELEASE": "3"})
    healthy = switched_from(cluster, name, namespace, blue)
    assert healthy != green
    done = drive_until(
        url,
        lambda: (
            (s := status(cluster, name, namespace)).get("rollout", {}).get("analysisResult")
            not in (None, "Running")
            and s
        ),
        "the analysis of the healthy revision to end",
    )
    assert done["rollout"]["analysisResult"] == "Passed", done["rollout"]
    assert done["activeRevision"] == healthy and "failedRevision" not in done, done
    assert "lookup 0/" in done["rollout"]["analysisMessage"], done["rollout"]
    assert cond(done, "AnalysisPassed")["status"] == "True", done["conditions"]
    assert "within the thresholds" in events(cluster, namespace, "AnalysisPassed")
    text = scrape(cluster, installed)
    assert metric(text, 'mcpops_rollout_analysis_total{result="failed"}') >= 1
    assert metric(text, 'mcpops_rollout_analysis_total{result="passed"}') >= 1
    assert metric(text, 'mcpops_rollout_analysis_reads_total{outcome="ok"}') >= 2
