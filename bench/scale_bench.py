#!/usr/bin/env python3
"""Fleet-scale benchmark of the operator on the local control plane.

Usage::

    python bench/scale_bench.py [--sizes 100,300,1000] [--steady-seconds 600]
                                [--rollout-size 1000] [--nodes 4] [--out bench/results]

For each size, on a fresh operator process (so that its peak RSS and CPU belong
to that size alone) and fresh namespaces of at most ``--per-namespace`` servers each
(1,000 by default: kube-controller-manager's endpoint, ReplicaSet and Deployment
controllers match every pod or Service event against all Services, ReplicaSets or
Deployments of its namespace, so one namespace of 10,000 measures that quadratic,
not the operator; a fleet that size is many teams' namespaces anyway):

* **create**: N MCPServers (no tests: the first revision switches once
  available) are created at once, 32 requests in flight; a watch records when
  each first reports Ready=True for its generation. Reported: per-object
  time-to-Ready p50/p95/max, total (first create to last Ready), API requests
  the operator made per MCPServer (its own ``mcpops_api_requests_total``, from
  after its startup lists to quiescence), peak RSS (VmHWM) and CPU seconds
  (utime+stime) of the operator process, from /proc.
* **steady** (largest size): nothing changes for ``--steady-seconds``; writes
  per minute (target 0), CPU seconds and RSS.
* **rollout** (``--rollout-size``): every MCPServer gets a new image and a test
  suite whose simulated Job passes (kwok Stage rules, as in the cluster tests);
  time until every one has switched traffic to its new revision.

Writes ``<out>/scale.json`` and ``<out>/scale.md``. The operator runs with its
defaults and logs at INFO, as deployed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import ssl
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "cluster"))
from clusterkit import OperatorProcess, install_crds, local_cluster  # noqa: E402  (shared with the tests)

from mcpops.api.testresult import CheckResult, SuiteResult, termination_message  # noqa: E402

API = "/apis/mcpops.dev/v1alpha1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
IN_FLIGHT = 32
PER_NAMESPACE = 1000


def log(msg: str) -> None:
    print(f"[scale] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- cluster access


def http_client(kubeconfig: str) -> httpx.AsyncClient:
    cfg = json.loads(Path(kubeconfig).read_text())
    cluster = cfg["clusters"][0]["cluster"]
    ctx = ssl.create_default_context(cafile=cluster["certificate-authority"])
    return httpx.AsyncClient(
        base_url=cluster["server"],
        headers={"Authorization": f"Bearer {cfg['users'][0]['user']['token']}"},
        verify=ctx,
        timeout=httpx.Timeout(60.0, read=None),
        limits=httpx.Limits(max_connections=IN_FLIGHT + 4),
    )


async def request(client: httpx.AsyncClient, method: str, path: str, **kw: Any) -> Any:
    """A request, retried on the API server's 429/5xx and dropped connections."""
    for attempt in range(20):
        try:
            resp = await client.request(method, path, **kw)
        except httpx.TransportError:
            await asyncio.sleep(0.2 * (attempt + 1))
            continue
        if resp.status_code in {429, 500, 503, 504}:
            await asyncio.sleep(0.2 * (attempt + 1))
            continue
        if resp.status_code >= 400 and not (method == "DELETE" and resp.status_code == 404):
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else {}
    raise RuntimeError(f"{method} {path}: gave up after retries")


