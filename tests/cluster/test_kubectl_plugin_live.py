"""`kubectl mcpops` as a real process against the control plane and the real operator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from clusterkit import Cluster, OperatorProcess, wait_until
from suitekit import suite
from test_bluegreen import FAST
from test_mcpserver import (
    cond,
    deployments,
    mcpserver,
    patch_spec,
    stable_revision,
    status,
    wait_ready,
)
from test_optimizationjob import optjob, wait_phase, write_results

from mcpops_common.results import SolveResult

BIN = Path(sys.executable).parent  # the venv's bin: kubectl-mcpops is installed there


def plugin(cluster: Cluster, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        [str(BIN / "kubectl-mcpops"), "--kubeconfig", cluster.kubeconfig, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if ok:
        assert res.returncode == 0, res.stdout + res.stderr
    return res


def annotations(cluster: Cluster, name: str, ns: str) -> dict[str, str]:
    obj = cluster.get("mcpserver", name, ns) or {}
    return dict(obj["metadata"].get("annotations") or {})


def phase_is(cluster: Cluster, name: str, ns: str, phase: str) -> dict[str, Any]:
    return wait_until(
        lambda: (s := status(cluster, name, ns)).get("phase") == phase and s,
        timeout=60,
        what=f"{name} in {phase}",
    )


def test_status_promote_abort_retry_tests(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    rollout = {**FAST, "autoPromote": False}
    cluster.apply(mcpserver("hand", rollout=rollout, tests=[suite()]), namespace)
    st = phase_is(cluster, "hand", namespace, "Promoting")
    first = st["candidateRevision"]

    out = plugin(cluster, "-n", namespace, "status").stdout
    row = next(line for line in out.splitlines() if line.startswith("hand "))
    assert row.split()[:2] == ["hand", "Promoting"] and first in row and "1/1 passed" in row
    assert "`kubectl mcpops promote hand`" in out.split("Needs attention")[1]

    # promote: the same annotation a person would set, then the operator switches.
    res = plugin(cluster, "-n", namespace, "promote", "hand")
    assert f'"mcpops.dev/promote":"{first}"' in res.stdout
    assert annotations(cluster, "hand", namespace)["mcpops.dev/promote"] == first
    wait_until(
        lambda: status(cluster, "hand", namespace).get("activeRevision") == first,
        timeout=60,
        what="promoted through the plugin",
    )
    assert stable_revision(cluster, "hand", namespace) == first

    # abort a second rollout waiting for promotion: traffic stays on the first revision.
    patch_spec(cluster, "hand", namespace, {"image": "example.invalid/mcp:2"})
    second = phase_is(cluster, "hand", namespace, "Promoting")["candidateRevision"]
    plugin(cluster, "-n", namespace, "abort", "hand")
    st = wait_until(
        lambda: (s := status(cluster, "hand", namespace)).get("failedRevision") == second and s,
        timeout=60,
        what="aborted through the plugin",
    )
    assert "aborted" in cond(st, "Degraded")["message"]
    assert stable_revision(cluster, "hand", namespace) == first
    # Nothing runs now: a second abort is refused, not sent.
    res = plugin(cluster, "-n", namespace, "abort", "hand", ok=False)
    assert res.returncode == 1 and "no rollout to abort" in res.stderr

    # retry: the failed revision is rolled out again (a new attempt) and waits for a person.
    attempt = st["rollout"]["attempt"]
    plugin(cluster, "-n", namespace, "retry", "hand")
    st = wait_until(
        lambda: (
            (s := status(cluster, "hand", namespace)).get("candidateRevision") == second
            and s["rollout"].get("attempt", 0) > attempt
            and s
        ),
        timeout=60,
        what="retried through the plugin",
    )
    assert not st.get("failedRevision")

    out = plugin(cluster, "-n", namespace, "tests", "hand").stdout
    assert out.splitlines()[0].split() == [
        "SUITE", "REVISION", "RESULT", "PASSED", "FAILED", "SKIPPED", "DURATION", "JOB"
    ]  # fmt: skip
    assert "smoke" in out and (first in out or second in out)


def test_rollback_to_an_earlier_revision_reuses_its_deployment(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(
        mcpserver("back", rollout=FAST, env=[{"name": "MODE", "value": "one"}]), namespace
    )
    first = wait_ready(cluster, "back", namespace)["activeRevision"]
    uid = deployments(cluster, "back", namespace)[first]["metadata"]["uid"]
    # Two fields change: the rollback must restore both, not just the image.
    patch_spec(
        cluster,
        "back",
        namespace,
        {"image": "example.invalid/mcp:2", "env": [{"name": "MODE", "value": "two"}]},
    )
    wait_until(
        lambda: wait_ready(cluster, "back", namespace)["activeRevision"] != first,
        timeout=60,
        what="second revision",
    )
    dry = plugin(cluster, "-n", namespace, "rollback", "back", "--to-revision", first, "--dry-run")
    assert "pod template" in dry.stdout and '"value":"one"' in dry.stdout
    assert (cluster.get("mcpserver", "back", namespace) or {})["spec"]["env"][0]["value"] == "two"

    out = plugin(cluster, "-n", namespace, "rollback", "back", "--to-revision", first).stdout
    assert f"reusing Deployment back-{first}" in out
    wait_until(
        lambda: wait_ready(cluster, "back", namespace)["activeRevision"] == first,
        timeout=60,
        what="back on the first revision",
    )
    assert deployments(cluster, "back", namespace)[first]["metadata"]["uid"] == uid
    spec = (cluster.get("mcpserver", "back", namespace) or {})["spec"]
    assert spec["image"] == "example.invalid/mcp:1" and spec["env"][0]["value"] == "one"

    res = plugin(
        cluster, "-n", namespace, "rollback", "back", "--to-revision", "0000000000", ok=False
    )
    assert res.returncode == 1 and "neither in status.revisions" in res.stderr


def test_result_of_an_optimizationjob(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(optjob("plan", podAnnotations={"sim.mcpops.dev/delay": "1s"}), namespace)
    write_results(
        cluster,
        namespace,
        "plan",
        SolveResult(
            status="OPTIMAL",
            solver="GLOP",
            objective=11.0,
            bound=11.0,
            message="optimal",
            values={"x": 3.0, "y": 1.0},
            duals={"cap": 2.0},
            reduced_costs={"x": 1.0, "y": 0.0},
        ),
    )
    wait_phase(cluster, "plan", namespace, "Succeeded")
    out = plugin(cluster, "-n", namespace, "result", "plan").stdout
    assert out.startswith("plan: Succeeded")
    assert "objective: 11" in out and "GLOP" in out
    rows = {
        line.split()[0]: line.split()[1:] for line in out.splitlines() if line[:2] in {"x ", "y "}
    }
    assert rows == {"x": ["3", "1"], "y": ["1", "0"]}
    assert "cap" in out
    doc = json.loads(plugin(cluster, "-n", namespace, "result", "plan", "-o", "json").stdout)
    assert doc["solution"]["values"] == {"x": 3.0, "y": 1.0}
    assert doc["status"]["solverStatus"] == "OPTIMAL"

    out = plugin(cluster, "status", "-A").stdout
    row = next(line for line in out.splitlines() if f"{namespace} " in line and " plan " in line)
    assert row.split()[:5] == [namespace, "plan", "Succeeded", "GLOP", "OPTIMAL"]


def test_kubectl_finds_the_plugin_on_path(cluster: Cluster, namespace: str) -> None:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    kubectl = cluster.kubectl_path
    listed = subprocess.run(
        [kubectl, "plugin", "list"], capture_output=True, text=True, env=env, check=False
    )
    assert str(BIN / "kubectl-mcpops") in listed.stdout, listed.stdout + listed.stderr
    # And kubectl runs it: `kubectl mcpops ...`.
    res = subprocess.run(
        [kubectl, "mcpops", "--kubeconfig", cluster.kubeconfig, "-n", namespace, "status"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("MCPServers\nnone")
