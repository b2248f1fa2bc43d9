"""Two portal servers on one PostgreSQL database with PORTAL_SEARCH_BACKEND=postgresql.

What one publishes the other finds at once: the documents are rows written in the
publishing transaction, and there is no index of a server's own to bring up to date.
"""

from __future__ import annotations

import json
import re
import uuid
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
def two_servers(postgres_url, redis_url, tmp_path):
    app = create_app({**BASE_CONFIG, "INSTANCE_PATH": str(tmp_path / "setup"),
                      "DATABASE_URL": postgres_url})
    with app.app_context():
        editor = accounts.create_user("editora@example.org", TEST_PASSWORD, "Editora",
                                      Role.AGENT, "es")
        editor.can_publish_articles = True
        db.session.commit()
    # Shared through Redis: rate limits, the kept pages' generation, the jobs.
    shared = {"SEARCH_BACKEND": "postgresql", "REDIS_URL": redis_url,
              "JOBS_QUEUE": f"ventanilla-test-{uuid.uuid4().hex[:8]}"}
    try:
        with served_portal(tmp_path / "a", postgres_url, workers=2, **shared) as first, \
                served_portal(tmp_path / "b", postgres_url, workers=2, **shared) as second:
            yield first, second
    finally:
        with app.app_context():
            tables = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
            with db.engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {tables}, {', '.join(TABLES)} "
                                        "RESTART IDENTITY CASCADE"))
            db.engine.dispose()
        from redis import Redis

        connection = Redis.from_url(redis_url)
        for key in connection.scan_iter(f"*{shared['JOBS_QUEUE']}*"):
            connection.delete(key)


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
    # A draft is found nowhere; the other server keeps these pages for anonymous readers.
    search = "/kb?q=" + quote("licencias electronica")
    assert "Vado permanente" not in citizen.get(search).text
    assert "Vado permanente" not in citizen.get("/kb").text
    published = editor.post(f"/staff/kb/{article_id}/publish", {},
                            form_page=f"/staff/kb/{article_id}")
    assert published.status_code == 302
    # At once, on the other server, in a stemmed form without the accent: neither its
    # search nor its kept pages are behind.
    assert "Vado permanente para garajes" in citizen.get("/kb").text
    page = citizen.get(search)
    assert page.status_code == 200
    assert f"/kb/{article_id}" in page.text and "Vado permanente para garajes" in page.text
    assert "<mark>" in page.text
    for server in (first, second):
        health = json.loads(Browser(server.url).get("/healthz").text)
        assert health["search"]["backend"] == "postgresql"
        assert (health["search"]["status"], health["search"]["documents"]) == ("ok", 1)
