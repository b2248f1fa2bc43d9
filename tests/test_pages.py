"""Home page, health check and error pages."""

from unittest import mock

import pytest
from sqlalchemy.exc import OperationalError

from portal import clock, create_app
from portal.models import Report, ReportStatus
from tests.conftest import BASE_CONFIG


def test_home_shows_the_three_ways_in_and_says_what_is_not_built(client):
    text = client.get("/?lang=en").text
    for title in ("Ask a question", "Make a complaint", "Propose an idea"):
        assert title in text
    # No report yet: no empty "You said, we did" section (tests/test_layout.py).
    assert "You said, we did" not in text


def test_home_lists_published_reports_only(client, db):
    from datetime import date

    db.session.add_all([
        Report(title="Más bancos en la plaza", summary="Lo pidieron 40 vecinos.",
               period_start=date(2026, 1, 1), period_end=date(2026, 3, 31),
               status=ReportStatus.PUBLISHED, published_at=clock.now()),
        Report(title="Borrador secreto", period_start=date(2026, 1, 1),
               period_end=date(2026, 3, 31)),
    ])
    db.session.commit()
    text = client.get("/").text
    assert "Más bancos en la plaza" in text
    assert "Borrador secreto" not in text


def test_healthz_reports_database_and_search(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["database"]["status"] == "ok"
    assert body["search"]["backend"] == "whoosh"
    # A fresh instance has no search index until the first write builds it: searches
    # are answered by the database meanwhile, which is degraded, not down.
    assert (body["status"], body["search"]["status"], body["search"]["index"]) == (
        "degraded", "degraded", "missing")


def test_healthz_is_503_when_the_database_is_unreachable(app):
    client = app.test_client()
    with mock.patch("portal.main.routes.db.session.execute",
                    side_effect=OperationalError("SELECT 1", {}, Exception("down"))):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"]["status"] == "error"
    assert response.headers["Retry-After"]


@pytest.mark.parametrize("url", [
    "sqlite:////nonexistent-folder/portal.db",
    "postgresql+psycopg://postgres@127.0.0.1:1/ventanilla?connect_timeout=2",
])
def test_pages_answer_503_with_retry_after_when_the_database_is_down(tmp_path, url):
    app = create_app({**BASE_CONFIG, "INSTANCE_PATH": str(tmp_path), "DATABASE_URL": url})
    client = app.test_client()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"]["status"] == "error"
    response = client.get("/?lang=en")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "The service is not available right now" in response.text
    assert "Traceback" not in response.text


@pytest.mark.parametrize(("language", "text"), [("en", "Page not found"),
                                                ("es", "Página no encontrada")])
def test_not_found_page_is_translated(client, language, text):
    response = client.get(f"/no-such-page?lang={language}")
    assert response.status_code == 404
    assert text in response.text


def test_internal_error_shows_no_traceback(make_app):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret detail")

    response = app.test_client().get("/boom?lang=en")
    assert response.status_code == 500
    assert "Sorry, something went wrong on our side" in response.text
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text


def test_request_too_large_is_413(make_app):
    app = make_app(MAX_CONTENT_LENGTH=1024)
    response = app.test_client().post("/login?lang=en", data={"email": "x" * 5000})
    assert response.status_code == 413
    assert "The files are too large" in response.text


def test_method_not_allowed_page(client):
    response = client.get("/logout?lang=en")
    assert response.status_code == 405
    assert "This action is not allowed here" in response.text
