"""spec.updates on the control plane, against real registries on loopback (Debian's
docker-registry, pypiserver, verdaccio): what the test publishes is found, pinned, rolled
out through the normal tested blue-green rollout, and refused when its rollout fails."""

from __future__ import annotations

from typing import Any

import pytest
from clusterkit import Cluster, OperatorProcess, wait_until
from registrykit import NpmRegistry, OciRegistry, PyPIIndex
from suitekit import suite
from test_mcpserver import deployments, mcpserver, patch_spec, status, wait_ready

FAST = {"scaleDownDelaySeconds": 2, "verifySeconds": 2, "progressDeadlineSeconds": 60}
CHECK = 10  # seconds between lookups (the API's minimum)


def updates_of(cluster: Cluster, name: str, ns: str) -> dict[str, Any]:
    return dict(status(cluster, name, ns).get("updates") or {})


def served_image(cluster: Cluster, name: str, ns: str) -> str:
    st = status(cluster, name, ns)
    dep = deployments(cluster, name, ns)[st["activeRevision"]]
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


def start_on(cluster: Cluster, oci: OciRegistry, ns: str, name: str, **spec: Any) -> str:
    """An MCPServer following <ns>/<name> from 1.0.0, once it serves that; the repository."""
    repo = f"{ns}/{name}"
    oci.push(repo, "1.0.0")
    updates = {"checkIntervalSeconds": CHECK}
    image = f"{oci.host}/{repo}:1.0.0"
    cluster.apply(mcpserver(name, image=image, rollout=FAST, updates=updates, **spec), ns)
    wait_current(cluster, name, ns, "1.0.0")
    return repo


def wait_current(cluster: Cluster, name: str, ns: str, version: str, timeout: float = 90) -> None:
    def promoted() -> bool:
        up = updates_of(cluster, name, ns)
        return up.get("current") == version and up.get("reason") in {"UpToDate", "Pinned"}

    wait_until(promoted, timeout=timeout, what=f"{name} serves {version}")


def test_a_new_tag_in_range_rolls_out_tested_and_one_outside_is_ignored(
    cluster: Cluster, operator: OperatorProcess, namespace: str, oci: OciRegistry
) -> None:
    repo = f"{namespace}/time"
    oci.push(repo, "1.4.0")
    oci.push(repo, "2.0.0")  # outside the range from the start
    spec = {
        "image": f"{oci.host}/{repo}:1.4.0",
        "rollout": FAST,
        "tests": [suite()],
        "updates": {"versions": ">=1.4 <2", "checkIntervalSeconds": CHECK},
    }
    cluster.apply(mcpserver("up", **spec), namespace)
    wait_current(cluster, "up", namespace, "1.4.0")
    first = wait_ready(cluster, "up", namespace)["activeRevision"]
    d15 = oci.push(repo, "1.5.0")
    oci.push(repo, "3.1.0")
    wait_current(cluster, "up", namespace, "1.5.0")
    st = wait_ready(cluster, "up", namespace)
    assert st["activeRevision"] != first
    assert served_image(cluster, "up", namespace) == f"{oci.host}/{repo}:1.5.0@{d15}"
    assert st["tests"][0]["revision"] == st["activeRevision"]  # the suite ran against it
    assert st["tests"][0]["result"] == "Passed"
    assert updates_of(cluster, "up", namespace)["latestSeen"] == "1.5.0"  # not 2.0.0 or 3.1.0
    # spec untouched: Argo CD sees no drift
    obj = cluster.get("mcpserver", "up", namespace) or {}
    assert obj["spec"]["image"] == f"{oci.host}/{repo}:1.4.0"
    # Events are posted after the status write seen above: wait for them.
    assert cluster.wait_events(namespace, "up", reason="UpdatePromoted", containing="1.5.0")
    for reason in ("UpdateFound", "UpdateStarted"):
        assert cluster.wait_events(namespace, "up", reason=reason)


def test_a_broken_version_is_refused_not_retried_and_a_newer_one_tried(
    cluster: Cluster, operator: OperatorProcess, namespace: str, oci: OciRegistry
) -> None:
    repo = start_on(cluster, oci, namespace, "brk")
    wait_ready(cluster, "brk", namespace)
    # From now on the suite fails (suites are not part of the revision): 1.1.0 is broken.
    patch_spec(cluster, "brk", namespace, {"tests": [suite(passed=False)]})
    oci.push(repo, "1.1.0")
    wait_until(
        lambda: "1.1.0" in (updates_of(cluster, "brk", namespace).get("refused") or []),
        timeout=120,
        what="1.1.0 refused",
    )
    st = status(cluster, "brk", namespace)
    assert updates_of(cluster, "brk", namespace)["current"] == "1.0.0"
    assert ":1.0.0@" in served_image(cluster, "brk", namespace)
    failed = st["failedRevision"]
    assert cluster.wait_events(namespace, "brk", reason="UpdateRefused")
    # Not retried: over three more check intervals, one Job for the failed revision only.
    wait_until(
        lambda: (
            (updates_of(cluster, "brk", namespace).get("lastCheck") or "")
            > (st["updates"].get("lastCheck") or "")
        ),
        timeout=3 * CHECK + 30,
        what="another lookup",
    )
    assert len(cluster.list("jobs", namespace, f"mcpops.dev/revision={failed}")) == 1
    assert updates_of(cluster, "brk", namespace)["reason"] == "Refused"
    # A newer version is tried (and, with a passing suite, promoted).
    patch_spec(cluster, "brk", namespace, {"tests": [suite()]})
    oci.push(repo, "1.2.0")
    wait_current(cluster, "brk", namespace, "1.2.0", timeout=120)
    assert ":1.2.0@" in served_image(cluster, "brk", namespace)


