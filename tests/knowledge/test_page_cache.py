"""The page cache (portal/page_cache.py): public pages kept for anonymous visitors.

Each test asks what a visitor must never get from it: someone else's signed-in page,
another language's page, someone else's form token or message, or a page older than
the articles and reports it shows.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from flask import flash, redirect, render_template

from portal import clock, page_cache
from portal.extensions import db as _db
from portal.knowledge import service as knowledge
from portal.models import Report, ReportStatus, Role

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SUBMISSION = re.compile(r'name="submission_token"[^>]*value="([^"]+)"')


def kept(app) -> list[str]:
    return app.extensions["portal_page_cache"].bodies()


def test_anonymous_pages_are_kept_and_served_again(client, app, publish):
    publish("Punto limpio", "Horarios del punto limpio.")
    first = client.get("/kb").get_data(as_text=True)
    assert len(kept(app)) == 1
    assert client.get("/kb").get_data(as_text=True) == first
    assert "Punto limpio" in first


def test_a_signed_in_page_is_never_kept_nor_served_to_someone_else(app, client, login_as):
    anonymous = app.test_client()
    anonymous.get("/kb")  # an anonymous page is kept ...
    user = login_as(Role.CITIZEN, name="Lucía Pérez Gómez")
    for path in ("/", "/kb", "/cases/new?kind=question"):
        page = client.get(path).get_data(as_text=True)
        # ... but the signed-in person gets their own page, never the kept one
        assert "Sign out" in page or "Cerrar sesión" in page, path
        assert user.email in page or path != "/cases/new?kind=question"
    for body in kept(app):
        assert user.display_name not in body and user.email not in body
        assert "Cerrar sesión" not in body and "Sign out" not in body
    for path in ("/", "/kb", "/cases/new?kind=question"):
        page = anonymous.get(path).get_data(as_text=True)
        assert user.display_name not in page and user.email not in page
        assert "Cerrar sesión" not in page


def test_each_language_gets_its_own_page(client, app):
    spanish = client.get("/", headers={"Accept-Language": "es"}).get_data(as_text=True)
    english = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="es">' in spanish and '<html lang="en">' in english
    assert "How can we help you?" in english and "How can we help you?" not in spanish
    assert len(kept(app)) == 2
    # A language chosen with ?lang= is remembered for the next page, kept or not.
    other = app.test_client()
    assert '<html lang="eu">' in other.get("/?lang=eu").get_data(as_text=True)
    assert '<html lang="eu">' in other.get("/", headers={"Accept-Language": "en"}) \
        .get_data(as_text=True)
    assert '<html lang="en">' in client.get("/", headers={"Accept-Language": "en"}) \
        .get_data(as_text=True)


@pytest.fixture
def csrf_app(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        yield app


def test_form_tokens_are_never_kept_each_visitor_gets_their_own(csrf_app, publish):
    article = publish("Punto limpio", "Horarios del punto limpio.")
    ana, bruno = csrf_app.test_client(), csrf_app.test_client()
    pages = {name: visitor.get(f"/kb/{article.id}").get_data(as_text=True)
             for name, visitor in (("ana", ana), ("bruno", bruno))}
    tokens = {name: CSRF.search(page).group(1) for name, page in pages.items()}
    assert tokens["ana"] != tokens["bruno"]
    assert len(kept(csrf_app)) == 1  # bruno's page came from the cache
    for body in kept(csrf_app):
        assert tokens["ana"] not in body and tokens["bruno"] not in body
        assert not CSRF.search(body) or "pc" in CSRF.search(body).group(1)
    # Each token works in its own session only.
    url = f"/kb/{article.id}/feedback"
    assert bruno.post(url, data={"csrf_token": tokens["ana"], "helpful": "yes"}) \
        .status_code == 400
    assert bruno.post(url, data={"csrf_token": tokens["bruno"], "helpful": "yes"}) \
        .status_code == 302
    assert ana.post(url, data={"csrf_token": tokens["ana"], "helpful": "no"}).status_code == 302


def test_the_intake_form_gets_new_tokens_in_every_response(csrf_app):
    pages = [csrf_app.test_client().get("/cases/new?kind=question").get_data(as_text=True)
             for _ in range(3)]
    assert len(kept(csrf_app)) == 1
    csrf = {CSRF.search(page).group(1) for page in pages}
    submission = {SUBMISSION.search(page).group(1) for page in pages}
    assert len(csrf) == 3 and len(submission) == 3
    # The suggestion panel carries the same submission token as the form field.
    for page in pages:
        token = SUBMISSION.search(page).group(1)
        assert f'data-token="{token}"' in page
    body = kept(csrf_app)[0]
    assert not (csrf | submission) & set(re.findall(r'value="([^"]+)"', body))


def test_a_page_with_a_flash_message_is_never_kept(make_app):
    app = make_app()

    @app.get("/__flash")
    def flashing():
        flash("Se ha enviado su mensaje a Lucía.", "success")
        return redirect("/kb")

    @app.get("/__flash_here")
    @page_cache.cached()
    def flashing_here():  # a kept page whose view flashes and shows it at once
        flash("Mensaje para Lucía.", "success")
        return render_template("pages/contact.es.html")

    with app.app_context():
        visitor = app.test_client()
        page = visitor.get("/__flash", follow_redirects=True).get_data(as_text=True)
        assert "Se ha enviado su mensaje a Lucía." in page
        assert kept(app) == []
        # Nobody else sees the message, and the next page of the same visitor is kept.
        assert "Lucía" not in app.test_client().get("/kb").get_data(as_text=True)
        assert "Lucía" not in visitor.get("/kb").get_data(as_text=True)
        assert len(kept(app)) == 1
        assert "Mensaje para Lucía." in visitor.get("/__flash_here").get_data(as_text=True)
        assert len(kept(app)) == 1 and all("Lucía" not in body for body in kept(app))


def test_publishing_and_archiving_an_article_change_the_kept_pages(client, app, db, publish,
                                                                   editor):
    first = publish("Punto limpio", "Horarios del punto limpio.")
    client.get("/kb")
    client.get("/kb?q=vado")
    draft = knowledge.create_article(editor, knowledge.ArticleInput(
        title="Vado permanente", body="Cómo pedir un vado permanente.", locale="es"))
    db.session.commit()
    assert "Vado permanente" not in client.get("/kb").get_data(as_text=True)
    knowledge.publish(editor, draft)
    db.session.commit()
    assert "Vado permanente" in client.get("/kb").get_data(as_text=True)
    assert "Vado permanente" in client.get("/kb?q=vado").get_data(as_text=True)
    assert client.get(f"/kb/{first.id}").status_code == 200
    knowledge.archive(editor, first)
    db.session.commit()
    assert client.get(f"/kb/{first.id}").status_code == 404
    assert "Punto limpio" not in client.get("/kb").get_data(as_text=True)


def test_a_published_report_shows_on_the_kept_home_page(client, db):
    assert "Recogida de enseres" not in client.get("/").get_data(as_text=True)
    report = Report(title="Recogida de enseres", summary="Ahora cada semana.",
                    period_start=date(2026, 1, 1), period_end=date(2026, 3, 31))
    db.session.add(report)
    db.session.commit()
    assert "Recogida de enseres" not in client.get("/").get_data(as_text=True)  # a draft
    report.status, report.published_at = ReportStatus.PUBLISHED, clock.now()
    db.session.commit()
    assert "Recogida de enseres" in client.get("/").get_data(as_text=True)


def test_a_change_made_by_another_process_reaches_this_one(app, make_app, publish, client):
    """A CLI import or another worker on the host: the stamp file in the instance folder."""
    client.get("/kb")
    other = make_app()  # same instance folder and database, another cache
    with other.app_context():
        other.extensions["portal_page_cache"].changed()
        _db.session.remove()
    assert app.extensions["portal_page_cache"].get(
        ("knowledge.index", "/kb?", "es")) is None
