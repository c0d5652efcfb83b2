"""The README's walkthroughs, run as written against the operator on the control plane.

The `sh` blocks of "Your first MCPServer" and "Your first OptimizationJob" run in
order with bash, kubectl on PATH and a kubeconfig whose current namespace is the
test's; a `yaml` block introduced by "Save it as `<file>`" is that file. The only
thing the test adds is what a real solver pod would do (pods are simulated): it
solves the example's model with the real solver runtime and writes the result
ConfigMap. Every `yaml` block in the README (CleanupPolicy included, once its CRD
is served) is also checked by a server-side dry run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from clusterkit import REPO, Cluster, OperatorProcess
from test_optimizationjob import write_results

from mcpops.api.optimizationjob import OptimizationJobSpec
from mcpops_common.problem import from_model
from mcpops_solver.backends import SolveParams
from mcpops_solver.runtime import solve_problem

pytestmark = pytest.mark.cluster

README = REPO / "README.md"
WALKTHROUGHS = ("Your first MCPServer", "Your first OptimizationJob")
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)
SAVE_AS = re.compile(r"Save it as `([^`]+)`:\s*$")


def sections() -> dict[str, str]:
    parts = re.split(r"^## ", README.read_text(), flags=re.M)
    return {p.split("\n", 1)[0].strip(): p for p in parts[1:]}


def blocks(text: str) -> list[tuple[str, str, str]]:
    """(language, body, the paragraph just before, on one line) for each fenced block."""
    out = []
    for m in BLOCK.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n\n", 1)[-1].replace("\n", " ")
        out.append((m.group(1), m.group(2), before))
    return out


@pytest.fixture
def shell(cluster: Cluster, namespace: str, tmp_path: Path) -> dict[str, str]:
    """A newcomer's shell: kubectl on PATH, the test namespace current, the repo's files."""
    kubeconfig = tmp_path / "kubeconfig"
    shutil.copy(cluster.kubeconfig, kubeconfig)
    subprocess.run(
        [cluster.kubectl_path, "--kubeconfig", str(kubeconfig), "config", "set-context",
         "--current", f"--namespace={namespace}"],
        check=True, capture_output=True,
    )  # fmt: skip
    (tmp_path / "examples").symlink_to(REPO / "examples")
    bin_dir = str(Path(cluster.kubectl_path).parent)
    return {**os.environ, "KUBECONFIG": str(kubeconfig), "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def run(block: str, env: dict[str, str], cwd: Path) -> str:
    res = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert res.returncode == 0, f"README block failed:\n{block}\n--- stderr:\n{res.stderr}"
    return res.stdout


def solve_like_the_pod(cluster: Cluster, namespace: str, name: str) -> None:
    """What the (simulated) solver pod does: solve the model for real, write the result."""
    obj = cluster.get("optimizationjob", name, namespace)
    assert obj is not None
    spec = OptimizationJobSpec.model_validate(obj["spec"])
    assert spec.model is not None
    result = solve_problem(
        from_model(spec.model), spec.solver, SolveParams(time_limit=spec.time_limit_seconds)
    )
    write_results(cluster, namespace, name, result)


def test_walkthroughs_work_as_written(
    cluster: Cluster, operator: OperatorProcess, namespace: str, shell: dict[str, str]
) -> None:
    cwd = Path(shell["KUBECONFIG"]).parent
    found = sections()
    outputs: dict[str, list[str]] = {}
    for title in WALKTHROUGHS:
        assert title in found, f"README has no section {title!r}"
        ran = outputs.setdefault(title, [])
        for lang, body, before in blocks(found[title]):
            if lang == "yaml" and (m := SAVE_AS.search(before)):
                (cwd / m.group(1)).write_text(body)
            elif lang == "sh":
                ran.append(run(body, shell, cwd))
                for name in re.findall(r"kubectl apply -f (examples/optimizationjob\S*)", body):
                    doc = yaml.safe_load((REPO / name).read_text())
                    solve_like_the_pod(cluster, namespace, doc["metadata"]["name"])
        assert ran, f"no sh blocks ran in {title!r}"

    # What the prose around the commands promises.
    server = cluster.get("mcpserver", "time", namespace)
    assert server is not None
    st = server["status"]
    assert st["phase"] == "Healthy"
    assert server["spec"]["args"] == ["--local-timezone", "Europe/Paris"]
    history = {r["revision"]: r for r in st["revisions"]}
    assert len(history) == 2 and st["activeRevision"] in history
    assert [t["result"] for t in st["tests"]] == ["Passed"]
    mcp_out = outputs["Your first MCPServer"]
    assert "smoke: Passed" in mcp_out[1]
    assert mcp_out[2].splitlines()[-1] == st["activeRevision"]

    job = cluster.get("optimizationjob", "production-plan", namespace)
    assert job is not None
    solved = job["status"]
    assert (solved["solver"], solved["solverStatus"], solved["objective"]) == (
        "CLP",
        "OPTIMAL",
        1400.0,
    )
    opt_out = outputs["Your first OptimizationJob"]
    assert "CLP" in opt_out[1] and "OPTIMAL" in opt_out[1] and "1400" in opt_out[1]
    assert '"values"' in opt_out[1]


def served_kinds(cluster: Cluster) -> set[str]:
    out = cluster.kubectl("api-resources", "--api-group=mcpops.dev", "--no-headers").stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def readme_manifests() -> list[dict[str, Any]]:
    return [
        doc
        for lang, body, _ in blocks(README.read_text())
        if lang == "yaml"
        for doc in yaml.safe_load_all(body)
        if doc
    ]


def test_every_readme_manifest_is_accepted(crds: Cluster, namespace: str) -> None:
    served = served_kinds(crds)
    checked = []
    for doc in readme_manifests():
        if doc["kind"] not in served:
            continue  # e.g. CleanupPolicy before its CRD exists on this branch
        res = crds.kubectl(
            "apply", "--server-side", "--dry-run=server", "-n", namespace, "-f", "-",
            input_=yaml.safe_dump(doc), check=False,
        )  # fmt: skip
        assert res.returncode == 0, f"README's {doc['kind']} is refused: {res.stderr}"
        checked.append(doc["kind"])
    assert "MCPServer" in checked
