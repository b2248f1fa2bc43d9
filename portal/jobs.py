"""Side effects that run after the database commit (mail delivery, index updates), and
work that must commit with the change itself (``before_commit_collect``).

A job is attached to the current transaction with ``after_commit(func, *args)``. It
runs only if that transaction commits, so a rolled-back change never sends mail. The
embedded default runs jobs in this process straight after the commit; a job that
fails is logged and left for ``flask portal outbox deliver`` (mail) or a reindex to
retry, never failing the request that caused it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.extensions import db

log = logging.getLogger(__name__)

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
    for func, args in jobs:
        try:
            func(*args)
        except Exception:  # a side effect must never fail the committed change
            log.exception("job %s failed; it will be retried", func.__name__)


def _drop_jobs(session: Session) -> None:
    session.info.pop(_KEY, None)
    session.info.pop(_COLLECTED, None)
    session.info.pop(_BEFORE, None)


def register(app: Flask) -> None:
    if not event.contains(Session, "after_commit", _run_jobs):
        event.listen(Session, "before_commit", _run_before_commit)
        event.listen(Session, "after_commit", _run_jobs)
        # Only the outermost rollback drops them: a SAVEPOINT rolled back (a duplicate
        # insert caught) leaves the transaction, and its jobs, alive.
        event.listen(Session, "after_soft_rollback",
                     lambda session, transaction: _drop_jobs(session)
                     if transaction.parent is None else None)
