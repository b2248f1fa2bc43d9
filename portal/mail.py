"""The outbox: every email is a row first, then a file in ``instance/outbox`` or SMTP.

Messages are rendered in the recipient's language from ``templates/mail/``.
"""

from __future__ import annotations

import logging
import os
import smtplib
import tempfile
from contextlib import nullcontext
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from flask import current_app, has_request_context, render_template
from flask_babel import force_locale
from sqlalchemy import select
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
        subject = render_template(f"mail/{template}.subject.txt", **context).strip()
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


def deliver_pending() -> int:
    """Deliver every pending message; return how many were sent."""
    sent = 0
    with Session(db.engine) as session:
        pending = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
            .order_by(OutboxMessage.id)
        ).all()
        for message in pending:
            try:
                _deliver(message)
            except (OSError, smtplib.SMTPException) as error:
                message.attempts += 1
                message.last_error = type(error).__name__
                if message.attempts >= MAX_ATTEMPTS:
                    message.status = OutboxStatus.FAILED
                # Log the id, never the address or the text: they are personal data.
                log.warning("outbox message %s not delivered: %s", message.id,
                            type(error).__name__)
            else:
                message.status = OutboxStatus.SENT
                message.sent_at = clock.now()
                sent += 1
            session.commit()
    return sent


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


def _deliver(message: OutboxMessage) -> None:
    settings = current_app.config["PORTAL"]
    email = _as_email(message)
    if settings["MAIL_SERVER"]:
        with smtplib.SMTP(settings["MAIL_SERVER"], settings["MAIL_PORT"], timeout=20) as smtp:
            if settings["MAIL_USE_TLS"]:
                smtp.starttls()
            if settings["MAIL_USERNAME"]:
                smtp.login(settings["MAIL_USERNAME"], settings["MAIL_PASSWORD"])
            smtp.send_message(email)
        return
    outbox = Path(current_app.config["OUTBOX_PATH"])
    name = f"{message.created_at:%Y%m%dT%H%M%S}-{message.id:08d}.eml"
    # Write then rename, so a reader never sees half a message.
    fd, tmp = tempfile.mkstemp(dir=outbox, suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(email.as_bytes())
    os.replace(tmp, outbox / name)
