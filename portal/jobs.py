"""Side effects that run after the database commit (mail delivery, index updates), and
work that must commit with the change itself (``before_commit_collect``).

A job is attached to the current transaction with ``after_commit(func, *args)``. It
runs only if that transaction commits, so a rolled-back change never sends mail.

Where it runs: the embedded default runs jobs in this process straight after the
commit; a job that fails is logged and left for ``flask portal outbox deliver`` (mail)
or a reindex to retry, never failing the request that caused it. With
``PORTAL_REDIS_URL`` set, each job is put on an RQ queue instead and run by
``flask --app wsgi portal worker``, retried with backoff (``RETRY_AFTER``), and kept in
RQ's failed registry once its retries are spent (``/manage/admin/jobs`` lists them). If
Redis cannot take a job, it runs here. The worker also does the periodic work every
``SWEEP_SECONDS`` (``sweep``: the mail still pending, the files waiting for the virus
scanner, and the features' ``@periodic`` work: /stats when its figures are old,
retention once a day). The database stays
the truth: mail is an outbox row before it is a job, so a job lost with Redis is
redone by the next sweep (README.md, Architecture).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal import clock
from portal.extensions import db

log = logging.getLogger(__name__)

# Seconds before each retry of a failed job; after the last it is kept as failed.
RETRY_AFTER = [10, 60, 300, 1800, 7200]
SWEEP_SECONDS = 60
FAILED_KEPT = timedelta(days=30)

_KEY = "portal_after_commit_jobs"
_COLLECTED = "portal_after_commit_collected"
_BEFORE = "portal_before_commit_collected"


def after_commit(func: Callable[..., None], *args) -> None:
    """Run ``func(*args)`` once the current transaction has committed."""
    db.session.info.setdefault(_KEY, []).append((func, args))


def after_commit_collect(func: Callable[[list], None], item) -> None:
    """Run ``func(items)`` once after commit, with every item collected in the transaction.

    A bulk change (an import of 60 articles) then updates the index once, not 60 times.
    """
    collected = db.session.info.setdefault(_COLLECTED, {})
    if func not in collected:
        collected[func] = []
        after_commit(func, collected[func])
    if item not in collected[func]:
        collected[func].append(item)


def before_commit_collect(func: Callable[[list], None], item) -> None:
    """Run ``func(items)`` inside the current transaction, just before it commits, with
    every item collected in it: its writes commit, or roll back, with the change."""
    collected = db.session.info.setdefault(_BEFORE, {})
    items = collected.setdefault(func, [])
    if item not in items:
        items.append(item)


def _run_before_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT: the outer commit runs them
        return
    # A function may collect more (none does yet): run until nothing is left.
    while collected := session.info.pop(_BEFORE, None):
        for func, items in collected.items():
            func(items)


def _run_jobs(session: Session) -> None:
    # Releasing a SAVEPOINT (``begin_nested``, e.g. a support inserted once) fires
    # after_commit too, while the outer transaction is still open: its jobs would run
    # before their change is visible, and be lost. Only the outermost commit counts.
    if session.in_nested_transaction():
        return
    session.info.pop(_COLLECTED, None)
    jobs = session.info.pop(_KEY, [])
    if not jobs:
        return
    queue = current_app.extensions.get(_QUEUE) if has_app_context() else None
    for func, args in jobs:
        if queue is not None and _enqueue(queue, func, args):
            continue
        try:
            func(*args)
        except Exception:  # a side effect must never fail the committed change
            log.exception("job %s failed; it will be retried", func.__name__)


def _drop_jobs(session: Session) -> None:
    session.info.pop(_KEY, None)
    session.info.pop(_COLLECTED, None)
    session.info.pop(_BEFORE, None)


# ---------------------------------------------------------------- RQ

_QUEUE = "portal_jobs_queue"


def queue(app: Flask | None = None):
    """The RQ queue of ``app`` (default: the current app), or None without Redis."""
    return (app or current_app).extensions.get(_QUEUE)


def _path(func: Callable) -> str:
    return f"{func.__module__}:{func.__qualname__}"


def _waiting_key(queue, path: str) -> str:
    return f"{queue.name}:waiting:{path}"


def _enqueue(queue, func: Callable, args: tuple) -> bool:
    """Put ``func(*args)`` on the queue; False when Redis cannot take it.

    A job without arguments does whatever is pending (``mail.deliver_pending``,
    ``scanning.scan_pending``), so one waiting to start is enough: while one waits,
    another is not queued. A busy minute's thousand confirmations are then sent by a
    few jobs, not a thousand. The mark is removed when the job starts (before it looks
    at what is pending, so nothing committed after that is missed), and lapses on its
    own should the job be lost with Redis; the sweep redoes what is pending anyway.
    """
    from redis.exceptions import RedisError
    from rq import Retry

    try:
        if not args and not queue.connection.set(
                _waiting_key(queue, _path(func)), "1", nx=True, ex=SWEEP_SECONDS):
            return True  # one is waiting already
        queue.enqueue(run_job, _path(func), args, description=func.__name__,
                      retry=Retry(max=len(RETRY_AFTER), interval=RETRY_AFTER),
                      failure_ttl=int(FAILED_KEPT.total_seconds()), result_ttl=600)
        return True
    except (RedisError, OSError) as error:
        log.warning("Redis did not take job %s (%s): running it here", func.__name__,
                    type(error).__name__)
        return False


def run_job(path: str, args: tuple) -> None:
    """What the worker runs: ``path``'s function, in an app context of its own."""
    module, _colon, name = path.partition(":")
    func = getattr(importlib.import_module(module), name)
    if not args and (rq_queue := queue()) is not None:
        rq_queue.connection.delete(_waiting_key(rq_queue, path))
    with current_app.app_context():
        try:
            func(*args)
        finally:
            db.session.remove()


