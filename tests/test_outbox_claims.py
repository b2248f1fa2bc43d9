"""Mail is sent exactly once: a message is claimed before it is sent, by one deliverer.

Service-level tests race deliverers on the same rows and move the clock past claims;
the end-to-end test serves the portal with two gunicorn workers, sends 40 questions at
once and counts what a real SMTP server (aiosmtpd on 127.0.0.1) receives.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from portal import clock, mail
from portal.models import OutboxMessage, OutboxStatus
from tests.cases.helpers import question_form
from tests.served import free_port, served_portal

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADDRESS = "vecina@example.org"


@pytest.fixture
def make_message(db):
    """An outbox row saved directly, so no delivery runs after its commit."""
    def make(**fields) -> OutboxMessage:
        message = OutboxMessage(to_address=fields.pop("to_address", ADDRESS),
                                subject=fields.pop("subject", "Hemos recibido tu consulta"),
                                body_text=fields.pop("body_text", "Gracias."), **fields)
        db.session.add(message)
        db.session.commit()
        return message
    return make


@pytest.fixture
def sends(monkeypatch) -> list[int]:
    """Record the ids that reach the mail server instead of sending them."""
    sent: list[int] = []
    lock = threading.Lock()

    def deliver(message, _postman):
        time.sleep(0.02)  # a send takes a while: room for another deliverer to race
        with lock:
            sent.append(message.id)

    monkeypatch.setattr(mail, "_deliver", deliver)
    return sent


def row(db, message_id: int) -> OutboxMessage:
    db.session.rollback()  # read what the deliverers committed
    return db.session.get(OutboxMessage, message_id)


def test_racing_deliverers_send_each_message_once(app, db, make_message, sends):
    ids = [make_message(to_address=f"vecino{number}@example.org").id for number in range(12)]
    start = threading.Barrier(4)
    counts: list[int] = []

    def deliverer():
        with app.app_context():
            start.wait()
            counts.append(mail.deliver_pending())

    threads = [threading.Thread(target=deliverer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(sends) == ids  # each one, once
    assert sum(counts) == len(ids)
    assert {row(db, message_id).status for message_id in ids} == {OutboxStatus.SENT}


def test_only_the_first_claim_owns_a_message(app, db, make_message):
    message = make_message()
    # Two deliverers both saw the message waiting; each then tries to claim it.
    with Session(db.engine) as first, first.begin():
        assert mail.claim(first, message.id) is not None
    with Session(db.engine) as second, second.begin():
        assert mail.claim(second, message.id) is None
    assert row(db, message.id).status is OutboxStatus.SENDING


def test_a_message_with_a_live_claim_is_left_to_its_deliverer(app, db, make_message, sends):
    message = make_message(status=OutboxStatus.SENDING, claimed_until=T0 + timedelta(seconds=1))
    with clock.frozen_at(T0):
        assert mail.deliver_pending() == 0
    assert sends == []
    assert row(db, message.id).status is OutboxStatus.SENDING


def test_a_lapsed_claim_is_delivered_by_the_next_run(app, db, make_message, sends):
    message = make_message(status=OutboxStatus.SENDING, claimed_until=T0 - timedelta(seconds=1))
    with clock.frozen_at(T0):
        assert mail.deliver_pending() == 1
    assert sends == [message.id]
    saved = row(db, message.id)
    assert saved.status is OutboxStatus.SENT and saved.claimed_until is None
    assert saved.sent_at == T0


class Crash(BaseException):
    """The process dies mid-send (nothing below catches a BaseException)."""


def test_a_deliverer_that_dies_mid_send_is_replaced_once_its_claim_lapses(
        app, db, make_message, monkeypatch):
    message = make_message()

    def die(_message, _postman):
        raise Crash

    monkeypatch.setattr(mail, "_deliver", die)
    with clock.frozen_at(T0), pytest.raises(Crash):
        mail.deliver_pending()
    assert row(db, message.id).status is OutboxStatus.SENDING
    assert row(db, message.id).claimed_until == T0 + mail.CLAIM_LEASE

    delivered: list[int] = []
    monkeypatch.setattr(mail, "_deliver", lambda message, _postman: delivered.append(message.id))
    with clock.frozen_at(T0 + mail.CLAIM_LEASE - timedelta(seconds=1)):
        assert mail.deliver_pending() == 0  # it may still be sending
    with clock.frozen_at(T0 + mail.CLAIM_LEASE + timedelta(seconds=1)):
        assert mail.deliver_pending() == 1
    assert delivered == [message.id]
    assert row(db, message.id).status is OutboxStatus.SENT


def test_a_failure_releases_the_claim_and_counts_the_attempt(app, db, make_message,
                                                             monkeypatch, caplog):
    message = make_message()

    def refuse(_message, _postman):
        raise ConnectionRefusedError

    monkeypatch.setattr(mail, "_deliver", refuse)
    with caplog.at_level(logging.WARNING, logger="portal.mail"):
        assert mail.deliver_pending() == 0
    saved = row(db, message.id)
    assert (saved.status, saved.attempts, saved.claimed_until) == (OutboxStatus.PENDING, 1, None)
    assert saved.last_error == "ConnectionRefusedError"
    assert str(message.id) in caplog.text and ADDRESS not in caplog.text
    # Released, not held: the very next run tries again, without waiting for a lease.
    assert mail.deliver_pending() == 0
    assert row(db, message.id).attempts == 2


def test_the_last_failed_attempt_gives_up_and_nothing_retries_it(app, db, make_message,
                                                                 monkeypatch):
    message = make_message(attempts=mail.MAX_ATTEMPTS - 1)

    def refuse(_message, _postman):
        raise ConnectionRefusedError

    monkeypatch.setattr(mail, "_deliver", refuse)
    mail.deliver_pending()
    saved = row(db, message.id)
    assert (saved.status, saved.attempts) == (OutboxStatus.FAILED, mail.MAX_ATTEMPTS)
    with clock.frozen_at(clock.now() + timedelta(days=1)):
        assert mail.deliver_pending() == 0
    assert row(db, message.id).attempts == mail.MAX_ATTEMPTS


def test_a_sent_message_is_never_sent_again(app, db, make_message, sends):
    make_message(status=OutboxStatus.SENT, sent_at=T0)
    with clock.frozen_at(T0 + timedelta(days=30)):
        assert mail.deliver_pending() == 0
    assert sends == []


def test_a_send_that_cannot_be_recorded_is_logged_and_sent_again_later(
        app, db, make_message, sends, caplog):
    message = make_message()

    def database_gone(_conn, _cursor, statement, _parameters, _context, _many):
        if statement.lstrip().upper().startswith("UPDATE") and "sent_at" in statement:
            raise OperationalError(statement, {}, Exception("server closed the connection"))

    event.listen(db.engine, "before_cursor_execute", database_gone)
    try:
        with clock.frozen_at(T0), caplog.at_level(logging.ERROR, logger="portal.mail"):
            assert mail.deliver_pending() == 1  # it did leave
    finally:
        event.remove(db.engine, "before_cursor_execute", database_gone)
    assert f"outbox message {message.id} was sent but could not be marked sent" in caplog.text
    assert ADDRESS not in caplog.text
    assert row(db, message.id).status is OutboxStatus.SENDING
    # At least once: after the claim lapses it goes again, rather than maybe never.
    with clock.frozen_at(T0 + mail.CLAIM_LEASE + timedelta(seconds=1)):
        assert mail.deliver_pending() == 1
    assert sends == [message.id, message.id]
    assert row(db, message.id).status is OutboxStatus.SENT


def test_the_file_outbox_refuses_to_overwrite_a_message(app, db, make_message, outbox, caplog):
    message = make_message(status=OutboxStatus.SENDING, claimed_until=T0 - timedelta(seconds=1))
    mail._deliver(message)  # an earlier run wrote it, then died before marking it sent
    (written,) = Path(app.config["OUTBOX_PATH"]).glob("*.eml")
    before = written.read_bytes()
    with pytest.raises(mail.AlreadyWritten):
        mail._deliver(message)
    with clock.frozen_at(T0), caplog.at_level(logging.WARNING, logger="portal.mail"):
        assert mail.deliver_pending() == 0  # nothing new was sent
    assert f"outbox message {message.id} was already in the file outbox" in caplog.text
    assert ADDRESS not in caplog.text
    assert written.read_bytes() == before  # the Message-ID differs on every write
    assert len(outbox()) == 1
    assert list(written.parent.glob("*.tmp")) == []
    assert row(db, message.id).status is OutboxStatus.SENT


# ------------------------------------------------------------------ end to end

class CountingHandler:
    """An SMTP sink that counts the messages each recipient received."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        with self.lock:
            self.received.update(address.lower() for address in envelope.rcpt_tos)
        return "250 Message accepted for delivery"

    def total(self) -> int:
        with self.lock:
            return sum(self.received.values())


