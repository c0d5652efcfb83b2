"""What MCPServer pods really use at rest, from the kubelet's summary API, against what the
operator requests for them. The table is printed and written to .cluster/logs/resources.md
(docs/operating.md carries the measured one)."""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import pytest
from clusterkit import REPO, Cluster, wait_until
from conftest import Installed
from e2ekit import NODE_NAME, image
from test_real_mcpservers import call, mcpserver, pods_of, stable_url, time_server, wait_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

MIB = 1024 * 1024
UNITS = {"Ki": 1024, "Mi": MIB, "Gi": 1024 * MIB}
SAMPLES = 8
# The server container of a stdio MCPServer runs the proxy and the server as its children
# (one for checks and stateless requests, one warm for the next session, one per session).
PER_PROCESS = """
import os
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        cmd = open(f'/proc/{pid}/cmdline', 'rb').read().split(b'\\0')
        rss = [l for l in open(f'/proc/{pid}/status') if l.startswith('VmRSS')]
    except OSError:
        continue
    if rss:
        print(rss[0].split()[1], b' '.join(cmd[:3]).decode(errors='replace'))
"""


def quantity_bytes(q: str) -> int:
    for suffix, factor in UNITS.items():
        if q.endswith(suffix):
            return int(float(q[: -len(suffix)]) * factor)
    return int(q)


def summary(cluster: Cluster) -> dict[str, Any]:
    out = cluster.kubectl("get", "--raw", f"/api/v1/nodes/{NODE_NAME}/proxy/stats/summary")
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def sample(cluster: Cluster, ns: str) -> dict[tuple[str, str], tuple[int, float]]:
    """(pod, container) -> (working set bytes, CPU in millicores) right now."""
    got = {}
    for pod in summary(cluster).get("pods", []):
        if pod["podRef"]["namespace"] != ns:
            continue
        for c in pod.get("containers", []):
            ws = (c.get("memory") or {}).get("workingSetBytes")
            cpu = (c.get("cpu") or {}).get("usageNanoCores")
            if ws is not None and cpu is not None:
                got[(pod["podRef"]["name"], c["name"])] = (int(ws), cpu / 1e6)
    return got


def test_requests_cover_what_mcpserver_pods_use_at_rest(
    cluster: Cluster, installed: Installed, namespace: str
) -> None:
    cluster.apply(time_server("time"), namespace)
    cluster.apply(
        mcpserver(
            "everything", image=image("mcp-node"), command=["mcp-server-everything"],
            args=["streamableHttp"], env=[{"name": "PORT", "value": "3001"}], port=3001,
        ),
        namespace,
    )  # fmt: skip
    pods: dict[str, dict[str, Any]] = {}
    for name in ("time", "everything"):
        st = wait_ready(cluster, name, namespace)
        # One real exchange first, so that the numbers include a server that has served.
        call(stable_url(cluster, name, namespace), *(
            ("get_current_time", {"timezone": "UTC"}) if name == "time"
            else ("echo", {"message": "x"})
        ))  # fmt: skip
        [pods[name]] = pods_of(cluster, name, namespace, st["activeRevision"])
    # The kubelet's stats come from cAdvisor's housekeeping; wait until it has them all.
    wanted = {
        (p["metadata"]["name"], c["name"]) for p in pods.values() for c in p["spec"]["containers"]
    }
    wait_until(lambda: wanted <= set(sample(cluster, namespace)), timeout=120,
               what="the kubelet's stats for every container")  # fmt: skip
    series: dict[tuple[str, str], list[tuple[int, float]]] = {k: [] for k in wanted}
    for _ in range(SAMPLES):  # at rest: readiness probes only, for about half a minute
        now = sample(cluster, namespace)
        for key in wanted:
            series[key].append(now[key])
        time.sleep(4)  # the summary's CPU figure is a rate over cAdvisor's interval

    rows = []
    short = []
    for server, pod in pods.items():
        for c in pod["spec"]["containers"]:
            values = series[(pod["metadata"]["name"], c["name"])]
            peak = max(v[0] for v in values)
            cpu = statistics.mean(v[1] for v in values)
            request = c["resources"]["requests"]
            req_mem = quantity_bytes(request["memory"])
            rows.append(
                f"| {server} | {c['name']} | {peak / MIB:.0f} MiB | {cpu:.1f}m "
                f"| {request['memory']} | {request['cpu']} |"
            )
            if req_mem < peak:
                short.append(
                    f"{server}/{c['name']}: requests {request['memory']}, uses {peak / MIB:.0f} MiB"
                )
    processes = cluster.kubectl(
        "exec", "-n", namespace, pods["time"]["metadata"]["name"], "-c", "server", "--",
        "python3", "-c", PER_PROCESS,
    ).stdout  # fmt: skip
    table = "\n".join(
        [
            "| MCPServer | container | memory (working set, peak) | CPU (mean) "
            "| requests.memory | requests.cpu |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            "Processes in the stdio server container (VmRSS KiB, command):",
            *(f"    {line}" for line in processes.splitlines() if line.strip()),
        ]
    )
    print(table)
    (REPO / ".cluster" / "logs").mkdir(parents=True, exist_ok=True)
    (REPO / ".cluster" / "logs" / "resources.md").write_text(table + "\n")
    assert not short, "requests below what is used at rest:\n" + "\n".join(short) + "\n" + table
