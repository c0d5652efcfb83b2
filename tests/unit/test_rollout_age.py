"""The stuck-rollout gauge: age of the oldest rollout moving on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mcpops import metrics
from mcpops.kinds.mcpserver.reconciler import MCPServerReconciler
from mcpops.machinery.store import Store
from mcpops.objects.timestamps import fmt_time


def status(phase: str, started: datetime) -> dict[str, Any]:
    return {"phase": phase, "rollout": {"startedAt": fmt_time(started)}}


def scraped() -> float:
    (family,) = metrics.ROLLOUT_OLDEST_SECONDS.collect()
    return float(family.samples[0].value)


def test_oldest_moving_rollout_counts_waiting_for_a_person_does_not() -> None:
    rec = MCPServerReconciler(Store(), None)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    assert scraped() == 0.0
    rec._track_rollout(("ns", "a"), status("Testing", now - timedelta(minutes=90)))
    rec._track_rollout(("ns", "b"), status("Progressing", now - timedelta(minutes=5)))
    rec._track_rollout(("ns", "c"), status("Promoting", now - timedelta(hours=5)))
    assert 89 * 60 < scraped() < 91 * 60
    # The old one finishes: the gauge follows the next oldest.
    rec._track_rollout(("ns", "a"), {"phase": "Healthy"})
    assert 4 * 60 < rec._oldest_rollout() < 6 * 60
    rec._track_rollout(("ns", "b"), None)  # deleted
    assert rec._oldest_rollout() == 0.0