async def make_namespace(client: httpx.AsyncClient, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    await request(client, "POST", "/api/v1/namespaces", json=body)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        resp = await client.get(f"/api/v1/namespaces/{name}/serviceaccounts/default")
        if resp.status_code == 200:
            return
        await asyncio.sleep(0.3)
    raise RuntimeError(f"no default ServiceAccount in {name}")


async def delete_namespace(client: httpx.AsyncClient, name: str, within: float) -> float:
    started = time.monotonic()
    await request(client, "DELETE", f"/api/v1/namespaces/{name}")
    while time.monotonic() - started < within:
        resp = await client.get(f"/api/v1/namespaces/{name}")
        if resp.status_code == 404:
            return time.monotonic() - started
        await asyncio.sleep(1.0)
    raise RuntimeError(f"namespace {name} still terminating after {within}s")


# ---------------------------------------------------------------- what we create


def mcpserver(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": name},
        "spec": {"image": "example.invalid/mcp:1"},
    }


def passing_suite() -> dict[str, Any]:
    """A built-in suite whose simulated pod exits 0 with a passing runner result."""
    result = SuiteResult(
        suite="smoke",
        outcome="Passed",
        passed=1,
        duration_seconds=0.1,
        checks=[CheckResult(name="connect", status="passed", duration_ms=2.0)],
    )
    return {
        "name": "smoke",
        "builtin": {"requiredTools": ["add"]},
        "timeoutSeconds": 60,
        "podAnnotations": {"sim.mcpops.dev/message": termination_message(result)},
    }


def names(n: int) -> list[str]:
    return [f"s{i:04d}" for i in range(n)]


def placement(prefix: str, n: int, per_namespace: int = PER_NAMESPACE) -> dict[str, str]:
    """Server name -> namespace: N servers in blocks of `per_namespace` (names are unique
    over the whole run, so every per-server record stays keyed by name)."""
    count = max(1, -(-n // per_namespace))
    spaces = [prefix] if count == 1 else [f"{prefix}-{i}" for i in range(count)]
    return {name: spaces[i // per_namespace] for i, name in enumerate(names(n))}


def namespaces_of(where: dict[str, str]) -> list[str]:
    return sorted(set(where.values()))


# ---------------------------------------------------------------- observation


def ready(obj: dict[str, Any]) -> bool:
    st = obj.get("status") or {}
    if st.get("observedGeneration") != obj["metadata"].get("generation"):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or []
    )


class Watcher:
    """One watch on each namespace's MCPServers; records when each first matches a marker."""

    def __init__(self, client: httpx.AsyncClient, *namespaces: str) -> None:
        self.client, self.namespaces = client, namespaces
        self.latest: dict[str, dict[str, Any]] = {}
        self.first: dict[str, dict[str, float]] = {}  # marker -> name -> time first seen
        self.markers: dict[str, Any] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def mark(self, marker: str, predicate: Any) -> None:
        self.first[marker] = {}
        self.markers[marker] = predicate
        for name, obj in self.latest.items():
            self._check(name, obj, time.monotonic())

    def _check(self, name: str, obj: dict[str, Any], now: float) -> None:
        for marker, predicate in self.markers.items():
            if name not in self.first[marker] and predicate(obj):
                self.first[marker][name] = now

    async def _run(self, namespace: str) -> None:
        path = f"{API}/namespaces/{namespace}/mcpservers"
        rv = (await request(self.client, "GET", path))["metadata"]["resourceVersion"]
        while True:
            params = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true"}
            try:
                async with self.client.stream("GET", path, params=params) as resp:
                    async for line in resp.aiter_lines():
                        if not line:
                            continue
                        ev = json.loads(line)
                        obj = ev["object"]
                        rv = obj["metadata"]["resourceVersion"]
                        if ev["type"] in {"ADDED", "MODIFIED"}:
                            name = obj["metadata"]["name"]
                            self.latest[name] = obj
                            self._check(name, obj, time.monotonic())
            except httpx.TransportError:
                await asyncio.sleep(0.5)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(ns)) for ns in self.namespaces]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait(self, marker: str, want: int, within: float) -> None:
        deadline = time.monotonic() + within
        while len(self.first[marker]) < want:
            if time.monotonic() > deadline:
                missing = want - len(self.first[marker])
                raise RuntimeError(f"{marker}: {missing} of {want} not there after {within}s")
            await asyncio.sleep(0.25)


class ProcStats:
    """CPU seconds and memory of one process, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def mem_mib(self) -> dict[str, float]:
        out = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in {"VmRSS", "VmHWM"}:
                out[key] = int(value.split()[0]) / 1024
        return out


def requests_total(
    op: OperatorProcess, metric: str = "mcpops_api_requests_total"
) -> dict[str, float]:
    """API requests so far by "VERB resource": mcpops' own counter, or `metric` of another
    controller counted the same way (bench/floor)."""
    out: dict[str, float] = {}
    for (name, labels), v in op.metrics().items():
        if name == metric:
            lab = dict(labels)
            key = f"{lab['verb']} {lab['resource']}"
            out[key] = out.get(key, 0.0) + v
    return out


def reconciles(op: OperatorProcess) -> tuple[float, float]:
    """(reconciles run, seconds spent in them) so far."""
    count = total = 0.0
    for (name, _labels), v in op.metrics().items():
        if name == "mcpops_reconcile_duration_seconds_count":
            count += v
        elif name == "mcpops_reconcile_duration_seconds_sum":
            total += v
    return count, total


def diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


async def quiesce(
    op: OperatorProcess,
    quiet: float = 5.0,
    within: float = 120.0,
    metric: str = "mcpops_api_requests_total",
) -> None:
    """Until the operator made no request for `quiet` seconds."""
    deadline = time.monotonic() + within
    last, since = sum(requests_total(op, metric).values()), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        now = sum(requests_total(op, metric).values())
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    log("operator did not go quiet (still requesting); measuring anyway")


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))]

    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(rank(0.95), 2),
        "max": round(ordered[-1], 2),
    }


async def create_all(client: httpx.AsyncClient, where: dict[str, str]) -> dict[str, float]:
    """Each server in its namespace (`placement`), IN_FLIGHT at a time: name -> when sent."""
    sem = asyncio.Semaphore(IN_FLIGHT)
    sent: dict[str, float] = {}

    async def one(name: str, namespace: str) -> None:
        async with sem:
            sent[name] = time.monotonic()
            path = f"{API}/namespaces/{namespace}/mcpservers"
            await request(client, "POST", path, json=mcpserver(name))

    await asyncio.gather(*(one(name, ns) for name, ns in where.items()))
    return sent


async def patch_all(client: httpx.AsyncClient, where: dict[str, str]) -> dict[str, float]:
    sem = asyncio.Semaphore(IN_FLIGHT)
    sent: dict[str, float] = {}
    patch = {"spec": {"image": "example.invalid/mcp:2", "tests": [passing_suite()]}}

    async def one(name: str, namespace: str) -> None:
        async with sem:
            sent[name] = time.monotonic()
            await request(
                client,
                "PATCH",
                f"{API}/namespaces/{namespace}/mcpservers/{name}",
                json=patch,
                headers={"Content-Type": "application/merge-patch+json"},
            )

    await asyncio.gather(*(one(name, ns) for name, ns in where.items()))
    return sent


# ---------------------------------------------------------------- the phases


async def run_size(
    client: httpx.AsyncClient,
    kubeconfig: str,
    n: int,
    *,
    steady_seconds: float,
    rollout: bool,
    log_dir: Path,
    per_namespace: int = PER_NAMESPACE,
    cleanup_wait: float | None = None,
) -> dict[str, Any]:
    where = placement(f"scale-{n}-{uuid.uuid4().hex[:6]}", n, per_namespace)
    spaces = namespaces_of(where)
    for namespace in spaces:
        await make_namespace(client, namespace)
    op = OperatorProcess(kubeconfig, log_dir / f"operator-{n}.log")
    op.start()
    assert op.proc is not None
    proc = ProcStats(op.proc.pid)
    result: dict[str, Any] = {"size": n, "namespaces": spaces}
    watcher = Watcher(client, *spaces)
    try:
        await quiesce(op, quiet=2.0, within=30)
        before = requests_total(op)
        rec0 = reconciles(op)
        cpu0 = proc.cpu()
        result["startup"] = {"cpu_seconds": round(cpu0, 2), **proc.mem_mib()}
        watcher.start()
        watcher.mark("ready", ready)
        log(f"{n}: creating")
        latencies: list[float] = []  # the API server's answer to a list of the kind
        sampler = asyncio.create_task(list_latency(client, spaces[0], latencies))
        t0 = time.monotonic()
        sent = await create_all(client, where)
        created = time.monotonic() - t0
        try:
            await watcher.wait("ready", n, within=max(300.0, n * 0.6))
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        t_ready = watcher.first["ready"]
        per_object = [t_ready[k] - sent[k] for k in sent]
        total = max(t_ready.values()) - t0
        log(f"{n}: all Ready in {total:.1f}s")
        await quiesce(op)
        spent = diff(requests_total(op), before)
        cpu1 = proc.cpu()
        rec1 = reconciles(op)
        result["create"] = {
            "reconciles_per_server": round((rec1[0] - rec0[0]) / n, 2),
            "reconcile_seconds_mean": round((rec1[1] - rec0[1]) / max(1.0, rec1[0] - rec0[0]), 3),
            "create_seconds": round(created, 2),
            "time_to_ready_seconds": percentiles(per_object),
            "total_seconds": round(total, 2),
            "api_requests": round(sum(spent.values()), 0),
            "api_requests_per_server": round(sum(spent.values()) / n, 2),
            "api_requests_by_kind": {k: v / n for k, v in sorted(spent.items())},
            "cpu_seconds": round(cpu1 - cpu0, 2),
            "cpu_seconds_per_server_ms": round((cpu1 - cpu0) / n * 1000, 2),
            "peak_rss_mib": round(proc.mem_mib()["VmHWM"], 1),
            "rss_mib": round(proc.mem_mib()["VmRSS"], 1),
            "list_p99_ms": p99(latencies),
            "list_samples": len(latencies),
        }
        log(f"{n}: {json.dumps(result['create'])}")
        if steady_seconds > 0:
            log(f"{n}: steady state for {steady_seconds:.0f}s")
            w0, c0, r0 = op.writes(), proc.cpu(), sum(requests_total(op).values())
            await asyncio.sleep(steady_seconds)  # the measurement window itself
            w1, c1, r1 = op.writes(), proc.cpu(), sum(requests_total(op).values())
            minutes = steady_seconds / 60
            result["steady"] = {
                "seconds": steady_seconds,
                "writes_per_minute": round((w1 - w0) / minutes, 2),
                "requests_per_minute": round((r1 - r0) / minutes, 2),
                "cpu_seconds": round(c1 - c0, 2),
                "cpu_percent": round((c1 - c0) / steady_seconds * 100, 2),
                **{k: round(v, 1) for k, v in proc.mem_mib().items()},
            }
            log(f"{n}: {json.dumps(result['steady'])}")
            op.stop()
            op = OperatorProcess(kubeconfig, log_dir / f"operator-{n}-restarted.log")
            op.start()
            proc = ProcStats(op.proc.pid)  # type: ignore[union-attr]
            result["restart"] = await restarted(op, "mcpops_api_requests_total", n)
            log(f"{n}: restart {json.dumps(result['restart'])}")
        if rollout:
            old = {
                k: (v.get("status") or {}).get("activeRevision") for k, v in watcher.latest.items()
            }

            def switched(obj: dict[str, Any]) -> bool:
                active = (obj.get("status") or {}).get("activeRevision")
                return active is not None and active != old.get(obj["metadata"]["name"])

            watcher.mark("switched", switched)
            before = requests_total(op)
            c0 = proc.cpu()
            log(f"{n}: mass rollout")
            t0 = time.monotonic()
            patched = await patch_all(client, where)
            await watcher.wait("switched", n, within=max(600.0, n * 1.2))
            t_sw = watcher.first["switched"]
            total = max(t_sw.values()) - t0
            log(f"{n}: all switched in {total:.1f}s")
            await quiesce(op)
            spent = diff(requests_total(op), before)
            result["rollout"] = {
                "patch_seconds": round(max(patched.values()) - t0, 2),
                "time_to_switch_seconds": percentiles([t_sw[k] - patched[k] for k in patched]),
                "total_seconds": round(total, 2),
                "api_requests_per_server": round(sum(spent.values()) / n, 2),
                "cpu_seconds": round(proc.cpu() - c0, 2),
                "peak_rss_mib": round(proc.mem_mib()["VmHWM"], 1),
            }
            log(f"{n}: {json.dumps(result['rollout'])}")
        result["errors"] = sum(
            v
            for (name, labels), v in op.metrics().items()
            if name == "mcpops_reconciles_total" and dict(labels).get("result") == "error"
        )
    finally:
        await watcher.stop()
        op.stop()
        log(f"{n}: deleting {len(spaces)} namespace(s)")
        # Deletion is always asked for; waited for before the next size (its objects would
        # slow it), not after the last (the run ends, or its cluster is stopped anyway).
        within = max(600.0, n * 0.2) if cleanup_wait is None else cleanup_wait
        gone = await asyncio.gather(
            *(delete_namespace(client, ns, within) for ns in spaces), return_exceptions=True
        )
        for failed in (g for g in gone if isinstance(g, BaseException)):
            log(str(failed))
        if not any(isinstance(g, BaseException) for g in gone):
            result["cleanup_seconds"] = round(max(g for g in gone if isinstance(g, float)), 1)
    return result


async def list_latency(client: httpx.AsyncClient, namespace: str, into: list[float]) -> None:
    """A GET list of the kind every second, its latency appended to `into`, until cancelled."""
    path = f"{API}/namespaces/{namespace}/mcpservers"
    while True:
        t0 = time.monotonic()
        try:
            await client.get(path, params={"limit": "500"})
            into.append(time.monotonic() - t0)
        except httpx.TransportError:
            pass
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))


def p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1)


WRITES = {"POST", "PUT", "PATCH", "DELETE"}


async def restarted(proc: OperatorProcess, metric: str, n: int) -> dict[str, Any]:
    """A fresh process over the N existing servers (as after an upgrade or a failover):
    what it writes before it is quiet. Only what differs should be written: nothing."""
    assert proc.proc is not None
    stats = ProcStats(proc.proc.pid)
    t0 = time.monotonic()
    # Quiet for 20 s: its lists are done and every server has been looked at (a look that
    # finds nothing to change makes no request at all).
    await quiesce(proc, quiet=20.0, within=max(300.0, n * 0.1), metric=metric)
    spent = requests_total(proc, metric)
    writes = {k: v for k, v in spent.items() if v and k.split()[0] in WRITES}
    return {
        "seconds_to_quiet": round(time.monotonic() - t0 - 20.0, 1),
        "writes": round(sum(writes.values())),
        "writes_by_kind": writes,
        "reads": round(sum(v for k, v in spent.items() if k.split()[0] not in WRITES)),
        "cpu_seconds": round(stats.cpu(), 2),
        "peak_rss_mib": round(stats.mem_mib()["VmHWM"], 1),
    }


def load_summary() -> dict[str, Any]:
    with open("/proc/loadavg") as f:
        one, five, fifteen = f.read().split()[:3]
    return {"1m": float(one), "5m": float(five), "15m": float(fifteen)}


def run_header(nodes: int) -> dict[str, Any]:
    """What a report says of its run: when, on what, how loaded; its sizes to come."""
    return {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "nodes": nodes,
        "load_before": load_summary(),
        "sizes": [],
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Scale benchmark",
        "",
        f"Run {report['started']} on {report['machine']['cpus']} CPUs "
        f"({report['machine']['python']}); load average before {report['load_before']}, "
        f"after {report['load_after']}. Local control plane (etcd, kube-apiserver, "
        f"controller-manager, scheduler, kwok with {report['nodes']} simulated nodes) on the "
        "same machine as the operator. MCPServers in namespaces of at most "
        f"{report.get('per_namespace', PER_NAMESPACE)} each.",
        "",
        "Goals (issue 21): 1,000 Ready in <= 60 s and <= 1.5x the floor's time "
        "(bench/results/floor.md), operator CPU <= 15 ms per MCPServer, <= 8 API requests "
        "per new MCPServer, 0 writes at rest; 10,000 all Ready with peak RSS <= 800 MiB, "
        "cost per MCPServer flat from 1,000 to 10,000, no write storm after a restart.",
        "",
        "## Create (all at once)",
        "",
        "| MCPServers | total to all Ready (s) | time-to-Ready p50 / p95 / max (s) | "
        "API requests per MCPServer | operator CPU (s) | CPU per MCPServer (ms) | "
        "peak RSS (MiB) | list p99 (ms) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["sizes"]:
        c = r.get("create")
        if not c:
            continue
        t = c["time_to_ready_seconds"]
        lines.append(
            f"| {r['size']} | {c['total_seconds']} | {t['p50']} / {t['p95']} / {t['max']} | "
            f"{c['api_requests_per_server']} | {c['cpu_seconds']} | "
            f"{c['cpu_seconds_per_server_ms']} | {c['peak_rss_mib']} | "
            f"{c.get('list_p99_ms', '-')} |"
        )
    lines += [
        "",
        "list p99: a GET of the first namespace's MCPServers (limit 500) every second while they "
        "are created, the API server's answer time (what `kubectl get` waits).",
    ]
    for r in report["sizes"]:
        s = r.get("steady")
        if s:
            lines += [
                "",
                f"## Steady state ({r['size']} MCPServers, {s['seconds']:.0f} s, nothing changing)",
                "",
                "| writes/min | requests/min | CPU (s) | CPU (%) | RSS (MiB) | peak RSS (MiB) |",
                "|---:|---:|---:|---:|---:|---:|",
                f"| {s['writes_per_minute']} | {s['requests_per_minute']} | {s['cpu_seconds']} | "
                f"{s['cpu_percent']} | {s.get('VmRSS')} | {s.get('VmHWM')} |",
            ]
        rs = r.get("restart")
        if rs:
            lines += [
                "",
                f"## Operator restart over {r['size']} existing MCPServers",
                "",
                "| writes | reads (lists, watches) | seconds until quiet | CPU (s) | "
                "peak RSS (MiB) |",
                "|---:|---:|---:|---:|---:|",
                f"| {rs['writes']} | {rs['reads']} | {rs['seconds_to_quiet']} | "
                f"{rs['cpu_seconds']} | {rs['peak_rss_mib']} |",
            ]
        ro = r.get("rollout")
        if ro:
            t = ro["time_to_switch_seconds"]
            lines += [
                "",
                f"## Mass rollout ({r['size']} MCPServers: new image, one passing test suite each)",
                "",
                "| total until all switched (s) | per object p50 / p95 / max (s) | "
                "API requests per MCPServer | operator CPU (s) | peak RSS (MiB) |",
                "|---:|---:|---:|---:|---:|",
                f"| {ro['total_seconds']} | {t['p50']} / {t['p95']} / {t['max']} | "
                f"{ro['api_requests_per_server']} | {ro['cpu_seconds']} | {ro['peak_rss_mib']} |",
            ]
    if report.get("notes"):
        lines += ["", "## Notes", "", *[f"- {n}" for n in report["notes"]]]
    return "\n".join(lines) + "\n"


async def main_async(args: argparse.Namespace, kubeconfig: str) -> dict[str, Any]:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    report = run_header(args.nodes)
    report["per_namespace"] = args.per_namespace
    log_dir = Path(args.log_dir)
    async with http_client(kubeconfig) as client:
        for n in sizes:
            largest = n == max(sizes)
            report["sizes"].append(
                await run_size(
                    client,
                    kubeconfig,
                    n,
                    steady_seconds=args.steady_seconds if largest else 0,
                    rollout=n == args.rollout_size,
                    log_dir=log_dir,
                    per_namespace=args.per_namespace,
                    cleanup_wait=60.0 if largest else None,
                )
            )
    report["load_after"] = load_summary()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--steady-seconds", type=float, default=600.0)
    parser.add_argument("--rollout-size", type=int, default=1000, help="0: no mass rollout")
    parser.add_argument("--nodes", type=int, default=int(os.environ.get("MCPOPS_NODES", "4")))
    parser.add_argument("--per-namespace", type=int, default=PER_NAMESPACE)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--log-dir", default="/tmp/mcpops-scale-bench")
    parser.add_argument("--note", action="append", default=[], help="a line for the report")
    args = parser.parse_args()
    # The project's control plane with `--nodes` simulated nodes, without `make demo`'s
    # operator (its requests would be counted as ours); stopped at the end if started here.
    with local_cluster(nodes=args.nodes) as cluster:
        install_crds(cluster)
        report = asyncio.run(main_async(args, cluster.kubeconfig))
    report["notes"] = args.note
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "scale.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