def test_hold_and_pin_back(
    cluster: Cluster, operator: OperatorProcess, namespace: str, oci: OciRegistry
) -> None:
    repo = start_on(cluster, oci, namespace, "hld")
    cluster.kubectl("annotate", "mcpserver", "hld", "-n", namespace, "mcpops.dev/hold-updates=true")
    oci.push(repo, "1.1.0")
    wait_until(
        lambda: (
            updates_of(cluster, "hld", namespace).get("reason") == "Held"
            and updates_of(cluster, "hld", namespace).get("latestSeen") == "1.1.0"
        ),
        timeout=60,
        what="1.1.0 seen and held",
    )
    assert ":1.0.0@" in served_image(cluster, "hld", namespace)
    cluster.kubectl("annotate", "mcpserver", "hld", "-n", namespace, "mcpops.dev/hold-updates-")
    wait_current(cluster, "hld", namespace, "1.1.0")
    cluster.kubectl("annotate", "mcpserver", "hld", "-n", namespace, "mcpops.dev/pin-version=1.0.0")
    wait_current(cluster, "hld", namespace, "1.0.0")
    assert updates_of(cluster, "hld", namespace)["reason"] == "Pinned"


def stdio(command: list[str], source: str, index: str) -> dict[str, Any]:
    return {
        "image": "example.invalid/runtime:1",
        "transport": "stdio",
        "command": command,
        "rollout": FAST,
        "updates": {"source": source, "registry": index, "checkIntervalSeconds": CHECK},
    }


def server_argv(cluster: Cluster, name: str, ns: str) -> list[str]:
    st = status(cluster, name, ns)
    dep = deployments(cluster, name, ns)[st["activeRevision"]]
    c = dep["spec"]["template"]["spec"]["containers"][0]
    return [*(c.get("command") or []), *(c.get("args") or [])]


@pytest.mark.parametrize(
    ("source", "launcher", "sep"), [("pypi", ["uvx"], "=="), ("npm", ["npx", "-y"], "@")]
)
def test_a_new_package_version_of_a_stdio_server_rolls_out(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    request: pytest.FixtureRequest,
    source: str,
    launcher: list[str],
    sep: str,
) -> None:
    index: PyPIIndex | NpmRegistry = request.getfixturevalue(source)
    pkg = f"mcp-{namespace}-time" if source == "pypi" else f"@{namespace}/server"
    index.publish(pkg, "1.0.0")
    cmd = [*launcher, f"{pkg}{sep}1.0.0"]
    cluster.apply(mcpserver("pkg", **stdio(cmd, source, index.url)), namespace)
    wait_current(cluster, "pkg", namespace, "1.0.0")
    index.publish(pkg, "1.1.0")
    wait_current(cluster, "pkg", namespace, "1.1.0")
    assert f"{pkg}{sep}1.1.0" in server_argv(cluster, "pkg", namespace)


def test_outside_the_maintenance_window_a_version_waits(
    cluster: Cluster, operator: OperatorProcess, namespace: str, oci: OciRegistry
) -> None:
    closed = {"schedule": "0 0 1 1 *", "durationMinutes": 1}  # New Year's midnight only
    repo = start_on(cluster, oci, namespace, "win")
    patch_spec(
        cluster, "win", namespace, {"updates": {"checkIntervalSeconds": CHECK, "window": closed}}
    )
    oci.push(repo, "1.1.0")
    wait_until(
        lambda: updates_of(cluster, "win", namespace).get("reason") == "OutsideWindow",
        timeout=60,
        what="1.1.0 waits for the window",
    )
    assert "window opens at" in updates_of(cluster, "win", namespace)["message"]
    assert ":1.0.0@" in served_image(cluster, "win", namespace)
    always = {"schedule": "* * * * *", "durationMinutes": 5}
    patch_spec(
        cluster, "win", namespace, {"updates": {"checkIntervalSeconds": CHECK, "window": always}}
    )
    wait_current(cluster, "win", namespace, "1.1.0")
