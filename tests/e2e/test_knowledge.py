"""The knowledge base in a real browser: suggestions while typing, accessible pages."""

import pytest

from portal.accounts import service as accounts
from portal.extensions import db
from portal.knowledge import service as knowledge
from portal.models import Department, Role
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import assert_accessible, tab_to

pytestmark = pytest.mark.browser


@pytest.fixture
def kb_server(live_server):
    with live_server.app.app_context():
        department = Department(slug="movilidad", names={"es": "Movilidad", "en": "Transport"})
        db.session.add(department)
        editor = accounts.create_user("gestora@example.org", TEST_PASSWORD, "Marta",
                                      Role.MANAGER, "es")
        db.session.flush()
        for title, body, locale in [
                ("Cómo pagar una multa de tráfico", "Pague la **multa** en la sede.", "es"),
                ("Recurrir una multa", "Presente alegaciones en 20 días.", "es"),
                ("How to pay a parking fine", "Pay the fine online.", "en")]:
            article = knowledge.create_article(editor, knowledge.ArticleInput(
                title=title, body=body, locale=locale, department_id=department.id,
                tags=["multas"]))
            knowledge.publish(editor, article)
        db.session.commit()
        knowledge.reindex()
    return live_server


@pytest.mark.parametrize("language", ["es", "en"])
def test_search_pages_are_accessible(kb_server, page, language):
    page.goto(f"{kb_server.url}/kb?lang={language}")
    assert_accessible(page)
    tab_to(page, lambda element: element["id"] == "q")
    page.keyboard.type("multas")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("ol.results > li").count() >= 2
    assert page.locator("mark").count() >= 1
    assert_accessible(page)
    first = page.locator("ol.results a").first.inner_text()
    tab_to(page, lambda element: element["tag"] == "a" and element["text"] == first)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/kb/" in page.url
    assert_accessible(page)


@pytest.mark.parametrize("language", ["es", "en"])
def test_typing_a_subject_shows_matching_answers(kb_server, page, language):
    page.goto(f"{kb_server.url}/cases/new?kind=question&lang={language}")
    panel = page.locator("#suggestions")
    assert panel.is_hidden()
    tab_to(page, lambda element: element["id"] == "subject")
    page.keyboard.type("pagar multa")
    panel.locator("a").first.wait_for(state="visible", timeout=5000)
    assert "Cómo pagar una multa de tráfico" in panel.inner_text()
    assert_accessible(page)
