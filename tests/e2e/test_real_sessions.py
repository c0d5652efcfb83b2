"""Sessions and liveness through the in-pod proxy, on the real node.

A Streamable HTTP session (server-everything from npm, 2025-11-25: it keeps sessions) is
opened through the stable Service and used on fresh connections, as a client behind a
gateway would (kube-proxy balances connections, so every request may land on any pod): it
survives a scale-out and a blue-green switch, served by the replica that owns it (the
others forward to it, proven by their metrics). A server that hangs (SIGSTOP) fails
/livez and is restarted by the kubelet.
"""

from __future__ import annotations

import json
import os
import re
import signal
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest
from clusterkit import Cluster, wait_until
from conftest import Installed
from e2ekit import image
from process.proxykit import answer, call, open_session
from test_real_mcpservers import FAST, mcpserver, pods_of, stable_url, status, wait_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def everything(name: str, **extra: Any) -> dict[str, Any]:
    return mcpserver(
        name,
        image=image("mcp-node"),
        command=["mcp-server-everything"],
        args=["streamableHttp"],
        env=[{"name": "PORT", "value": "3001"}],
        port=3001,
        **extra,
    )


def echo(url: str, session: str, text: str) -> None:
    msg = answer(call(url, session, "echo", {"message": text}))
    assert "result" in msg, msg
    assert text in json.dumps(msg["result"]), msg


def metric(pod: dict[str, Any], name: str, labels: str) -> float:
    """One proxy's counter, read from its /metrics on the pod IP."""
    url = f"http://{pod['status']['podIP']}:8090/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    series = f"{name}{{{labels}}}" if labels else name  # unlabelled: no braces at all
    pattern = re.compile(rf"^{re.escape(series)} (\S+)$", re.M)
    found = pattern.search(text)
    return float(found.group(1)) if found else 0.0


def forwarded(cluster: Cluster, name: str, ns: str, revision: str) -> float:
    return sum(
        metric(p, "mcpops_proxy_forwards_total", 'result="ok"')
        for p in pods_of(cluster, name, ns, revision)
    )


def stop_container(container_id: str) -> list[int]:
    """SIGSTOP every process of a container, found by its id in their cgroup paths."""
    stopped = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cgroup = (entry / "cgroup").read_text()
        except OSError:
            continue
        if container_id in cgroup:
            os.kill(int(entry.name), signal.SIGSTOP)
            stopped.append(int(entry.name))
    return stopped


def ready_endpoints(cluster: Cluster, service: str, ns: str) -> int:
    slices = cluster.list("endpointslices", ns, f"kubernetes.io/service-name={service}")
    return sum(
        1
        for s in slices
        for e in s.get("endpoints") or []
        if (e.get("conditions") or {}).get("ready")
    )


def patch(cluster: Cluster, name: str, ns: str, spec: dict[str, Any]) -> None:
    cluster.kubectl(
        "patch", "mcpserver", name, "-n", ns, "--type=merge", "-p", json.dumps({"spec": spec})
    )


