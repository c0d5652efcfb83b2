"""Cron schedules (UTC), through croniter: check an expression, find due and next runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from croniter import CroniterError, croniter

DESCRIPTORS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)


def check(expr: str) -> str | None:
    """Why the expression is not a schedule we run, or None when it is one.

    Five fields only (croniter also takes seconds and years; the API promises cron), and it
    must fire at least once (croniter accepts 30 February and then never fires).
    """
    text = expr.strip()
    if text not in DESCRIPTORS and len(text.split()) != 5:
        return (
            f"{expr!r} has {len(text.split())} fields; use five (minute hour day-of-month month "
            "day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly"
        )
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except (CroniterError, ValueError, TypeError) as exc:
        return f"{expr!r} is not a valid cron expression: {exc}"
    return None


def next_after(expr: str, when: datetime) -> datetime:
    """The first scheduled time strictly after `when`."""
    return croniter(expr.strip(), when.astimezone(UTC)).get_next(datetime).astimezone(UTC)


def latest_due(expr: str, base: datetime, now: datetime) -> datetime | None:
    """The latest scheduled time in (base, now], or None when none is due.

    Runs missed while the operator was down collapse into one (as a CronJob without a
    starting deadline does): the caller runs once and records this time.
    """
    if next_after(expr, base) > now:
        return None
    latest = croniter(expr.strip(), now.astimezone(UTC) + timedelta(seconds=1)).get_prev(datetime)
    return latest.astimezone(UTC)
