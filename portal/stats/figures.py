"""How the service performs, from aggregate SQL: the dashboard's and /stats' one source.

Every figure is over the cases *received* in a period (by ``created_at``, in the
deployment's time zone), so that the count, the times and the shares of one period
describe the same cases. Times are in working days as the deadlines count them
(``portal.sla``: weekends, Spain's national holidays and the deployment's own left
out; days waiting on the citizen left out of resolution times), stored on each case
when it is answered. The case figures are read from the daily rollup
(``portal.stats.rollup``: per day of receipt and department, the counts and the
histograms of whole working days), so that a year of a million cases is a few
hundred thousand rollup rows summed by GROUP BY, never a loop over rows. Medians and
90th percentiles come from those histograms, with the same interpolation as Python's
``statistics.quantiles(method="inclusive")``.

Cases merged into another are left out: they are counted once, in the case they
joined.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import and_, case, func, select

from portal import clock
from portal.extensions import db
from portal.models import (
    Case,
    CaseKind,
    Channel,
    DailyCases,
    DailyTimes,
    Idea,
    IdeaStatus,
    SuggestionOpen,
)
from portal.models.case import OPEN_STATUSES
from portal.stats import rollup
from portal.stats.periods import (  # noqa: F401  (the figures' callers name periods here)
    PRESETS,
    Period,
    count_if,
    last_months,
    local_midnight,
    period_bucket,
    period_edges,
    period_for,
    today,
)

# The share of cases answered within these many working days (and "more"), as peers'
# citizens asked: a distribution says more than an average.
WITHIN_DAYS = (5, 10, 20)
OPEN_IDEA_STATUSES = (IdeaStatus.SUBMITTED, IdeaStatus.UNDER_REVIEW, IdeaStatus.PLANNED,
                      IdeaStatus.IN_PROGRESS)


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


def _days(periods: Sequence[Period]) -> list[date]:
    """The first day of each contiguous period, then the day after the last."""
    return [period.start for period in periods] + [periods[-1].end + timedelta(days=1)]


def _scope(column, department_ids: list[int] | None) -> list:
    return [column.in_(department_ids)] if department_ids is not None else []


def service_figures(periods: Sequence[Period], department_ids: Iterable[int] | None = None,
                    ) -> list[dict[int | None, ServiceFigures]]:
    """For each period (contiguous, oldest first): {department id: figures}.

    The counts and times come from the daily rollup, brought up to date first; what
    depends on the moment of asking (answers now late) from the cases still waiting,
    a few of them and found by their partial indexes.
    """
    rollup.catch_up()
    days = _days(periods)
    department_ids = list(department_ids) if department_ids is not None else None
    result: list[dict[int | None, ServiceFigures]] = [{} for _ in periods]

    def figures(number, department_id) -> ServiceFigures:
        return result[number].setdefault(department_id, ServiceFigures())

    bucket = period_bucket(DailyCases.day, days).label("bucket")
    counted = (DailyCases.received, DailyCases.answered, DailyCases.answered_on_time,
               DailyCases.resolved, DailyCases.resolved_on_time, DailyCases.reopened,
               DailyCases.rated, DailyCases.rating_total, DailyCases.rating_1,
               DailyCases.rating_2, DailyCases.rating_3, DailyCases.rating_4,
               DailyCases.rating_5)
    for number, department_id, *counts in db.session.execute(
            select(bucket, DailyCases.department_id, *[func.sum(column) for column in counted])
            .where(DailyCases.day >= days[0], DailyCases.day < days[-1],
                   *_scope(DailyCases.department_id, department_ids))
            .group_by(bucket, DailyCases.department_id)):
        item = figures(number, department_id)
        (item.received, item.answered, item.answered_on_time, item.resolved,
         item.resolved_on_time, item.reopened, item.rated,
         item.rating_total) = (int(value) for value in counts[:8])
        item.ratings = Counter({score: int(count) for score, count
                                in zip(range(1, 6), counts[8:], strict=True) if count})

    bucket = period_bucket(DailyTimes.day, days).label("bucket")
    for number, department_id, measure, working_days, count in db.session.execute(
            select(bucket, DailyTimes.department_id, DailyTimes.measure,
                   DailyTimes.working_days, func.sum(DailyTimes.cases))
            .where(DailyTimes.day >= days[0], DailyTimes.day < days[-1],
                   *_scope(DailyTimes.department_id, department_ids))
            .group_by(bucket, DailyTimes.department_id, DailyTimes.measure,
                      DailyTimes.working_days)):
        getattr(figures(number, department_id), measure)[int(working_days)] += int(count)

    # Late and not yet done, as of now: only the cases still waiting are read (a
    # partial index of the unanswered ones; the index by status of the open ones).
    edges = period_edges(periods)
    bucket = period_bucket(Case.created_at, edges).label("bucket")
    now = clock.now()
    received = [Case.created_at >= edges[0], Case.created_at < edges[-1],
                Case.merged_into_id.is_(None), *_scope(Case.department_id, department_ids)]
    for waiting, late, name in (
            (Case.first_responded_at.is_(None), Case.first_response_due_at < now,
             "late_unanswered"),
            (Case.status.in_([status.value for status in OPEN_STATUSES]),
             and_(Case.resolved_at.is_(None), Case.resolution_due_at < now),
             "late_unresolved")):
        for number, department_id, count in db.session.execute(
                select(bucket, Case.department_id, func.count())
                .where(waiting, late, *received).group_by(bucket, Case.department_id)):
            setattr(figures(number, department_id), name, int(count))
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
    rollup.catch_up()
    days = _days(periods)
    department_ids = list(department_ids) if department_ids is not None else None
    bucket = period_bucket(DailyCases.day, days).label("bucket")
    result = [Volumes() for _ in periods]
    keys = (DailyCases.kind, DailyCases.channel, DailyCases.category_id)
    for number, kind, channel, category_id, count in db.session.execute(
            select(bucket, *keys, func.sum(DailyCases.received))
            .where(DailyCases.day >= days[0], DailyCases.day < days[-1],
                   *_scope(DailyCases.department_id, department_ids))
            .group_by(bucket, *keys)):
        item = result[number]
        item.kind[CaseKind(kind).value] += int(count)
        item.channel[Channel(channel).value] += int(count)
        item.topic[category_id] += int(count)
    return result


# ---------------------------------------------------------------- now

def backlog(department_ids: Iterable[int] | None = None) -> dict[int | None, tuple[int, int]]:
    """{department id: (open cases, overdue ones)} now."""
    now = clock.now()
    query = (select(Case.department_id, func.count(), count_if(Case.next_due_at < now))
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
    edges = period_edges(periods)
    per_form = (select(SuggestionOpen.form_token,
                       func.min(SuggestionOpen.opened_at).label("opened_at"),
                       func.max(case((SuggestionOpen.submitted, 1), else_=0)).label("sent"))
                .where(SuggestionOpen.opened_at >= edges[0],
                       SuggestionOpen.opened_at < edges[-1])
                .group_by(SuggestionOpen.form_token).subquery())
    bucket = period_bucket(per_form.c.opened_at, edges).label("bucket")
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
    edges = period_edges(periods)
    department_ids = list(department_ids) if department_ids is not None else None
    result: list[dict[int | None, IdeaFigures]] = [{} for _ in periods]
    scope = [Idea.department_id.in_(department_ids)] if department_ids is not None else []
    bucket = period_bucket(Idea.created_at, edges).label("bucket")
    for number, department_id, status, count in db.session.execute(
            select(bucket, Idea.department_id, Idea.status, func.count())
            .where(Idea.created_at >= edges[0], Idea.created_at < edges[-1],
                   Idea.duplicate_of_id.is_(None), *scope)
            .group_by(bucket, Idea.department_id, Idea.status)):
        result[number].setdefault(department_id, IdeaFigures()).proposed[
            IdeaStatus(status).value] += count
    bucket = period_bucket(Idea.official_response_at, edges).label("bucket")
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
    query = (select(Idea.department_id, func.count(), count_if(Idea.answer_due_at < now))
             .where(Idea.public.is_(True), Idea.answer_due_at.is_not(None),
                    Idea.status.in_([status.value for status in OPEN_IDEA_STATUSES]))
             .group_by(Idea.department_id))
    if department_ids is not None:
        query = query.where(Idea.department_id.in_(list(department_ids)))
    return {department_id: (int(count), int(overdue))
            for department_id, count, overdue in db.session.execute(query)}
