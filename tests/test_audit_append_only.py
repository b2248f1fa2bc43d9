"""The audit log cannot be changed or deleted, except by the retention purge."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DatabaseError

from portal import clock
from portal.audit import audit
from portal.models import AuditEvent

LONG_AGO = datetime(2023, 1, 10, 9, tzinfo=UTC)


def _count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def test_an_entry_cannot_be_changed_or_deleted(db):
    audit("auth.signed_in", target_type="user", target_id=1)
    db.session.commit()
    for statement in (update(AuditEvent).values(action="nothing happened"),
                      text("DELETE FROM audit_events")):
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(statement)
            db.session.flush()
        db.session.rollback()
    assert db.session.scalar(select(AuditEvent.action)) == "auth.signed_in"


def test_the_purge_deletes_only_what_is_past_the_retention(db, runner, app):
    with clock.frozen_at(LONG_AGO):
        audit("auth.signed_in", target_type="user", target_id=1)
        db.session.flush()
    audit("auth.signed_in", target_type="user", target_id=2)
    db.session.commit()

    dry = runner.invoke(args=["portal", "audit", "purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "1 audit entries older than 730 days would be deleted" in dry.output
    assert _count(db) == 2

    done = runner.invoke(args=["portal", "audit", "purge"])
    assert done.exit_code == 0, done.output
    assert "1 audit entries older than 730 days deleted" in done.output
    targets = sorted(db.session.scalars(select(AuditEvent.target_id)))
    assert targets == ["", "2"]  # the recent entry, and the purge's own
    assert db.session.scalar(select(AuditEvent.action).where(
        AuditEvent.action == "audit.purged")) is not None

    # The triggers are back: nothing else can delete.
    with pytest.raises(DatabaseError, match="append-only"):
        db.session.execute(text("DELETE FROM audit_events"))
    db.session.rollback()
