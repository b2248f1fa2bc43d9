"""The daily rollup of cases the dashboard and /stats read, and the marks that keep it true.

A year of a million cases is too many rows to GROUP BY on every dashboard view, so
``portal.stats.rollup`` keeps, per local day of receipt, the counts of the cases
received that day (by department, kind, channel and topic) and the histograms of their
answer times. It never adds or subtracts: a day whose cases changed is marked here,
and the next reader recomputes the whole day from the cases. Marking happens at
every flush that changes a counted column, below every service, so that no path that
answers, rates, transfers, merges or reopens a case can forget it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String, event, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from portal import clock, sla
from portal.extensions import db
from portal.models.case import Case
from portal.models.enums import CaseKind, Channel
from portal.models.types import UTCDateTime, enum_column


class DailyCases(db.Model):
    """The cases received on one local day with one department, kind, channel and topic."""

    __tablename__ = "stats_daily_cases"
    __table_args__ = (Index("ix_stats_daily_cases_day_department", "day", "department_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    # Plain integers, no foreign keys: derived data that a rebuild recomputes.
    department_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[CaseKind] = mapped_column(enum_column(CaseKind))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    category_id: Mapped[int | None] = mapped_column(Integer)
    received: Mapped[int] = mapped_column(default=0)
    answered: Mapped[int] = mapped_column(default=0)
    answered_on_time: Mapped[int] = mapped_column(default=0)
    resolved: Mapped[int] = mapped_column(default=0)
    resolved_on_time: Mapped[int] = mapped_column(default=0)
    reopened: Mapped[int] = mapped_column(default=0)
    rated: Mapped[int] = mapped_column(default=0)
    rating_total: Mapped[int] = mapped_column(default=0)
    rating_1: Mapped[int] = mapped_column(default=0)
    rating_2: Mapped[int] = mapped_column(default=0)
    rating_3: Mapped[int] = mapped_column(default=0)
    rating_4: Mapped[int] = mapped_column(default=0)
    rating_5: Mapped[int] = mapped_column(default=0)


class DailyTimes(db.Model):
    """How many cases received on one day had a first answer (or resolution) in n working days."""

    __tablename__ = "stats_daily_times"
    __table_args__ = (Index("ix_stats_daily_times_day_department", "day", "department_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    department_id: Mapped[int | None] = mapped_column(Integer)
    measure: Mapped[str] = mapped_column(String(16))  # first_response | resolution
    working_days: Mapped[int] = mapped_column()
    cases: Mapped[int] = mapped_column()


class DirtyDay(db.Model):
    """A local day whose cases changed since its rollup rows were computed."""

    __tablename__ = "stats_dirty_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


# The columns the rollup counts; a change to any other (a message, the status alone,
# the assignee) leaves the day's figures as they were.
COUNTED = ("created_at", "department_id", "kind", "channel", "category_id", "merged_into_id",
           "first_responded_at", "first_response_due_at", "first_response_working_days",
           "resolved_at", "resolution_due_at", "resolution_working_days", "reopen_count",
           "satisfaction")


def mark_days(connection, days) -> None:
    """Mark local days for recomputing, in the caller's transaction.

    An upsert, not "insert if missing": on PostgreSQL it locks the row until this
    transaction ends, so a reader recomputing the day waits for this change to commit
    (or has finished before it) and no change is left uncounted.
    """
    days = sorted(set(days))
    if not days:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(DirtyDay).values(
        [{"day": day, "marked_at": clock.now()} for day in days])
    connection.execute(statement.on_conflict_do_update(
        index_elements=["day"], set_={"marked_at": statement.excluded.marked_at}))


def _received_days(case: Case, changed_only: bool) -> set[date]:
    state = inspect(case)
    if changed_only and not any(state.attrs[name].history.has_changes() for name in COUNTED):
        return set()
    zone = sla.local_zone()
    history = state.attrs.created_at.history
    moments = {*history.added, *history.deleted, case.created_at}
    return {moment.astimezone(zone).date() for moment in moments if moment is not None}


@event.listens_for(Case, "after_insert")
@event.listens_for(Case, "after_delete")
def _mark_received_day(_mapper, connection, case: Case) -> None:
    mark_days(connection, _received_days(case, changed_only=False))


@event.listens_for(Case, "after_update")
def _mark_changed_day(_mapper, connection, case: Case) -> None:
    mark_days(connection, _received_days(case, changed_only=True))
