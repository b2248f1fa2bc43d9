"""The busiest queue page runs a bounded number of SQL queries, however full it is."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, insert

from portal import clock
from portal.cases import references
from portal.extensions import db as _db
from portal.models import Case, CaseKind, CaseStatus, Role
from tests.staff.test_case_work import sign_in


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
    counts = []
    for _total in (10, 1000):
        seed(department.id, 10 if not counts else 990, agent.id)  # 10, then 1 000 in all
        with count_queries() as statements:
            response = staff.get(f"/staff/?queue={queue}")
        assert response.status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
    assert counts[0] <= 20
