"""Cron schedules, through croniter: check an expression and a time zone, find due and next
runs. Times go in and come out in UTC; the expression is read in the given zone."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, datetime, timedelta, tzinfo

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


def check_zone(name: str | None) -> str | None:
    """Why `name` is not a time zone we know, or None when it is one (or unset: UTC)."""
    if name is None or name in _known_zones():
        return None
    return (
        f"{name!r} is not a known IANA time zone; use a name such as Europe/Berlin, "
        "America/New_York or UTC, or leave it unset for UTC"
    )


@functools.cache
def _known_zones() -> frozenset[str]:
    # The zone database's own list: ZoneInfo() alone would also try to open directories
    # ("America") and stray files, and fail in ways that are not "unknown zone".
    return frozenset(zoneinfo.available_timezones())


def zone(name: str | None) -> tzinfo:
    """The zone a schedule is read in: UTC when unset. Raises for an unknown name."""
    return UTC if name is None else zoneinfo.ZoneInfo(name)


def next_after(expr: str, when: datetime, tz: tzinfo = UTC) -> datetime:
    """The first scheduled time strictly after `when`, with `expr` read in `tz`.

    A wall-clock time that occurs twice (clocks going back) runs once, at its first
    occurrence; croniter alone would run it at both. (So an hourly schedule has one
    two-hour gap that night, in that zone.)
    """
    it = croniter(expr.strip(), when.astimezone(tz))
    while True:
        nxt: datetime = it.get_next(datetime)
        local = nxt.astimezone(tz)
        first = local.replace(fold=0)
        if local.fold == 0 or first.utcoffset() == local.utcoffset():
            return nxt.astimezone(UTC)  # not the second of two equal wall-clock times


def latest_due(expr: str, base: datetime, now: datetime, tz: tzinfo = UTC) -> datetime | None:
    """The latest scheduled time in (base, now], or None when none is due.

    Runs missed while the operator was down collapse into one (as a CronJob without a
    starting deadline does): the caller runs once and records this time.
    """
    if next_after(expr, base, tz) > now:
        return None
    start = (now + timedelta(seconds=1)).astimezone(tz)
    return croniter(expr.strip(), start).get_prev(datetime).astimezone(UTC)
