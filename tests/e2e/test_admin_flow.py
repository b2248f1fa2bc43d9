"""An administrator in a real browser, by keyboard: add a department with its targets
(an error first), add a local holiday after seeing what it moves, and a case received
in that department then gets its due date counted with the holiday; axe-core on the
administration pages (the deployment's details too), the staff pages and the audit log
(issue 14)."""

import pytest
from sqlalchemy import select

from portal import clock, sla
from portal.accounts import service as accounts
from portal.cases import service as cases
from portal.extensions import db
from portal.models import CaseKind, Department, Role
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import assert_accessible, t, tab_to

pytestmark = pytest.mark.browser


def _enter(page):
    with page.expect_navigation():
        page.keyboard.press("Enter")


def _to_field(page, field_id: str, text: str) -> None:
    tab_to(page, lambda element: element["id"] == field_id)
    page.keyboard.type(text)


@pytest.mark.parametrize("language", ["es", "ca"])
def test_an_admin_adds_a_department_and_a_holiday_by_keyboard(live_server, page, language):
    server = live_server
    with server.app.app_context():
        accounts.create_user("admin@example.org", TEST_PASSWORD, "Ada Admin", Role.ADMIN,
                             language, [])
        db.session.commit()
        today = clock.now().astimezone(sla.local_zone()).date()
        calendar = sla.deployment_calendar()
    holiday = calendar.add_working_days(today, 1)  # the next working day

    page.goto(f"{server.url}/login?lang={language}")
    _to_field(page, "email", "admin@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type(TEST_PASSWORD)
    _enter(page)

    page.goto(f"{server.url}/manage/admin/")
    assert_accessible(page)
    add = t(language, "Add a department")
    tab_to(page, lambda element: element["tag"] == "a" and element["text"] == add)
    _enter(page)
    # Saved with nothing typed: the errors, next to the fields.
    save = t(language, "Save")
    tab_to(page, lambda element: element["tag"] == "button" and element["text"] == save)
    _enter(page)
    assert page.locator(".error-summary").is_visible()
    assert t(language, "Enter the name in Spanish.") in page.content()
    assert_accessible(page)

    _to_field(page, "name_es", "Medio ambiente")
    _to_field(page, "name_ca", "Medi ambient")
    _to_field(page, "slug", "medio-ambiente")
    _to_field(page, "first_response_days", "2")
    _to_field(page, "resolution_days", "10")
    _enter(page)
    assert "Medi ambient" in page.content() or "Medio ambiente" in page.content()

    page.goto(f"{server.url}/manage/admin/holidays")
    assert_accessible(page)
    tab_to(page, lambda element: element["id"] == "day")
    page.keyboard.type(holiday.strftime("%m%d%Y"))  # Chromium's en-US date field
    _to_field(page, "name", "Fiesta local")
    _enter(page)
    assert page.locator("h1").inner_text() == t(language, "Check the change")
    assert_accessible(page)
    confirm = t(language, "Save the calendar")
    tab_to(page, lambda element: element["tag"] == "button" and element["text"] == confirm)
    _enter(page)
    assert "Fiesta local" in page.content()
    assert_accessible(page)

    # The staff pages, the invitation form with its errors, and the audit log.
    page.goto(f"{server.url}/manage/admin/users")
    assert_accessible(page)
    page.goto(f"{server.url}/manage/admin/users/invite")
    send = t(language, "Send the invitation")
    tab_to(page, lambda element: element["tag"] == "button" and element["text"] == send)
    _enter(page)
    assert page.locator(".error-summary").is_visible()
    assert_accessible(page)
    page.goto(f"{server.url}/manage/audit/")
    assert "admin.holiday_added" in page.content()
    assert_accessible(page)

    # The deployment's name, contact details and texts, with an error and then saved.
    page.goto(f"{server.url}/manage/admin/deployment")
    assert_accessible(page)
    _to_field(page, "contact_email", "atencion@")
    _enter(page)
    assert page.locator(".error-summary").is_visible()
    assert page.locator("#contact_email").input_value() == "atencion@"
    assert_accessible(page)
    page.fill("#contact_email", "atencion@medioambiente.example")
    page.fill("#site_name", "Sede de prueba")
    page.focus("#site_name")
    _enter(page)
    assert page.locator(".notice-success").is_visible()
    assert "Sede de prueba" in page.locator(".site-title").inner_text()
    assert_accessible(page)

    with server.app.app_context():
        department = db.session.scalar(select(Department).where(
            Department.slug == "medio-ambiente"))
        assert (department.first_response_days, department.resolution_days) == (2, 10)
        case, _new = cases.submit_case(cases.Submission(
            kind=CaseKind.QUESTION, subject="Poda", body="¿Cuándo podan?",
            contact_name="Ana", contact_email="ana@example.org", language="es",
            department_id=department.id))
        db.session.commit()
        due = case.first_response_due_at.astimezone(sla.local_zone()).date()
    # Two working days from today, the holiday skipped: one day later than without it.
    assert due == sla.Calendar({*calendar.extra_holidays, holiday}).add_working_days(today, 2)
    assert due > calendar.add_working_days(today, 2)
