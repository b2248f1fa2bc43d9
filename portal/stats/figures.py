"""How the service performs, from aggregate SQL: the dashboard's and /stats' one source.

Every figure is over the cases *received* in a period (by ``created_at``, in the
deployment's time zone), so that the count, the times and the shares of one period
describe the same cases. Times are in working days as the deadlines count them
(``portal.sla``: weekends, Spain's national holidays and the deployment's own left
out; days waiting on the citizen left out of resolution times), stored on each case
when it is answered, so that a year of a million cases is a handful of GROUP BYs and
never a loop over rows. Medians and 90th percentiles come from the GROUP BY's
histogram of whole days, with the same interpolation as Python's
``statistics.quantiles(method="inclusive")``.

Cases merged into another are left out: they are counted once, in the case they
joined.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, case, func, select

from portal import clock, sla
from portal.extensions import db
from portal.models import (
    Case,
    CaseKind,
    Channel,
    Idea,
    IdeaStatus,
    SuggestionOpen,
)
from portal.models.case import OPEN_STATUSES

# The share of cases answered within these many working days (and "more"), as peers'
# citizens asked: a distribution says more than an average.
WITHIN_DAYS = (5, 10, 20)
OPEN_IDEA_STATUSES = (IdeaStatus.SUBMITTED, IdeaStatus.UNDER_REVIEW, IdeaStatus.PLANNED,
                      IdeaStatus.IN_PROGRESS)


# ---------------------------------------------------------------- periods

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


# ---------------------------------------------------------------- percentiles

def quantile(histogram: Counter[int], q: float) -> float | None:
    """The q-quantile of the values a {value: count} histogram holds (None: no values).

    Linear interpolation between order statistics at (n - 1) * q, as
    ``statistics.quantiles(..., method="inclusive")`` and ``statistics.median`` do.
    """
    total = sum(histogram.values())
    if total == 0:
        return None
    position = (total - 1) * q
    below, above = math.floor(position), math.ceil(position)
    low = high = None
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if low is None and seen > below:
            low = value
        if seen > above:
            high = value
            break
    return low + (high - low) * (position - below)


# ---------------------------------------------------------------- case figures

@dataclass
class ServiceFigures:
    """The cases received in one period by one department (or several, added up)."""

    received: int = 0
    answered: int = 0
    answered_on_time: int = 0
    # Past the first-answer deadline with no answer yet: late, though not answered.
    late_unanswered: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    late_unresolved: int = 0
    reopened: int = 0
    rated: int = 0
    rating_total: int = 0
    ratings: Counter[int] = field(default_factory=Counter)
    first_response: Counter[int] = field(default_factory=Counter)
    resolution: Counter[int] = field(default_factory=Counter)

    def add(self, other: ServiceFigures) -> ServiceFigures:
        for name in ("received", "answered", "answered_on_time", "late_unanswered",
                     "resolved", "resolved_on_time", "late_unresolved", "reopened", "rated",
                     "rating_total"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("ratings", "first_response", "resolution"):
            getattr(self, name).update(getattr(other, name))
        return self

    @property
    def first_response_median(self) -> float | None:
        return quantile(self.first_response, 0.5)

    @property
    def first_response_p90(self) -> float | None:
        return quantile(self.first_response, 0.9)

    @property
    def resolution_median(self) -> float | None:
        return quantile(self.resolution, 0.5)

    @property
    def resolution_p90(self) -> float | None:
        return quantile(self.resolution, 0.9)

    @property
    def on_time_decided(self) -> int:
        """The cases whose first answer was given, or is already late: on time or not."""
        return self.answered + self.late_unanswered

    @property
    def on_time_share(self) -> float | None:
        return _share(self.answered_on_time, self.on_time_decided)

    @property
    def resolved_on_time_share(self) -> float | None:
        return _share(self.resolved_on_time, self.resolved + self.late_unresolved)

    @property
    def reopen_rate(self) -> float | None:
        return _share(self.reopened, self.resolved)

    @property
    def satisfaction(self) -> float | None:
        return self.rating_total / self.rated if self.rated else None

    def within(self) -> list[tuple[str, int]]:
        """How many of the received cases had their first answer within 5, 10, 20
        working days, later, or not yet: ("5", n), ("10", n), ("20", n), ("more", n),
        ("none", n); each case in exactly one band."""
        bands, lower = [], -1
        for limit in WITHIN_DAYS:
            bands.append((str(limit), sum(count for days, count in self.first_response.items()
                                          if lower < days <= limit)))
            lower = limit
        bands.append(("more", sum(count for days, count in self.first_response.items()
                                  if days > lower)))
        bands.append(("none", self.received - self.answered))
        return bands


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _edges(periods: Sequence[Period]) -> list[datetime]:
    """The moments between contiguous periods: the first's start, then each one's end."""
    return [periods[0].bounds()[0]] + [period.bounds()[1] for period in periods]


def _bucket(column, edges: Sequence[datetime]):
    """Which of the periods between consecutive ``edges`` a moment falls in (0, 1, ...)."""
    return case(*[(column < edge, number) for number, edge in enumerate(edges[1:])])


def _received(edges: Sequence[datetime], department_ids: Iterable[int] | None):
    conditions = [Case.created_at >= edges[0], Case.created_at < edges[-1],
                  Case.merged_into_id.is_(None)]
    if department_ids is not None:
        conditions.append(Case.department_id.in_(list(department_ids)))
    return and_(*conditions)


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def service_figures(periods: Sequence[Period], department_ids: Iterable[int] | None = None,
                    ) -> list[dict[int | None, ServiceFigures]]:
    """For each period (contiguous, oldest first): {department id: figures}.

    Three scans of the received cases, whatever the number of periods: the counts and
    shares, and the histograms of the two times.
    """
    edges = _edges(periods)
    if department_ids is not None:
        department_ids = list(department_ids)
    bucket = _bucket(Case.created_at, edges).label("bucket")
    where = _received(edges, department_ids)
    now = clock.now()
    result: list[dict[int | None, ServiceFigures]] = [{} for _ in periods]

    def figures(number, department_id) -> ServiceFigures:
        return result[number].setdefault(department_id, ServiceFigures())

    rows = db.session.execute(
        select(bucket, Case.department_id, func.count(),
               _count_if(Case.first_responded_at.is_not(None)),
               _count_if(Case.first_responded_at <= Case.first_response_due_at),
               _count_if(and_(Case.first_responded_at.is_(None),
                              Case.first_response_due_at < now)),
               _count_if(Case.resolved_at.is_not(None)),
               _count_if(Case.resolved_at <= Case.resolution_due_at),
               _count_if(and_(Case.resolved_at.is_(None), Case.resolution_due_at < now,
                              Case.status.in_([status.value for status in OPEN_STATUSES]))),
               _count_if(Case.reopen_count > 0),
               _count_if(Case.satisfaction.is_not(None)),
               func.coalesce(func.sum(Case.satisfaction), 0),
               *[_count_if(Case.satisfaction == score) for score in range(1, 6)])
        .where(where).group_by(bucket, Case.department_id))
    for number, department_id, *counts in rows:
        item = figures(number, department_id)
        (item.received, item.answered, item.answered_on_time, item.late_unanswered,
         item.resolved, item.resolved_on_time, item.late_unresolved, item.reopened,
         item.rated, item.rating_total) = (int(value) for value in counts[:10])
        item.ratings = Counter({score: int(count) for score, count
                                in zip(range(1, 6), counts[10:], strict=True) if count})

    for column, name in ((Case.first_response_working_days, "first_response"),
                         (Case.resolution_working_days, "resolution")):
        rows = db.session.execute(
            select(bucket, Case.department_id, column, func.count())
            .where(where, column.is_not(None))
            .group_by(bucket, Case.department_id, column))
        for number, department_id, days, count in rows:
            getattr(figures(number, department_id), name)[int(days)] += int(count)
    return result


def total(by_department: dict[int | None, ServiceFigures]) -> ServiceFigures:
    result = ServiceFigures()
    for item in by_department.values():
        result.add(item)
    return result


@dataclass
class Volumes:
    """Cases received, by kind, channel and topic (category; None: no topic)."""

    kind: Counter[str] = field(default_factory=Counter)
    channel: Counter[str] = field(default_factory=Counter)
    topic: Counter[int | None] = field(default_factory=Counter)


def volumes(periods: Sequence[Period], department_ids: Iterable[int] | None = None,
            ) -> list[Volumes]:
    edges = _edges(periods)
    if department_ids is not None:
        department_ids = list(department_ids)
    bucket = _bucket(Case.created_at, edges).label("bucket")
    result = [Volumes() for _ in periods]
    rows = db.session.execute(
        select(bucket, Case.kind, Case.channel, Case.category_id, func.count())
        .where(_received(edges, department_ids))
        .group_by(bucket, Case.kind, Case.channel, Case.category_id))
    for number, kind, channel, category_id, count in rows:
        item = result[number]
        item.kind[CaseKind(kind).value] += count
        item.channel[Channel(channel).value] += count
        item.topic[category_id] += count
    return result


# ---------------------------------------------------------------- now

def backlog(department_ids: Iterable[int] | None = None) -> dict[int | None, tuple[int, int]]:
    """{department id: (open cases, overdue ones)} now."""
    now = clock.now()
    query = (select(Case.department_id, func.count(), _count_if(Case.next_due_at < now))
             .where(Case.next_due_at.is_not(None)).group_by(Case.department_id))
    if department_ids is not None:
        query = query.where(Case.department_id.in_(list(department_ids)))
    return {department_id: (int(count), int(overdue))
            for department_id, count, overdue in db.session.execute(query)}


def latest_comments(period: Period, department_ids: Iterable[int] | None = None,
                    limit: int = 5) -> list[Case]:
    """The latest ratings with a comment, for managers (never shown in public)."""
    start, end = period.bounds()
    query = (select(Case).where(Case.rated_at >= start, Case.rated_at < end,
                                Case.satisfaction_comment != "")
             .order_by(Case.rated_at.desc(), Case.id.desc()).limit(limit))
    if department_ids is not None:
        query = query.where(Case.department_id.in_(list(department_ids)))
    return list(db.session.scalars(query))


# ---------------------------------------------------------------- the knowledge base

def deflection(periods: Sequence[Period]) -> list[tuple[int, int]]:
    """For each period: (forms in which a suggested answer was opened, of them never sent)."""
    edges = _edges(periods)
    per_form = (select(SuggestionOpen.form_token,
                       func.min(SuggestionOpen.opened_at).label("opened_at"),
                       func.max(case((SuggestionOpen.submitted, 1), else_=0)).label("sent"))
                .where(SuggestionOpen.opened_at >= edges[0],
                       SuggestionOpen.opened_at < edges[-1])
                .group_by(SuggestionOpen.form_token).subquery())
    bucket = _bucket(per_form.c.opened_at, edges).label("bucket")
    result = [(0, 0) for _ in periods]
    for number, forms, sent in db.session.execute(
            select(bucket, func.count(), func.coalesce(func.sum(per_form.c.sent), 0))
            .group_by(bucket)):
        if number is not None:
            result[number] = (int(forms), int(forms) - int(sent))
    return result


# ---------------------------------------------------------------- ideas

@dataclass
class IdeaFigures:
    proposed: Counter[str] = field(default_factory=Counter)  # by status now
    answered: int = 0  # given a public response in the period

    @property
    def total(self) -> int:
        return sum(self.proposed.values())


def ideas_total(by_department: dict[int | None, IdeaFigures]) -> IdeaFigures:
    result = IdeaFigures()
    for item in by_department.values():
        result.proposed.update(item.proposed)
        result.answered += item.answered
    return result


def idea_figures(periods: Sequence[Period], department_ids: Iterable[int] | None = None,
                 ) -> list[dict[int | None, IdeaFigures]]:
    """For each period, {department id: the ideas proposed in it by status, and answered}."""
    edges = _edges(periods)
    department_ids = list(department_ids) if department_ids is not None else None
    result: list[dict[int | None, IdeaFigures]] = [{} for _ in periods]
    scope = [Idea.department_id.in_(department_ids)] if department_ids is not None else []
    bucket = _bucket(Idea.created_at, edges).label("bucket")
    for number, department_id, status, count in db.session.execute(
            select(bucket, Idea.department_id, Idea.status, func.count())
            .where(Idea.created_at >= edges[0], Idea.created_at < edges[-1],
                   Idea.duplicate_of_id.is_(None), *scope)
            .group_by(bucket, Idea.department_id, Idea.status)):
        result[number].setdefault(department_id, IdeaFigures()).proposed[
            IdeaStatus(status).value] += count
    bucket = _bucket(Idea.official_response_at, edges).label("bucket")
    for number, department_id, count in db.session.execute(
            select(bucket, Idea.department_id, func.count())
            .where(Idea.official_response_at >= edges[0],
                   Idea.official_response_at < edges[-1], *scope)
            .group_by(bucket, Idea.department_id)):
        result[number].setdefault(department_id, IdeaFigures()).answered += count
    return result


def ideas_awaiting(department_ids: Iterable[int] | None = None,
                   ) -> dict[int | None, tuple[int, int]]:
    """{department id: (ideas with an answer due, of them overdue)} now, public ones."""
    now = clock.now()
    query = (select(Idea.department_id, func.count(), _count_if(Idea.answer_due_at < now))
             .where(Idea.public.is_(True), Idea.answer_due_at.is_not(None),
                    Idea.status.in_([status.value for status in OPEN_IDEA_STATUSES]))
             .group_by(Idea.department_id))
    if department_ids is not None:
        query = query.where(Idea.department_id.in_(list(department_ids)))
    return {department_id: (int(count), int(overdue))
            for department_id, count, overdue in db.session.execute(query)}