def test_a_session_survives_scale_out_and_a_switch(
    cluster: Cluster, installed: Installed, namespace: str
) -> None:
    name = "sess"
    # After the switch blue drains: it stays up while the session is open (drainSeconds).
    rollout = {**FAST, "scaleDownDelaySeconds": 5, "drainSeconds": 600}
    cluster.apply(everything(name, rollout=rollout), namespace)
    blue = wait_ready(cluster, name, namespace)["activeRevision"]
    url = stable_url(cluster, name, namespace)
    session = open_session(url)
    assert session.startswith("m1."), session  # an id that names its owner
    echo(url, session, "one replica")

    patch(cluster, name, namespace, {"replicas": 2})
    wait_until(
        lambda: ready_endpoints(cluster, name, namespace) == 2,
        timeout=240,
        what="two ready replicas behind the Service",
    )
    calls = iter(range(1000))

    def reached_the_other_replica() -> bool:
        # Each call on a new connection: kube-proxy sends about half to the other replica
        # (once it has programmed the second endpoint), whose proxy forwards it.
        echo(url, session, f"scaled out {next(calls)}")
        return forwarded(cluster, name, namespace, blue) >= 1

    wait_until(reached_the_other_replica, timeout=60, what="a call forwarded to the owner")

    patch(cluster, name, namespace, {"env": [{"name": "PORT", "value": "3001"},
                                             {"name": "REVISION", "value": "2"}]})  # fmt: skip
    switched = wait_until(
        lambda: (
            (s := status(cluster, name, namespace)).get("activeRevision") not in (None, blue)
            and s.get("phase") == "Healthy"
            and s
        ),
        timeout=300,
        what="the switch to green",
    )
    green = switched["activeRevision"]
    # kube-proxy moves new connections to green asynchronously (seconds on a loaded machine):
    # once one request reached a green proxy, every later one does, and is forwarded to blue.
    wait_until(
        lambda: (
            echo(url, session, "after the switch")
            or forwarded(cluster, name, namespace, green) >= 1
        ),
        timeout=60,
        what="a request through green's proxy",
    )
    since = forwarded(cluster, name, namespace, green)
    for i in range(8):
        echo(url, session, f"after the switch {i}")
    assert forwarded(cluster, name, namespace, green) >= since + 8
    # New sessions are green's own.
    fresh = open_session(url)
    echo(url, fresh, "a new session")
    owned = sum(
        metric(p, "mcpops_proxy_sessions_opened_total", "")
        for p in pods_of(cluster, name, namespace, green)
    )
    assert owned >= 1

    # Blue drains: kept for its one open session past the scale-down delay, and says so.
    draining = wait_until(
        lambda: (s := status(cluster, name, namespace)).get("draining") and s,
        timeout=60,
        what="status.draining",
    )["draining"]
    assert draining["revision"] == blue and draining["openSessions"] == 1, draining
    echo(url, session, "while draining")
    blue_dep = cluster.get("deployment", f"{name}-{blue}", namespace) or {}
    assert blue_dep["spec"]["replicas"] == 2
    # The client ends its session: blue is scaled down, and an Event says why.
    ended = httpx.delete(url, headers={"Mcp-Session-Id": session}, timeout=30)
    assert ended.status_code in (200, 202, 204), ended.text
    wait_until(
        lambda: (
            (cluster.get("deployment", f"{name}-{blue}", namespace) or {})["spec"].get("replicas")
            == 0
        ),
        timeout=60,
        what="blue scaled down once its session ended",
    )
    # The status write and the Event follow the scale-down (children are applied first).
    wait_until(
        lambda: "draining" not in status(cluster, name, namespace),
        timeout=30,
        what="status.draining cleared",
    )
    assert cluster.wait_events(
        namespace, name, reason="DrainFinished", containing="its open sessions ended"
    )
    # A session whose owner is gone gets the protocol's answer: 404, start over.
    wait_until(
        lambda: not pods_of(cluster, name, namespace, blue), timeout=120, what="blue pods gone"
    )
    gone = call(url, session, "echo", {"message": "x"})
    assert gone.status_code == 404, (gone.status_code, gone.text)


def test_liveness_restarts_a_hung_server(
    cluster: Cluster, installed: Installed, namespace: str
) -> None:
    name = "hang"
    # A hung server never answers, however long the timeout: 3 s keeps a slow answer on a
    # loaded machine from restarting the server before the test hangs it.
    live = {"periodSeconds": 2, "timeoutSeconds": 3, "failureThreshold": 2}
    cluster.apply(everything(name, liveness=live), namespace)
    st = wait_ready(cluster, name, namespace)
    [pod] = pods_of(cluster, name, namespace, st["activeRevision"])
    restarts = {c["name"]: c["restartCount"] for c in pod["status"]["containerStatuses"]}
    assert restarts == {"server": 0, "mcp-proxy": 0}, restarts
    # From the node (this machine): inside its container the server may be PID 1, which
    # ignores SIGSTOP sent from its own PID namespace.
    (server,) = [c for c in pod["status"]["containerStatuses"] if c["name"] == "server"]
    stopped = stop_container(server["containerID"].split("://", 1)[1])
    assert stopped, "no process of the server container found on the node"

    def restarted() -> dict[str, Any] | None:
        p = cluster.get("pod", pod["metadata"]["name"], namespace) or {}
        counts = {c["name"]: c for c in (p.get("status") or {}).get("containerStatuses") or []}
        server = counts.get("server") or {}
        return p if server.get("restartCount", 0) >= 1 and server.get("ready") else None

    after = wait_until(restarted, timeout=120, what="the hung server restarted and ready")
    counts = {c["name"]: c["restartCount"] for c in after["status"]["containerStatuses"]}
    assert counts["mcp-proxy"] == 0, counts  # only what hung was restarted
    events = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector",
        f"involvedObject.name={pod['metadata']['name']},reason=Unhealthy", "-o", "json",
    ).stdout  # fmt: skip
    assert "Liveness probe failed" in events, events
    wait_ready(cluster, name, namespace)
    session = open_session(stable_url(cluster, name, namespace))
    echo(stable_url(cluster, name, namespace), session, "alive again")
