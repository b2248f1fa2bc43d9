"""Failed sign-ins per email address, whatever network address they come from.

Each sign-in first claims an attempt in ``sign_in_throttles`` with one atomic UPDATE,
before the password is checked. The attempt that reaches the limit locks the address in
the same statement, so attempts running at the same moment cannot slip past the limit
while its password is being checked; a right password then lifts the lock again. While
an address is locked every attempt is refused without checking the password (the right
one too) and without counting, so the lock cannot be made longer than its schedule.

Rows are keyed by a hash of the normalised email, with or without an account, so a lock
says nothing about whether the account exists. Locks always expire (the longest is
``SIGN_IN_LOCK_MAX_SECONDS``), and a password reset clears them at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, case, delete, literal, null, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from portal import clock
from portal.extensions import db
from portal.models import SignInThrottle
from portal.models.types import UTCDateTime

# However the attempts are spread, the owner hears of them at most once a day.
NOTICE_INTERVAL = timedelta(days=1)


@dataclass(frozen=True)
class Attempt:
    """One claimed sign-in attempt for the address with hash ``key``."""

    key: str
    # Set when the address is locked: the attempt is refused and its password unchecked.
    locked_until: datetime | None = None
    # This attempt reached the limit: if its password is wrong, the lock it set stays.
    locks_if_wrong: bool = False


def key_for(normalised_email: str) -> str:
    return hashlib.sha256(normalised_email.encode()).hexdigest()


def _lock_durations() -> tuple[int, list[timedelta], timedelta]:
    """The failure limit, the lock after each multiple of it, and the longest lock."""
    settings = current_app.config["PORTAL"]
    limit = max(1, settings["SIGN_IN_MAX_FAILURES"])
    longest = timedelta(seconds=max(1, settings["SIGN_IN_LOCK_MAX_SECONDS"]))
    first = timedelta(seconds=max(1, settings["SIGN_IN_LOCK_SECONDS"]))
    durations = [first * 2 ** level for level in range(32) if first * 2 ** level < longest]
    return limit, durations, longest


def _insert_ignoring_existing(connection, key: str, now: datetime) -> None:
    dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
    connection.execute(
        dialect.insert(SignInThrottle.__table__)
        .values(key_hash=key, failures=0, window_started_at=now)
        .on_conflict_do_nothing(index_elements=["key_hash"])
    )


def start_attempt(normalised_email: str) -> Attempt:
    """Claim a sign-in attempt for this address, or learn that it is locked.

    Runs in a transaction of its own, committed at once: the attempt counts whatever the
    request does next, and no lock is held while the password hash is checked. Call it
    before the request's session writes anything (``authenticate`` comes first in the
    sign-in view): on SQLite an uncommitted write would hold the lock this one needs.
    """
    key = key_for(normalised_email)
    now = clock.now()
    limit, durations, longest = _lock_durations()
    window = timedelta(seconds=current_app.config["PORTAL"]["SIGN_IN_WINDOW_SECONDS"])
    throttle = SignInThrottle.__table__.c

    def moment(value: datetime):
        return literal(value, UTCDateTime())

    # A run of failures ends a window after it began or after its last lock ended;
    # the next failure starts a new run, with the shortest lock again.
    stale = or_(
        and_(throttle.locked_until.is_(None), throttle.window_started_at <= moment(now - window)),
        throttle.locked_until <= moment(now - window),
    )
    count = case((stale, 1), else_=throttle.failures + 1)
    # The attempt that makes the count a multiple of the limit sets the next lock:
    # 1, 2, 4 … minutes, then the longest lock for every later multiple.
    lock_ends = [(count == limit * (level + 1), moment(now + duration))
                 for level, duration in enumerate(durations)]
    lock_ends.append(((count % limit) == 0, moment(now + longest)))
    claim = (
        update(SignInThrottle.__table__)
        .where(throttle.key_hash == key,
               or_(throttle.locked_until.is_(None), throttle.locked_until <= moment(now)))
        .values(failures=count,
                window_started_at=case((stale, moment(now)),
                                       else_=throttle.window_started_at),
                locked_until=case(*lock_ends, (stale, null()), else_=throttle.locked_until))
        .returning(throttle.failures)
    )
    with db.engine.begin() as connection:
        _insert_ignoring_existing(connection, key, now)
        number = connection.execute(claim).scalar()
        if number is not None:
            return Attempt(key=key, locks_if_wrong=number % limit == 0)
        locked_until = connection.execute(
            select(throttle.locked_until).where(throttle.key_hash == key)).scalar()
    return Attempt(key=key, locked_until=max(locked_until or now, now))


def clear(normalised_email: str) -> None:
    """Forget the failures of this address (a right password, a password reset)."""
    db.session.execute(delete(SignInThrottle).where(
        SignInThrottle.key_hash == key_for(normalised_email)))


def claim_notice(attempt: Attempt) -> bool:
    """True once per run of failures (and at most once a day): tell the owner now."""
    now = clock.now()
    result = db.session.execute(
        update(SignInThrottle)
        .where(SignInThrottle.key_hash == attempt.key,
               or_(SignInThrottle.notified_at.is_(None),
                   and_(SignInThrottle.notified_at < SignInThrottle.window_started_at,
                        SignInThrottle.notified_at <= now - NOTICE_INTERVAL)))
        .values(notified_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