# The features' periodic work, by how often it runs: dotted names of functions that
# take no arguments (a feature marks its own with ``@periodic``, so that this module
# imports no feature).
_PERIODIC: dict[str, list[str]] = {"minute": [], "day": []}


def periodic(every: str) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """Mark a function the worker runs every minute (``"minute"``) or once a day."""
    def decorator(func: Callable[[], object]) -> Callable[[], object]:
        if _path(func) not in _PERIODIC[every]:
            _PERIODIC[every].append(_path(func))
        return func
    return decorator


def _call(path: str) -> object:
    module, _colon, name = path.partition(":")
    return getattr(importlib.import_module(module), name)()


def sweep() -> None:
    """The work of every minute: what is pending in the database is done, whatever became
    of the jobs that were meant to do it (the mail still in the outbox, the files still
    waiting for the virus scanner), then the features' own (``@periodic("minute")``)."""
    from portal import mail, scanning

    mail.deliver_pending()
    if scanning.enabled():
        scanning.scan_pending()
    for path in _PERIODIC["minute"]:
        _call(path)
        db.session.commit()


def daily() -> None:
    """The features' work of once a day (``@periodic("day")``: retention)."""
    for path in _PERIODIC["day"]:
        _call(path)
        db.session.commit()


def _periodic(queue, stop: threading.Event, prefix: str) -> None:
    """Every SWEEP_SECONDS, one sweep for all the workers (a lock in Redis decides which
    one enqueues it), and the daily work once a day."""
    from redis.exceptions import RedisError

    while True:
        try:
            if queue.connection.set(f"{prefix}:sweep", "1", nx=True, ex=SWEEP_SECONDS - 5):
                queue.enqueue(run_job, _path(sweep), (), description="sweep", result_ttl=600)
            today = clock.now().date().isoformat()
            if queue.connection.set(f"{prefix}:daily:{today}", "1", nx=True, ex=2 * 86400):
                queue.enqueue(run_job, _path(daily), (), description="daily",
                              result_ttl=86400)
        except (RedisError, OSError) as error:
            log.warning("periodic work not enqueued (%s)", type(error).__name__)
        if stop.wait(SWEEP_SECONDS):
            return


