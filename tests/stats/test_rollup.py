"""The daily rollup says what a count over the cases themselves says, whatever happens to them.

Each scenario changes cases through the services (answer, resolve, rate, transfer,
merge, reopen, a date moved) and then holds the figures read from the rollup equal to
the same figures counted here, in Python, over every case row.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, text

from portal import clock
from portal.cases import service as cases
from portal.models import Case, CaseKind, CaseStatus, Channel, DirtyDay, Role
from portal.models.case import OPEN_STATUSES
from portal.models.rollup import mark_days
from portal.staff import service as staff
from portal.stats import figures, rollup

MADRID = ZoneInfo("Europe/Madrid")
MONTH = figures.Period(date(2026, 3, 1), date(2026, 3, 31))
LATER = datetime(2026, 4, 20, 12, tzinfo=UTC)


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=MADRID).astimezone(UTC)


def counted_here(db, period: figures.Period, now: datetime) -> dict:
    """The figures of every department, from the case rows, by a walk over them."""
    start, end = period.bounds()
    result: dict = {}
    for case in db.session.scalars(select(Case)):
        if case.merged_into_id is not None or not start <= case.created_at < end:
            continue
        item = result.setdefault(case.department_id, {
            "received": 0, "answered": 0, "answered_on_time": 0, "late_unanswered": 0,
            "resolved": 0, "resolved_on_time": 0, "late_unresolved": 0, "reopened": 0,
            "rated": 0, "rating_total": 0, "ratings": Counter(), "first_response": Counter(),
            "resolution": Counter()})
        item["received"] += 1
        if case.first_responded_at is not None:
            item["answered"] += 1
            item["answered_on_time"] += case.first_responded_at <= case.first_response_due_at
        elif case.first_response_due_at < now:
            item["late_unanswered"] += 1
        if case.resolved_at is not None:
            item["resolved"] += 1
            item["resolved_on_time"] += case.resolved_at <= case.resolution_due_at
        elif case.resolution_due_at < now and case.status in OPEN_STATUSES:
            item["late_unresolved"] += 1
        item["reopened"] += case.reopen_count > 0
        if case.satisfaction is not None:
            item["rated"] += 1
            item["rating_total"] += case.satisfaction
            item["ratings"][case.satisfaction] += 1
        if case.first_response_working_days is not None:
            item["first_response"][case.first_response_working_days] += 1
        if case.resolution_working_days is not None:
            item["resolution"][case.resolution_working_days] += 1
    return result


def from_rollup(period: figures.Period, now: datetime) -> dict:
    with clock.frozen_at(now):
        by_department = figures.service_figures([period])[0]
    return {department_id: {name: getattr(item, name) for name in (
        "received", "answered", "answered_on_time", "late_unanswered", "resolved",
        "resolved_on_time", "late_unresolved", "reopened", "rated", "rating_total",
        "ratings", "first_response", "resolution")}
        for department_id, item in by_department.items()}


def volumes_here(db, period: figures.Period) -> tuple[Counter, Counter, Counter]:
    start, end = period.bounds()
    kinds, channels, topics = Counter(), Counter(), Counter()
    for case in db.session.scalars(select(Case).where(
            Case.merged_into_id.is_(None), Case.created_at >= start, Case.created_at < end)):
        kinds[case.kind.value] += 1
        channels[case.channel.value] += 1
        topics[case.category_id] += 1
    return kinds, channels, topics


def assert_rollup_true(db, period=MONTH, now=LATER):
    db.session.commit()
    assert from_rollup(period, now) == counted_here(db, period, now)
    item = figures.volumes([period])[0]
    assert (item.kind, item.channel, item.topic) == volumes_here(db, period)
    db.session.commit()  # as a page does: the recount is kept, its marks' locks let go


@pytest.fixture
def month_of_cases(db, make_department, make_user):
    """Cases over March in two departments: answered or not, resolved, rated."""
    roads = make_department(first_response_days=2, resolution_days=5)
    parks = make_department(first_response_days=3, resolution_days=10)
    agent = make_user(Role.AGENT, departments=[roads, parks])
    citizen = make_user(Role.CITIZEN)  # one person's cases, so that two can be merged
    made = []
    for number in range(12):
        received = date(2026, 3, 2) + timedelta(days=2 * number)
        department = roads if number % 3 else parks
        with clock.frozen_at(at(received, 9 + number % 4)):
            case, _new = cases.submit_case(cases.Submission(
                kind=CaseKind.COMPLAINT if number % 2 else CaseKind.QUESTION,
                subject=f"Caso {number}", body="Texto.", contact_name="Ana",
                contact_email="ana@example.org", language="es",
                department_id=department.id, channel=Channel.PHONE if number % 4 == 0
                else Channel.WEB), citizen)
            db.session.commit()
        if number % 5 != 4:  # some never answered
            with clock.frozen_at(at(received + timedelta(days=number % 6), 12)):
                staff.reply_to_citizen(agent, case, "Respuesta.", [])
                db.session.commit()
            if number % 3 != 2:
                with clock.frozen_at(at(received + timedelta(days=number % 6 + 2), 13)):
                    staff.set_status(agent, case, CaseStatus.RESOLVED, "Resuelto.")
                    db.session.commit()
                    if number % 2:
                        cases.rate_case(case, 1 + number % 5, "")
                        db.session.commit()
        made.append(case)
    return agent, roads, parks, made


def test_the_figures_match_a_count_over_the_cases(month_of_cases, db):
    assert_rollup_true(db)
    # Read again with nothing changed: nothing is recounted.
    assert rollup.catch_up() == 0


def test_answers_ratings_transfers_merges_and_reopening_are_counted(month_of_cases, db):
    agent, roads, parks, made = month_of_cases
    assert_rollup_true(db)
    waiting = next(case for case in made if case.first_responded_at is None)
    with clock.frozen_at(at(date(2026, 4, 1), 10)):
        staff.reply_to_citizen(agent, waiting, "Por fin.", [])
    assert_rollup_true(db)

    moving = next(case for case in made if case.department_id == roads.id
                  and case.status not in (CaseStatus.RESOLVED, CaseStatus.CLOSED))
    staff.transfer(agent, moving, parks, "Es de parques.")
    assert_rollup_true(db)

    first, second = made[1], made[3]
    staff.merge(agent, second, first, "El mismo asunto.")
    assert_rollup_true(db)

    resolved = next(case for case in made if case.status is CaseStatus.RESOLVED
                    and case.merged_into_id is None)
    with clock.frozen_at(resolved.resolved_at + timedelta(days=1)):
        cases.reopen_case(resolved, "No está arreglado.")
    assert_rollup_true(db)

    # A case's date moved (a counter record entered late): both days are recounted.
    made[5].created_at = at(date(2026, 2, 27), 10)
    assert_rollup_true(db)
    assert_rollup_true(db, figures.Period(date(2026, 2, 1), date(2026, 2, 28)))


def test_a_change_the_figures_do_not_count_marks_no_day(month_of_cases, db, make_user):
    agent, roads, _parks, made = month_of_cases
    assert_rollup_true(db)
    staff.add_note(agent, made[0], "Nota interna.")
    staff.assign(agent, made[0], agent)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(DirtyDay)) == 0


def test_late_answers_are_counted_as_of_the_moment_of_asking(month_of_cases, db):
    in_march = datetime(2026, 3, 5, 12, tzinfo=UTC)
    assert_rollup_true(db, now=in_march)
    assert_rollup_true(db, now=LATER)
    total = figures.total(figures.service_figures([MONTH])[0])
    assert total.late_unanswered > 0


def test_cases_loaded_in_bulk_are_counted_after_a_rebuild(month_of_cases, db, runner):
    _agent, roads, _parks, made = month_of_cases
    assert_rollup_true(db)
    created = at(date(2026, 3, 10), 8)
    db.session.execute(insert(Case), [{
        "reference": f"B-{number}", "kind": CaseKind.QUESTION, "subject": "s", "body": "b",
        "status": CaseStatus.OPEN, "department_id": roads.id, "contact_name": "n",
        "contact_email": "e@example.org", "first_response_due_at": created + timedelta(days=3),
        "resolution_due_at": created + timedelta(days=9), "next_due_at": created,
        "created_at": created, "updated_at": created, "version": 1} for number in range(3)])
    db.session.commit()
    # Past the ORM, nothing was marked: the rollup does not know them yet...
    assert from_rollup(MONTH, LATER) != counted_here(db, MONTH, LATER)
    # ... until the command counts every day again.
    result = runner.invoke(args=["portal", "stats", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "days counted" in result.output
    assert_rollup_true(db)


def test_a_recount_skips_a_day_another_transaction_is_changing(month_of_cases, db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks: SQLite has one writer at a time")
    assert_rollup_true(db)
    day = date(2026, 3, 10)
    with db.engine.connect() as other, other.begin():
        mark_days(other, [day])  # a change to a case of that day, not yet committed
        db.session.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting would fail
        assert rollup.catch_up() == 0
        db.session.commit()
    assert rollup.catch_up() == 1
    db.session.commit()
