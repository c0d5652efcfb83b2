"""CleanupPolicy decisions over plain data: schedule, circuit breaker, cap, status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcpops.api.cleanuppolicy import CleanupPolicySpec
from mcpops.kinds.cleanuppolicy import plan
from mcpops.kinds.cleanuppolicy import status as policy_status
from mcpops.kinds.cleanuppolicy.plan import Problem, RunResult, Trigger
from mcpops.kinds.cleanuppolicy.select import Candidate, Record, Selection
from mcpops.objects import schedule
from mcpops.objects.timestamps import fmt_time

T0 = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
RULE = {
    "name": "old",
    "resources": {"apiVersion": "v1", "kind": "ConfigMap", "selector": {"matchLabels": {"a": "b"}}},
    "olderThan": "1h",
}


def policy(
    status: dict[str, Any] | None = None, annotations: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "mcpops.dev/v1alpha1",
        "kind": "CleanupPolicy",
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "uid": "u",
            "generation": 1,
            "creationTimestamp": fmt_time(T0 - timedelta(hours=1)),
            "annotations": annotations or {},
        },
        "spec": {"schedule": "0 * * * *", "rules": [RULE], **spec},
        "status": status or {},
    }


def parsed(obj: dict[str, Any]) -> CleanupPolicySpec:
    spec = plan.parse(obj)
    assert isinstance(spec, CleanupPolicySpec)
    return spec


def cands(n: int) -> list[Candidate]:
    return [
        Candidate(
            "old",
            Record(
                "v1",
                "ConfigMap",
                f"cm-{i}",
                f"uid-{i}",
                T0 - timedelta(hours=2, seconds=i),
                None,
                None,
                "",
                False,
            ),
            timedelta(hours=2),
        )
        for i in range(n)
    ]


# ---------------------------------------------------------------- spec and schedule


@pytest.mark.parametrize(
    ("expr", "ok"),
    [
        ("* * * * *", True),
        ("0 3 * * MON-FRI", True),
        ("@daily", True),
        ("61 * * * *", False),
        ("* * *", False),
        ("* * * * * *", False),  # croniter's seconds form is not our API
        ("0 0 30 2 *", False),  # 30 February never comes
    ],
)
def test_schedule_check(expr: str, ok: bool) -> None:
    assert (schedule.check(expr) is None) == ok


def test_invalid_schedule_names_the_field() -> None:
    obj = policy(schedule="61 * * * *")
    invalid = plan.parse(obj)
    assert isinstance(invalid, plan.Invalid)
    assert invalid.reason == "InvalidSchedule" and invalid.message.startswith("spec.schedule:")
    status, events = policy_status.invalid_status(obj, invalid, T0)
    (ready,) = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert ready["status"] == "False" and ready["reason"] == "InvalidSchedule"
    assert "nextRunTime" not in status
    assert [e.reason for e in events] == ["InvalidSchedule"]
    # Once reported for this generation, not again.
    obj["status"] = status
    assert policy_status.invalid_status(obj, invalid, T0)[1] == []


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("Europe/Berlin", True),
        ("America/Argentina/Buenos_Aires", True),
        ("Etc/GMT+1", True),
        ("UTC", True),
        ("Mars/Olympus_Mons", False),
        ("America", False),  # a directory of the zone database, not a zone
        ("europe/berlin", False),
    ],
)
def test_time_zone_check(name: str, ok: bool) -> None:
    assert (schedule.check_zone(name) is None) == ok


def test_unknown_time_zone_names_the_field() -> None:
    invalid = plan.parse(policy(timeZone="Mars/Olympus_Mons"))
    assert isinstance(invalid, plan.Invalid)
    assert invalid.reason == "InvalidSchedule"
    assert invalid.message.startswith("spec.timeZone: 'Mars/Olympus_Mons' is not a known")
    assert "Europe/Berlin" in invalid.message  # the fix: what a name looks like


def test_schedule_is_read_in_its_time_zone() -> None:
    summer = datetime(2026, 7, 1, 12, tzinfo=UTC)
    obj = policy(schedule="0 3 * * *", timeZone="Europe/Berlin")
    obj["metadata"]["creationTimestamp"] = fmt_time(summer)
    obj["status"] = {"observedGeneration": 1}
    # 03:00 in Berlin is 01:00 UTC in summer (CEST) and 02:00 UTC in winter (CET).
    assert plan.trigger(obj, parsed(obj), summer).next_run == datetime(2026, 7, 2, 1, tzinfo=UTC)
    winter = datetime(2026, 12, 1, 12, tzinfo=UTC)
    obj["metadata"]["creationTimestamp"] = fmt_time(winter)
    assert plan.trigger(obj, parsed(obj), winter).next_run == datetime(2026, 12, 2, 2, tzinfo=UTC)
    # Unset is UTC.
    del obj["spec"]["timeZone"]
    assert plan.trigger(obj, parsed(obj), winter).next_run == datetime(2026, 12, 2, 3, tzinfo=UTC)


def runs(expr: str, zone: str, start: datetime, n: int) -> list[datetime]:
    out, t = [], start
    for _ in range(n):
        t = schedule.next_after(expr, t, schedule.zone(zone))
        out.append(t)
    return out


def test_daylight_saving_changes_run_each_wall_clock_time_once() -> None:
    # Clocks go forward at 02:00 on 29 March 2026 in Berlin: 02:30 does not exist that day,
    # and the run happens once, at 03:00 CEST (01:00 UTC).
    spring = runs("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=UTC), 3)
    assert spring == [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 31, 0, 30, tzinfo=UTC),
    ]
    # Clocks go back at 03:00 on 25 October 2026: 02:30 happens twice; it runs at the first.
    autumn = runs("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 24, 12, tzinfo=UTC), 3)
    assert autumn == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 27, 1, 30, tzinfo=UTC),
    ]
    # A run missed across the repeated hour still happens once.
    slot = schedule.latest_due(
        "30 2 * * *",
        datetime(2026, 10, 24, 12, tzinfo=UTC),
        datetime(2026, 10, 25, 2, tzinfo=UTC),
        schedule.zone("Europe/Berlin"),
    )
    assert slot is not None
    assert schedule.next_after("30 2 * * *", slot, schedule.zone("Europe/Berlin")) == datetime(
        2026, 10, 26, 1, 30, tzinfo=UTC
    )


@settings(max_examples=40, deadline=None)
@given(
    zone=st.sampled_from(
        ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
    ),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    start=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
)
def test_a_daily_schedule_runs_once_per_local_day(
    zone: str, hour: int, minute: int, start: datetime
) -> None:
    times = runs(f"{minute} {hour} * * *", zone, start, 400)
    assert times[0] > start and times == sorted(set(times))
    local = [t.astimezone(schedule.zone(zone)) for t in times]
    days = [t.date() for t in local]
    assert len(set(days)) == len(days)  # never twice on one local day
    # Every local day from the first to the last has its run (none skipped).
    assert (days[-1] - days[0]).days == len(days) - 1
    # At the wall-clock time asked for, except where that time did not exist that day.
    on_time = [t for t in local if (t.hour, t.minute) == (hour, minute)]
    assert len(on_time) >= len(local) - 2


def test_resolve_count() -> None:
    assert plan.resolve_count(7, 100) == 7
    assert plan.resolve_count("10%", 15) == 1  # rounded down
    assert plan.resolve_count("10%", 5) == 0
    assert plan.resolve_count("100%", 3) == 3


# ---------------------------------------------------------------- when


def test_not_due_until_the_slot_then_once() -> None:
    obj = policy(mode="Enforce")
    # Created 11:00:30; the first slot is 12:00, already past at 12:00:30: due.
    trig = plan.trigger(obj, parsed(obj), T0)
    assert trig.reason == "schedule" and trig.slot == T0.replace(minute=0, second=0)
    assert trig.next_run == T0.replace(hour=13, minute=0, second=0)
    obj["status"] = {"lastScheduleTime": fmt_time(trig.slot), "observedGeneration": 1}
    later = plan.trigger(obj, parsed(obj), T0 + timedelta(minutes=5))
    assert later.reason is None and later.next_run == T0.replace(hour=13, minute=0, second=0)
    assert plan.wait_seconds(later, T0 + timedelta(minutes=5)) == pytest.approx(54 * 60 + 30)


def test_missed_runs_collapse_into_one() -> None:
    obj = policy(mode="Enforce", status={"lastScheduleTime": fmt_time(T0 - timedelta(days=2))})
    trig = plan.trigger(obj, parsed(obj), T0)
    assert trig.reason == "schedule" and trig.slot == T0.replace(minute=0, second=0)


def test_run_now_once_per_value() -> None:
    status = {"lastScheduleTime": fmt_time(T0.replace(minute=0, second=0)), "observedGeneration": 1}
    obj = policy(status=status, annotations={"mcpops.dev/run-now": "1"}, mode="Enforce")
    trig = plan.trigger(obj, parsed(obj), T0)
    assert trig.reason == "run-now" and trig.run_now == "1" and trig.slot is None
    obj["status"] = {**status, "runNowToken": "1"}
    assert plan.trigger(obj, parsed(obj), T0).reason is None


def test_dry_run_previews_a_spec_change_enforce_waits() -> None:
    status = {"lastScheduleTime": fmt_time(T0.replace(minute=0, second=0)), "observedGeneration": 0}
    obj = policy(status=status)
    assert plan.trigger(obj, parsed(obj), T0).reason == "spec"
    obj = policy(status=status, mode="Enforce")
    assert plan.trigger(obj, parsed(obj), T0).reason is None


# ---------------------------------------------------------------- circuit breaker


def enforce(
    status: dict[str, Any] | None = None, ack: str | None = None, **spec: Any
) -> dict[str, Any]:
    annotations = {"mcpops.dev/acknowledge": ack} if ack else {}
    return policy(
        status=status,
        annotations=annotations,
        mode="Enforce",
        circuitBreaker={"maxCandidates": 10},
        **spec,
    )


def test_breaker_blocks_then_acknowledgement_resumes_and_drains() -> None:
    obj = enforce()
    g = plan.gate(obj, parsed(obj), 50, 100, T0)
    assert not g.allowed and g.tripped and g.breaker is not None
    assert g.breaker["state"] == "Blocked" and g.breaker["candidates"] == 50
    token = g.breaker["token"]
    # Same size next run: the same token (an acknowledgement in flight still matches).
    obj = enforce({"breaker": g.breaker})
    g2 = plan.gate(obj, parsed(obj), 50, 100, T0 + timedelta(hours=1))
    assert not g2.allowed and not g2.tripped and g2.breaker and g2.breaker["token"] == token
    # The person acknowledges what status asked for.
    obj = enforce({"breaker": g.breaker}, ack=token)
    assert plan.trigger(obj, parsed(obj), T0).reason == "acknowledge"
    g3 = plan.gate(obj, parsed(obj), 50, 100, T0)
    assert g3.allowed and g3.acknowledged and g3.breaker and g3.breaker["state"] == "Acknowledged"
    # Draining under the cap: fewer than acknowledged, still allowed without a new ack.
    obj = enforce({"breaker": g3.breaker}, ack=token)
    g4 = plan.gate(obj, parsed(obj), 40, 100, T0 + timedelta(hours=1))
    assert g4.allowed and not g4.acknowledged
    # Below the threshold: the breaker closes.
    g5 = plan.gate(obj, parsed(obj), 5, 100, T0 + timedelta(hours=2))
    assert g5.allowed and g5.breaker is None


def test_growth_after_acknowledgement_blocks_again_and_a_stale_ack_does_not_open_it() -> None:
    obj = enforce()
    first = plan.gate(obj, parsed(obj), 50, 100, T0).breaker
    assert first is not None
    obj = enforce({"breaker": first}, ack=first["token"])
    acked = plan.gate(obj, parsed(obj), 50, 100, T0).breaker
    obj = enforce({"breaker": acked}, ack=first["token"])
    g = plan.gate(obj, parsed(obj), 80, 100, T0 + timedelta(hours=1))
    assert not g.allowed and g.tripped and g.breaker is not None
    assert g.breaker["state"] == "Blocked" and g.breaker["token"] != first["token"]
    # The old annotation is still there: it does not match the new block.
    obj = enforce({"breaker": g.breaker}, ack=first["token"])
    assert not plan.acknowledged(obj)
    assert not plan.gate(obj, parsed(obj), 80, 100, T0 + timedelta(hours=2)).allowed
    # A block that changed size asks a new question.
    g6 = plan.gate(obj, parsed(obj), 90, 100, T0 + timedelta(hours=3))
    assert g6.breaker is not None and g6.breaker["token"] != g.breaker["token"]


def test_breaker_percentage_and_dry_run_only_reports() -> None:
    obj = policy(circuitBreaker={"maxCandidates": "50%"})
    g = plan.gate(obj, parsed(obj), 60, 100, T0)
    assert not g.allowed and g.would_block and g.breaker is None and g.threshold == 50


def test_cap_takes_the_oldest_first() -> None:
    obj = enforce(maxDeletionsPerRun="10%")
    now, later = plan.cap(parsed(obj), cands(30), 30)
    assert [c.record.name for c in now] == ["cm-0", "cm-1", "cm-2"]
    assert len(later) == 27


# ---------------------------------------------------------------- status


def result(obj: dict[str, Any], n: int, **kw: Any) -> RunResult:
    spec = parsed(obj)
    sel = Selection(matched=[c.record for c in cands(n + 2)], candidates=cands(n))
    trig = Trigger("run-now", None, T0 + timedelta(hours=1), "1")
    g = plan.gate(obj, spec, n, n + 2, T0)
    return RunResult(trig, spec.mode, sel, g, **kw)


def conds(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_dry_run_status_lists_candidates_bounded() -> None:
    obj = policy()
    status, events = policy_status.run_status(obj, result(obj, 80), T0)
    assert status["lastRun"]["candidates"] == 80 and status["lastRun"]["deleted"] == 0
    assert len(status["candidates"]) == 50
    assert status["candidates"][0] == {
        "rule": "old",
        "kind": "ConfigMap",
        "name": "cm-0",
        "age": "2h",
    }
    assert status["runNowToken"] == "1" and status["nextRunTime"] == fmt_time(
        T0 + timedelta(hours=1)
    )
    c = conds(status)
    assert c["Ready"]["reason"] == "Succeeded" and "DryRun" in c["Ready"]["message"]
    assert c["Blocked"]["status"] == "False"
    assert [e.reason for e in events] == ["DryRun"]


def test_no_matches_is_visible() -> None:
    obj = policy()
    res = result(obj, 0)
    res.selection = Selection()
    status, _ = policy_status.run_status(obj, res, T0)
    assert conds(status)["Ready"]["reason"] == "NoMatches"


def test_blocked_status_names_the_token_and_warns() -> None:
    obj = enforce()
    status, events = policy_status.run_status(obj, result(obj, 30), T0)
    blocked = conds(status)["Blocked"]
    token = status["breaker"]["token"]
    assert blocked["status"] == "True" and blocked["reason"] == "CircuitBreakerTripped"
    assert f"kubectl annotate cleanuppolicy p mcpops.dev/acknowledge={token}" in blocked["message"]
    assert [e.reason for e in events] == ["CircuitBreakerTripped"]
    assert len(status["candidates"]) == 30


def test_deletions_are_recorded_newest_first_with_an_event_each() -> None:
    obj = enforce(
        status={"deletions": [{"rule": "old", "kind": "ConfigMap", "name": "before", "age": "1d"}]}
    )
    res = result(obj, 3)
    res.deleted = [(c, T0 + timedelta(seconds=i)) for i, c in enumerate(res.selection.candidates)]
    status, events = policy_status.run_status(obj, res, T0)
    assert [d["name"] for d in status["deletions"]] == ["cm-2", "cm-1", "cm-0", "before"]
    assert [e.reason for e in events] == ["Deleted"] * 3
    assert "rule old, age 2h" in events[0].message
    assert "candidates" not in status


def test_forbidden_is_degraded_naming_kind_and_verb() -> None:
    obj = enforce()
    problem = Problem("Forbidden", "cannot list widgets.example.com in namespace ns: ...")
    status, events = policy_status.run_status(obj, result(obj, 1, problems=[problem]), T0)
    c = conds(status)
    assert c["Degraded"]["status"] == "True" and c["Degraded"]["reason"] == "Forbidden"
    assert "list widgets.example.com" in c["Degraded"]["message"]
    assert c["Ready"]["status"] == "False"
    assert "Forbidden" in [e.reason for e in events]


@pytest.mark.parametrize("trigger_kind", ["schedule", "run-now", "acknowledge"])
def test_a_claimed_run_does_not_run_again_if_its_report_is_lost(trigger_kind: str) -> None:
    """The claim written before deleting spends the trigger: replanning from it (as after a
    failed final status write) finds nothing due, so the cap cannot be exceeded twice."""
    status: dict[str, Any] = {"observedGeneration": 1}
    annotations: dict[str, str] = {}
    if trigger_kind != "schedule":
        status["lastScheduleTime"] = fmt_time(T0.replace(minute=0, second=0))
    if trigger_kind == "run-now":
        annotations["mcpops.dev/run-now"] = "go"
    if trigger_kind == "acknowledge":
        blocked = plan.gate(enforce(), parsed(enforce()), 50, 100, T0).breaker
        assert blocked is not None
        status["breaker"] = blocked
        annotations["mcpops.dev/acknowledge"] = blocked["token"]
    obj = policy(status=status, annotations=annotations, mode="Enforce")
    if trigger_kind == "acknowledge":
        obj["spec"]["circuitBreaker"] = {"maxCandidates": 10}
    trig = plan.trigger(obj, parsed(obj), T0)
    assert trig.reason == trigger_kind
    g = plan.gate(obj, parsed(obj), 50 if trigger_kind == "acknowledge" else 3, 100, T0)
    assert g.allowed
    claimed = {**obj, "status": policy_status.claim_status(obj, trig, g, T0)}
    assert claimed["status"]["runStarted"] == fmt_time(T0)
    assert plan.trigger(claimed, parsed(claimed), T0 + timedelta(seconds=1)).reason is None
