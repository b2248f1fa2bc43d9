"""Search is a port: the rest of the portal talks to ``SearchBackend``, never to an engine.

The database is the truth. Whoosh (the embedded default) keeps an index beside it that
can be rebuilt; PostgreSQL (``PORTAL_SEARCH_BACKEND=postgresql``) keeps its documents
in the database, written in the same transaction as the rows they come from.
"""

from __future__ import annotations

from flask import Flask, current_app

from portal.search.base import SearchBackend

BACKENDS = ("whoosh", "postgresql")


def backend(app: Flask | None = None) -> SearchBackend:
    """The configured backend of ``app`` (default: the current app)."""
    app = app or current_app
    return app.extensions["portal_search"]


def register(app: Flask) -> None:
    name = app.config["PORTAL"]["SEARCH_BACKEND"]
    if name not in BACKENDS:
        raise ValueError(f"Unknown search backend {name!r}: PORTAL_SEARCH_BACKEND is one of "
                         + ", ".join(BACKENDS))
    if name == "postgresql":
        if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            raise ValueError("PORTAL_SEARCH_BACKEND=postgresql needs PORTAL_DATABASE_URL "
                             "to point at PostgreSQL")
        from portal.extensions import db
        from portal.search.postgres_backend import PostgresBackend

        app.extensions["portal_search"] = PostgresBackend(lambda: db.session)
        return
    from portal.search.whoosh_backend import WhooshBackend

    app.extensions["portal_search"] = WhooshBackend(
        app.config["SEARCH_INDEX_PATH"],
        results_cache=app.config["PORTAL"]["SEARCH_RESULTS_CACHE"])
