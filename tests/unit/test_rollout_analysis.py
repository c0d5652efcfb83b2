"""rollout.analysis's threshold decision (kinds/mcpserver/analysis.py): defined and tested,
not yet wired (the in-pod proxy that measures calls is not part of the pods)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mcpops.api.mcpserver import Analysis, MCPServerSpec
from mcpops.kinds.mcpserver.analysis import ToolStats, breach, total


def test_a_tool_above_the_error_rate_is_named_with_its_numbers() -> None:
    a = Analysis(max_error_rate=0.05, min_calls=20)
    stats = {"add": ToolStats(100, 10), "echo": ToolStats(400, 1)}
    assert breach(a, stats) == "tool add: 10/100 calls failed (10.0% > 5.0%)"


def test_all_tools_together_are_judged_too() -> None:
    a = Analysis(max_error_rate=0.1, min_calls=20)
    # No tool has enough calls on its own; together they do, and too many failed.
    stats = {f"t{i}": ToolStats(10, 3) for i in range(3)}
    assert breach(a, stats) == "all tools: 9/30 calls failed (30.0% > 10.0%)"


def test_too_few_calls_are_not_judged() -> None:
    a = Analysis(max_error_rate=0.0, max_p95_latency_ms=10, min_calls=20)
    assert breach(a, {"add": ToolStats(19, 19, p95_ms=5000)}) is None
    assert breach(a, {}) is None


def test_latency_per_tool() -> None:
    a = Analysis(max_p95_latency_ms=200, min_calls=5)
    stats = {"slow": ToolStats(50, 0, p95_ms=850.4), "fast": ToolStats(50, 0, p95_ms=12)}
    assert breach(a, stats) == "tool slow: p95 latency 850ms > 200ms"


def test_no_thresholds_never_breach() -> None:
    assert breach(Analysis(), {"add": ToolStats(1000, 1000, p95_ms=1e6)}) is None


def test_the_api_takes_it_under_rollout() -> None:
    spec = MCPServerSpec.model_validate(
        {"image": "x:1", "rollout": {"analysis": {"maxErrorRate": 0.02, "maxP95LatencyMs": 500}}}
    )
    assert spec.rollout is not None and spec.rollout.analysis is not None
    assert spec.rollout.analysis.min_calls == 20


stat = st.builds(
    lambda calls, errors, p95: ToolStats(calls, min(errors, calls), p95),
    st.integers(0, 500),
    st.integers(0, 500),
    st.one_of(st.none(), st.floats(0, 5000)),
)


@given(
    stats=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), stat, max_size=4),
    rate=st.floats(0, 1),
    budget=st.integers(1, 5000),
    min_calls=st.integers(1, 100),
)
def test_a_breach_is_exactly_a_judged_value_over_its_threshold(
    stats: dict[str, ToolStats], rate: float, budget: int, min_calls: int
) -> None:
    a = Analysis(max_error_rate=rate, max_p95_latency_ms=budget, min_calls=min_calls)
    judged = [s for s in stats.values() if s.calls >= min_calls]
    everything = total(stats)
    expected = (
        any(s.error_rate > rate for s in judged)
        or any(s.p95_ms is not None and s.p95_ms > budget for s in judged)
        or (everything.calls >= min_calls and everything.error_rate > rate)
    )
    assert (breach(a, stats) is not None) == expected
