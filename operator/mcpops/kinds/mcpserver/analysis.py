"""Post-switch analysis (rollout.analysis): does what the in-pod proxies of the new revision
measured of real traffic since the switch breach a threshold? Pure.

The reconciler reads each pod's proxy `/metrics` (machinery.proxyinfo) every
analysis.intervalSeconds of the verify window and hands the text to `parse`; `advance` folds
each reading into the revision's `Window` (deltas since the switch, counter resets of a
restarted proxy included); `stats` turns the window into calls, errors and p95 per tool;
`judge` says Running, Passed, Failed (with the reason) or Inconclusive, and rollout.verify
acts on it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client.parser import text_string_to_metric_families

from mcpops.api.mcpserver import Analysis
from mcpops.objects.bodies import Body
from mcpops.objects.timestamps import parse_time

ALL = "*"  # the key of all tools together, in what breach() reports
CALLS = "mcpops_proxy_tool_calls_total"
BUCKETS = "mcpops_proxy_tool_call_duration_seconds_bucket"
# Outcomes of tools/call that reached the server (denied and rate_limited are the proxy's
# own refusals: policy, not the revision's health). error: a JSON-RPC error or isError;
# failed: no answer.
SERVED = ("ok", "error", "failed")
ERRORS = frozenset({"error", "failed"})

# One proxy's reading: (tool, series) -> value, summed over caller classes. series is an
# outcome of SERVED, or "le=<bound>" for a latency bucket (cumulative, bound in seconds).
Sample = dict[tuple[str, str], float]
Result = Literal["Running", "Passed", "Failed", "Inconclusive"]


@dataclass(frozen=True)
class ToolStats:
    """One tool's calls over the window, as the proxy counted them."""

    calls: int
    errors: int
    p95_ms: float | None = None  # None: no latency measured

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


def total(stats: Mapping[str, ToolStats]) -> ToolStats:
    """All tools together (no p95: percentiles do not add up)."""
    return ToolStats(sum(s.calls for s in stats.values()), sum(s.errors for s in stats.values()))


def breach(analysis: Analysis, stats: Mapping[str, ToolStats]) -> str | None:
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


# ---------------------------------------------------------------- reading the proxies


def target(server: Body) -> tuple[str, str] | None:
    """Whose proxies to read now, and since when: the revision being verified, since the
    switch; before a switch, the candidate (since "": its readings are the baseline the
    switch counts from, so that calls made to it before, by its test suites, do not count).
    None: rollout.analysis is not set, or nothing is to be judged."""
    if not ((server.get("spec") or {}).get("rollout") or {}).get("analysis"):
        return None
    status = server.get("status") or {}
    record = status.get("rollout") or {}
    active, candidate, since = status.get("activeRevision"), record.get("revision"), ""
    if record.get("analysisResult") == "Running" and record.get("switchedAt") and active:
        return str(active), str(record["switchedAt"])
    if candidate and active and candidate != active:
        return str(candidate), since
    return None


def born_after(created: Mapping[str, str], since: str) -> frozenset[str]:
    """The pods (name -> creationTimestamp) created after `since`: all they counted is
    since the switch."""
    start = parse_time(since)
    if start is None:
        return frozenset()
    return frozenset(n for n, c in created.items() if (t := parse_time(c)) and t > start)


def parse(text: str) -> Sample:
    """The tool-call series of one proxy's /metrics (Prometheus text format). Raises
    ValueError on text that is not the format."""
    out: Sample = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            tool = s.labels.get("tool")
            if tool is None:
                continue
            if s.name == CALLS and s.labels.get("outcome") in SERVED:
                series = s.labels["outcome"]
            elif s.name == BUCKETS and "le" in s.labels:
                series = f"le={float(s.labels['le'])!r}"
            else:
                continue
            out[(tool, series)] = out.get((tool, series), 0.0) + float(s.value)
    return out


@dataclass(frozen=True)
class Window:
    """What one revision's proxies counted since `since` (the switch; "" before it, when
    the readings only set the baseline)."""

    revision: str
    since: str
    last: dict[str, Sample] = field(default_factory=dict)  # pod -> its last reading
    totals: Sample = field(default_factory=dict)  # the deltas since `since`, all pods
    readings: int = 0  # readings folded in since `since`


def reset(before: Sample, now: Sample) -> bool:
    """The proxy restarted between two readings: a counter went down, or a series it had
    is gone (its counters start again from zero)."""
    return any(now.get(k, -1.0) < v for k, v in before.items())


