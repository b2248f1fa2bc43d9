"""An agent works a case from the queue to its resolution by keyboard alone."""


import pytest

from portal.accounts import service as accounts
from portal.cases import service as cases
from portal.extensions import db
from portal.models import CaseKind, Department, Role
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import assert_accessible, focused, tab_to

pytestmark = pytest.mark.browser


def _setup(live_server) -> str:
    app = live_server.app
    with app.app_context():
        department = Department(slug="movilidad", names={"es": "Movilidad", "en": "Transport"})
        db.session.add(department)
        db.session.commit()
        accounts.create_user("agente@example.org", TEST_PASSWORD, "Jorge Agente", Role.AGENT,
                             "es", [department])
        case, _new = cases.submit_case(cases.Submission(
            kind=CaseKind.COMPLAINT, subject="Farola rota en la calle Mayor",
            body="Lleva dos semanas apagada.", contact_name="María García",
            contact_email="maria@example.org", language="es", department_id=department.id))
        db.session.commit()
        return case.reference


def _press_enter_and_wait(page):
    with page.expect_navigation():
        page.keyboard.press("Enter")


@pytest.mark.parametrize("language", ["es", "en"])
def test_agent_resolves_a_case_by_keyboard(live_server, page, language):
    reference = _setup(live_server)
    page.goto(f"{live_server.url}/login?lang={language}")
    tab_to(page, lambda element: element["id"] == "email")
    page.keyboard.type("agente@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type(TEST_PASSWORD)
    _press_enter_and_wait(page)
    assert page.url.endswith("/staff/")

    # The queue: the new case is in "unassigned in my departments".
    assert_accessible(page)
    tab_to(page, lambda element: element["tag"] == "a" and "queue=department" in
           page.evaluate("document.activeElement.getAttribute('href') || ''"))
    _press_enter_and_wait(page)
    assert reference in page.content()
    assert_accessible(page)
    tab_to(page, lambda element: element["text"] == "Farola rota en la calle Mayor")
    _press_enter_and_wait(page)
    assert page.url.endswith(f"/staff/cases/{reference}")
    assert_accessible(page)

    # Assign to me.
    assign_to_me = page.locator("input[name=assignee][value=me] + button").inner_text()
    tab_to(page, lambda element: element["tag"] == "button" and
           element["text"] == assign_to_me, limit=120)
    _press_enter_and_wait(page)
    assert page.locator(".notice-success").is_visible()

    # Reply to the citizen.
    tab_to(page, lambda element: element["id"] == "body", limit=120)
    page.keyboard.type("Hemos avisado al servicio de alumbrado.")
    tab_to(page, lambda element: element["tag"] == "button", limit=10)
    _press_enter_and_wait(page)
    assert "Hemos avisado al servicio de alumbrado." in page.content()

    # Resolve with a summary.
    tab_to(page, lambda element: element["id"] == "status", limit=150)
    page.keyboard.press("ArrowDown")  # open → waiting on citizen
    page.keyboard.press("ArrowDown")  # → resolved
    assert page.eval_on_selector("#status", "el => el.value") == "resolved"
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "summary"
    page.keyboard.type("Farola reparada.")
    page.keyboard.press("Tab")
    _press_enter_and_wait(page)
    assert page.locator(".notice-success").is_visible()
    assert_accessible(page)
    assert "Farola reparada." in page.content()
    assert live_server.outbox()[-1].count("Farola reparada.") == 1
