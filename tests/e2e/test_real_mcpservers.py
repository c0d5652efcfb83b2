"""MCP servers from PyPI and npm running for real, and blue-green rollouts that move real traffic.

The operator is the chart's pod (fixture `installed`); the MCP client is the `mcp` SDK in this
test process, connecting to the Services' ClusterIPs (routed on this machine by kube-proxy).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from typing import Any

import anyio
import pytest
from clusterkit import Cluster, wait_until
from conftest import Installed
from e2ekit import NODE_NAME, image
from mcp import Client

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

TIME_SUITE = {
    "name": "smoke",
    "timeoutSeconds": 120,
    "builtin": {
        "requiredTools": ["get_current_time"],
        "toolCalls": [
            {
                "tool": "get_current_time",
                "arguments": {"timezone": "UTC"},
                "expect": {"contains": "UTC"},
            }
        ],
    },
}
FAST = {"scaleDownDelaySeconds": 5, "verifySeconds": 5, "progressDeadlineSeconds": 240}


def mcpserver(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": name},
        "spec": spec,
    }


def time_server(name: str, **extra: Any) -> dict[str, Any]:
    return mcpserver(
        name,
        image=image("mcp-python"),
        transport="stdio",
        command=["mcp-server-time"],
        env=[{"name": "LOCAL_TIMEZONE", "value": "UTC"}],
        **extra,
    )


def status(cluster: Cluster, name: str, ns: str) -> dict[str, Any]:
    obj = cluster.get("mcpserver", name, ns) or {}
    st: dict[str, Any] = obj.get("status") or {}
    st["_generation"] = obj.get("metadata", {}).get("generation")
    return st


def cond(st: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in st.get("conditions") or [] if c["type"] == kind), {})


def wait_ready(cluster: Cluster, name: str, ns: str, timeout: float = 240) -> dict[str, Any]:
    return wait_until(
        lambda: (
            (s := status(cluster, name, ns)).get("observedGeneration") == s["_generation"]
            and cond(s, "Ready").get("status") == "True"
            and s
        ),
        timeout=timeout,
        what=f"MCPServer {ns}/{name} Ready",
    )


def stable_url(cluster: Cluster, name: str, ns: str, path: str = "/mcp") -> str:
    """The stable Service's URL, once this machine routes it. Ready means the Service selects
    ready pods; kube-proxy programs that asynchronously (about a second here), so a first
    connection right after Ready may still be refused. (A switch between revisions is not
    affected: the previous pods keep serving until the scale-down delay.)"""
    svc = cluster.get("service", name, ns)
    assert svc is not None
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]

    def connects() -> bool:
        with socket.create_connection((ip, port), timeout=2):
            return True

    wait_until(connects, timeout=30, what=f"Service {ns}/{name} routed by kube-proxy")
    return f"http://{ip}:{port}{path}"


def stable_revision(cluster: Cluster, name: str, ns: str) -> str | None:
    svc = cluster.get("service", name, ns) or {}
    return (svc.get("spec") or {}).get("selector", {}).get("mcpops.dev/revision")


def pods_of(cluster: Cluster, name: str, ns: str, revision: str) -> list[dict[str, Any]]:
    """The serving pods of a revision (its test Jobs' pods carry the same labels)."""
    selector = f"mcpops.dev/server={name},mcpops.dev/revision={revision},!job-name"
    return cluster.list("pods", ns, selector)


def call(url: str, tool: str, arguments: dict[str, Any]) -> tuple[list[str], str]:
    """One MCP session on a fresh connection: (tool names, text of the call's result)."""

    async def go() -> tuple[list[str], str]:
        async with Client(url) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, result
            return tools, "\n".join(getattr(c, "text", "") for c in result.content)

    return anyio.run(go)


def ready_time(obj: dict[str, Any]) -> str:
    conds = (obj.get("status") or {}).get("conditions") or []
    return next(c["lastTransitionTime"] for c in conds if c["type"] == "Ready")


def http_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        data: dict[str, Any] = json.loads(resp.read())
        return data


def wait_protocol(cluster: Cluster, name: str, ns: str) -> dict[str, Any]:
    """Until status.protocolVersion is set (the operator asks a ready pod's proxy)."""
    return wait_until(
        lambda: (s := status(cluster, name, ns)).get("protocolVersion") and s,
        timeout=60,
        what=f"MCPServer {ns}/{name} status.protocolVersion",
    )


def test_stdio_server_from_pypi_through_the_proxy(
    cluster: Cluster, installed: Installed, namespace: str
) -> None:
    cluster.apply(time_server("time"), namespace)
    st = wait_ready(cluster, "time", namespace)
    [pod] = pods_of(cluster, "time", namespace, st["activeRevision"])
    assert pod["spec"]["nodeName"] == NODE_NAME
    # The init container really installed the proxy from its image, and the server
    # container runs it with the server as its child.
    [init] = pod["status"]["initContainerStatuses"]
    assert init["name"] == "install-proxy" and init["state"]["terminated"]["exitCode"] == 0
    assert init["image"].endswith(image("mcpops-proxy").split("/", 1)[1])
    server = next(c for c in pod["spec"]["containers"] if c["name"] == "server")
    assert server["command"][0] == "/mcpops/bin/mcpops-proxy"
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert server["livenessProbe"]["httpGet"]["path"] == "/livez"
    # The kubelet's readiness check is an MCP exchange through the child; the proxy
    # classified the server's protocol, and the MCPServer's status says which.
    port = server["ports"][0]["containerPort"]
    info = http_json(f"http://{pod['status']['podIP']}:{port}/mcpops/info")
    assert info["ready"] is True and info["transport"] == "stdio", info
    assert info["revision"] == st["activeRevision"], info  # from the downward API
    assert wait_protocol(cluster, "time", namespace)["protocolVersion"] == info["protocolVersion"]
    assert ready_time(pod) <= cond(st, "Ready")["lastTransitionTime"]
    got = cluster.kubectl("get", "mosrv", "time", "-n", namespace).stdout
    assert "PROTOCOL" in got and info["protocolVersion"] in got, got

    tools, text = call(
        stable_url(cluster, "time", namespace), "get_current_time", {"timezone": "Europe/Paris"}
    )
    assert {"get_current_time", "convert_time"} <= set(tools)
    assert json.loads(text)["timezone"] == "Europe/Paris"


def test_http_server_from_npm_behind_the_proxy(
    cluster: Cluster, installed: Installed, namespace: str
) -> None:
    cluster.apply(
        mcpserver(
            "everything",
            image=image("mcp-node"),
            command=["mcp-server-everything"],
            args=["streamableHttp"],
            env=[{"name": "PORT", "value": "3001"}],
            port=3001,
            path="/mcp",
        ),
        namespace,
    )
    st = wait_ready(cluster, "everything", namespace)
    [pod] = pods_of(cluster, "everything", namespace, st["activeRevision"])
    statuses = {c["name"]: c for c in pod["status"]["containerStatuses"]}
    assert statuses["mcp-proxy"]["ready"] and statuses["server"]["ready"], statuses
    sidecar = next(c for c in pod["spec"]["containers"] if c["name"] == "mcp-proxy")
    assert sidecar["readinessProbe"]["httpGet"]["path"] == "/readyz"
    with urllib.request.urlopen(f"http://{pod['status']['podIP']}:8090/readyz", timeout=10) as r:
        assert r.status == 200
    info = http_json(f"http://{pod['status']['podIP']}:8090/mcpops/info")
    assert info["transport"] == "http" and info["sessionMode"] == "sticky", info
    assert (
        wait_protocol(cluster, "everything", namespace)["protocolVersion"]
        == (info["protocolVersion"])
    )
    assert ready_time(pod) <= cond(st, "Ready")["lastTransitionTime"]
    # The Service reaches the server only through the proxy (its port "mcp").
    svc = cluster.get("service", "everything", namespace) or {}
    assert svc["spec"]["ports"][0]["targetPort"] == "mcp"

    tools, text = call(
        stable_url(cluster, "everything", namespace), "echo", {"message": "hello from e2e"}
    )
    assert "echo" in tools
    assert "hello from e2e" in text


class Caller:
    """Calls a tool through the stable Service once a second, each call a new MCP session on
    fresh connections.

    A session is several HTTP requests (initialize, tools/list, tools/call) that may use
    several connections; one that straddles the switch can meet the new revision, which does
    not know it, and get HTTP 404 "Session not found". The MCP specification says what a
    client does then: start a new session. The caller does that once and counts it
    (`restarted`); anything else, or a second failure, is a failed call. (With the in-pod
    proxy the new revision forwards such a request to the session's owner, so none is
    expected: test_real_sessions.py proves sessions across a switch.)"""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ok = 0
        self.restarted = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _once(self) -> None:
        _, text = call(self.url, "get_current_time", {"timezone": "UTC"})
        assert "UTC" in text

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                try:
                    self._once()
                except Exception as exc:
                    if "Session not found" not in repr(exc):
                        raise
                    self.restarted += 1
                    self._once()
                self.ok += 1
            except Exception as exc:  # every failed call is the finding
                self.failures.append(f"{time.strftime('%X')}: {exc!r}")
            self._stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))

    def __enter__(self) -> Caller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def _exec(cluster: Cluster, ns: str, pod: str, script: str) -> None:
    cluster.kubectl("exec", "-n", ns, pod, "-c", "server", "--", "python3", "-c", script)