def delta(before: Sample | None, now: Sample) -> Sample:
    """What a proxy counted between two readings; everything it has after a reset (or
    when there is nothing before: a pod born after the switch)."""
    if before is None or reset(before, now):
        return {k: v for k, v in now.items() if v}
    return {k: v - before.get(k, 0.0) for k, v in now.items() if v - before.get(k, 0.0)}


def advance(
    window: Window | None,
    revision: str,
    since: str,
    readings: Mapping[str, Sample],
    born_after: frozenset[str] = frozenset(),
) -> Window:
    """Fold this look's readings into the window: proxy -> Sample, the proxy named
    "<pod>#<restarts of its container>" (proxies that did not answer are absent). A new
    `since` (the switch happened) starts the counting from the last readings. A proxy first
    seen counts from zero when its pod was created after the switch (`born_after`: pod
    names) or when it is a restart of one already read; otherwise from its first reading
    (what it counted before is unknown)."""
    if window is None or window.revision != revision:
        window = Window(revision, since)
    if window.since and not since:
        return window  # a status older than the switch (a stale cache): not a baseline
    if window.since != since:
        window = Window(revision, since, dict(window.last))
    last, totals = dict(window.last), dict(window.totals)
    read_before = {p.partition("#")[0] for p in last}
    for proxy, now in readings.items():
        pod = proxy.partition("#")[0]
        before = last.get(proxy)
        if before is None and pod not in born_after and pod not in read_before:
            before = now
        if since:
            for k, v in delta(before, now).items():
                totals[k] = totals.get(k, 0.0) + v
        for stale in [p for p in last if p.partition("#")[0] == pod and p != proxy]:
            del last[stale]
        last[proxy] = now
    counted = window.readings + (1 if since and readings else 0)
    return Window(revision, since, last, totals, counted)


def stats(totals: Sample) -> dict[str, ToolStats]:
    """Calls, errors and p95 per tool from a window's deltas."""
    out: dict[str, ToolStats] = {}
    for tool in sorted({t for t, _ in totals}):
        calls = sum(totals.get((tool, o), 0.0) for o in SERVED)
        errors = sum(totals.get((tool, o), 0.0) for o in ERRORS)
        buckets = sorted(
            (float(series[3:]), v)
            for (t, series), v in totals.items()
            if t == tool and series[:3] == "le="
        )
        if calls or errors:
            out[tool] = ToolStats(round(calls), round(errors), quantile(0.95, buckets))
    return out


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile in milliseconds of a histogram's cumulative buckets (bound in seconds,
    count), interpolated within the bucket it falls in, as Prometheus' histogram_quantile
    does; in the +Inf bucket, the largest finite bound. None: no observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank and count > below:
            if math.isinf(bound):
                return lower * 1000
            return (lower + (bound - lower) * (rank - below) / (count - below)) * 1000
        lower, below = bound, count
    return lower * 1000


# ---------------------------------------------------------------- the verdict


@dataclass(frozen=True)
class Verdict:
    result: Result
    message: str


def judge(analysis: Analysis, window: Mapping[str, ToolStats] | None, over: bool) -> Verdict:
    """The analysis after a look: Failed as soon as a threshold is breached; at the end of
    the window (`over`) Passed, or Inconclusive with too few calls (or no reading at all);
    Running until then. `window` None: no proxy answered since the switch."""
    if window is not None:
        reason = breach(analysis, window)
        if reason:
            return Verdict("Failed", reason)
    if not over:
        return Verdict("Running", summary(window))
    if window is None:
        return Verdict("Inconclusive", "no proxy of the revision answered during the window")
    calls = total(window).calls
    if calls < analysis.min_calls:
        return Verdict(
            "Inconclusive",
            f"{calls} call(s) in the window, fewer than minCalls ({analysis.min_calls}): "
            f"not judged. {summary(window)}",
        )
    return Verdict("Passed", f"within the thresholds: {summary(window)}")


def summary(window: Mapping[str, ToolStats] | None, limit: int = 10) -> str:
    """calls, errors and p95 of the busiest tools, for status and Events."""
    if not window:
        return "no calls yet"
    busiest = sorted(window.items(), key=lambda kv: (-kv[1].calls, kv[0]))[:limit]
    parts = [
        f"{name} {s.errors}/{s.calls} failed"
        + (f", p95 {s.p95_ms:.0f}ms" if s.p95_ms is not None else "")
        for name, s in busiest
    ]
    more = f" (+{len(window) - limit} more tools)" if len(window) > limit else ""
    return "; ".join(parts) + more