@pytest.fixture
def smtp_sink():
    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, handler
    finally:
        controller.stop()


def hidden_value(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*\bname="{name}"[^>]*\bvalue="([^"]*)"', html)
    assert match, f"no {name} in the form"
    return match.group(1)


def submit_question(base_url: str, number: int) -> str:
    """One anonymous browser: GET the form with its own cookies, then POST it."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    form_url = f"{base_url}/cases/new?kind=question"
    with opener.open(form_url, timeout=60) as response:
        html = response.read().decode()
    data = question_form(contact_email=f"vecino{number}@example.org",
                         contact_name=f"Vecino {number}")
    data["csrf_token"] = hidden_value(html, "csrf_token")
    data["submission_token"] = hidden_value(html, "submission_token")
    body = urllib.parse.urlencode(data).encode()
    with opener.open(form_url, data=body, timeout=60) as response:
        assert response.status == 200
        return response.url


def test_forty_concurrent_submissions_send_one_confirmation_each(
        app, db, database_url, tmp_path, smtp_sink):
    # ``app`` reads the served portal's database (and empties PostgreSQL afterwards).
    port, sink = smtp_sink
    count = 40
    with served_portal(tmp_path, database_url, workers=2, MAIL_SERVER="127.0.0.1",
                       MAIL_PORT=port, MAIL_USE_TLS=False) as portal:
        with ThreadPoolExecutor(max_workers=count) as pool:
            landed = list(pool.map(lambda number: submit_question(portal.url, number),
                                   range(count)))
        assert all(url.endswith("/submitted") for url in landed), landed
        waiting = db.select(db.func.count(OutboxMessage.id)).where(
            OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            db.session.rollback()
            if sink.total() >= count and not db.session.scalar(waiting):
                break
            time.sleep(0.2)
    expected = {f"vecino{number}@example.org": 1 for number in range(count)}
    assert dict(sink.received) == expected
    db.session.rollback()
    statuses = db.session.scalars(db.select(OutboxMessage.status)).all()
    assert statuses == [OutboxStatus.SENT] * count


class PickyHandler(CountingHandler):
    """A mail server that refuses one address at RCPT and fails one DATA with a 421
    (the server closing the connection), and notes from which connection each
    message came (a connection is the client's address and port)."""

    def __init__(self, refused: str = "", drops: str = "") -> None:
        super().__init__()
        self.refused, self.drops = refused, drops
        self.connections: list[tuple] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address == self.refused:
            return "550 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        if self.drops in envelope.rcpt_tos:
            self.drops = ""  # once
            return "421 Closing the connection"
        with self.lock:
            self.connections.append(session.peer)
        return await super().handle_DATA(server, session, envelope)


def test_a_run_sends_its_messages_over_one_connection(make_app, db, make_message):
    handler = PickyHandler(refused="nadie@example.org", drops="tercera@example.org")
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port,
                       MAIL_USE_TLS=False)
        with app.app_context():
            addresses = ["primera@example.org", "nadie@example.org", "segunda@example.org",
                         "tercera@example.org", "cuarta@example.org", "quinta@example.org"]
            messages = [make_message(to_address=address) for address in addresses]
            assert mail.deliver_pending() == 4
            states = {message.to_address: (saved.status, saved.attempts)
                      for message in messages if (saved := row(db, message.id))}
    finally:
        controller.stop()
    sent = (OutboxStatus.SENT, 0)
    assert states == {"primera@example.org": sent, "segunda@example.org": sent,
                      "cuarta@example.org": sent, "quinta@example.org": sent,
                      # Refused, or cut off: given back for the next run, counted.
                      "nadie@example.org": (OutboxStatus.PENDING, 1),
                      "tercera@example.org": (OutboxStatus.PENDING, 1)}
    # The refused address left the connection as it was; the 421 closed it, and the
    # messages after it went over a second one.
    assert len(handler.connections) == 4 and len(set(handler.connections)) == 2
    assert handler.connections[0] == handler.connections[1]
    assert handler.connections[2] == handler.connections[3]

