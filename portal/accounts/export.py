"""Everything the portal holds about one person, as a ZIP they can take (GDPR Arts. 15, 20).

The rows are found from the schema itself, so that a table added later is not
forgotten: every row of every table with a column that refers to the person's account,
the cases that carry their (confirmed) address, the conversation of their cases and
the mail sent to them. Each table's rows go under its name in ``data.json``; the files
of their cases and ideas go beside it.

Left out, because they are about someone else or are secrets: internal notes (staff
write them about a case, never to the citizen), other people's accounts, password and
session hashes, form tokens and the case events of staff work (assignments, internal
reasons) on their cases. A row is never left out for belonging to a member of staff
who answered: their replies are part of the person's conversation.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, datetime
from typing import Any

from flask import Response
from sqlalchemy import Table, or_, select

from portal import clock, storage
from portal.extensions import db
from portal.models import User

# Columns that are never exported: secrets, and hashes that only serve to find a row.
SECRET_COLUMNS = {
    "users": {"password_hash", "totp_secret", "recovery_code_hashes"},
    "user_sessions": {"token_hash"},
    "case_grants": {"browser_hash"},
    "cases": {"submission_token"},
    "sign_in_throttles": {"email_hash"},
}


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    if hasattr(value, "value"):  # an enum
        return value.value
    return value


def _user_columns(table: Table) -> list:
    return [column for column in table.columns
            if any(key.column.table.name == "users" for key in column.foreign_keys)]


def _rows(table: Table, condition) -> list[dict[str, Any]]:
    hidden = SECRET_COLUMNS.get(table.name, set())
    return [{key: _value(value) for key, value in row._mapping.items() if key not in hidden}
            for row in db.session.execute(select(table).where(condition))]


def collect(user: User | None, email: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """{table name: rows} of everything about ``user``, or about a guest's address
    ``email`` (their cases and the mail sent to them)."""
    tables = db.metadata.tables
    found: dict[str, list[dict[str, Any]]] = {}
    email = user.email if user is not None else (email or "").strip().lower()

    def add(name: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            seen = {json.dumps(row, sort_keys=True, default=str) for row in found.get(name, [])}
            found.setdefault(name, []).extend(
                row for row in rows if json.dumps(row, sort_keys=True, default=str) not in seen)

    for name, table in tables.items():
        if name == "users":
            if user is not None:
                add(name, _rows(table, table.c.id == user.id))
            continue
        columns = _user_columns(table) if user is not None else []
        conditions = [column == user.id for column in columns]
        if name == "messages":  # never an internal note, even one they wrote as staff
            if conditions:
                add(name, _rows(table, (or_(*conditions)) & table.c.internal.is_(False)))
            continue
        if name == "cases":
            conditions.append(table.c.contact_email == email)
        if name == "outbox_messages":
            conditions.append(table.c.to_address == email)
        if name == "audit_events" and user is not None:  # done to their account, by anyone
            conditions.append((table.c.target_type == "user")
                              & (table.c.target_id == str(user.id)))
        if conditions:
            add(name, _rows(table, or_(*conditions)))

    # The conversation of their cases: every message that is not an internal note, and
    # its files.
    case_ids = [row["id"] for row in found.get("cases", [])]
    if case_ids:
        messages, attachments = tables["messages"], tables["attachments"]
        add("messages", _rows(messages, messages.c.case_id.in_(case_ids)
                              & messages.c.internal.is_(False)))
        public = select(messages.c.id).where(messages.c.internal.is_(False))
        add("attachments", _rows(attachments, attachments.c.case_id.in_(case_ids)
                                 & (attachments.c.message_id.is_(None)
                                    | attachments.c.message_id.in_(public))))
    return found


def zip_response(archive: bytes) -> Response:
    """The ZIP as a download that no cache keeps."""
    response = Response(archive, mimetype="application/zip")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="ventanilla-{clock.now().date().isoformat()}.zip"')
    response.headers["Cache-Control"] = "no-store"
    return response


def build_zip(user: User | None, email: str | None = None) -> bytes:
    """``data.json`` and the person's files (``files/<table>-<id>-<name>``)."""
    found = collect(user, email)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(
            {"exported_at": clock.now().isoformat(),
             "account" if user is not None else "address": user.email if user else email,
             "tables": found},
            ensure_ascii=False, indent=2, sort_keys=True))
        # Only files the virus scanner passed (portal/scanning.py).
        files = [("attachments", row["id"], row["content_hash"], row["original_name"])
                 for row in found.get("attachments", [])
                 if row.get("scan_status", "clean") == "clean"]
        files += [("ideas", row["id"], row["image_hash"], row["image_name"] or "image")
                  for row in found.get("ideas", []) if row.get("image_hash")]
        for table, row_id, content_hash, name in files:
            data = storage.read(content_hash)
            if data is not None:
                archive.writestr(f"files/{table}-{row_id}-{storage.safe_name(name)}", data)
    return buffer.getvalue()
