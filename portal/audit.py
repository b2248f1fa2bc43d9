"""The security audit log: who did what to which object, when and from where, never
what they wrote."""

from __future__ import annotations

from flask import has_request_context, request

from portal.extensions import db
from portal.models import AuditEvent, User


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