# Makes the revision's MCP server unable to start from now on, and ends the running one:
# the proxy starts it again, the start fails, readiness fails.
BREAK = """
import os, signal
open('/tmp/broken', 'w').close()
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        cmd = open(f'/proc/{pid}/cmdline', 'rb').read()
    except OSError:
        continue
    if b'mcp-server-time' in cmd and b'mcpops-proxy' not in cmd:
        os.kill(int(pid), signal.SIGKILL)
"""


def test_blue_green_for_real(cluster: Cluster, installed: Installed, namespace: str) -> None:
    name = "bg"
    cluster.apply(time_server(name, rollout=FAST, tests=[TIME_SUITE]), namespace)
    first = wait_ready(cluster, name, namespace)
    assert cond(first, "TestsPassed")["status"] == "True"
    url = stable_url(cluster, name, namespace)

    with Caller(url) as caller:
        # A good update: the runner passes in a real Job, then the stable Service switches.
        patch = {"spec": {"env": [{"name": "LOCAL_TIMEZONE", "value": "UTC"},
                                  {"name": "REVISION", "value": "2"}]}}  # fmt: skip
        cluster.kubectl("patch", "mcpserver", name, "-n", namespace, "--type=merge",
                        "-p", json.dumps(patch))  # fmt: skip
        second = wait_until(
            lambda: (
                (s := status(cluster, name, namespace)).get("activeRevision")
                != first["activeRevision"]
                and s.get("phase") == "Healthy"
                and s
            ),
            timeout=300,
            what="the good update switched and Healthy",
        )
        new = second["activeRevision"]
        assert stable_revision(cluster, name, namespace) == new
        [job] = cluster.list("jobs", namespace, f"mcpops.dev/revision={new}")
        assert job["status"].get("succeeded") == 1, job["status"]
        result = next(t for t in second["tests"] if t["revision"] == new)
        assert result["result"] == "Passed" and result["failed"] == 0, result
        time.sleep(3)  # a few more calls on the new revision (the caller's cadence is 1 s)

        # A broken update: the wrong server (no get_current_time); its suite fails in the
        # Job, traffic never moves, and `kubectl describe` says why.
        wrong = {"image": image("mcp-node"), "command": ["mcp-server-everything", "stdio"]}
        cluster.kubectl(
            "patch", "mcpserver", name, "-n", namespace, "--type=merge",
            "-p", json.dumps({"spec": wrong}),
        )  # fmt: skip
        broken = wait_until(
            lambda: (s := status(cluster, name, namespace)).get("failedRevision") and s,
            timeout=300,
            what="the broken update refused",
        )
        assert broken["activeRevision"] == new
        assert stable_revision(cluster, name, namespace) == new
        failed_jobs = cluster.list(
            "jobs", namespace, f"mcpops.dev/revision={broken['failedRevision']}"
        )
        assert len(failed_jobs) == 1 and failed_jobs[0]["status"].get("failed"), failed_jobs
        described = cluster.kubectl("describe", "mcpserver", name, "-n", namespace).stdout
        assert "RolloutFailed" in described and "get_current_time" in described, described

    assert caller.ok >= 20, caller.ok
    assert not caller.failures, caller.failures
    assert caller.restarted == 0, "a session was lost at a switch"
    print(f"calls during the rollouts: {caller.ok} ok, {caller.restarted} restarted on a 404")

    # A revision that turns unready after the switch goes back by itself.
    fragile = ["sh", "-c", "test ! -e /tmp/broken && exec mcp-server-time"]
    spec = {"image": image("mcp-python"), "command": fragile,
            "rollout": {**FAST, "verifySeconds": 120}}  # fmt: skip
    cluster.kubectl("patch", "mcpserver", name, "-n", namespace, "--type=merge",
                    "-p", json.dumps({"spec": spec}))  # fmt: skip
    verifying = wait_until(
        lambda: (s := status(cluster, name, namespace)).get("phase") == "Verifying" and s,
        timeout=300,
        what="the third revision switched and verifying",
    )
    third = verifying["activeRevision"]
    assert third not in (new, first["activeRevision"])
    for pod in pods_of(cluster, name, namespace, third):
        _exec(cluster, namespace, pod["metadata"]["name"], BREAK)
    back = wait_until(
        lambda: (s := status(cluster, name, namespace)).get("activeRevision") == new and s,
        timeout=180,
        what="automatic return to the previous revision",
    )
    assert back["failedRevision"] == third
    assert cond(back, "RolledBack")["status"] == "True"
    assert stable_revision(cluster, name, namespace) == new
    # Serving again once kube-proxy has the previous revision's endpoints back (until it has,
    # a connection may still reach the broken revision's proxy, whose server cannot start).
    url = stable_url(cluster, name, namespace)

    def serves() -> bool:
        try:
            return "UTC" in call(url, "get_current_time", {"timezone": "UTC"})[1]
        except Exception:
            return False

    wait_until(serves, timeout=60, what="the previous revision serving again")
