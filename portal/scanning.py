"""Virus scanning of attachments by a ClamAV daemon (clamd), when one is configured.

With ``PORTAL_CLAMD_SOCKET`` (the path of clamd's local socket) every new attachment is
stored as ``pending`` and served to nobody until clamd has said it is clean; one it
finds infected is moved out of reach, to the file store's ``quarantine/`` (by default
``instance/uploads/quarantine/``), and never served. While clamd cannot be reached the
files simply wait, and the next scan (after each commit that stores a file, or
``flask --app wsgi portal scan`` from a timer) takes them. Without the setting, the
checks of portal/storage.py are the only ones and files are served at once.

clamd is asked over its INSTREAM command (the file is sent, not its path, so clamd needs
no access to the uploads folder).
"""

from __future__ import annotations

import logging
import socket
import struct

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import storage
from portal.extensions import db
from portal.models import Attachment, AuditEvent, ScanStatus

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
TIMEOUT = 30.0  # seconds; clamd answers a 10 MB PDF in well under one
BATCH = 100


class ScannerUnavailable(Exception):
    """clamd could not be reached, or did not answer."""


def enabled() -> bool:
    return bool(current_app.config["PORTAL"]["CLAMD_SOCKET"])


def new_status() -> ScanStatus:
    """The status a newly stored attachment starts with."""
    return ScanStatus.PENDING if enabled() else ScanStatus.CLEAN


def scan(data: bytes) -> str | None:
    """None if clamd finds ``data`` clean, else the name of what it found."""
    path = current_app.config["PORTAL"]["CLAMD_SOCKET"]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(TIMEOUT)
            connection.connect(path)
            connection.sendall(b"zINSTREAM\0")
            for start in range(0, len(data), CHUNK):
                chunk = data[start:start + CHUNK]
                connection.sendall(struct.pack("!L", len(chunk)) + chunk)
            connection.sendall(struct.pack("!L", 0))
            answer = b""
            while not answer.endswith(b"\0"):
                received = connection.recv(4096)
                if not received:
                    break
                answer += received
    except OSError as error:
        raise ScannerUnavailable(type(error).__name__) from error
    reply = answer.rstrip(b"\0").decode("utf-8", "replace")
    # "stream: OK", "stream: <name> FOUND", or "... ERROR" (e.g. a size limit)
    if reply.endswith(" OK"):
        return None
    if reply.endswith(" FOUND"):
        return reply.removeprefix("stream: ").removesuffix(" FOUND")
    raise ScannerUnavailable(reply or "no answer")


def ping() -> bool:
    path = current_app.config["PORTAL"]["CLAMD_SOCKET"]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(2.0)
            connection.connect(path)
            connection.sendall(b"zPING\0")
            return connection.recv(16).startswith(b"PONG")
    except OSError:
        return False


def scan_pending(_items: list | None = None) -> dict[str, int]:
    """Scan the attachments waiting for it (a batch of each content only once); what
    became of them. Runs after the commit that stored them, and from the command line."""
    done = {"clean": 0, "infected": 0, "waiting": 0}
    if not enabled():
        return done
    with Session(db.engine) as session:
        waiting = list(session.scalars(
            select(Attachment).where(Attachment.scan_status == ScanStatus.PENDING)
            .order_by(Attachment.id).limit(BATCH)))
        verdicts: dict[str, str | None] = {}
        for attachment in waiting:
            if attachment.content_hash not in verdicts:
                data = storage.read(attachment.content_hash)
                if data is None:
                    continue
                try:
                    verdicts[attachment.content_hash] = scan(data)
                except ScannerUnavailable as error:
                    log.warning("virus scanner unavailable (%s): %d files wait", error,
                                len(waiting))
                    break
            found = verdicts[attachment.content_hash]
            attachment.scan_status = ScanStatus.CLEAN if found is None else ScanStatus.INFECTED
            done["clean" if found is None else "infected"] += 1
            if found is not None:
                with session.no_autoflush:
                    session.add(_audit_row(attachment, found))
        session.commit()
        for content_hash, found in verdicts.items():
            if found is not None:
                storage.withhold(content_hash)
        done["waiting"] = len(waiting) - done["clean"] - done["infected"]
    return done


def _audit_row(attachment: Attachment, found: str) -> AuditEvent:
    """The audit entry of a file withheld (written in the scanner's own session)."""
    return AuditEvent(action="attachment.infected", target_type="case",
                      target_id=str(attachment.case_id),
                      data={"attachment": attachment.id, "found": found[:120]})

