"""The public statistics (/stats): per department, month by month, for a year.

Counts, times and shares only: no names, no references, no free text. Computed by
``figures`` (the same functions as the managers' dashboard, so the two agree for the
same period) and kept as one snapshot row, recomputed when older than
STATS_REFRESH_MINUTES or by ``flask --app wsgi portal stats refresh``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import clock, jobs
from portal.extensions import db
from portal.models import Department, StatsSnapshot
from portal.stats import figures

MONTHS = 12
SNAPSHOT_KEY = "public"


def _settings() -> dict[str, Any]:
    return current_app.config["PORTAL"]


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def summarise(item: figures.ServiceFigures, ideas: figures.IdeaFigures | None,
              overdue_ideas: int | None = None) -> dict[str, Any]:
    """One row of /stats: what may be shown in public, with the small-number rule.

    Below STATS_MIN_CASES received cases a share or an average would swing on one case,
    so the row says "too few to compare" (``comparable`` False) and no rate is given.
    """
    comparable = item.received >= _settings()["STATS_MIN_CASES"]
    row: dict[str, Any] = {
        "received": item.received,
        "answered": item.answered,
        "comparable": comparable,
        "ideas_answered": ideas.answered if ideas else 0,
    }
    if overdue_ideas is not None:
        row["ideas_overdue"] = overdue_ideas
    if comparable:
        row.update({
            "first_response_median": _round(item.first_response_median),
            "resolution_median": _round(item.resolution_median),
            "within": [[band, _round(count / item.received, 4)]
                       for band, count in item.within()],
            "on_time_share": _round(item.on_time_share, 4),
            "satisfaction": _round(item.satisfaction, 2),
            "rated": item.rated,
        })
    return row


def compute(on: date | None = None) -> dict[str, Any]:
    months = figures.last_months(MONTHS, on)
    year = figures.Period(months[0].start, months[-1].end)
    by_month = figures.service_figures(months)
    ideas_by_month = figures.idea_figures(months)
    whole = figures.service_figures([year])[0]
    ideas_whole = figures.idea_figures([year])[0]
    awaiting = figures.ideas_awaiting()

    def department_rows(department_id: int | None) -> dict[str, Any]:
        empty = figures.ServiceFigures()
        return {
            "months": [summarise(month.get(department_id, empty),
                                 ideas.get(department_id))
                       for month, ideas in zip(by_month, ideas_by_month, strict=True)],
            "year": summarise(whole.get(department_id, empty), ideas_whole.get(department_id),
                              awaiting.get(department_id, (0, 0))[1]),
        }

    departments = []
    for department in db.session.scalars(select(Department).order_by(Department.slug)):
        if not department.active and department.id not in whole:
            continue
        departments.append({
            "id": department.id, "slug": department.slug, "names": department.names,
            "first_response_days": department.first_response_days,
            "resolution_days": department.resolution_days,
            "calendar_days": department.calendar_days,
            **department_rows(department.id)})
    if None in whole:  # cases sent without a department, answered from triage
        departments.append({"id": None, "slug": "", "names": {}, **department_rows(None)})
    all_months = [summarise(figures.total(month), figures.ideas_total(ideas))
                  for month, ideas in zip(by_month, ideas_by_month, strict=True)]
    all_year = summarise(figures.total(whole), figures.ideas_total(ideas_whole),
                         sum(overdue for _count, overdue in awaiting.values()))
    return {
        "computed_at": clock.now().isoformat(),
        "months": [[month.start.isoformat(), month.end.isoformat()] for month in months],
        "min_cases": _settings()["STATS_MIN_CASES"],
        "all": {"months": all_months, "year": all_year},
        "departments": departments,
    }


def refresh() -> StatsSnapshot:
    """Recompute and keep the figures (a job, the CLI, or a reader finding them old)."""
    data = compute()
    snapshot = db.session.get(StatsSnapshot, SNAPSHOT_KEY)
    if snapshot is None:
        snapshot = StatsSnapshot(key=SNAPSHOT_KEY)
        db.session.add(snapshot)
    snapshot.data, snapshot.computed_at = data, clock.now()
    try:
        db.session.commit()
    except IntegrityError:  # another process made the first snapshot at the same moment
        db.session.rollback()
        snapshot = db.session.get(StatsSnapshot, SNAPSHOT_KEY)
    return snapshot


@jobs.periodic("minute")
def refresh_if_old() -> None:
    """The worker's: /stats then never waits for its figures to be recomputed."""
    current()


def current() -> dict[str, Any]:
    """The kept figures, recomputed first if missing or older than the setting."""
    snapshot = db.session.get(StatsSnapshot, SNAPSHOT_KEY)
    limit = timedelta(minutes=_settings()["STATS_REFRESH_MINUTES"])
    if snapshot is None or clock.now() - snapshot.computed_at > limit \
            or snapshot.data.get("months", [[None]])[-1][0] != \
            figures.today().replace(day=1).isoformat():
        snapshot = refresh()
    return snapshot.data
