"""A person's data rights in a real browser, by keyboard, with axe-core on every page: a
citizen deletes their account; a guest erases their data through the emailed link; an
agent records a request made at the counter and carries it out (issue 14)."""

import re

import pytest
from sqlalchemy import select

from portal.cases import service as cases
from portal.extensions import db
from portal.models import Case, CaseKind, DataRequest, Role, User
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import assert_accessible, t, tab_to

pytestmark = pytest.mark.browser


def _enter(page):
    with page.expect_navigation():
        page.keyboard.press("Enter")


def _sign_in(page, server, email: str, language: str) -> None:
    page.goto(f"{server.url}/login?lang={language}")
    tab_to(page, lambda element: element["id"] == "email")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(TEST_PASSWORD)
    _enter(page)


def _guest_case(server, email: str) -> str:
    with server.app.app_context():
        case, _new = cases.submit_case(cases.Submission(
            kind=CaseKind.QUESTION, subject="Horario del punto limpio", body="¿Abren hoy?",
            contact_name="Irati Lasa", contact_email=email, contact_phone="600 222 333",
            language="es"))
        db.session.commit()
        return case.reference


def _tick_and_press(page, language: str, button: str) -> None:
    tab_to(page, lambda element: element["id"] == "understood")
    page.keyboard.press("Space")
    text = t(language, button)
    tab_to(page, lambda element: element["tag"] == "button" and element["text"] == text)
    _enter(page)


@pytest.mark.parametrize("language", ["es", "eu"])
def test_a_citizen_deletes_their_account_by_keyboard(live_server, page, language):
    live_server.make_user("ane@example.org", locale=language)
    _sign_in(page, live_server, "ane@example.org", language)
    page.goto(f"{live_server.url}/account")
    link = t(language, "Delete your account")
    tab_to(page, lambda element: element["tag"] == "a" and element["text"] == link)
    _enter(page)
    assert_accessible(page)

    # Without the tick: the message next to the box, nothing deleted.
    tab_to(page, lambda element: element["id"] == "current_password")
    page.keyboard.type(TEST_PASSWORD)
    button = t(language, "Delete my account")
    tab_to(page, lambda element: element["tag"] == "button" and element["text"] == button)
    _enter(page)
    assert t(language, "Tick the box to confirm that you understand what happens.") \
        in page.inner_text("#understood-error")
    assert_accessible(page)

    tab_to(page, lambda element: element["id"] == "current_password")
    page.keyboard.type(TEST_PASSWORD)
    _tick_and_press(page, language, "Delete my account")
    assert t(language, "Your account has been deleted. Your personal data has been erased.") \
        in page.inner_text("main")
    assert_accessible(page)
    with live_server.app.app_context():
        assert db.session.scalar(select(User).where(User.email == "ane@example.org")) is None


@pytest.mark.parametrize("language", ["es", "ca"])
def test_a_guest_erases_their_data_through_the_emailed_link(live_server, page, language):
    reference = _guest_case(live_server, "irati@example.org")
    page.goto(f"{live_server.url}/track?lang={language}")
    link = t(language, "Download or erase the personal data we hold for your email address")
    tab_to(page, lambda element: element["tag"] == "a" and element["text"] == link)
    _enter(page)
    assert_accessible(page)
    tab_to(page, lambda element: element["id"] == "email")
    page.keyboard.type("irati@example.org")
    _enter(page)
    assert_accessible(page)

    mail = live_server.outbox()[-1]
    path = re.search(r"http://localhost(/track/data/\S+)", mail).group(1)
    page.goto(f"{live_server.url}{path}")
    assert_accessible(page)
    _tick_and_press(page, language, "Erase my data")
    assert_accessible(page)
    with live_server.app.app_context():
        case = db.session.scalar(select(Case).where(Case.reference == reference))
        assert case.contact_email == "" and case.contact_phone == ""
        assert case.anonymised_at is not None


@pytest.mark.parametrize("language", ["es", "gl"])
def test_an_agent_records_a_counter_request_and_carries_it_out(live_server, page, language):
    reference = _guest_case(live_server, "irati@example.org")
    live_server.make_user("agente@example.org", Role.AGENT, locale=language)
    _sign_in(page, live_server, "agente@example.org", language)
    page.goto(f"{live_server.url}/manage/privacy/")
    assert_accessible(page)

    # The erasure radio, then the address: the date of today is already filled in.
    tab_to(page, lambda element: element["id"] == "kind-0")
    page.keyboard.press("ArrowDown")  # a radio group is one stop: the arrow picks erasure
    tab_to(page, lambda element: element["id"] == "email")
    page.keyboard.type("irati@example.org")
    _enter(page)  # without how the identity was checked: the message next to it
    assert t(language, "Say how you checked who the person is.") \
        in page.inner_text("#identity_checked-error")
    assert_accessible(page)
    tab_to(page, lambda element: element["id"] == "identity_checked")
    page.keyboard.type("DNI")
    _enter(page)
    assert_accessible(page)

    _tick_and_press(page, language, "Erase the data")
    assert_accessible(page)
    with live_server.app.app_context():
        request = db.session.scalar(select(DataRequest))
        assert request.completed_at is not None and request.subject_email == ""
        case = db.session.scalar(select(Case).where(Case.reference == reference))
        assert case.anonymised_at is not None
