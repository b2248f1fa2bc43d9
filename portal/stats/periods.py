"""Periods of local dates, and the SQL that sorts moments (or days) into them.

Shared by the figures that read the daily rollup and by the rollup's upkeep, which
reads the cases: both must cut the days at the same local midnights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import case, func

from portal import clock, sla

PRESETS = ("week", "month", "quarter", "year", "custom")


@dataclass(frozen=True)
class Period:
    """Local dates, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before: what each figure is compared with."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def bounds(self) -> tuple[datetime, datetime]:
        """[from, to) in UTC: local midnight of the first day to that after the last."""
        return local_midnight(self.start), local_midnight(self.end + timedelta(days=1))


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=sla.local_zone()).astimezone(UTC)


def today() -> date:
    return clock.now().astimezone(sla.local_zone()).date()


def period_for(preset: str, start: date | None = None, end: date | None = None,
               on: date | None = None) -> Period:
    """This week, month, quarter or year up to today, or a custom range."""
    day = on or today()
    if preset == "custom" and start and end:
        return Period(min(start, end), max(start, end))
    if preset == "week":
        return Period(day - timedelta(days=day.weekday()), day)
    if preset == "quarter":
        return Period(date(day.year, 3 * ((day.month - 1) // 3) + 1, 1), day)
    if preset == "year":
        return Period(date(day.year, 1, 1), day)
    return Period(day.replace(day=1), day)


def last_months(count: int, on: date | None = None) -> list[Period]:
    """The calendar months up to this one (which runs to today), oldest first."""
    day = on or today()
    months = []
    first = day.replace(day=1)
    for _ in range(count):
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        months.append(Period(first, min(last, day)))
        first = (first - timedelta(days=1)).replace(day=1)
    return months[::-1]


def period_edges(periods: Sequence[Period]) -> list[datetime]:
    """The moments between contiguous periods: the first's start, then each one's end."""
    return [periods[0].bounds()[0]] + [period.bounds()[1] for period in periods]


def period_bucket(column, edges: Sequence[datetime]):
    """Which of the periods between consecutive ``edges`` a moment falls in (0, 1, ...)."""
    return case(*[(column < edge, number) for number, edge in enumerate(edges[1:])])


def count_if(condition):
    """How many rows of a GROUP BY meet the condition (0 when none)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)
