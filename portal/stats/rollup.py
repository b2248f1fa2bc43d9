"""Keeping the daily rollup (``portal.models.rollup``) in step with the cases.

``catch_up`` recomputes, from the cases, every day marked as changed; the figures
call it before they read, so what they show is as true as a GROUP BY over the cases
(a test holds the two equal), at the cost of the few days touched since. It works in
the caller's transaction: a report frozen at publication counts what that
transaction sees, and a page that only reads commits the recount at once, so that
it is kept and SQLite's write lock is not held while the page renders. ``rebuild``
recomputes every day, for an upgrade or after cases were loaded in bulk past the ORM.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from sqlalchemy import and_, delete, func, insert, select

from portal import sla
from portal.extensions import db
from portal.models import Case, DailyCases, DailyTimes, DirtyDay
from portal.models.rollup import mark_days
from portal.stats.periods import Period, count_if, period_bucket, period_edges

# Days recomputed by one query: the CASE that sorts cases into days grows with it.
RUN_DAYS = 31


def catch_up() -> int:
    """Recompute the marked days, in the caller's transaction; how many there were.

    On PostgreSQL the marks are locked (``SKIP LOCKED``): two readers never recompute
    the same day at once, and a reader does not wait for another (it reads that day
    as last counted). On SQLite the DELETE of the marks takes the write lock before
    the recount reads, so the recount sees every change committed before it.
    """
    days = list(db.session.scalars(select(DirtyDay.day).order_by(DirtyDay.day)
                                   .with_for_update(skip_locked=True)))
    if not days:
        return 0
    db.session.execute(delete(DirtyDay).where(DirtyDay.day.in_(days)))
    for run in _runs(days):
        _recompute(run)
    return len(days)


def rebuild() -> int:
    """Recompute every day from the first case to the last; how many days."""
    db.session.execute(delete(DailyCases))
    db.session.execute(delete(DailyTimes))
    db.session.execute(delete(DirtyDay))
    first, last = db.session.execute(
        select(func.min(Case.created_at), func.max(Case.created_at))).one()
    if first is not None:
        zone = sla.local_zone()
        start, end = first.astimezone(zone).date(), last.astimezone(zone).date()
        mark_days(db.session.connection(),
                  (start + timedelta(days=offset) for offset in range((end - start).days + 1)))
    count = catch_up()
    db.session.commit()
    return count


def _runs(days: Iterable[date]) -> list[list[date]]:
    """Consecutive days in runs of at most ``RUN_DAYS``."""
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and len(runs[-1]) < RUN_DAYS and runs[-1][-1] + timedelta(days=1) == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def _recompute(days: list[date]) -> None:
    """The rollup rows of consecutive days, counted afresh from their cases."""
    edges = period_edges([Period(day, day) for day in days])
    bucket = period_bucket(Case.created_at, edges).label("bucket")
    received = and_(Case.created_at >= edges[0], Case.created_at < edges[-1],
                    Case.merged_into_id.is_(None))  # a merged case counts in the one it joined
    db.session.execute(delete(DailyCases).where(DailyCases.day.between(days[0], days[-1])))
    db.session.execute(delete(DailyTimes).where(DailyTimes.day.between(days[0], days[-1])))

    keys = (Case.department_id, Case.kind, Case.channel, Case.category_id)
    rows = [
        {"day": days[number], "department_id": department_id, "kind": kind,
         "channel": channel, "category_id": category_id,
         **dict(zip(_COUNTS, (int(value) for value in counts), strict=True))}
        for number, department_id, kind, channel, category_id, *counts in db.session.execute(
            select(bucket, *keys, func.count(),
                   count_if(Case.first_responded_at.is_not(None)),
                   count_if(Case.first_responded_at <= Case.first_response_due_at),
                   count_if(Case.resolved_at.is_not(None)),
                   count_if(Case.resolved_at <= Case.resolution_due_at),
                   count_if(Case.reopen_count > 0),
                   count_if(Case.satisfaction.is_not(None)),
                   func.coalesce(func.sum(Case.satisfaction), 0),
                   *[count_if(Case.satisfaction == score) for score in range(1, 6)])
            .where(received).group_by(bucket, *keys))]
    if rows:
        db.session.execute(insert(DailyCases), rows)

    times = []
    for column, measure in ((Case.first_response_working_days, "first_response"),
                            (Case.resolution_working_days, "resolution")):
        times += [
            {"day": days[number], "department_id": department_id, "measure": measure,
             "working_days": int(working_days), "cases": int(count)}
            for number, department_id, working_days, count in db.session.execute(
                select(bucket, Case.department_id, column, func.count())
                .where(received, column.is_not(None))
                .group_by(bucket, Case.department_id, column))]
    if times:
        db.session.execute(insert(DailyTimes), times)


_COUNTS = ("received", "answered", "answered_on_time", "resolved", "resolved_on_time",
           "reopened", "rated", "rating_total", "rating_1", "rating_2", "rating_3", "rating_4",
           "rating_5")
