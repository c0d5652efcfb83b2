"""Post-switch analysis (rollout.analysis): does what the in-pod proxy measured of real
traffic over the verify window breach a threshold? Pure.

Not wired into the rollout yet: the proxy that counts calls per tool is not part of the
pods. When it is, rollout.verify asks `breach()` with the window's counts and returns
traffic on a reason, as it does today when the new revision turns unready.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcpops.api.mcpserver import Analysis

ALL = "*"  # the key of all tools together, in what breach() reports


@dataclass(frozen=True)
class ToolStats:
    """One tool's calls over the window, as the proxy counted them."""

    calls: int
    errors: int
    p95_ms: float | None = None  # None: no latency measured

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


def total(stats: dict[str, ToolStats]) -> ToolStats:
    """All tools together (no p95: percentiles do not add up)."""
    return ToolStats(sum(s.calls for s in stats.values()), sum(s.errors for s in stats.values()))


def breach(analysis: Analysis, stats: dict[str, ToolStats]) -> str | None:
    """Why the window breaches the thresholds (naming each tool, its value and the
    threshold), or None. Tools with fewer than minCalls calls are not judged."""
    reasons: list[str] = []
    judged = {n: s for n, s in stats.items() if s.calls >= analysis.min_calls}
    everything = total(stats)
    limit = analysis.max_error_rate
    if limit is not None:
        for name in sorted(judged):
            if judged[name].error_rate > limit:
                reasons.append(_rate(f"tool {name}", judged[name], limit))
        if everything.calls >= analysis.min_calls and everything.error_rate > limit:
            reasons.append(_rate("all tools", everything, limit))
    budget = analysis.max_p95_latency_ms
    if budget is not None:
        for name in sorted(judged):
            p95 = judged[name].p95_ms
            if p95 is not None and p95 > budget:
                reasons.append(f"tool {name}: p95 latency {p95:.0f}ms > {budget}ms")
    return "; ".join(reasons) or None


def _rate(what: str, s: ToolStats, limit: float) -> str:
    return f"{what}: {s.errors}/{s.calls} calls failed ({s.error_rate:.1%} > {limit:.1%})"
