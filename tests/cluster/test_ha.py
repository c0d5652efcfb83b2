"""High availability: two operator replicas, one Lease, one actor at a time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clusterkit import Cluster, OperatorProcess, wait_until
from suitekit import suite
from test_bluegreen import FAST
from test_mcpserver import mcpserver, patch_spec, stable_revision, status, wait_ready

LEASE = "mcpops-leader"


def leader_gauge(replica: OperatorProcess) -> float:
    return replica.metrics().get(("mcpops_leader", frozenset()), -1.0)


def holder(cluster: Cluster, namespace: str) -> str:
    lease = cluster.get("lease.coordination.k8s.io", LEASE, namespace)
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


@pytest.fixture
def replicas(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> Iterator[dict[str, OperatorProcess]]:
    """Two elected replicas in place of the session's operator, for this test only."""
    operator.stop()
    procs = {
        name: OperatorProcess(
            cluster.kubeconfig,
            tmp_path / f"{name}.log",
            env={
                "MCPOPS_LEADER_ELECT": "true",
                "MCPOPS_LEASE_NAMESPACE": namespace,
                "MCPOPS_LEASE_NAME": LEASE,
                "MCPOPS_POD_NAME": name,
            },
        )
        for name in ("replica-a", "replica-b")
    }
    try:
        for proc in procs.values():
            proc.start()  # a standby is ready too: it watches and waits
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()
        operator.start()


def test_standby_takes_over_without_repeating_actions(
    cluster: Cluster, replicas: dict[str, OperatorProcess], namespace: str
) -> None:
    first_leader = wait_until(lambda: holder(cluster, namespace), timeout=30, what="a leader")
    standby = next(name for name in replicas if name != first_leader)
    wait_until(lambda: leader_gauge(replicas[first_leader]) == 1.0, timeout=10, what="leader gauge")
    assert leader_gauge(replicas[standby]) == 0.0

    # The standby watches but never acts: everything below is the leader's doing.
    rollout = {**FAST, "scaleDownDelaySeconds": 10, "verifySeconds": 10}
    cluster.apply(mcpserver("ha", rollout=rollout, tests=[suite(delay="15s")]), namespace)
    first = wait_ready(cluster, "ha", namespace, timeout=90)["activeRevision"]
    patch_spec(cluster, "ha", namespace, {"image": "example.invalid/mcp:2"})
    wait_until(
        lambda: (
            status(cluster, "ha", namespace).get("phase") == "Testing"
            and cluster.list("jobs", namespace, "mcpops.dev/server=ha")
        ),
        timeout=60,
        what="the candidate's test Job running",
    )
    writes = replicas[standby].write_counts()
    assert sum(writes.values()) == 0, f"the standby wrote: {writes}"

    # Kill the leader mid-test: the standby must take over within 30 s (lease 15 s).
    killed_at = time.monotonic()
    replicas[first_leader].kill()
    wait_until(lambda: holder(cluster, namespace) == standby, timeout=30, what="takeover")
    wait_until(lambda: leader_gauge(replicas[standby]) == 1.0, timeout=5, what="new leader")
    assert time.monotonic() - killed_at <= 30

    st = wait_until(
        lambda: (
            (s := status(cluster, "ha", namespace)).get("phase") == "Healthy"
            and s.get("activeRevision") != first
            and s
        ),
        timeout=120,
        what="the rollout finished by the new leader",
    )
    assert stable_revision(cluster, "ha", namespace) == st["activeRevision"]
    # One switch for the first revision, one for the update: never a second one.
    switches = cluster.wait_events(namespace, "ha", reason="TrafficSwitched", at_least=2)
    assert len(switches) == 2
    # The new leader adopted the running test Job instead of starting another.
    jobs = cluster.list("jobs", namespace, f"mcpops.dev/revision={st['activeRevision']}")
    assert len(jobs) == 1


def test_a_stopping_leader_hands_over_at_once(
    cluster: Cluster, replicas: dict[str, OperatorProcess], namespace: str
) -> None:
    first_leader = wait_until(lambda: holder(cluster, namespace), timeout=30, what="a leader")
    standby = next(name for name in replicas if name != first_leader)
    stopped_at = time.monotonic()
    replicas[first_leader].stop()  # SIGTERM: releases the Lease on the way out
    wait_until(lambda: holder(cluster, namespace) == standby, timeout=15, what="handover")
    # Well inside the 15 s a killed leader's Lease needs to expire.
    assert time.monotonic() - stopped_at < 10
    cluster.apply(mcpserver("after", rollout=FAST), namespace)
    wait_ready(cluster, "after", namespace, timeout=90)
