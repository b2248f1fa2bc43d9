"""Queues sort by the deadline due next and page without gaps; search looks everywhere."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from portal import clock
from portal.extensions import db as _db
from portal.models import Case, CaseStatus, Role
from portal.models.case import NO_DEADLINE
from portal.staff import service
from tests.staff.helpers import (
    MONDAY_MORNING,
    deadline_cell,
    guest_case,
    sign_in,
)


def walk(user, name, limit):
    """Every case of a queue, page after page, as the 'Next page' link would go."""
    seen, cursor = [], None
    for _page in range(100):
        page = service.queue(user, name, cursor=cursor, limit=limit)
        seen.extend(page.cases)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor
    raise AssertionError("the pages never end")


def test_pages_of_a_queue_show_every_case_once_in_deadline_order(
        app, db, movilidad, make_user, make_case):
    agent = make_user(Role.AGENT, departments=[movilidad])
    now = clock.now()
    expected = []
    for number in range(23):
        # Ties on purpose (the same minute for three cases at a time), past and future.
        due = now + timedelta(hours=(number // 3) * 7 - 30)
        fields = {"resolution_due_at": due + timedelta(days=5)}
        if number % 2:  # unanswered: its first answer is the deadline due next
            fields["first_response_due_at"] = due
        else:
            fields.update(first_response_due_at=due - timedelta(days=1),
                          first_responded_at=now - timedelta(days=2),
                          resolution_due_at=due)
        expected.append(make_case(department_id=movilidad.id, **fields))
    expected.append(make_case(department_id=movilidad.id))  # no deadline at all: last
    done = make_case(department_id=movilidad.id, status=CaseStatus.RESOLVED,
                     resolution_due_at=now - timedelta(days=400))
    waiting = make_case(department_id=movilidad.id, status=CaseStatus.WAITING_ON_CITIZEN,
                        resolution_due_at=now)

    seen = walk(agent, "department", limit=4)
    assert [case.id for case in seen] == [case.id for case in sorted(
        expected, key=lambda case: (case.next_due_at, case.id))]
    assert seen[-1].next_due_at == NO_DEADLINE
    assert done not in seen and waiting not in seen
    # The stored key is the deadline shown: the first answer while unanswered.
    for case in seen[:-1]:
        which, at = case.next_deadline
        assert case.next_due_at == at
        assert which == ("first_response" if case.first_responded_at is None
                         else "resolution")

    # "Resolved", newest first, pages the same way.
    more_done = [make_case(department_id=movilidad.id, status=CaseStatus.CLOSED)
                 for _ in range(6)]
    resolved = walk(agent, "resolved", limit=4)
    assert [case.id for case in resolved] == sorted(
        [done.id] + [case.id for case in more_done], reverse=True)

    # Through the pages themselves, following the "Next page" link.
    staff = sign_in(app, agent)
    shown, path = [], "/staff/?queue=department"
    while path:
        page = staff.get(path).text
        shown += re.findall(r"<span class=\"reference\">([QC]-[\w-]+)</span>", page)
        link = re.search(r'href="(/staff/\?[^"]*after=[^"]+)"', page)
        path = link.group(1).replace("&amp;", "&") if link else None
    assert shown == [case.reference for case in seen]


def test_the_deadline_column_shows_the_first_answer_then_the_resolution(
        app, db, movilidad, make_user):
    agent = make_user(Role.AGENT, departments=[movilidad])
    staff = sign_in(app, agent)
    with clock.frozen_at(MONDAY_MORNING):
        _citizen, reference = guest_case(app, movilidad)
        before = staff.get("/staff/?queue=department&lang=en").text
        case = _db.session.scalar(_db.select(Case).where(Case.reference == reference))
        assert case.next_due_at == case.first_response_due_at
        staff.post(f"/staff/cases/{reference}/reply", data={"body": "Lo miramos."})
    # Monday: first answer due Wednesday (2 working days); resolution the Monday after
    # next (10 working days). Answered on Tuesday, the resolution is what is due next.
    assert deadline_cell(before, reference) == ["First answer due", "Nov 18, 2026",
                                                "due in 2 working days"]
    with clock.frozen_at(MONDAY_MORNING + timedelta(days=1)):
        after = staff.get("/staff/?queue=mine&lang=en").text
        overdue = staff.get("/staff/?queue=overdue&lang=en").text
    assert deadline_cell(after, reference) == ["Resolution due", "Nov 30, 2026",
                                               "due in 9 working days"]
    assert reference not in overdue
    _db.session.refresh(case)
    assert case.next_due_at == case.resolution_due_at

    # Unanswered past its first-answer deadline, a case is overdue at once.
    with clock.frozen_at(MONDAY_MORNING):
        _citizen, late = guest_case(app, movilidad, token="late")
    with clock.frozen_at(MONDAY_MORNING + timedelta(days=3)):
        overdue = staff.get("/staff/?queue=overdue&lang=en").text
    assert deadline_cell(overdue, late) == ["First answer due", "Nov 18, 2026",
                                            "1 working day overdue"]

    # Done, a case has no deadline due (and leaves the open queues' indexes).
    staff.post(f"/staff/cases/{reference}/status",
               data={"status": "resolved", "summary": "Hecho."})
    _db.session.refresh(case)
    assert case.next_due_at is None and case.next_deadline is None


def test_search_finds_a_case_in_any_queue_by_reference_email_or_name(
        app, db, movilidad, hacienda, make_user, make_case):
    agent = make_user(Role.AGENT, departments=[movilidad])
    colleague = make_user(Role.AGENT, departments=[movilidad], name="Ana Colega")
    staff = sign_in(app, agent)
    answered = make_case(department_id=movilidad.id, status=CaseStatus.RESOLVED,
                         contact_name="Lucía Pérez Gómez", contact_email="lucia@example.org")
    closed = make_case(department_id=movilidad.id, status=CaseStatus.CLOSED,
                       contact_name="Lucía Pérez Gómez", contact_email="lucia@example.org")
    triage = make_case(department_id=None, contact_name="Lucía Pérez Gómez",
                       contact_email="lucia@example.org")
    theirs = make_case(department_id=movilidad.id, assignee_id=colleague.id,
                       status=CaseStatus.OPEN, contact_name="Pedro Pérez",
                       contact_email="pedro@example.org")
    elsewhere = make_case(department_id=hacienda.id, contact_name="Lucía Pérez Gómez",
                          contact_email="lucia@example.org")

    # Its reference, typed as people type it, from whichever queue: straight to the case.
    typed = answered.reference.lower().replace("-", " ")
    response = staff.get(f"/staff/?queue=mine&q={typed}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/staff/cases/{answered.reference}")
    # Another department's case is not found (nor told apart from a missing one).
    response = staff.get(f"/staff/?queue=mine&q={elsewhere.reference}&lang=en")
    assert response.status_code == 200
    assert "No case you can open matches" in response.text
    assert f"/staff/cases/{elsewhere.reference}" not in response.text

    by_email = staff.get("/staff/?queue=overdue&q=Lucia@Example.org&lang=en").text
    assert "Search results" in by_email
    for case in (answered, closed, triage):
        assert case.reference in by_email
    assert f"/staff/cases/{elsewhere.reference}" not in by_email
    # Each row says which queue it is in.
    assert "Resolved</a>" in by_email and "Triage</a>" in by_email

    by_name = staff.get("/staff/?queue=department&q=pérez&lang=en").text
    for case in (answered, closed, triage, theirs):
        assert case.reference in by_name
    assert "Assigned to a colleague" in by_name
    assert f"/staff/cases/{elsewhere.reference}" not in by_name
    assert service.search(agent, "gómez").cases == [triage, closed, answered]  # newest first
    assert service.search(agent, "100%").cases == []  # wildcards are searched as text


def test_search_is_one_bounded_query(app, db, movilidad, make_user, make_case):
    agent = make_user(Role.AGENT, departments=[movilidad])
    for _number in range(service.SEARCH_LIMIT + 5):
        make_case(department_id=movilidad.id, contact_name="José Pérez")
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(_db.engine, "before_cursor_execute", listener)
    try:
        found = service.search(agent, "josé")
    finally:
        event.remove(_db.engine, "before_cursor_execute", listener)
    assert len(found.cases) == service.SEARCH_LIMIT and found.more
    searches = [sql for sql in statements if "FROM cases" in sql]
    assert len(searches) == 1 and "LIMIT" in searches[0].upper()


def test_after_transferring_out_the_agent_lands_on_the_queue(
        app, db, movilidad, hacienda, make_user):
    staff = sign_in(app, make_user(Role.AGENT, departments=[movilidad]))
    _citizen, reference = guest_case(app, movilidad)
    response = staff.post(f"/staff/cases/{reference}/transfer?lang=en",
                          data={"department": hacienda.id, "reason": "Es una tasa."})
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/"
    queue = staff.get(response.headers["Location"])
    assert queue.status_code == 200
    assert "The case has been transferred. The citizen has been told." in queue.text

    # A manager still sees the case: she stays on it.
    manager = sign_in(app, make_user(Role.MANAGER))
    response = manager.post(f"/staff/cases/{reference}/transfer",
                            data={"department": movilidad.id, "reason": "Era de tráfico."})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/staff/cases/{reference}")


@pytest.mark.parametrize("who", ["agent", "agent of two departments", "manager"])
def test_every_queue_query_is_served_by_an_index(app, db, movilidad, hacienda, make_user,
                                                  who):
    """SQLite's plan of each page and count: no table scan, no sort of the matches."""
    if _db.engine.dialect.name != "sqlite":
        pytest.skip("the plans of a few rows on PostgreSQL say nothing; see the benchmark")
    user = make_user(Role.MANAGER) if who == "manager" else make_user(
        Role.AGENT, departments=[movilidad, hacienda] if "two" in who else [movilidad])
    plans = {}
    with clock.frozen_at(datetime(2026, 11, 16, tzinfo=UTC)):
        for name in service.QUEUES:
            plans[name] = (explain(service.queue_query(user, name).limit(26)),
                           explain(service.count_query(user, name)))
    for name, (page, count) in plans.items():
        assert "TEMP B-TREE" not in page, (name, page)
        assert "USING INDEX" in page and "SCAN cases\n" not in page + "\n", (name, page)
        assert "USING COVERING INDEX" in count, (name, count)
    # Search by address: the address's index (then a sort of that one citizen's cases).
    assert "USING INDEX ix_cases_contact_email" in explain(
        service.search_query(user, "a@example.org").limit(51))


def explain(query) -> str:
    captured = []

    def capture(_conn, _cursor, statement, parameters, _context, _executemany):
        captured.append((statement, parameters))

    event.listen(_db.engine, "before_cursor_execute", capture)
    try:
        _db.session.execute(query).all()
    finally:
        event.remove(_db.engine, "before_cursor_execute", capture)
    statement, parameters = captured[-1]
    rows = _db.session.connection().exec_driver_sql(
        "EXPLAIN QUERY PLAN " + statement, parameters).all()
    return "\n".join(row[3] for row in rows)
