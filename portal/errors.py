"""Error pages: translated, no tracebacks, the right status codes."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.extensions import db

log = logging.getLogger(__name__)

PAGES = {400, 403, 404, 405, 413, 429, 500, 503}


def _render(code: int, **context):
    response = render_template(f"errors/{code}.html", code=code, **context)
    return response, code


def _http_error(error: HTTPException):
    code = error.code or 500
    if code not in PAGES:
        return error
    if request.path == "/healthz" or request.accept_mimetypes.best == "application/json":
        return {"error": error.name}, code
    return _render(code)


def _csrf_error(error: CSRFError):
    return _render(400, csrf=True)


def _database_unavailable(error: OperationalError):
    # A database that is down or locked is temporary: say so, and when to try again.
    log.error("database unavailable: %s", type(error.orig).__name__ if error.orig else error)
    db.session.rollback()
    response, code = _render(503)
    return response, 503, {"Retry-After": "30"}


def _unexpected(error: Exception):
    if isinstance(error, HTTPException):
        return _http_error(error)
    log.exception("unhandled error on %s %s", request.method, request.path)
    db.session.rollback()
    return _render(500)


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(InternalServerError, lambda error: _render(500))
    app.register_error_handler(Exception, _unexpected)
