"""Administration through its pages: departments, topics and the holiday calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal import clock
from portal.cases import service as cases
from portal.models import AuditEvent, Case, CaseKind, Category, Department, Holiday, Role

MADRID = ZoneInfo("Europe/Madrid")
# Monday 11 May 2026; San Isidro (Friday 15 May) is Madrid's local holiday.
MONDAY = datetime(2026, 5, 11, 10, tzinfo=MADRID).astimezone(UTC)
SAN_ISIDRO = date(2026, 5, 15)

DEPARTMENT = {"slug": "medio-ambiente", "name_es": "Medio ambiente", "name_en": "Environment",
              "name_ca": "Medi ambient", "name_eu": "Ingurumena", "name_gl": "Medio ambiente",
              "contact_email": "medioambiente@example.org", "first_response_days": "4",
              "resolution_days": "15", "counting": "working", "active": "y"}


def audit_actions(db) -> list[str]:
    return [event.action for event in db.session.scalars(select(AuditEvent).order_by(
        AuditEvent.id))]


@pytest.mark.parametrize("path", ["/manage/admin/", "/manage/admin/departments/new",
                                  "/manage/admin/topics/new", "/manage/admin/holidays"])
def test_only_administrators_come_in(client, login_as, path):
    assert client.get(path).status_code == 302  # to sign in
    login_as(Role.MANAGER)
    assert client.get(path).status_code == 403


def test_an_admin_adds_and_changes_a_department(client, login_as, db):
    login_as(Role.ADMIN)
    page = client.post("/manage/admin/departments/new?lang=en", data=DEPARTMENT)
    assert page.status_code == 302
    department = db.session.scalar(select(Department).where(
        Department.slug == "medio-ambiente"))
    assert department.names == {"es": "Medio ambiente", "en": "Environment",
                                "ca": "Medi ambient", "eu": "Ingurumena",
                                "gl": "Medio ambiente"}
    assert (department.first_response_days, department.resolution_days,
            department.calendar_days, department.active) == (4, 15, False, True)
    html = client.get("/manage/admin/?lang=eu").get_data(as_text=True)
    assert "Ingurumena" in html

    changed = {**DEPARTMENT, "resolution_days": "20", "counting": "calendar"}
    del changed["active"]  # unticked: no longer accepts cases
    page = client.post(f"/manage/admin/departments/{department.id}", data=changed)
    assert page.status_code == 302
    db.session.refresh(department)
    assert (department.resolution_days, department.calendar_days, department.active) == \
        (20, True, False)
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event.action == "admin.department_changed"
    assert event.data["fields"] == ["active", "calendar_days", "resolution_days"]
    assert "admin.department_created" in audit_actions(db)


def test_wrong_department_input_is_explained_next_to_the_field_and_kept(client, login_as, db):
    login_as(Role.ADMIN)
    page = client.post("/manage/admin/departments/new?lang=en", data={
        **DEPARTMENT, "slug": "Medio Ambiente", "name_es": "", "first_response_days": "abc",
        "resolution_days": "0"})
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "Use lowercase letters without accents" in html
    assert "Enter the name in Spanish." in html
    assert "Enter a whole number of days from 1 to 60." in html
    assert "Enter a whole number of days from 1 to 365." in html
    assert "Not a valid integer" not in html
    assert 'value="Environment"' in html and 'value="Medio Ambiente"' in html
    assert db.session.scalar(select(Department)) is None

    page = client.post("/manage/admin/departments/new?lang=es", data={
        **DEPARTMENT, "first_response_days": "10", "resolution_days": "5"})
    assert page.status_code == 400
    assert "no puede ser menor" in page.get_data(as_text=True)


def test_two_departments_cannot_share_a_short_name(client, login_as, make_department):
    make_department(slug="medio-ambiente")
    login_as(Role.ADMIN)
    page = client.post("/manage/admin/departments/new?lang=en", data=DEPARTMENT)
    assert page.status_code == 400
    assert "Another one already uses this short name." in page.get_data(as_text=True)


def test_an_admin_adds_a_topic_that_the_intake_form_offers(client, login_as, db,
                                                           make_department):
    department = make_department()
    login_as(Role.ADMIN)
    topic = {"department": str(department.id), "slug": "ruido", "name_es": "Ruido",
             "name_en": "Noise", "accepts_complaints": "y", "active": "y"}
    page = client.post("/manage/admin/topics/new?lang=en",
                       data={**topic, "accepts_complaints": ""})
    assert page.status_code == 400
    assert "Tick at least one" in page.get_data(as_text=True)
    assert client.post("/manage/admin/topics/new", data=topic).status_code == 302
    category = db.session.scalar(select(Category).where(Category.slug == "ruido"))
    assert (category.department_id, category.accepts_questions,
            category.accepts_complaints) == (department.id, False, True)
    intake = client.get("/cases/new?kind=complaint&lang=en")
    assert intake.status_code == 200
    assert ">Noise</option>" in intake.get_data(as_text=True)
    assert "admin.topic_created" in audit_actions(db)


@pytest.fixture
def open_case(db, make_department):
    department = make_department(first_response_days=4, resolution_days=10)
    with clock.frozen_at(MONDAY):
        case, _new = cases.submit_case(cases.Submission(
            kind=CaseKind.COMPLAINT, subject="Poda", body="Texto.", contact_name="Ana",
            contact_email="ana@example.org", language="es", department_id=department.id))
        db.session.commit()
    return case


def local_day(moment: datetime) -> date:
    return moment.astimezone(MADRID).date()


def test_a_holiday_shows_the_due_dates_it_moves_before_it_is_saved(client, login_as, db,
                                                                   open_case):
    # Four working days from Monday: Friday 15th; with San Isidro, Monday 18th.
    assert local_day(open_case.first_response_due_at) == date(2026, 5, 15)
    login_as(Role.ADMIN)
    with clock.frozen_at(MONDAY):
        preview = client.post("/manage/admin/holidays?lang=en", data={
            "day": "2026-05-15", "name": "San Isidro"})
        html = preview.get_data(as_text=True)
        assert preview.status_code == 200
        assert "This moves 2 due dates:" in html  # the first answer and the resolution
        assert open_case.reference in html
        # Nothing is saved until it is confirmed.
        assert db.session.scalar(select(Holiday)) is None
        db.session.refresh(open_case)
        assert local_day(open_case.first_response_due_at) == date(2026, 5, 15)

        saved = client.post("/manage/admin/holidays?lang=en", data={
            "day": "2026-05-15", "name": "San Isidro", "confirm": "yes"})
        assert saved.status_code == 302
        assert "2 due dates moved" in client.get(saved.location).get_data(as_text=True)
    db.session.refresh(open_case)
    assert local_day(open_case.first_response_due_at) == date(2026, 5, 18)
    assert local_day(open_case.resolution_due_at) == date(2026, 5, 26)
    assert "admin.holiday_added" in audit_actions(db)

    # A case received after it counts the holiday from the start.
    with clock.frozen_at(MONDAY):
        later, _new = cases.submit_case(cases.Submission(
            kind=CaseKind.COMPLAINT, subject="Otra", body="Texto.", contact_name="Ana",
            contact_email="ana@example.org", language="es",
            department_id=open_case.department_id))
        db.session.commit()
    assert local_day(later.first_response_due_at) == date(2026, 5, 18)

    # Removing it brings the dates back, again after a preview.
    holiday = db.session.scalar(select(Holiday))
    with clock.frozen_at(MONDAY):
        preview = client.post(f"/manage/admin/holidays/{holiday.id}/remove?lang=en")
        assert "This moves 4 due dates:" in preview.get_data(as_text=True)
        assert client.post(f"/manage/admin/holidays/{holiday.id}/remove",
                           data={"confirm": "yes"}).status_code == 302
    db.session.refresh(open_case)
    assert local_day(open_case.first_response_due_at) == date(2026, 5, 15)
    assert db.session.scalar(select(Holiday)) is None


def test_a_national_or_repeated_holiday_is_refused_next_to_the_date(client, login_as, db):
    login_as(Role.ADMIN)
    page = client.post("/manage/admin/holidays?lang=en", data={
        "day": "2026-12-25", "name": "Navidad"})
    assert page.status_code == 400
    assert "already a national holiday" in page.get_data(as_text=True)
    db.session.add(Holiday(day=SAN_ISIDRO, name="San Isidro"))
    db.session.commit()
    page = client.post("/manage/admin/holidays?lang=en", data={
        "day": "2026-05-15", "name": "Otra vez", "confirm": "yes"})
    assert page.status_code == 400
    assert "That day is already a holiday." in page.get_data(as_text=True)
    page = client.post("/manage/admin/holidays?lang=en", data={"day": "", "name": ""})
    html = page.get_data(as_text=True)
    assert "Enter the date of the holiday." in html and "Enter the name of the holiday" in html


def test_days_already_past_are_not_recounted(db, open_case, make_user):
    from portal.admin import service

    admin = make_user(Role.ADMIN)
    # Seen from Saturday 16th, a holiday on Friday 15th is in the past: nothing moves.
    with clock.frozen_at(datetime(2026, 5, 16, 10, tzinfo=MADRID).astimezone(UTC)):
        assert service.holiday_changes(SAN_ISIDRO, adding=True) == []
        changes = service.add_holiday(admin, date(2026, 5, 19), "Fiesta local")
    assert {change.deadline for change in changes} == {"resolution"}
    db.session.commit()
    assert isinstance(db.session.get(Case, open_case.id).resolution_due_at, datetime)
