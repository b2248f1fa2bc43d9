"""The busiest queue page runs a bounded number of SQL queries, however full it is."""

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, insert

from portal import clock
from portal.cases import references
from portal.extensions import db as _db
from portal.models import Case, CaseKind, CaseStatus, Role
from portal.models.case import NO_DEADLINE
from tests.staff.helpers import sign_in


@contextmanager
def count_queries():
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(_db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(_db.engine, "before_cursor_execute", record)


def seed(department_id: int, count: int, assignee_id: int | None = None) -> None:
    now = clock.now()
    rows = [{
        "reference": references.new_reference(CaseKind.QUESTION), "kind": CaseKind.QUESTION,
        "subject": f"Consulta {number}", "body": "Texto", "department_id": department_id,
        "status": CaseStatus.OPEN if number % 2 else CaseStatus.NEW,
        "resolution_due_at": now + timedelta(hours=number - count // 2),
        # A Core insert skips the model's flush hook: the queues' sort key by hand.
        "next_due_at": now + timedelta(hours=number - count // 2),
        "assignee_id": assignee_id if number % 3 == 0 else None,
        "created_at": now, "updated_at": now, "version": 1,
    } for number in range(count)]
    _db.session.execute(insert(Case), rows)
    _db.session.commit()


@pytest.mark.parametrize("queue", ["department", "mine", "overdue"])
def test_same_query_count_at_10_and_1000_rows(app, db, make_department, make_user, queue):
    department = make_department()
    agent = make_user(Role.AGENT, departments=[department])
    staff = sign_in(app, agent)
    # Values kept between requests (the deployment's name and calendar) are read by the
    # first request alone: it is not one of those counted.
    assert staff.get(f"/staff/?queue={queue}").status_code == 200
    counts = []
    for _total in (10, 1000):
        seed(department.id, 10 if not counts else 990, agent.id)  # 10, then 1 000 in all
        with count_queries() as statements:
            response = staff.get(f"/staff/?queue={queue}")
        assert response.status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
    assert counts[0] <= 20


def test_migration_0005_fills_next_due_at_for_existing_cases(app, db):
    """Cases from before 0005 get the deadline due next, or NULL once done."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import MetaData, Table, text

    _db.session.remove()
    downgrade(revision="0004")
    first, resolution = datetime(2026, 11, 18, 22, 59, 59, tzinfo=UTC), datetime(
        2026, 11, 30, 22, 59, 59, tzinfo=UTC)
    rows = [("Q-0000-0001", "new", None, first, resolution),
            ("Q-0000-0002", "open", first, first, resolution),  # answered
            ("Q-0000-0003", "waiting_on_citizen", None, None, resolution),
            ("Q-0000-0004", "open", None, None, None),  # no deadline at all
            ("Q-0000-0005", "resolved", first, first, resolution)]
    # The table as 0004 left it: without the columns later migrations add (their
    # defaults would be sent otherwise).
    later = {"first_response_working_days", "resolution_working_days",
             "paused_working_days", "reopen_count"}
    table_0004 = Table("cases", MetaData(), *[
        column._copy() for column in Case.__table__.columns if column.name not in later])
    with _db.engine.begin() as connection:
        for reference, status, answered, first_due, resolution_due in rows:
            # Core leaves out next_due_at (no value, no default): 0004 has no such column.
            connection.execute(insert(table_0004), {
                "reference": reference, "kind": CaseKind.QUESTION, "subject": "s",
                "body": "b", "status": CaseStatus(status), "first_responded_at": answered,
                "first_response_due_at": first_due, "resolution_due_at": resolution_due,
                "created_at": first, "updated_at": first, "version": 1})
    upgrade()
    with _db.engine.connect() as connection:
        stored = dict(connection.execute(text(
            "SELECT reference, next_due_at FROM cases ORDER BY reference")).all())
    cases = {case.reference: case for case in _db.session.scalars(_db.select(Case))}
    assert [cases[reference].next_due_at for reference, *_ in rows] == [
        first, resolution, resolution, NO_DEADLINE, None]
    assert stored["Q-0000-0005"] is None

