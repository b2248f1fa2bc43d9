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

    if app.config["PORTAL"]["REDIS_URL"]:
        claim_whoosh_index(app)
    app.extensions["portal_search"] = WhooshBackend(
        app.config["SEARCH_INDEX_PATH"],
        results_cache=app.config["PORTAL"]["SEARCH_RESULTS_CACHE"])


# How long a server's claim on the Whoosh index lasts after it last started.
WHOOSH_CLAIM_SECONDS = 24 * 3600


def claim_whoosh_index(app: Flask) -> None:
    """Refuse to start Whoosh on a second host of one deployment.

    A Whoosh index is files on one host: servers on two hosts would each keep an index
    of their own, and each would miss what the other published. Several servers share
    Redis (rate limits need it), so the first host to start claims the deployment's
    index there, and a process on another host refuses to start until the claim lapses
    (a day after the claiming host last started) or is removed.
    """
    import socket

    from redis import Redis
    from redis.exceptions import RedisError

    settings = app.config["PORTAL"]
    key = f"{settings['JOBS_QUEUE']}:whoosh-host"
    host = socket.gethostname()
    try:
        connection = Redis.from_url(settings["REDIS_URL"], socket_timeout=2)
        holder = connection.set(key, host, nx=True, ex=WHOOSH_CLAIM_SECONDS, get=True)
        if holder is not None and holder.decode() != host:
            raise RuntimeError(
                f"The Whoosh search index of this deployment is written on {holder.decode()}: "
                f"a second server ({host}) would keep an index of its own and miss what the "
                "other publishes. Serve several servers with PORTAL_SEARCH_BACKEND=postgresql "
                f"(README.md, Deployment shapes), or, if {holder.decode()} is gone for good, "
                f"delete the Redis key {key}.")
        connection.expire(key, WHOOSH_CLAIM_SECONDS)
    except RedisError as error:
        # Redis down at start: rate limits will say so loudly; search need not.
        app.logger.warning("could not check who writes the search index: %s", error)
