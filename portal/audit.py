"""The security audit log: who did what to which object, when and from where, never
what they wrote."""

from __future__ import annotations

from datetime import timedelta

from flask import has_request_context, request
from sqlalchemy import delete, func, select, text

from portal import clock
from portal.extensions import db
from portal.models import AuditEvent, User

# The triggers that make the log append-only (migration 0010, repeated here for the
# one place that lifts them): name -> (drop, create) per database.
_TRIGGERS = {
    "postgresql": [(
        "DROP TRIGGER audit_events_append_only ON audit_events",
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()")],
    "sqlite": [
        ("DROP TRIGGER audit_events_no_update",
         "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
         "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END"),
        ("DROP TRIGGER audit_events_no_delete",
         "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
         "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END")],
}


def audit(action: str, actor: User | None = None, target_type: str = "",
          target_id: str | int = "", **data) -> None:
    """Record a security-relevant action (no passwords, no message text, no tokens).

    The address it came from is the request's (behind a proxy, as ProxyFix reads it
    with the configured hops); none for the command line and jobs.
    """
    address = (request.remote_addr or "") if has_request_context() else ""
    db.session.add(AuditEvent(actor_id=actor.id if actor else None, action=action,
                              target_type=target_type, target_id=str(target_id),
                              remote_addr=address[:45], data=data))


def purge(older_than_days: int, dry_run: bool = False) -> int:
    """Delete the entries older than ``older_than_days``; how many (or would be).

    The append-only triggers are dropped and created again inside this one
    transaction, so no other transaction ever sees the log without them; the purge
    itself is logged. Nothing else in the portal deletes or changes an entry.
    """
    cutoff = clock.now() - timedelta(days=older_than_days)
    count = db.session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.created_at < cutoff))
    if dry_run or not count:
        return count
    triggers = _TRIGGERS[db.session.get_bind().dialect.name]
    for drop, _create in triggers:
        db.session.execute(text(drop))
    db.session.execute(delete(AuditEvent).where(AuditEvent.created_at < cutoff))
    for _drop, create in triggers:
        db.session.execute(text(create))
    audit("audit.purged", target_type="audit", rows=count, older_than_days=older_than_days)
    db.session.commit()
    return count
