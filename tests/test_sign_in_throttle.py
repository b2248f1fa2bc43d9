"""Failed sign-ins lock an email address, whatever network addresses they come from.

The lock is counted in the database per email (with or without an account), grows
1, 2, 4 … minutes up to an hour, refuses even the right password while it lasts, tells
the owner once, and always ends: by itself, or at once with a password reset.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest

from portal import clock
from portal.accounts import service, throttle
from portal.models import AuditEvent, SignInThrottle
from tests.conftest import TEST_PASSWORD

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWNER = "ana@example.org"
LOCKED = "Signing in with this email address is paused until"
WRONG = "The email address or password is not right."


def sign_in(client, email, password, network_address="198.51.100.1"):
    return client.post("/login?lang=en", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": network_address})


def spread_attempts(client, email, count, start=0):
    """``count`` wrong passwords from ten network addresses in turn."""
    return [sign_in(client, email, f"guess number {start + number:04d}",
                    network_address=f"198.51.100.{10 + number % 10}")
            for number in range(count)]


def attempt(db, email, password):
    """``service.authenticate`` as the sign-in view calls it: then commit."""
    try:
        return service.authenticate(email, password)
    finally:
        db.session.commit()


def lock_notices(outbox):
    return [message for message in outbox() if "Someone tried to sign in" in message]


@pytest.fixture
def limited_app(make_app):
    """Rate limits on, as in production: ten addresses stay under 10 per minute each."""
    app = make_app(RATELIMIT_ENABLED=True)
    with app.app_context():
        yield app


def test_fifty_guesses_from_ten_addresses_lock_the_account_until_it_expires(
        limited_app, make_user, db, outbox):
    client = limited_app.test_client()
    make_user(email=OWNER, locale="en")
    with clock.frozen_at(T0):
        answers = spread_attempts(client, OWNER, 50)
        assert [answer.status_code for answer in answers] == [200] * 50
        assert all(WRONG in answer.text for answer in answers[:5])
        assert all(LOCKED in answer.text for answer in answers[5:])
        # Only the first five passwords were checked at all.
        failed = db.select(db.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "auth.failed")
        assert db.session.scalar(failed) == 5

        right = sign_in(client, OWNER, TEST_PASSWORD, network_address="203.0.113.7")
        assert right.status_code == 200
        assert LOCKED in right.text
        assert "/password/forgot" in right.text  # the way out is on the page
        assert client.get("/account").status_code == 302

    with clock.frozen_at(T0 + timedelta(seconds=59)):
        assert LOCKED in sign_in(client, OWNER, TEST_PASSWORD).text
    with clock.frozen_at(T0 + timedelta(seconds=61)):
        response = sign_in(client, OWNER, TEST_PASSWORD, network_address="203.0.113.7")
        assert response.status_code == 302
        assert client.get("/account").status_code == 200

    (notice,) = lock_notices(outbox)
    assert f"To: {OWNER}" in notice
    assert "/password/forgot" in notice
    # A right password ends the run: the next mistakes start from zero.
    assert db.session.get(SignInThrottle, throttle.key_for(OWNER)) is None


def test_an_unknown_address_is_locked_after_the_same_failures_with_the_same_page(
        limited_app, make_user, outbox):
    make_user(email=OWNER, locale="en")
    known, unknown = limited_app.test_client(), limited_app.test_client()
    with clock.frozen_at(T0):
        for number in range(8):
            address = f"198.51.100.{20 + number}"
            for_owner = sign_in(known, OWNER, f"wrong guess {number:04d}", address)
            for_nobody = sign_in(unknown, "nobody@example.org", f"wrong guess {number:04d}",
                                 address)
            assert for_owner.status_code == for_nobody.status_code == 200
            assert for_owner.text.replace(OWNER, "EMAIL") == \
                for_nobody.text.replace("nobody@example.org", "EMAIL")
            assert (LOCKED in for_nobody.text) is (number >= 5)
    # Nobody to tell about the unknown address: one notice, for the owner.
    assert [f"To: {OWNER}" in notice for notice in lock_notices(outbox)] == [True]


def test_each_further_lock_doubles_up_to_an_hour(app, db, make_user):
    make_user(email=OWNER)
    now = T0
    observed = []
    for _ in range(9):
        with clock.frozen_at(now):
            for number in range(5):
                assert attempt(db, OWNER, f"wrong {number:04d} wrong") is None
            with pytest.raises(service.SignInLocked) as lock:
                attempt(db, OWNER, TEST_PASSWORD)
        observed.append(lock.value.until - now)
        now = lock.value.until  # the next guesses come the moment the lock ends
    assert observed == [timedelta(minutes=minutes)
                        for minutes in (1, 2, 4, 8, 16, 32, 60, 60, 60)]


def test_a_quiet_window_starts_a_new_run_with_the_shortest_lock(app, db, make_user):
    make_user(email=OWNER)
    with clock.frozen_at(T0):
        for number in range(4):
            attempt(db, OWNER, f"wrong {number:04d} wrong")
    # Fifteen quiet minutes: the four earlier failures no longer count.
    with clock.frozen_at(T0 + timedelta(minutes=15)):
        for number in range(4):
            assert attempt(db, OWNER, f"again {number:04d} wrong") is None
        assert attempt(db, OWNER, TEST_PASSWORD) is not None


def test_a_password_reset_ends_the_lock_at_once(client, make_user, outbox):
    make_user(email=OWNER, locale="en")
    with clock.frozen_at(T0):
        spread_attempts(client, OWNER, 10)
        assert LOCKED in sign_in(client, OWNER, TEST_PASSWORD).text
        client.post("/password/forgot?lang=en", data={"email": OWNER})
        reset = next(message for message in reversed(outbox())
                     if "/password/reset/" in message)
        link = re.search(r"http://localhost(/password/reset/\S+)", reset).group(1)
        response = client.post(link, data={"password": "a fresh reset passphrase",
                                           "password_confirm": "a fresh reset passphrase"})
        assert response.status_code == 302
        assert sign_in(client, OWNER, "a fresh reset passphrase").status_code == 302


def test_the_owner_hears_once_per_run_of_failures_and_at_most_once_a_day(
        app, db, make_user, outbox):
    make_user(email=OWNER, locale="en")

    def five_wrong(moment):
        with clock.frozen_at(moment):
            for number in range(5):
                attempt(db, OWNER, f"wrong {number:04d} wrong")

    five_wrong(T0)                                      # first lock: the owner is told
    five_wrong(T0 + timedelta(minutes=1))               # second lock, same run: not again
    five_wrong(T0 + timedelta(hours=2))                 # a new run, the same day: not again
    assert len(lock_notices(outbox)) == 1
    five_wrong(T0 + timedelta(days=1, hours=3))         # a new run the next day: told
    assert len(lock_notices(outbox)) == 2


def test_concurrent_guesses_never_get_more_than_the_limit_checked(app):
    """Twenty attempts at the same moment: five are checked, fifteen refused."""
    start = threading.Barrier(20)
    results: list[throttle.Attempt] = []
    lock = threading.Lock()

    def guess():
        with app.app_context():
            start.wait()
            claimed = throttle.start_attempt("target@example.org")
            with lock:
                results.append(claimed)

    with clock.frozen_at(T0):
        threads = [threading.Thread(target=guess) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    checked = [claimed for claimed in results if claimed.locked_until is None]
    assert len(results) == 20
    assert len(checked) == 5
    assert sum(claimed.locks_if_wrong for claimed in checked) == 1
    assert {claimed.locked_until for claimed in results if claimed.locked_until} == \
        {T0 + timedelta(minutes=1)}


def test_a_lock_is_kept_under_a_hash_of_the_address_only(app, db):
    with clock.frozen_at(T0):
        for number in range(5):
            attempt(db, " Nobody@Example.org ", f"wrong {number:04d} wrong")
    (row,) = db.session.scalars(db.select(SignInThrottle)).all()
    assert row.key_hash == throttle.key_for("nobody@example.org")
    assert "nobody" not in row.key_hash
    assert row.locked_until == T0 + timedelta(minutes=1)
