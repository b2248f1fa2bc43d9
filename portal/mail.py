"""The outbox: every email is a row first, then a file in ``instance/outbox`` or SMTP.

Messages are rendered in the recipient's language from ``templates/mail/``.
"""

from __future__ import annotations

import logging
import os
import smtplib
import tempfile
from contextlib import nullcontext
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from flask import current_app, has_request_context, render_template
from flask_babel import force_locale
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from portal import clock, jobs
from portal.config import LANGUAGES
from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


def queue_mail(to_address: str, template: str, locale: str, **context) -> OutboxMessage:
    """Render ``mail/<template>`` in ``locale`` and save it for delivery after commit."""
    locale = locale if locale in LANGUAGES else "es"
    with url_context(), force_locale(locale):
        # One line: a subject shows what people wrote (an idea's or a report's title, the
        # site's name), and a line break in it made the message unsendable (the email
        # package refuses it in a header), so it was never delivered.
        subject = " ".join(render_template(f"mail/{template}.subject.txt", **context).split())
        body = render_template(f"mail/{template}.txt", **context)
    message = OutboxMessage(to_address=to_address, subject=subject, body_text=body,
                            locale=locale)
    db.session.add(message)
    jobs.after_commit(deliver_pending)
    return message


def url_context():
    """Somewhere url_for works: the current request, or (CLI, jobs) one on BASE_URL.

    Links in mail are always BASE_URL + path, never built from the request's Host
    header, which an attacker could set to poison a password-reset link.
    """
    if has_request_context():
        return nullcontext()
    return current_app.test_request_context(base_url=current_app.config["PORTAL"]["BASE_URL"])


# How long a deliverer holds a message it claimed. One send takes seconds (the SMTP
# timeout is 20 s per step); a deliverer that died mid-send leaves its claim to lapse,
# and the message is then sent by the next run.
CLAIM_LEASE = timedelta(minutes=5)


class AlreadyWritten(Exception):
    """The file outbox already holds this message: it was delivered before."""


def deliver_pending() -> int:
    """Deliver every message that is due, each by exactly one deliverer; return how many.

    Each message is first claimed in its own short committed transaction (PENDING, or
    SENDING whose claim has lapsed, becomes SENDING until ``now + CLAIM_LEASE``), so
    deliverers running at once (every request after its commit, several workers, the
    CLI) never send the same row. Each message is tried at most once per run, in id
    order, so a failing one is retried by a later run, not in a loop.

    Delivery is at least once, not at most once: the message is marked SENT only after
    the mail server (or the file outbox) took it, so a deliverer that dies between the
    two leaves the claim to lapse and the message is sent again. A duplicate
    confirmation is a nuisance; a lost one leaves a citizen without the only link to
    their case or their password reset. The window is one database write wide.
    """
    sent = 0
    after = 0
    with Session(db.engine, expire_on_commit=False) as session, _Postman() as postman:
        while (claimed := _claim_next(session, after)) is not None:
            message, until = claimed
            after = message.id
            try:
                _deliver(message, postman)
            except AlreadyWritten:
                # Written by an earlier run that died before marking it: do not write
                # it twice, only record what happened.
                log.warning("outbox message %s was already in the file outbox; "
                            "marked sent without writing it again", message.id)
                _mark_sent(session, message.id)
            except (OSError, smtplib.SMTPException) as error:
                _release(session, message, until, error)
            else:
                _mark_sent(session, message.id)
                sent += 1
    return sent


def _claimable(now: datetime):
    """Waiting to be sent: pending, or held by a deliverer whose claim has lapsed."""
    lapsed = or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now)
    return or_(OutboxMessage.status == OutboxStatus.PENDING,
               and_(OutboxMessage.status == OutboxStatus.SENDING, lapsed))


def claim(session: Session, message_id: int) -> datetime | None:
    """Take ``message_id`` for this deliverer; return when the claim lapses, or None.

    A compare-and-set: the UPDATE matches only while the message is still claimable,
    so of several deliverers that saw it waiting exactly one changes a row, and that
    row count is the proof of ownership (SQLite serialises writers; PostgreSQL
    re-checks the condition on the row it locked). Runs in the caller's transaction,
    which must commit at once so the claim is visible to every other deliverer.
    """
    now = clock.now()
    until = now + CLAIM_LEASE
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, _claimable(now))
        .values(status=OutboxStatus.SENDING, claimed_until=until)
        .execution_options(synchronize_session=False)
    )
    return until if result.rowcount == 1 else None


