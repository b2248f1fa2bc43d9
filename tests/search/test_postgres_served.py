"""Two portal servers on one PostgreSQL database with PORTAL_SEARCH_BACKEND=postgresql.

What one publishes the other finds at once: the documents are rows written in the
publishing transaction, and there is no index of a server's own to bring up to date.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from sqlalchemy import text

from portal import create_app
from portal.accounts import service as accounts
from portal.extensions import db
from portal.models import Role
from portal.search.postgres_backend import TABLES
from tests.conftest import BASE_CONFIG, TEST_PASSWORD
from tests.served import Browser, served_portal

pytestmark = pytest.mark.served


@pytest.fixture
def two_servers(postgres_url, tmp_path):
    app = create_app({**BASE_CONFIG, "INSTANCE_PATH": str(tmp_path / "setup"),
                      "DATABASE_URL": postgres_url})
    with app.app_context():
        editor = accounts.create_user("editora@example.org", TEST_PASSWORD, "Editora",
                                      Role.AGENT, "es")
        editor.can_publish_articles = True
        db.session.commit()
    try:
        with served_portal(tmp_path / "a", postgres_url, workers=2,
                           SEARCH_BACKEND="postgresql") as first, \
                served_portal(tmp_path / "b", postgres_url, workers=2,
                              SEARCH_BACKEND="postgresql") as second:
            yield first, second
    finally:
        with app.app_context():
            tables = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
            with db.engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {tables}, {', '.join(TABLES)} "
                                        "RESTART IDENTITY CASCADE"))
            db.engine.dispose()


def test_an_article_published_through_one_server_is_found_through_the_other(two_servers):
    first, second = two_servers
    editor = Browser(first.url)
    assert editor.post("/login", {"email": "editora@example.org", "password": TEST_PASSWORD},
                       form_page="/login").status_code == 302
    saved = editor.post("/staff/kb/new", {
        "title": "Vado permanente para garajes", "locale": "es", "department": "",
        "body": "La licencia de vado se solicita en la sede electrónica con el plano."},
        form_page="/staff/kb/new")
    assert saved.status_code == 302, saved.text[:500]
    article_id = re.search(r"/staff/kb/(\d+)", saved.headers["Location"]).group(1)
    citizen = Browser(second.url)
    # A draft is found nowhere.
    assert "Vado permanente" not in citizen.get("/kb?q=" + quote("licencia vado")).text
    published = editor.post(f"/staff/kb/{article_id}/publish", {},
                            form_page=f"/staff/kb/{article_id}")
    assert published.status_code == 302
    # At once, on the other server, in a stemmed form without the accent.
    page = citizen.get("/kb?q=" + quote("licencias electronica"))
    assert page.status_code == 200
    assert f"/kb/{article_id}" in page.text and "Vado permanente para garajes" in page.text
    assert "<mark>" in page.text
    for server in (first, second):
        health = json.loads(Browser(server.url).get("/healthz").text)
        assert health["search"]["backend"] == "postgresql"
        assert (health["search"]["status"], health["search"]["documents"]) == ("ok", 1)
