"""A manager in a real browser, by keyboard: filter the dashboard, compose a report
(with an error first, then a picked idea), publish it; axe-core on the dashboard with
its charts, /stats, /reports, a report and the editor with errors (issue 13)."""

from datetime import timedelta

import pytest

from portal import clock
from portal.accounts import service as accounts
from portal.extensions import db
from portal.ideas import service as ideas
from portal.knowledge import service as knowledge
from portal.models import Case, CaseKind, CaseStatus, Department, Role
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import assert_accessible, t, tab_to

pytestmark = pytest.mark.browser


@pytest.fixture
def office(live_server):
    with live_server.app.app_context():
        department = Department(slug="parques", names={"es": "Parques", "eu": "Parkeak",
                                                       "en": "Parks"})
        db.session.add(department)
        db.session.flush()
        accounts.create_user("gestora@example.org", TEST_PASSWORD, "Marta Gestora",
                             Role.MANAGER, "es", [])
        author = accounts.create_user("autora@example.org", TEST_PASSWORD, "Ana", Role.CITIZEN,
                                      "eu", [])
        now = clock.now()
        for number in range(14):
            created = now - timedelta(days=number + 1)
            db.session.add(Case(
                reference=f"Q-TEST-{number:04d}", kind=CaseKind.COMPLAINT,
                subject="Columpios al sol", body="Texto privado de la queja.",
                contact_name="Vecina", contact_email=f"v{number}@example.org",
                department_id=department.id, status=CaseStatus.CLOSED, created_at=created,
                first_response_due_at=created + timedelta(days=3),
                first_responded_at=created + timedelta(hours=20 + number * 5),
                first_response_working_days=number % 4, resolved_at=created + timedelta(days=1),
                resolution_working_days=1 + number % 3,
                resolution_due_at=created + timedelta(days=10), closed_at=created,
                satisfaction=1 + number % 5, rated_at=created + timedelta(days=1)))
        ideas.propose(author, ideas.Proposal(title="Sombra en los columpios",
                                             body="Toldos, por favor.", language="es",
                                             department_id=department.id))
        db.session.commit()
        knowledge.reindex()
    return live_server


def _enter(page):
    with page.expect_navigation():
        page.keyboard.press("Enter")


@pytest.mark.parametrize("language", ["es", "eu"])
def test_a_manager_filters_the_dashboard_and_publishes_a_report_by_keyboard(
        office, page, language):
    server = office
    page.goto(f"{server.url}/login?lang={language}")
    tab_to(page, lambda element: element["id"] == "email")
    page.keyboard.type("gestora@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type(TEST_PASSWORD)
    _enter(page)

    page.goto(f"{server.url}/manage/")
    assert page.locator("svg[role=img] title").count() >= 3
    assert_accessible(page)
    # Filter: this year, the parks department, by keyboard.
    tab_to(page, lambda element: element["id"] == "period")
    page.keyboard.press("End")  # "Dates of my choice"
    page.keyboard.press("ArrowUp")  # "This year"
    tab_to(page, lambda element: element["id"] == "department")
    page.keyboard.press("ArrowDown")
    show = t(language, "Show")
    tab_to(page, lambda element: element["tag"] == "button" and element["text"] == show)
    _enter(page)
    assert "period=year" in page.url and "department=" in page.url
    assert "14" in page.locator(".figures-grid").inner_text()
    page.screenshot(path="test-artifacts/dashboard_" + language + ".png", full_page=True)

    # Compose: send with no summary first, then put it right and pick the idea.
    page.goto(f"{server.url}/manage/reports/new")
    tab_to(page, lambda element: element["id"] == "title")
    page.keyboard.type("Sombra en los parques")
    _enter(page)
    assert page.locator(".error-summary").count() == 1
    assert page.locator("#title").input_value() == "Sombra en los parques"
    assert_accessible(page)
    tab_to(page, lambda element: element["id"] == "summary")
    page.keyboard.type("Pusimos toldos en los columpios.")
    tab_to(page, lambda element: element["id"] == "idea_query")
    page.keyboard.type("columpios")
    search = t(language, "Search")
    tab_to(page, lambda element: element["tag"] == "button" and element["text"] == search)
    _enter(page)
    tab_to(page, lambda element: element["id"] == "ideas-0")
    page.keyboard.press("Space")
    save = t(language, "Save the draft")
    tab_to(page, lambda element: element["tag"] == "button" and element["text"] == save,
           limit=120)
    _enter(page)
    assert "/manage/reports/" in page.url
    publish = t(language, "Publish the report")
    tab_to(page, lambda element: element["tag"] == "button" and element["text"] == publish,
           limit=80)
    _enter(page)
    assert page.locator("form[action$='/publish']").count() == 0  # published
    report_url = page.url.split("?")[0].replace("/manage/reports/", "/reports/")

    for path in ("/reports", report_url.replace(server.url, ""), "/stats", "/"):
        page.goto(f"{server.url}{path}")
        assert_accessible(page)
        assert "Texto privado" not in page.content()
    page.goto(f"{server.url}/reports")
    assert "Sombra en los parques" in page.content()
    told = [text for text in server.outbox() if "To: autora@example.org" in text]
    assert len(told) == 1 and "Sombra en los parques" in told[0]
