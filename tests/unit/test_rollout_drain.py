"""Draining after a switch: the previous revision stays up while its proxies report open
sessions, until rollout.drainSeconds; the decision (rollout.drain) and the plan around it
(status.draining, the Draining and DrainFinished Events, the scale-down)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from test_mcpserver_plan import T0, FakeCluster, server

from mcpops.api.mcpserver import MCPServerSpec
from mcpops.kinds.mcpserver.desired import revision_of
from mcpops.kinds.mcpserver.observed import revision_proxies
from mcpops.kinds.mcpserver.plan import plan
from mcpops.kinds.mcpserver.rollout import DRAIN_RECHECK_SECONDS, drain
from mcpops_common.names import REVISION_LABEL


def test_drain_keeps_the_window_then_waits_for_sessions_until_the_deadline() -> None:
    assert drain(10, 30, 300, 5).keep and drain(10, 30, 300, 5).wake == 20
    assert not drain(10, 30, 300, 5).draining  # still the undo window, not a drain
    assert not drain(30, 30, 300, 0).keep  # no session open: scaled down at the window
    assert not drain(30, 30, 300, None).keep  # nothing answered: nothing to wait for
    waiting = drain(31, 30, 300, 2)
    assert waiting.keep and waiting.draining and waiting.wake == DRAIN_RECHECK_SECONDS
    assert drain(298, 30, 300, 2).wake == 2  # the next look is the deadline
    late = drain(300, 30, 300, 2)
    assert not late.keep and late.timed_out
    assert not drain(31, 30, 0, 2).keep  # drainSeconds 0: never waits


@given(
    elapsed=st.floats(0, 10_000),
    window=st.integers(0, 3600),
    drain_seconds=st.integers(0, 86400),
    sessions=st.none() | st.integers(0, 1000),
)
def test_drain_never_outlasts_its_bounds(
    elapsed: float, window: int, drain_seconds: int, sessions: int | None
) -> None:
    d = drain(elapsed, window, drain_seconds, sessions)
    if elapsed < window:
        assert d.keep and not d.draining  # the undo window always holds
    elif elapsed >= drain_seconds or not sessions:
        assert not d.keep  # past the deadline, or nothing open: released
    else:
        assert d.keep and d.draining
    if d.keep:
        assert d.wake is not None and 0 < d.wake <= max(window, DRAIN_RECHECK_SECONDS)
        # Never wakes past the moment the decision could change.
        assert elapsed + d.wake <= max(window, min(drain_seconds, elapsed + 5)) + 1e-6
    assert not (d.timed_out and d.keep)
    assert d.timed_out == (not d.keep and elapsed >= window and bool(sessions))


def pod(name: str, revision: str, ip: str, phase: str = "Running", **labels: str) -> Any:
    return {
        "metadata": {"name": name, "labels": {REVISION_LABEL: revision, **labels}},
        "status": {"phase": phase, "podIP": ip},
    }


def test_revision_proxies_are_its_running_serving_pods() -> None:
    dep = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "server", "ports": [{"name": "server", "containerPort": 3001}]},
                        {"name": "mcp-proxy", "ports": [{"name": "mcp", "containerPort": 8090}]},
                    ]
                }
            }
        }
    }
    pods = {
        "a": pod("a", "blue", "10.0.0.2"),
        "b": pod("b", "blue", "10.0.0.1"),
        "c": pod("c", "blue", "10.0.0.3", phase="Pending"),
        "d": pod("d", "green", "10.0.0.4"),
        "t": pod("t", "blue", "10.0.0.5", **{"job-name": "suite"}),  # a test pod
    }
    assert revision_proxies(pods, dep, "blue") == ["10.0.0.1:8090", "10.0.0.2:8090"]
    assert revision_proxies(pods, None, "blue") == []  # no template: no port known


def blue_then_green(rollout: dict[str, Any]) -> tuple[FakeCluster, Any, str, str]:
    """img:1 serving (blue), then img:2 (green) started and ready: the next plan switches."""
    cluster = FakeCluster()
    srv = server({"image": "img:1", "rollout": rollout})
    blue = revision_of("s", MCPServerSpec.model_validate(srv["spec"]))
    cluster.run(srv, T0)
    cluster.settle(f"s-{blue}", ready=True)
    cluster.run(srv, T0 + timedelta(seconds=1))
    srv["spec"] = {"image": "img:2", "rollout": rollout}
    green = revision_of("s", MCPServerSpec.model_validate(srv["spec"]))
    cluster.run(srv, T0 + timedelta(seconds=2))
    cluster.settle(f"s-{green}", ready=True)
    return cluster, srv, blue, green


def test_a_switch_drains_the_previous_revision_then_scales_it_down() -> None:
    rollout = {"scaleDownDelaySeconds": 10, "verifySeconds": 5, "drainSeconds": 120}
    cluster, srv, blue, green = blue_then_green(rollout)
    switched = cluster.run(srv, T0 + timedelta(seconds=3))
    assert switched.status["activeRevision"] == green

    def step(seconds: float, sessions: int | None) -> Any:
        observed = cluster.observed()
        if sessions is not None:
            observed.sessions = {blue: sessions}
        return cluster.commit(srv, plan(srv, observed, T0 + timedelta(seconds=seconds)))

    # In the window: kept, no drain yet.
    out = step(8, 3)
    assert cluster.deployments[f"s-{blue}"]["spec"]["replicas"] == 1
    assert "draining" not in out.status
    # Past the window with sessions open: kept, draining, said once.
    out = step(14, 3)
    assert cluster.deployments[f"s-{blue}"]["spec"]["replicas"] == 1
    assert out.status["draining"]["revision"] == blue
    assert out.status["draining"]["openSessions"] == 3
    assert out.status["draining"]["deadline"] == "2026-01-01T00:02:03Z"
    assert [e.reason for e in out.events] == ["Draining"]
    assert out.status["phase"] == "Healthy"  # green is verified; blue's drain is its own
    out = step(20, 1)
    assert out.status["draining"]["openSessions"] == 1 and not out.events
    assert min(out.wakeups) <= DRAIN_RECHECK_SECONDS
    # The last session ended: scaled down, said, counted.
    out = step(25, 0)
    assert cluster.deployments[f"s-{blue}"]["spec"].get("replicas") == 0
    assert "draining" not in out.status
    assert [e.reason for e in out.events] == ["DrainFinished", "ScaledDown"]
    assert "its open sessions ended" in out.events[0].message
    assert [o for o, _ in out.drains] == ["ended"]


def test_without_a_keep_window_open_sessions_still_drain() -> None:
    rollout = {"scaleDownDelaySeconds": 0, "verifySeconds": 0, "drainSeconds": 30}
    cluster, srv, blue, green = blue_then_green(rollout)
    out = cluster.run(srv, T0 + timedelta(seconds=3))
    assert out.status["activeRevision"] == green
    assert cluster.deployments[f"s-{blue}"]["spec"]["replicas"] == 1  # asked before it goes
    observed = cluster.observed()
    observed.sessions = {blue: 2}
    out = cluster.commit(srv, plan(srv, observed, T0 + timedelta(seconds=4)))
    assert out.status["draining"]["openSessions"] == 2
    # drainSeconds passed with sessions open: scaled down anyway, and said so.
    out = cluster.commit(srv, plan(srv, observed, T0 + timedelta(seconds=34)))
    assert cluster.deployments[f"s-{blue}"]["spec"].get("replicas") == 0
    assert [o for o, _ in out.drains] == ["timeout"]
    assert "2 session(s) still open" in out.events[0].message


def test_drain_seconds_zero_scales_down_at_the_window_as_before() -> None:
    rollout = {"scaleDownDelaySeconds": 0, "verifySeconds": 0, "drainSeconds": 0}
    cluster, srv, blue, green = blue_then_green(rollout)
    out = cluster.run(srv, T0 + timedelta(seconds=3))
    assert out.status["activeRevision"] == green
    assert cluster.deployments[f"s-{blue}"]["spec"].get("replicas") == 0
