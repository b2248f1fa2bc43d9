"""The home page, the public information pages and the health check."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal import deployment, jobs, markdown, page_cache, scanning, search
from portal.extensions import db
from portal.i18n import current_language
from portal.reports import service as reports_service
from portal.security import public

bp = Blueprint("main", __name__)


def _feature_links() -> dict[str, str | None]:
    """Where the three ways in lead, or None for a feature that is not built yet."""
    endpoints = {"ask": ("cases.new", {"kind": "question"}),
                 "complain": ("cases.new", {"kind": "complaint"}),
                 "propose": ("ideas.new", {}),
                 "search": ("knowledge.index", {})}
    return {
        name: url_for(endpoint, **args) if endpoint in current_app.view_functions else None
        for name, (endpoint, args) in endpoints.items()
    }


@bp.get("/")
@public
@page_cache.cached()
def index():
    reports = reports_service.latest_for_home()
    return render_template("main/index.html", links=_feature_links(), reports=reports)


def _localised_page(name: str):
    """Long information pages are written whole in each language: pages/<name>.<lang>.html."""
    return render_template(f"pages/{name}.{current_language()}.html")


def _written_page(name: str, title: str):
    """The administrator's text for this language (Markdown), else the built-in page."""
    written = deployment.page_text(name, current_language())
    if not written:
        return _localised_page(name)
    return render_template("pages/written.html", title=title, body=markdown.render(written))


@bp.get("/accessibility")
@public
@page_cache.cached()
def accessibility():
    return _written_page("accessibility", _("Accessibility statement"))


@bp.get("/privacy")
@public
@page_cache.cached()
def privacy():
    return _written_page("privacy", _("Privacy notice"))


@bp.get("/contact")
@public
@page_cache.cached()
def contact():
    return _localised_page("contact")


@bp.get("/healthz")
@public
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
        database = {"status": "ok"}
    except SQLAlchemyError as error:
        db.session.rollback()
        database = {"status": "error", "error": type(error).__name__}
    # Search answered by the database (no usable index, or the fast path failing) is
    # degraded, not an outage: the status stays 200 while the database answers.
    search_status = search.backend().status()
    degraded = search_status.pop("degraded")
    search_status = {**search_status, "index": search_status["status"],
                     "status": "degraded" if degraded else "ok"}
    healthy = database["status"] == "ok"
    # Uploads wait (and are never served) while the virus scanner cannot be reached:
    # degraded too, not an outage.
    scanner = {"status": "off"}
    if scanning.enabled():
        scanner = {"status": "ok" if scanning.ping() else "unavailable"}
        degraded = degraded or scanner["status"] != "ok"
    jobs_status = jobs.status()
    degraded = degraded or jobs_status["status"] != "ok"
    body = {
        "status": ("degraded" if degraded else "ok") if healthy else "unavailable",
        "database": database,
        "search": search_status,
        "scanner": scanner,
        "jobs": jobs_status,
    }
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    if not healthy:
        response.headers["Retry-After"] = "30"
    response.headers["Cache-Control"] = "no-store"
    return response
