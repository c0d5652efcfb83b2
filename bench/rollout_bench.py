#!/usr/bin/env python3
"""Blue-green rollout overhead on the local control plane.

Usage::

    python bench/rollout_bench.py [--rollouts 20] [--test-seconds 2] [--out bench/results]

Brings up the local control plane (or reuses it), installs the CRDs, starts the
operator as a real process and creates one MCPServer with one test suite whose
simulated pod passes after ``--test-seconds``. Then, one after another, it
changes the image ``--rollouts`` times and for each rollout measures, polling
every 50 ms from this process:

- ``total``: spec change → the stable Service selects the new revision;
- ``job``: the test Job first seen → seen Complete (the time the test ran,
  including scheduling its pod, which is the test's own cost);
- ``overhead`` = total - job: what the operator adds (create the candidate, see
  it available, start the Job, see its result, switch).

The target (issue 4) is a p50 overhead ≤ 5 s. Writes ``<out>/rollout.json`` and
``<out>/rollout.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "cluster"))

from clusterkit import (  # noqa: E402
    Cluster,
    OperatorProcess,
    install_crds,
    local_cluster,
    make_namespace,
    wait_until,
)
from suitekit import suite  # noqa: E402

POLL = 0.05


def server(name: str, image: str, test_seconds: float) -> dict[str, Any]:
    return {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": name},
        "spec": {
            "image": image,
            "rollout": {"scaleDownDelaySeconds": 0, "verifySeconds": 0},
            "tests": [suite(timeout=60, delay=f"{test_seconds:g}s")],
        },
    }


class Poller:
    """Fast reads through the Python client (a kubectl process per poll would blur the
    timings by its own start-up)."""

    def __init__(self, kubeconfig: str) -> None:
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=kubeconfig)
        self.core = client.CoreV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.seen_jobs: set[str] = set()

    def selector(self, name: str, ns: str) -> str:
        svc = self.core.read_namespaced_service(name, ns)
        return str(svc.spec.selector["mcpops.dev/revision"])

    def new_jobs(self, name: str, ns: str) -> list[Any]:
        jobs = self.batch.list_namespaced_job(ns, label_selector=f"mcpops.dev/server={name}")
        return [j for j in jobs.items if j.metadata.name not in self.seen_jobs]


def one_rollout(cluster: Cluster, poll: Poller, ns: str, name: str, image: str) -> dict[str, float]:
    old = poll.selector(name, ns)
    poll.seen_jobs.update(j.metadata.name for j in poll.new_jobs(name, ns))  # earlier ones
    patch = json.dumps({"spec": {"image": image}})
    t0 = time.monotonic()
    cluster.kubectl("patch", "mcpserver", name, "-n", ns, "--type=merge", "-p", patch)
    seen_job: float | None = None
    job_done: float | None = None
    switched: float | None = None
    while switched is None:
        now = time.monotonic()
        if now - t0 > 120:
            raise RuntimeError(f"rollout of {name} to {image} did not switch in 120 s")
        if job_done is None:
            jobs = poll.new_jobs(name, ns)
            if jobs and seen_job is None:
                seen_job = now
            if any(
                c.type == "Complete" and c.status == "True"
                for j in jobs
                for c in (j.status.conditions or [])
            ):
                job_done = now
        if poll.selector(name, ns) != old:
            switched = time.monotonic()
            if job_done is None and seen_job is not None:
                # The Job completed and the switch happened within this one poll.
                job_done = switched
        else:
            time.sleep(POLL)
    if seen_job is None or job_done is None:
        raise RuntimeError("switched without a test Job seen passing")
    total = switched - t0
    job = job_done - seen_job
    return {
        "total": total,
        "job": job,
        "overhead": total - job,
        "to_job": seen_job - t0,
        "after_job": switched - job_done,
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollouts", type=int, default=20)
    parser.add_argument("--test-seconds", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    # The project's control plane, without `make demo`'s operator (two operators would
    # double every switch); stopped at the end if started here.
    with local_cluster() as cluster:
        install_crds(cluster)
        return bench(cluster, args)


def wait_healthy(cluster: Cluster, name: str, ns: str, timeout: float) -> None:
    wait_until(
        lambda: (
            (cluster.get("mcpserver", name, ns) or {}).get("status", {}).get("phase") == "Healthy"
        ),
        timeout=timeout,
        what=f"{name} Healthy",
    )


def bench(cluster: Cluster, args: argparse.Namespace) -> int:
    ns = make_namespace(cluster, "bench-rollout", restricted=False)
    log = Path(tempfile.mkdtemp(prefix="mcpops-bench-")) / "operator.log"
    operator = OperatorProcess(cluster.kubeconfig, log)
    operator.start()
    runs: list[dict[str, float]] = []
    poll = Poller(cluster.kubeconfig)
    try:
        name = "bench"
        cluster.apply(server(name, "example.invalid/mcp:0", args.test_seconds), ns)
        wait_healthy(cluster, name, ns, timeout=120)
        for i in range(1, args.rollouts + 1):
            run = one_rollout(cluster, poll, ns, name, f"example.invalid/mcp:{i}")
            runs.append(run)
            print(
                f"rollout {i:>3}: total {run['total']:.2f}s, test job {run['job']:.2f}s, "
                f"overhead {run['overhead']:.2f}s",
                flush=True,
            )
            wait_healthy(cluster, name, ns, timeout=60)  # the next change starts settled
    finally:
        operator.stop()
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)

    overhead = [r["overhead"] for r in runs]
    summary = {
        "rollouts": len(runs),
        "test_seconds": args.test_seconds,
        "overhead_p50": statistics.median(overhead),
        "overhead_p95": pct(overhead, 0.95),
        "overhead_max": max(overhead),
        "total_p50": statistics.median(r["total"] for r in runs),
        "job_p50": statistics.median(r["job"] for r in runs),
        "to_job_p50": statistics.median(r["to_job"] for r in runs),
        "after_job_p50": statistics.median(r["after_job"] for r in runs),
        "target_overhead_p50": 5.0,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rollout.json").write_text(json.dumps({"summary": summary, "runs": runs}, indent=2))
    md = [
        "# Rollout overhead (local control plane)",
        "",
        f"{len(runs)} sequential rollouts of one MCPServer with one test suite "
        f"(simulated pod passing after {args.test_seconds:g} s); {summary['machine']}.",
        "Overhead = spec change → stable Service switched, minus the test Job's own run.",
        "",
        "| measure | p50 | p95 | max |",
        "| --- | --- | --- | --- |",
        f"| overhead | {summary['overhead_p50']:.2f} s | {summary['overhead_p95']:.2f} s "
        f"| {summary['overhead_max']:.2f} s |",
        f"| spec change → test Job created | {summary['to_job_p50']:.2f} s | | |",
        f"| test Job run | {summary['job_p50']:.2f} s | | |",
        f"| test Job complete → switch | {summary['after_job_p50']:.2f} s | | |",
        f"| total | {summary['total_p50']:.2f} s | | |",
        "",
        f"Target: overhead p50 ≤ 5 s — {'met' if summary['overhead_p50'] <= 5 else 'MISSED'}.",
        "",
    ]
    (args.out / "rollout.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
