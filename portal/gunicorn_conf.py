"""gunicorn settings: ``gunicorn -c python:portal.gunicorn_conf wsgi:app``.

Rate limits are counted in Redis when ``PORTAL_REDIS_URL`` is set, and otherwise in the
memory of the process that serves the request. Two worker processes counting in their
own memory would each allow the declared number, doubling every limit. So without Redis
the portal is served by one worker process with threads, and gunicorn refuses to start
(or to add a worker on SIGTTIN or a reload) with more.

Options given on the command line override these defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from portal import config as portal_config

# One process, several threads: the embedded default. With Redis, raise ``workers``
# (``--workers 4`` or ``WEB_CONCURRENCY=4``).
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
threads = 8


def limits_problem(worker_count: int, environ: Mapping[str, str]) -> str | None:
    """Why ``worker_count`` processes would not keep the declared limits, or None."""
    if worker_count <= 1:
        return None
    settings = portal_config.load(environ=environ)
    if not settings["RATELIMIT_ENABLED"] or settings["REDIS_URL"]:
        return None
    return (f"Ventanilla will not start {worker_count} worker processes without "
            "PORTAL_REDIS_URL: rate limits would be counted in each process's memory, so "
            f"every limit would allow {worker_count} times what it says. Set "
            "PORTAL_REDIS_URL to a Redis server, or serve with one worker and threads "
            "(--workers 1 --threads 8).")


def _environment(server) -> dict[str, str]:
    # Variables given with ``--env`` reach os.environ only after this hook first runs.
    return {**os.environ, **(server.cfg.env or {})}


def nworkers_changed(server, new_value: int, old_value: int | None) -> None:
    """gunicorn hook: refuse more than one worker when limits are counted in memory.

    It runs as the master starts (``old_value`` is None), before any worker is forked:
    raising RuntimeError there makes gunicorn print the message and exit with status 1.
    Later (SIGTTIN, a reload with a new configuration) the master keeps its old count
    and logs why, instead of stopping a portal that is serving.
    """
    problem = limits_problem(new_value, _environment(server))
    if problem is None:
        return
    if old_value is None:
        raise RuntimeError(problem)
    server.log.error(problem)
    server.num_workers = old_value  # runs this hook again, with a count that is fine
