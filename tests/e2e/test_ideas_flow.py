"""The ideas board in a real browser, by keyboard alone: propose, support, comment and
follow in Spanish and Galician; axe-core on the board, an idea, the form with errors and
the staff moderation queue (issue 12)."""

import pytest

from portal.accounts import service as accounts
from portal.extensions import db
from portal.ideas import service as ideas
from portal.knowledge import service as knowledge
from portal.models import Department, Role
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import assert_accessible, t, tab_to

pytestmark = pytest.mark.browser


@pytest.fixture
def board_server(live_server):
    with live_server.app.app_context():
        department = Department(slug="parques", names={"es": "Parques", "gl": "Parques",
                                                       "en": "Parks"})
        db.session.add(department)
        db.session.flush()
        for email, role in [("autora@example.org", Role.CITIZEN),
                            ("vecino@example.org", Role.CITIZEN),
                            ("moderadora@example.org", Role.AGENT)]:
            accounts.create_user(email, TEST_PASSWORD, email.split("@")[0].title(), role,
                                 "es", [department] if role is Role.AGENT else [])
        db.session.commit()
        author = accounts.find_user_by_email("autora@example.org")
        idea = ideas.propose(author, ideas.Proposal(
            title="Más fuentes en el parque", body="En verano no hay dónde beber.",
            language="es", department_id=department.id))
        db.session.commit()
        ideas.flag(accounts.find_user_by_email("moderadora@example.org"), "Revisar", idea=idea)
        db.session.commit()
        knowledge.reindex()
        live_server.idea_id = idea.id
    return live_server


def _enter(page):
    with page.expect_navigation():
        page.keyboard.press("Enter")


def _sign_in(page, server, email, language):
    page.goto(f"{server.url}/login?lang={language}")
    tab_to(page, lambda element: element["id"] == "email")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(TEST_PASSWORD)
    _enter(page)


@pytest.mark.parametrize("language", ["es", "gl"])
def test_a_citizen_proposes_supports_comments_and_follows_by_keyboard(
        board_server, page, language):
    server = board_server
    page.goto(f"{server.url}/ideas?lang={language}")
    assert_accessible(page)
    _sign_in(page, server, "vecino@example.org", language)

    # Propose: first with an error (no description), then put right.
    page.goto(f"{server.url}/ideas/new")
    tab_to(page, lambda element: element["id"] == "title")
    page.keyboard.type("Bancos a la sombra en el parque")
    _enter(page)
    assert page.locator(".error-summary").count() == 1
    assert page.locator("#title").input_value() == "Bancos a la sombra en el parque"
    assert_accessible(page)
    tab_to(page, lambda element: element["id"] == "body")
    page.keyboard.type("Para las personas mayores que pasean por la tarde.")
    send = t(language, "Send")
    tab_to(page, lambda element: element["tag"] == "button" and element["text"] == send,
           limit=80)
    _enter(page)
    assert "/ideas/" in page.url and "Bancos a la sombra" in page.content()
    assert_accessible(page)

    # Support, comment and follow someone else's idea.
    page.goto(f"{server.url}/ideas/{server.idea_id}")
    support = t(language, "Support this idea")
    tab_to(page, lambda element: element["tag"] == "button" and element["text"] == support,
           limit=80)
    _enter(page)
    assert t(language, "You support this idea.") in page.content()
    tab_to(page, lambda element: element["id"] == "body", limit=120)
    page.keyboard.type("¡Muy buena idea!")
    add = t(language, "Add comment")
    tab_to(page, lambda element: element["tag"] == "button" and element["text"] == add)
    _enter(page)
    assert "¡Muy buena idea!" in page.content()
    unfollow = t(language, "Stop following")
    assert page.get_by_role("button", name=unfollow).count() == 1  # supporting follows
    tab_to(page, lambda element: element["tag"] == "button" and element["text"] == unfollow,
           limit=120)
    _enter(page)
    follow = t(language, "Follow: tell me by email when it gets an answer")
    assert page.get_by_role("button", name=follow).count() == 1
    assert_accessible(page)


def test_the_moderation_queue_is_accessible(board_server, page):
    _sign_in(page, board_server, "moderadora@example.org", "es")
    page.goto(f"{board_server.url}/staff/ideas/")
    assert "Más fuentes en el parque" in page.content()
    assert_accessible(page)
    page.goto(f"{board_server.url}/staff/ideas/{board_server.idea_id}")
    assert_accessible(page)