def work(burst: bool = False) -> None:
    """Run the worker (``flask --app wsgi portal worker``) until stopped.

    ``burst``: do what is queued, and one sweep, then stop (tests, one-off runs).
    One process runs one job at a time, in this process (SimpleWorker: no fork, so the
    database connections are this process's own); run several for more.
    """
    from rq import SimpleWorker

    rq_queue = queue()
    if rq_queue is None:
        raise RuntimeError("PORTAL_REDIS_URL is not set: jobs run inside the web "
                           "processes, and there is no queue to work on")
    prefix = current_app.config["PORTAL"]["JOBS_QUEUE"]
    stop = threading.Event()
    if burst:
        rq_queue.enqueue(run_job, _path(sweep), (), description="sweep", result_ttl=600)
    else:
        threading.Thread(target=_periodic, args=(rq_queue, stop, prefix), daemon=True,
                         name="periodic-work").start()
    worker = SimpleWorker([rq_queue], connection=rq_queue.connection)
    try:
        worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    finally:
        stop.set()


def status() -> dict[str, str]:
    """For /healthz: where jobs run, and whether that place answers. Without Redis they
    run in this process; with it, a Redis that does not answer is degraded, not an
    outage, as the outbox and the sweep redo what could not be queued."""
    rq_queue = queue()
    if rq_queue is None:
        return {"backend": "in-process", "status": "ok"}
    try:
        rq_queue.connection.ping()
    except Exception:  # noqa: BLE001 - any failure to reach Redis reads the same
        return {"backend": "rq", "status": "unavailable"}
    return {"backend": "rq", "status": "ok"}


def failed_jobs(limit: int = 100) -> list[dict]:
    """The jobs whose retries are spent, newest first (for administrators)."""
    rq_queue = queue()
    if rq_queue is None:
        return []
    registry = rq_queue.failed_job_registry
    jobs = [job for job in rq_queue.job_class.fetch_many(
        registry.get_job_ids(), connection=rq_queue.connection) if job is not None]
    jobs.sort(key=lambda job: job.ended_at or job.enqueued_at or clock.now(), reverse=True)
    found = []
    for job in jobs[:limit]:
        result = job.latest_result()
        found.append({"id": job.id, "name": job.description, "failed_at": job.ended_at,
                      "error": _last_line(result.exc_string if result else "")})
    return found


def _last_line(traceback_text: str | None) -> str:
    """The exception a traceback ends with, shortened: what an administrator needs to
    tell one failure from another (the worker's log has the whole traceback)."""
    lines = (traceback_text or "").strip().splitlines()
    return lines[-1][:300] if lines else ""


def retry_failed(job_id: str) -> bool:
    """Put a failed job back on the queue; False if it is no longer failed."""
    rq_queue = queue()
    if rq_queue is None or job_id not in rq_queue.failed_job_registry.get_job_ids():
        return False
    rq_queue.failed_job_registry.requeue(job_id)
    return True


def register(app: Flask) -> None:
    settings = app.config["PORTAL"]
    if settings["REDIS_URL"]:
        from redis import Redis
        from rq import Queue

        app.extensions[_QUEUE] = Queue(settings["JOBS_QUEUE"],
                                       connection=Redis.from_url(settings["REDIS_URL"]))
    if not event.contains(Session, "after_commit", _run_jobs):
        event.listen(Session, "before_commit", _run_before_commit)
        event.listen(Session, "after_commit", _run_jobs)
        # Only the outermost rollback drops them: a SAVEPOINT rolled back (a duplicate
        # insert caught) leaves the transaction, and its jobs, alive.
        event.listen(Session, "after_soft_rollback",
                     lambda session, transaction: _drop_jobs(session)
                     if transaction.parent is None else None)
