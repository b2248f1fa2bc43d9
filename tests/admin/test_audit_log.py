"""The audit log page: filters, pages, a CSV download that is itself logged."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from sqlalchemy import select

from portal import clock
from portal.audit import audit
from portal.models import AuditEvent, Role


def test_civil_servants_and_citizens_do_not_read_the_audit_log(client, login_as):
    assert client.get("/manage/audit/").status_code == 302
    login_as(Role.AGENT)
    assert client.get("/manage/audit/").status_code == 403
    assert client.get("/manage/audit/audit.csv").status_code == 403


def test_a_manager_reads_what_concerns_their_departments(client, login_as, db, make_user,
                                                         make_department, make_case):
    roads, parks = make_department(), make_department()
    road_agent = make_user(Role.AGENT, departments=[roads], email="vial@example.org")
    park_agent = make_user(Role.AGENT, departments=[parks], email="parque@example.org")
    admin = make_user(Role.ADMIN, email="admin@example.org")
    road_case, park_case = make_case(department=roads), make_case(department=parks)
    audit("case.viewed", actor=road_agent, target_type="case", target_id=road_case.id)
    audit("case.viewed", actor=park_agent, target_type="case", target_id=park_case.id)
    audit("case.viewed", actor=admin, target_type="case", target_id=road_case.id)
    audit("admin.department_changed", actor=admin, target_type="department",
          target_id=parks.id)
    db.session.commit()
    login_as(Role.MANAGER, departments=[roads])
    html = client.get("/manage/audit/?lang=en").get_data(as_text=True)
    assert html.count(f"case {road_case.id}<") == 2  # by their agent, and by the admin
    assert "vial@example.org" in html
    assert f"case {park_case.id}<" not in html and "parque@example.org" not in html
    assert "<code>admin.department_changed</code>" not in html
    rows = client.get("/manage/audit/audit.csv").get_data(as_text=True).splitlines()
    assert len(rows) == 4  # the header, the two entries and their own sign-in


def test_entries_are_filtered_by_person_action_object_and_date(client, login_as, db,
                                                                make_user):
    agent = make_user(Role.AGENT, email="agente@example.org")
    with clock.frozen_at(datetime(2026, 3, 2, 9, tzinfo=UTC)):
        audit("case.viewed", actor=agent, target_type="case", target_id=41)
        db.session.flush()  # the moment is taken when the row is written
    with clock.frozen_at(datetime(2026, 4, 2, 9, tzinfo=UTC)):
        audit("case.viewed", actor=agent, target_type="case", target_id=42)
        db.session.flush()
    db.session.commit()
    login_as(Role.ADMIN)
    html = client.get("/manage/audit/?person=AGENTE@example.org&action=case.viewed"
                      "&lang=en").get_data(as_text=True)
    assert "case 41" in html and "case 42" in html
    html = client.get("/manage/audit/?target_type=case&target_id=42").get_data(as_text=True)
    assert "case 42" in html and "case 41" not in html
    html = client.get("/manage/audit/?start=2026-03-01&end=2026-03-31").get_data(as_text=True)
    assert "case 41" in html and "case 42" not in html
    page = client.get("/manage/audit/?start=2026-03-31&end=2026-03-01&lang=en")
    assert page.status_code == 400
    assert "The last day must be on or after the first day." in page.get_data(as_text=True)


def test_older_entries_are_a_page_away(client, login_as, db, make_user):
    agent = make_user(Role.AGENT)
    for number in range(60):
        audit("case.viewed", actor=agent, target_type="case", target_id=1000 + number)
    db.session.commit()
    login_as(Role.ADMIN)
    first = client.get("/manage/audit/?action=case.viewed&lang=en").get_data(as_text=True)
    assert "case 1059" in first and "case 1009" not in first
    newest_shown_last = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "case.viewed").order_by(AuditEvent.id.desc())).all()[49]
    assert f"before={newest_shown_last.id}" in first
    older = client.get(f"/manage/audit/?action=case.viewed&before={newest_shown_last.id}")
    assert "case 1009" in older.get_data(as_text=True)


def test_the_download_opens_in_a_spreadsheet_and_is_logged(client, login_as, db, make_user):
    agent = make_user(Role.AGENT, email="agente@example.org")
    audit("admin.topic_changed", actor=agent, target_type="category", target_id=7,
          fields=["names"], note="=HYPERLINK(\"http://x\")")
    db.session.commit()
    admin = login_as(Role.ADMIN)
    response = client.get("/manage/audit/audit.csv?person=agente@example.org&lang=es")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:4] == ["Cuándo (UTC)", "Persona", "Procedencia", "Acción"]
    assert rows[1][1:6] == ["agente@example.org", "", "admin.topic_changed", "category", "7"]
    assert '"fields": ["names"]' in rows[1][6]
    exported = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "audit.exported")).one()
    assert exported.actor_id == admin.id and exported.data["rows"] == 1


def test_an_entry_says_where_the_request_came_from(client, login_as, db, make_department):
    department = make_department()
    login_as(Role.ADMIN)
    client.post(f"/manage/admin/departments/{department.id}", data={
        "slug": department.slug, "name_es": "Otro nombre", "first_response_days": "2",
        "resolution_days": "10", "counting": "working", "active": "y"},
        environ_base={"REMOTE_ADDR": "203.0.113.7"})
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "admin.department_changed")).one()
    assert event.remote_addr == "203.0.113.7"
    assert "203.0.113.7" in client.get("/manage/audit/").get_data(as_text=True)
