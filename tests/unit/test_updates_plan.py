"""spec.updates through the whole MCPServer plan: the decided version is what the pods run,
its rollout is the normal one, and a failure is remembered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from test_mcpserver_plan import T0, FakeCluster, server

from mcpops.kinds.mcpserver import updates as up
from mcpops.kinds.mcpserver.plan import plan

SPEC = {"image": "127.0.0.1:5000/mcp/time:1.4.0", "updates": {"versions": ">=1.4 <2"}}
DIGESTS = {t: f"sha256:{t.replace('.', '') * 8}" for t in ["1.4.0", "1.5.0", "1.6.0", "2.0.0"]}


def found(*tags: str) -> up.Found:
    return up.Found(list(tags), {t: DIGESTS[t] for t in tags}, checked_at=T0)


def run(cluster: FakeCluster, srv: dict[str, Any], f: up.Found, minutes: int) -> Any:
    return cluster.commit(
        srv, plan(srv, cluster.observed(), T0 + timedelta(minutes=minutes), found=f)
    )


def images(cluster: FakeCluster) -> set[str]:
    return {
        d["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in cluster.deployments.values()
    }


def settle_all(cluster: FakeCluster, *, ready: bool = True) -> None:
    for name in cluster.deployments:
        cluster.settle(name, ready=ready)


def test_newest_in_range_is_pinned_rolled_and_recorded() -> None:
    cluster, srv = FakeCluster(), server(SPEC)
    result = run(cluster, srv, found("1.4.0", "1.5.0", "2.0.0"), 0)
    pinned = f"127.0.0.1:5000/mcp/time:1.5.0@{DIGESTS['1.5.0']}"
    assert images(cluster) == {pinned}
    assert srv["spec"] == SPEC  # spec is never written
    assert result.status["updates"]["reason"] == "Rolling"
    assert [e.reason for e in result.events if e.reason.startswith("Update")] == [
        "UpdateFound",
        "UpdateStarted",
    ]
    settle_all(cluster)
    result = run(cluster, srv, found("1.4.0", "1.5.0", "2.0.0"), 1)
    upd = result.status["updates"]
    assert (upd["current"], upd["currentDigest"], upd["reason"]) == (
        "1.5.0",
        DIGESTS["1.5.0"],
        "UpToDate",
    )
    assert "UpdatePromoted" in [e.reason for e in result.events]
    assert result.status["updates"]["lastCheck"] == "2026-01-01T00:00:00Z"
    # nothing new: nothing happens, and the next look is due at the interval
    again = run(cluster, srv, found("1.4.0", "1.5.0", "2.0.0"), 2)
    assert again.apply == [] and not [e for e in again.events if e.reason.startswith("Update")]
    assert again.requeue_after is not None and again.requeue_after <= 3600 - 120


def test_a_failed_version_is_refused_and_not_retried() -> None:
    cluster, srv = FakeCluster(), server({**SPEC, "rollout": {"progressDeadlineSeconds": 60}})
    run(cluster, srv, found("1.4.0"), 0)
    settle_all(cluster)
    run(cluster, srv, found("1.4.0"), 1)
    assert srv["status"]["updates"]["current"] == "1.4.0"
    run(cluster, srv, found("1.4.0", "1.5.0"), 2)  # 1.5.0 comes up, never gets ready
    result = run(cluster, srv, found("1.4.0", "1.5.0"), 10)
    upd = result.status["updates"]
    assert upd["refused"] == ["1.5.0"] and upd["current"] == "1.4.0", upd
    assert "UpdateRefused" in [e.reason for e in result.events]
    later = run(cluster, srv, found("1.4.0", "1.5.0"), 20)
    assert later.status["updates"]["reason"] == "Refused"
    assert later.status["activeRevision"] == srv["status"]["activeRevision"]
    assert not [m for m in later.apply if m["kind"] == "Deployment" and "1.5.0" in str(m)]
    # a newer version is tried
    newer = run(cluster, srv, found("1.4.0", "1.5.0", "1.6.0"), 30)
    assert newer.status["updates"]["reason"] == "Rolling"
    assert any("1.6.0" in i for i in images(cluster))


def test_held_servers_record_but_do_not_roll() -> None:
    cluster, srv = FakeCluster(), server(SPEC)
    srv["metadata"]["annotations"] = {"mcpops.dev/hold-updates": "true"}
    result = run(cluster, srv, found("1.4.0", "1.5.0"), 0)
    assert result.status["updates"]["reason"] == "Held"
    assert result.status["updates"]["latestSeen"] == "1.5.0"
    assert images(cluster) == {SPEC["image"]}


def test_an_invalid_policy_is_named_and_the_spec_runs_as_written() -> None:
    cluster, srv = FakeCluster(), server({**SPEC, "updates": {"versions": ">=one"}})
    result = run(cluster, srv, found("1.5.0"), 0)
    assert result.status["updates"]["reason"] == "InvalidPolicy"
    assert "spec.updates.versions" in result.status["updates"]["message"]
    assert images(cluster) == {SPEC["image"]}
