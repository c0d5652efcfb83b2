"""rollout.analysis acted on: reading the proxies' /metrics (parse), counting since the
switch across readings and proxy restarts (advance, delta), p95 from histogram buckets
(quantile), the verdict (judge), whose proxies to read (target), and the plan around it
(the rollback on a breach, AnalysisPassed at the end of the window, conditions, Events)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_mcpserver_plan import T0
from test_rollout_drain import blue_then_green

from mcpops.api.mcpserver import Analysis
from mcpops.kinds.mcpserver import analysis
from mcpops.kinds.mcpserver.analysis import Sample, ToolStats, advance, delta, judge
from mcpops.kinds.mcpserver.plan import plan

PROXY_METRICS = """\
# HELP mcpops_proxy_tool_calls_total tools/call requests by tool, outcome and caller class.
# TYPE mcpops_proxy_tool_calls_total counter
mcpops_proxy_tool_calls_total{tool="lookup",outcome="ok",caller_class="anonymous"} 7
mcpops_proxy_tool_calls_total{tool="lookup",outcome="ok",caller_class="agents"} 3
mcpops_proxy_tool_calls_total{tool="lookup",outcome="error",caller_class="anonymous"} 2
mcpops_proxy_tool_calls_total{tool="lookup",outcome="denied",caller_class="anonymous"} 50
mcpops_proxy_tool_calls_total{tool="add",outcome="failed",caller_class="anonymous"} 1
# HELP mcpops_proxy_tool_call_duration_seconds tools/call latency by tool and caller class.
# TYPE mcpops_proxy_tool_call_duration_seconds histogram
mcpops_proxy_tool_call_duration_seconds_bucket{tool="lookup",caller_class="anonymous",le="0.1"} 4
mcpops_proxy_tool_call_duration_seconds_bucket{tool="lookup",caller_class="anonymous",le="1"} 9
mcpops_proxy_tool_call_duration_seconds_bucket{tool="lookup",caller_class="anonymous",le="+Inf"} 9
mcpops_proxy_tool_call_duration_seconds_sum{tool="lookup",caller_class="anonymous"} 2.5
mcpops_proxy_tool_call_duration_seconds_count{tool="lookup",caller_class="anonymous"} 9
mcpops_proxy_tool_call_duration_seconds_bucket{tool="lookup",caller_class="agents",le="0.1"} 3
mcpops_proxy_tool_call_duration_seconds_bucket{tool="lookup",caller_class="agents",le="1"} 3
mcpops_proxy_tool_call_duration_seconds_bucket{tool="lookup",caller_class="agents",le="+Inf"} 3
# HELP mcpops_proxy_sessions_open Sessions open on this replica.
# TYPE mcpops_proxy_sessions_open gauge
mcpops_proxy_sessions_open 4
"""


def test_parse_sums_caller_classes_and_leaves_the_proxys_own_refusals_out() -> None:
    sample = analysis.parse(PROXY_METRICS)
    assert sample[("lookup", "ok")] == 10
    assert sample[("lookup", "error")] == 2
    assert ("lookup", "denied") not in sample  # policy, not the revision's health
    assert sample[("add", "failed")] == 1
    assert sample[("lookup", "le=0.1")] == 7 and sample[("lookup", "le=inf")] == 12
    stats = analysis.stats(sample)
    assert stats["lookup"].calls == 12 and stats["lookup"].errors == 2
    assert stats["add"] == ToolStats(1, 1, None)  # a call without latency: no p95
    # 95% of 12 = 11.4: in the (0.1, 1] bucket, 4.4 of its 5 -> 0.1 + 0.9 * 4.4 / 5 s.
    assert stats["lookup"].p95_ms == pytest.approx(892.0)


def test_parse_refuses_what_is_not_the_text_format() -> None:
    with pytest.raises(ValueError):
        analysis.parse('mcpops_proxy_tool_calls_total{tool="a" 1\n')


def test_quantile_in_the_inf_bucket_is_the_largest_finite_bound() -> None:
    assert analysis.quantile(0.95, [(0.5, 1), (1.0, 1), (float("inf"), 10)]) == 1000.0
    assert analysis.quantile(0.95, [(0.5, 0), (float("inf"), 0)]) is None
    assert analysis.quantile(0.5, [(0.1, 10), (float("inf"), 10)]) == pytest.approx(50.0)


def test_delta_counts_everything_after_a_restart() -> None:
    before: Sample = {("a", "ok"): 10, ("a", "error"): 1}
    assert delta(before, {("a", "ok"): 12, ("a", "error"): 1}) == {("a", "ok"): 2}
    # The proxy restarted: its counters start from zero, so all it has is new.
    assert delta(before, {("a", "ok"): 3}) == {("a", "ok"): 3}
    assert delta(None, {("a", "ok"): 3, ("b", "ok"): 0}) == {("a", "ok"): 3}


def test_the_switch_counts_from_the_candidates_last_reading() -> None:
    # Before the switch: readings of the candidate are only the baseline (its suites' calls).
    w = advance(None, "green", "", {"p1#0": {("a", "ok"): 40}})
    assert w.totals == {} and w.readings == 0
    w = advance(w, "green", "T", {"p1#0": {("a", "ok"): 45, ("a", "error"): 5}})
    assert w.totals == {("a", "ok"): 5, ("a", "error"): 5} and w.readings == 1
    # A pod born after the switch counts from zero; one seen late counts from its first look.
    w = advance(
        w,
        "green",
        "T",
        {
            "p1#0": {("a", "ok"): 45, ("a", "error"): 5},
            "p2#0": {("a", "ok"): 4},
            "p3#0": {("a", "ok"): 9},
        },
        born_after=frozenset({"p2"}),
    )
    assert w.totals == {("a", "ok"): 9, ("a", "error"): 5}
    # p1's proxy restarted (its container's restart count): all it counted since is new,
    # even where its counters are already past where they were.
    w = advance(w, "green", "T", {"p1#1": {("a", "ok"): 50}})
    assert w.totals == {("a", "ok"): 59, ("a", "error"): 5}
    assert "p1#0" not in w.last
    # A status read from a cache older than the switch does not reset what was counted.
    assert advance(w, "green", "", {"p1#1": {("a", "ok"): 99}}) == w
    # Another revision starts again.
    assert advance(w, "other", "T2", {"p9#0": {("a", "ok"): 1}}).totals == {}


counts = st.dictionaries(
    st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["ok", "error", "failed"])),
    st.integers(0, 50),
    max_size=6,
)


@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["p", "q"]), counts, st.booleans()), min_size=1, max_size=8
    ),
    born=st.booleans(),
)
def test_the_window_counts_exactly_the_calls_made_since_the_switch(
    steps: list[tuple[str, dict[tuple[str, str], int], bool]], born: bool
) -> None:
    """Two proxies serve calls between readings and sometimes restart (losing their
    counters; their container's restart count goes up): the window's totals are exactly
    the calls made after the switch. Pod q is read at the switch, or (born) created after
    it; p is read at the switch."""
    counters: dict[str, Sample] = {"p": {}, "q": {}}
    restarts = {"p": 0, "q": 0}
    first = {"p#0": {}} if born else {"p#0": {}, "q#0": {}}
    w = advance(None, "green", "T", first, born_after=frozenset({"q"} if born else ()))
    made: Sample = {}
    for pod, calls, restarted in steps:
        if restarted:
            counters[pod], restarts[pod] = {}, restarts[pod] + 1
        for key, n in calls.items():
            counters[pod][key] = counters[pod].get(key, 0.0) + n
            made[key] = made.get(key, 0.0) + n
        readings = {f"{p}#{restarts[p]}": dict(c) for p, c in counters.items()}
        w = advance(w, "green", "T", readings, born_after=frozenset({"q"} if born else ()))
    assert {k: v for k, v in w.totals.items() if v} == {k: v for k, v in made.items() if v}


def test_judge_fails_at_once_passes_at_the_end_and_says_when_too_few_calls() -> None:
    a = Analysis(max_error_rate=0.2, min_calls=5)
    bad = {"lookup": ToolStats(6, 6)}
    assert judge(a, bad, over=False).result == "Failed"
    assert "tool lookup: 6/6 calls failed (100.0% > 20.0%)" in judge(a, bad, over=False).message
    good = {"lookup": ToolStats(6, 1, 12.0)}
    assert judge(a, good, over=False).result == "Running"
    passed = judge(a, good, over=True)
    assert passed.result == "Passed" and "lookup 1/6 failed, p95 12ms" in passed.message
    few = judge(a, {"lookup": ToolStats(4, 0)}, over=True)
    assert few.result == "Inconclusive" and "fewer than minCalls (5)" in few.message
    assert judge(a, None, over=True).result == "Inconclusive"


def server_with(rollout: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"image": "x", "rollout": rollout}, "status": status}


def test_target_is_the_candidate_before_the_switch_and_the_new_revision_after() -> None:
    on = {"analysis": {"maxErrorRate": 0.1}}
    before = {"activeRevision": "blue", "rollout": {"revision": "green"}}
    assert analysis.target(server_with(on, before)) == ("green", "")
    after = {
        "activeRevision": "green",
        "rollout": {"previous": "blue", "switchedAt": "T", "analysisResult": "Running"},
    }
    assert analysis.target(server_with(on, after)) == ("green", "T")
    done = {**after, "rollout": {**after["rollout"], "analysisResult": "Passed"}}
    assert analysis.target(server_with(on, done)) is None
    assert analysis.target(server_with({}, after)) is None  # not asked for
    first = {"rollout": {"revision": "green"}}  # nothing serves: nothing to return to
    assert analysis.target(server_with(on, first)) is None


def test_born_after_compares_times_not_strings() -> None:
    created = {"old": "2026-01-01T00:00:00Z", "new": "2026-01-01T00:00:05Z"}
    assert analysis.born_after(created, "2026-01-01T00:00:01Z") == {"new"}
    assert analysis.born_after(created, "") == set()


ROLLOUT = {
    "scaleDownDelaySeconds": 5,
    "verifySeconds": 30,
    "drainSeconds": 0,
    "analysis": {"maxErrorRate": 0.2, "minCalls": 5, "intervalSeconds": 3},
}


def test_a_breach_returns_traffic_and_names_the_tool_and_numbers() -> None:
    cluster, srv, blue, green = blue_then_green(ROLLOUT)
    switched = cluster.run(srv, T0 + timedelta(seconds=3))  # 3s: the switch
    assert switched.status["activeRevision"] == green
    assert switched.status["rollout"]["analysisResult"] == "Running"
    assert min(switched.wakeups) <= 3  # the first look is intervalSeconds after the switch
    cond = {c["type"]: c for c in switched.status["conditions"]}
    assert cond["AnalysisPassed"]["status"] == "Unknown"
    assert switched.status["phase"] == "Verifying"

    def look(seconds: float, traffic: dict[str, ToolStats] | None) -> Any:
        observed = cluster.observed()
        if traffic is not None:
            observed.traffic = {green: traffic}
        return cluster.commit(srv, plan(srv, observed, T0 + timedelta(seconds=seconds)))

    out = look(6, {"lookup": ToolStats(3, 3)})  # too few calls to judge yet
    assert out.status["activeRevision"] == green and not out.analyses
    assert "lookup 3/3 failed" in out.status["rollout"]["analysisMessage"]
    out = look(9, {"lookup": ToolStats(8, 7), "add": ToolStats(2, 0)})
    assert out.status["activeRevision"] == blue
    assert out.status["failedRevision"] == green
    why = (
        "tool lookup: 7/8 calls failed (87.5% > 20.0%); "
        "all tools: 7/10 calls failed (70.0% > 20.0%)"
    )
    assert out.analyses == [(green, "Failed", why)]
    reasons = [e.reason for e in out.events]
    assert reasons[:2] == ["AnalysisFailed", "RolledBack"], reasons
    assert "rollout.analysis 6s after the switch: tool lookup: 7/8" in out.events[1].message
    cond = {c["type"]: c for c in out.status["conditions"]}
    assert cond["RolledBack"]["reason"] == "AnalysisFailed"
    assert cond["AnalysisPassed"]["status"] == "False"
    assert cond["AnalysisPassed"]["reason"] == "ThresholdBreached"
    assert "7/8 calls failed" in cond["Degraded"]["message"]
    assert out.outcomes == ["rolled_back"]
    # Not judged again, not retried: the spec's revision is the failed one.
    again = look(12, {"lookup": ToolStats(20, 20)})
    assert again.status["activeRevision"] == blue and not again.analyses


def test_a_healthy_revision_passes_at_the_end_of_the_window() -> None:
    cluster, srv, _, green = blue_then_green(ROLLOUT)
    cluster.run(srv, T0 + timedelta(seconds=3))
    observed = cluster.observed()
    observed.traffic = {green: {"lookup": ToolStats(40, 1, 20.0)}}
    mid = cluster.commit(srv, plan(srv, observed, T0 + timedelta(seconds=20)))
    assert mid.status["rollout"]["analysisResult"] == "Running" and not mid.analyses
    assert min(mid.wakeups) <= 3
    end = cluster.commit(srv, plan(srv, observed, T0 + timedelta(seconds=33)))
    assert end.status["activeRevision"] == green
    assert end.analyses == [
        (green, "Passed", "within the thresholds: lookup 1/40 failed, p95 20ms")
    ]
    assert next(e.reason for e in end.events) == "AnalysisPassed"
    cond = {c["type"]: c for c in end.status["conditions"]}
    assert cond["AnalysisPassed"]["status"] == "True"
    assert end.status["phase"] == "Healthy"


def test_no_reading_in_the_window_is_inconclusive_and_keeps_the_new_revision() -> None:
    cluster, srv, _, green = blue_then_green(ROLLOUT)
    cluster.run(srv, T0 + timedelta(seconds=3))
    end = cluster.commit(srv, plan(srv, cluster.observed(), T0 + timedelta(seconds=34)))
    assert end.status["activeRevision"] == green
    assert end.status["rollout"]["analysisResult"] == "Inconclusive"
    assert next(e.reason for e in end.events) == "AnalysisInconclusive"


def test_without_analysis_or_without_a_previous_revision_nothing_is_judged() -> None:
    cluster, srv, _, _ = blue_then_green({"verifySeconds": 30})
    out = cluster.run(srv, T0 + timedelta(seconds=3))
    assert "analysisResult" not in out.status["rollout"]
    assert "AnalysisPassed" not in {c["type"] for c in out.status["conditions"]}
