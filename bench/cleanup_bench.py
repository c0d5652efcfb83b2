#!/usr/bin/env python3
"""Benchmark of a CleanupPolicy run over 5,000 candidate objects on the local control plane.

Usage::

    python bench/cleanup_bench.py [--objects 5000] [--runs 3] [--out bench/results]

What it does: starts the worktree's control plane (hack/cluster.py; stopped again only if
this started it), applies the CRDs, creates N labelled ConfigMaps (about 1 KiB of data
each) in a fresh namespace with concurrent requests, starts the operator as a real
process (`python -m mcpops.cli run`), waits for it to be idle, then applies a DryRun
CleanupPolicy whose rule selects every one of them and triggers `--runs` runs
(the preview on creation, then mcpops.dev/run-now).

Measured per run:
- evaluate seconds: the operator's own `status.lastRun.durationSeconds` (list every page,
  reduce, select), and the wall time from the trigger to the status being visible;
- peak RSS growth: the operator's VmRSS (from /proc/<pid>/status, sampled every 10 ms)
  during the run minus its VmRSS just before the trigger.

Targets (issue 6): <= 10 s to evaluate, <= 50 MiB peak growth. Writes
`<out>/cleanup.json` and `<out>/cleanup.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from mcpops.machinery.client import Client, Credentials

REPO = Path(__file__).resolve().parent.parent
# The cluster tests' helpers: kubectl and the operator as a real process, one way everywhere.
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "cluster"))
from clusterkit import Cluster, OperatorProcess, install_crds, local_cluster  # noqa: E402

STATE = REPO / ".cluster"
TARGET_SECONDS = 10.0
TARGET_MIB = 50.0


CLUSTER = Cluster(str(STATE / "kubeconfig"), str(STATE / "bin" / "kubectl"), "local")


def kubectl(*args: str, input_: str | None = None) -> str:
    return CLUSTER.kubectl(*args, input_=input_, timeout=120).stdout


def credentials() -> Credentials:
    config = json.loads((STATE / "kubeconfig").read_text())
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    return Credentials(
        server=cluster["server"], token=user.get("token"), ca_path=cluster["certificate-authority"]
    )


async def create_configmaps(namespace: str, count: int, concurrency: int = 32) -> float:
    client = Client(credentials())
    sem = asyncio.Semaphore(concurrency)
    payload = "x" * 1000

    async def one(i: int) -> None:
        manifest = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"bench-{i:05d}",
                "namespace": namespace,
                "labels": {"bench.mcpops.dev/cleanup": "yes", "owner-team": f"t{i % 7}"},
            },
            "data": {"payload": payload},
        }
        async with sem:
            await client.create(manifest)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(one(i) for i in range(count)))
    finally:
        await client.close()
    return time.perf_counter() - started


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Sampler:
    """VmRSS of a process every 10 ms, in a thread, until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def policy_status(namespace: str) -> dict[str, Any]:
    obj = json.loads(kubectl("get", "cleanuppolicy", "bench", "-n", namespace, "-o", "json"))
    return dict(obj.get("status") or {})


