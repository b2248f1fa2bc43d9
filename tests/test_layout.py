"""Small layout things a council would notice (issue 11, item 13), on the HTML served."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from portal import clock
from portal.knowledge import service as knowledge
from portal.models import Report, ReportStatus, Role

ENGLISH = {"Accept-Language": "en"}


def nav(page: str) -> list[tuple[str, str]]:
    """(href, text) of the main menu's links."""
    menu = re.search(r'<nav class="main-nav".*?</nav>', page, re.S).group(0)
    return [(href, re.sub(r"\s+", " ", text).strip())
            for href, text in re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', menu, re.S)]


def test_the_menu_leads_to_the_knowledge_base_and_marks_the_current_page(client):
    page = client.get("/kb", headers=ENGLISH).text
    assert nav(page) == [("/", "Home"), ("/kb", "Common questions"), ("/ideas", "Ideas"),
                         ("/reports", "Improvements"), ("/stats", "Figures"),
                         ("/contact", "Contact")]
    assert re.search(r'<a href="/kb" aria-current="page">', page)
    assert 'href="/account/cases"' not in page  # nobody is signed in


def test_the_menu_has_my_cases_when_signed_in(client, login_as):
    login_as(Role.CITIZEN)  # a Spanish speaker: ?lang= chooses English
    page = client.get("/?lang=en").text
    assert nav(page) == [("/", "Home"), ("/kb", "Common questions"), ("/ideas", "Ideas"),
                         ("/reports", "Improvements"), ("/stats", "Figures"),
                         ("/account/cases", "My cases"), ("/contact", "Contact")]
    assert client.get("/account/cases").status_code == 200


def test_the_home_page_shows_no_empty_reports_section(client, db):
    page = client.get("/", headers=ENGLISH).text
    assert "You said, we did" not in page and 'id="reports-title"' not in page
    db.session.add(Report(title="Más bancos en la plaza", summary="Lo pidieron 40 vecinos.",
                          period_start=date(2026, 1, 1), period_end=date(2026, 3, 31),
                          status=ReportStatus.PUBLISHED, published_at=clock.now()))
    db.session.commit()
    page = client.get("/", headers=ENGLISH).text
    assert 'id="reports-title"' in page and "Más bancos en la plaza" in page


def test_one_page_of_results_has_no_pager(app, db, client, make_user, make_department):
    editor = make_user(Role.MANAGER)
    department = make_department()
    knowledge.reindex()

    def publish(count: int) -> None:
        for _ in range(count):
            article = knowledge.create_article(editor, knowledge.ArticleInput(
                title="Vado permanente", body="Cómo pedir un vado permanente.", locale="es",
                department_id=department.id))
            knowledge.publish(editor, article)
        db.session.commit()

    publish(3)
    page = client.get("/kb?q=vado", headers=ENGLISH).text
    assert "3 results" in page
    assert 'class="pager"' not in page and "Page 1 of 1" not in page
    publish(9)  # 12 results: two pages of ten
    page = client.get("/kb?q=vado", headers=ENGLISH).text
    assert 'class="pager"' in page and "Page 1 of 2" in page and "Next page" in page
    from portal import search

    search.backend().close()


def test_the_location_field_asks_for_an_address_line(client):
    page = client.get("/cases/new?kind=complaint").text
    field = re.search(r'<input[^>]*name="location_text"[^>]*>', page).group(0)
    assert 'autocomplete="address-line1"' in field
    assert "street-address" not in page  # that token belongs on a multi-line textarea


def test_main_keeps_its_space_above_the_footer():
    """``main`` is also a ``.wrap``, whose padding used to cancel main's bottom padding.
    The browser test (tests/e2e/test_layout_narrow.py) checks the computed value."""
    css = (Path(__file__).resolve().parent.parent / "portal/static/css/portal.css").read_text()
    assert re.search(r"main\.wrap\s*\{[^}]*padding-bottom:\s*3rem", css)
