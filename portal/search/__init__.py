"""Search is a port: the rest of the portal talks to ``SearchBackend``, never to Whoosh.

The database is the truth and the index is derived data that can be rebuilt.
"""

from __future__ import annotations

from flask import Flask, current_app

from portal.search.base import SearchBackend


def backend(app: Flask | None = None) -> SearchBackend:
    """The configured backend of ``app`` (default: the current app)."""
    app = app or current_app
    return app.extensions["portal_search"]


def register(app: Flask) -> None:
    name = app.config["PORTAL"]["SEARCH_BACKEND"]
    if name != "whoosh":
        raise ValueError(f"Unknown search backend {name!r}")
    from portal.search.whoosh_backend import WhooshBackend

    app.extensions["portal_search"] = WhooshBackend(
        app.config["SEARCH_INDEX_PATH"],
        results_cache=app.config["PORTAL"]["SEARCH_RESULTS_CACHE"])