def _claim_next(session: Session, after: int) -> tuple[OutboxMessage, datetime] | None:
    """The next claimable message after id ``after``, claimed and committed."""
    while True:
        with session.begin():
            # On PostgreSQL the row stays locked until the claim commits, and SKIP
            # LOCKED lets deliverers running at once take different rows instead of
            # queueing on the same one. SQLite ignores FOR UPDATE; the claim suffices.
            message = session.scalar(
                select(OutboxMessage)
                .where(_claimable(clock.now()), OutboxMessage.id > after)
                .order_by(OutboxMessage.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if message is None:
                return None
            until = claim(session, message.id)
        # Keep a plain snapshot of what to send: the row itself changes only through
        # the compare-and-set statements here, never by flushing this object.
        session.expunge(message)
        if until is not None:
            return message, until
        after = message.id  # another deliverer claimed it between the read and the claim


def _mark_sent(session: Session, message_id: int) -> None:
    """Record a delivery that happened; a failure here is logged, never raised."""
    try:
        with session.begin():
            result = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id,
                       OutboxMessage.status != OutboxStatus.SENT)
                .values(status=OutboxStatus.SENT, sent_at=clock.now(), claimed_until=None)
                .execution_options(synchronize_session=False)
            )
    except SQLAlchemyError as error:
        # The message left but the row still says SENDING: it is sent again once the
        # claim lapses (at least once, see deliver_pending).
        log.error("outbox message %s was sent but could not be marked sent (%s); "
                  "it will be sent again when its claim lapses", message_id,
                  type(error).__name__)
        return
    if result.rowcount != 1:
        log.warning("outbox message %s was already marked sent by another deliverer "
                    "whose claim had lapsed: it was sent twice", message_id)


def _release(session: Session, message: OutboxMessage, until: datetime,
             error: Exception) -> None:
    """Count a failed attempt and give the message back (or give up on it)."""
    attempts = message.attempts + 1
    status = OutboxStatus.FAILED if attempts >= MAX_ATTEMPTS else OutboxStatus.PENDING
    with session.begin():
        # Only while this deliverer still holds the claim: the claim's end is its token.
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id,
                   OutboxMessage.status == OutboxStatus.SENDING,
                   OutboxMessage.claimed_until == until)
            .values(status=status, attempts=attempts, last_error=type(error).__name__,
                    claimed_until=None)
            .execution_options(synchronize_session=False)
        )
    # Log the id, never the address or the text: they are personal data.
    log.warning("outbox message %s not delivered: %s", message.id, type(error).__name__)


def _as_email(message: OutboxMessage) -> EmailMessage:
    email = EmailMessage()
    email["From"] = current_app.config["PORTAL"]["MAIL_SENDER"]
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = make_msgid(domain="ventanilla.local")
    email.set_content(message.body_text)
    email["Content-Language"] = message.locale  # after set_content, which resets Content-*
    return email


class _Postman:
    """One SMTP connection for a run of deliveries, opened when the first message needs
    it: a connection, TLS and a login cost more than a message, and a burst of mail (a
    busy minute's confirmations, an answer to many followers) would pay them each time.
    A connection that failed is closed, and the next message opens a new one; servers
    that cap the messages of one connection are met with a new one every
    ``PER_CONNECTION``."""

    PER_CONNECTION = 100

    def __init__(self) -> None:
        self.smtp: smtplib.SMTP | None = None
        self.sent = 0

    def __enter__(self) -> _Postman:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def send(self, email: EmailMessage) -> None:
        if self.smtp is None or self.sent >= self.PER_CONNECTION:
            self.close()
            self.smtp = self._connect()
        try:
            self.smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused:
            raise  # this address refused; the connection is still good
        except (OSError, smtplib.SMTPException):
            self.close()
            raise
        self.sent += 1

    @staticmethod
    def _connect() -> smtplib.SMTP:
        settings = current_app.config["PORTAL"]
        smtp = smtplib.SMTP(settings["MAIL_SERVER"], settings["MAIL_PORT"], timeout=20)
        try:
            if settings["MAIL_USE_TLS"]:
                smtp.starttls()
            if settings["MAIL_USERNAME"]:
                smtp.login(settings["MAIL_USERNAME"], settings["MAIL_PASSWORD"])
        except BaseException:
            smtp.close()
            raise
        return smtp

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
        self.smtp, self.sent = None, 0


def _deliver(message: OutboxMessage, postman: _Postman | None = None) -> None:
    email = _as_email(message)
    if current_app.config["PORTAL"]["MAIL_SERVER"]:
        if postman is None:
            with _Postman() as postman:
                postman.send(email)
        else:
            postman.send(email)
        return
    outbox = Path(current_app.config["OUTBOX_PATH"])
    # One name per message (created_at keeps the folder in time order).
    name = f"{message.created_at:%Y%m%dT%H%M%S}-{message.id:08d}.eml"
    # Write a temporary file, then link it under its name: a reader never sees half a
    # message, and unlike a rename a link refuses to replace a file already there, so
    # a second delivery of the same message shows instead of overwriting the first.
    fd, tmp = tempfile.mkstemp(dir=outbox, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(email.as_bytes())
        os.link(tmp, outbox / name)
    except FileExistsError:
        raise AlreadyWritten(message.id) from None
    finally:
        os.unlink(tmp)