def wait_run(namespace: str, done: Any, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = policy_status(namespace)
        if done(st):
            return st
        time.sleep(0.05)
    raise SystemExit(f"no run within {timeout} s: {policy_status(namespace)}")


def measure(pid: int, namespace: str, trigger: Any, done: Any) -> dict[str, Any]:
    time.sleep(2.0)  # let the process settle after the previous step
    before = rss_kib(pid)
    with Sampler(pid) as sampler:
        started = time.perf_counter()
        trigger()
        st = wait_run(namespace, done)
        wall = time.perf_counter() - started
    run = st["lastRun"]
    return {
        "evaluate_seconds": run["durationSeconds"],
        "wall_seconds": round(wall, 3),
        "matched": run["matched"],
        "candidates": run["candidates"],
        "rss_before_mib": round(before / 1024, 1),
        "rss_peak_mib": round(sampler.peak / 1024, 1),
        "rss_growth_mib": round(max(0, sampler.peak - before) / 1024, 1),
        "listed_in_status": len(st.get("candidates") or []),
    }


def write_results(out: Path, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "cleanup.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# CleanupPolicy benchmark",
        "",
        f"{result['objects']} candidate ConfigMaps (~1 KiB each) on the local control plane; "
        "one DryRun policy selecting all of them; the operator as a real process. "
        f"Generated by `make bench-cleanup` on {result['date']} ({result['machine']}).",
        "",
        "| run | trigger | matched | candidates | evaluate s | wall s | RSS before MiB "
        "| RSS peak MiB | growth MiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for i, r in enumerate(result["runs"], 1):
        lines.append(
            f"| {i} | {r['trigger']} | {r['matched']} | {r['candidates']} "
            f"| {r['evaluate_seconds']:.2f} | {r['wall_seconds']:.2f} | {r['rss_before_mib']} "
            f"| {r['rss_peak_mib']} | {r['rss_growth_mib']} |"
        )
    s = result["summary"]
    lines += [
        "",
        f"- Evaluate: max {s['evaluate_seconds_max']:.2f} s (target <= {TARGET_SECONDS:.0f} s): "
        f"{'met' if s['evaluate_ok'] else 'MISSED'}.",
        f"- Peak RSS growth: max {s['rss_growth_mib_max']} MiB (target <= {TARGET_MIB:.0f} MiB): "
        f"{'met' if s['rss_ok'] else 'MISSED'}.",
        f"- Creating the {result['objects']} ConfigMaps took {result['create_seconds']:.1f} s "
        "(32 concurrent requests).",
        "",
        "Evaluate is the operator's own `status.lastRun.durationSeconds` (list every page of "
        "500 with the label selector, reduce each page to slim records, select); wall adds the "
        "watch delivering the trigger and the status write becoming visible to kubectl.",
        "",
    ]
    (out / "cleanup.md").write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args()
    # The project's control plane, without `make demo`'s operator (whose runs would be
    # measured too); stopped at the end if started here.
    with local_cluster() as cluster:
        install_crds(cluster)
        return bench(args)


def bench(args: argparse.Namespace) -> int:
    namespace = f"bench-cleanup-{uuid.uuid4().hex[:6]}"
    operator: OperatorProcess | None = None
    try:
        kubectl("create", "namespace", namespace)
        print(f">> creating {args.objects} ConfigMaps in {namespace}", flush=True)
        create_seconds = asyncio.run(create_configmaps(namespace, args.objects))
        print(f">> created in {create_seconds:.1f} s; starting the operator", flush=True)
        log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"{namespace}-operator.log"
        operator = OperatorProcess(CLUSTER.kubeconfig, log_path)
        operator.start()
        assert operator.proc is not None
        pid = operator.proc.pid
        policy = {
            "apiVersion": "mcpops.dev/v1alpha1",
            "kind": "CleanupPolicy",
            "metadata": {"name": "bench", "namespace": namespace},
            "spec": {
                "schedule": "0 0 1 1 *",
                "mode": "DryRun",
                "circuitBreaker": {"maxCandidates": args.objects * 2},
                "rules": [
                    {
                        "name": "bench",
                        "resources": {
                            "apiVersion": "v1",
                            "kind": "ConfigMap",
                            "selector": {"matchLabels": {"bench.mcpops.dev/cleanup": "yes"}},
                        },
                        "keepNewest": 0,
                        "groupBy": "label:owner-team",
                    }
                ],
            },
        }
        runs = []
        print(">> run 1: the DryRun preview on creation", flush=True)
        first = measure(
            pid,
            namespace,
            lambda: kubectl("apply", "-f", "-", input_=json.dumps(policy)),
            lambda st: "lastRun" in st,
        )
        runs.append({"trigger": "spec", **first})
        print(f"   {first}", flush=True)
        for i in range(2, args.runs + 1):
            token = f"bench-{i}"
            print(f">> run {i}: mcpops.dev/run-now={token}", flush=True)
            r = measure(
                pid,
                namespace,
                lambda token=token: kubectl(
                    "annotate",
                    "cleanuppolicy",
                    "bench",
                    "-n",
                    namespace,
                    f"mcpops.dev/run-now={token}",
                    "--overwrite",
                ),
                lambda st, token=token: st.get("runNowToken") == token,
            )
            runs.append({"trigger": "run-now", **r})
            print(f"   {r}", flush=True)
        eval_max = max(r["evaluate_seconds"] for r in runs)
        rss_max = max(r["rss_growth_mib"] for r in runs)
        result = {
            "objects": args.objects,
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}",
            "create_seconds": round(create_seconds, 2),
            "runs": runs,
            "summary": {
                "evaluate_seconds_max": eval_max,
                "rss_growth_mib_max": rss_max,
                "evaluate_ok": eval_max <= TARGET_SECONDS,
                "rss_ok": rss_max <= TARGET_MIB,
                "targets": {"evaluate_seconds": TARGET_SECONDS, "rss_growth_mib": TARGET_MIB},
            },
        }
        write_results(Path(args.out), result)
        print(json.dumps(result["summary"], indent=2))
        return 0 if result["summary"]["evaluate_ok"] and result["summary"]["rss_ok"] else 1
    finally:
        if operator is not None:
            operator.stop()
        CLUSTER.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


if __name__ == "__main__":
    raise SystemExit(main())
