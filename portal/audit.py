"""The security audit log: who did what to which object, never what they wrote."""

from __future__ import annotations

from portal.extensions import db
from portal.models import AuditEvent, User


def audit(action: str, actor: User | None = None, target_type: str = "",
          target_id: str | int = "", **data) -> None:
    """Record a security-relevant action (no passwords, no message text, no tokens)."""
    db.session.add(AuditEvent(actor_id=actor.id if actor else None, action=action,
                              target_type=target_type, target_id=str(target_id), data=data))
