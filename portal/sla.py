"""Service-level clocks in working days (días hábiles) or calendar days.

A working day is Monday to Friday, except Spain's national holidays and the
deployment's own holidays (the ``holidays`` table: regional and local ones). A target
of N working days from a moment ends at the end of the Nth working day after it, in
the deployment's time zone: a case sent on Friday evening with a 2-day target is due
at the end of Tuesday.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from portal.extensions import db


def easter_sunday(year: int) -> date:
    """Gregorian Easter (the anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=64)
def spanish_national_holidays(year: int) -> frozenset[date]:
    """The holidays common to all of Spain (Estatuto de los Trabajadores, art. 37.2)."""
    fixed = [(1, 1), (1, 6), (5, 1), (8, 15), (10, 12), (11, 1), (12, 6), (12, 8), (12, 25)]
    good_friday = easter_sunday(year) - timedelta(days=2)
    return frozenset([date(year, month, day) for month, day in fixed] + [good_friday])


class Calendar:
    """Which days are working days for one deployment."""

    def __init__(self, extra_holidays: Iterable[date] = ()) -> None:
        self.extra_holidays = frozenset(extra_holidays)

    def is_working_day(self, day: date) -> bool:
        return (day.weekday() < 5 and day not in spanish_national_holidays(day.year)
                and day not in self.extra_holidays)

    def add_working_days(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start`` (``start`` itself not counted)."""
        current = start
        remaining = days
        while remaining > 0:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (negative if before)."""
        if end < start:
            return -self.working_days_between(end, start)
        # Whole weeks hold five weekdays each; walk only the remainder, then take off
        # the holidays that fall on a weekday in the range. Constant time per year.
        days = (end - start).days
        weeks, remainder = divmod(days, 7)
        weekdays = weeks * 5 + sum(
            1 for offset in range(days - remainder + 1, days + 1)
            if (start + timedelta(days=offset)).weekday() < 5)
        holidays = set(self.extra_holidays)
        for year in range(start.year, end.year + 1):
            holidays |= spanish_national_holidays(year)
        return weekdays - sum(1 for day in holidays
                              if start < day <= end and day.weekday() < 5)


def deployment_calendar() -> Calendar:
    """The deployment's calendar, kept between requests until a holiday (or other public
    content) changes: every new case needs it for its deadlines."""
    from portal import page_cache
    from portal.models import Holiday

    return page_cache.remember(("calendar",), lambda: Calendar(
        db.session.scalars(select(Holiday.day)).all()))


def local_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["PORTAL"]["TIMEZONE"])


def due_at(start: datetime, days: int, calendar_days: bool,
           calendar: Calendar | None = None) -> datetime:
    """When a target of ``days`` counted from ``start`` runs out (end of that local day)."""
    zone = local_zone()
    start_day = start.astimezone(zone).date()
    if calendar_days:
        last_day = start_day + timedelta(days=days)
    else:
        last_day = (calendar or deployment_calendar()).add_working_days(start_day, days)
    end_of_day = datetime.combine(last_day, time(23, 59, 59), tzinfo=zone)
    return end_of_day.astimezone(UTC)


def working_days_elapsed(start: datetime, end: datetime,
                         calendar: Calendar | None = None) -> int:
    """Working days from ``start`` to ``end`` as a deadline counts them: an answer on the
    day of the request took 0, one on the next working day 1 (local dates)."""
    zone = local_zone()
    return max(0, (calendar or deployment_calendar()).working_days_between(
        start.astimezone(zone).date(), end.astimezone(zone).date()))


def extend_for_pause(due: datetime, paused_at: datetime, resumed_at: datetime,
                     calendar_days: bool, calendar: Calendar | None = None) -> datetime:
    """Move a due date on by the time a case spent waiting on the citizen.

    Working-day targets move by the working days that passed while paused (a weekend
    spent waiting costs nothing); calendar-day targets by the time itself.
    """
    if resumed_at <= paused_at:
        return due
    if calendar_days:
        return due + (resumed_at - paused_at)
    zone = local_zone()
    calendar = calendar or deployment_calendar()
    lost = calendar.working_days_between(paused_at.astimezone(zone).date(),
                                         resumed_at.astimezone(zone).date())
    if lost <= 0:
        return due
    local_due = due.astimezone(zone)
    moved = calendar.add_working_days(local_due.date(), lost)
    return datetime.combine(moved, local_due.timetz()).astimezone(UTC)


def recount_due(due: datetime, since: date, before: Calendar, after: Calendar) -> datetime:
    """A working-day due date under a changed holiday calendar.

    The working days left after ``since`` (today, or the start of the case if later)
    are counted with ``before`` and counted out again with ``after``: a holiday added
    in between moves the due date one working day on, one removed brings it back.
    Days already past are not recounted.
    """
    zone = local_zone()
    local_due = due.astimezone(zone)
    if local_due.date() <= since:
        return due
    moved = after.add_working_days(since, before.working_days_between(since, local_due.date()))
    return datetime.combine(moved, local_due.timetz()).astimezone(UTC)


def describe(due: datetime | None, now: datetime, calendar_days: bool,
             calendar: Calendar | None = None) -> tuple[str, int] | None:
    """("due", n days left), ("today", 0) or ("overdue", n days late), counted like the target."""
    if due is None:
        return None
    zone = local_zone()
    today, due_day = now.astimezone(zone).date(), due.astimezone(zone).date()
    if calendar_days:
        days = (due_day - today).days
    else:
        days = (calendar or deployment_calendar()).working_days_between(today, due_day)
    if due < now:
        return "overdue", max(1, -days)
    if days == 0:
        return "today", 0
    return "due", days
