"""Canned responses, the security audit log and the mail outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.extensions import db
from portal.models.enums import OutboxStatus
from portal.models.organisation import Department
from portal.models.types import UTCDateTime, enum_column
from portal.models.user import User


class CannedResponse(db.Model):
    """A reusable reply; no department means it is shared by all."""

    __tablename__ = "canned_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    locale: Mapped[str] = mapped_column(String(8), default="es")
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now,
                                                 onupdate=clock.now)

    department: Mapped[Department | None] = relationship()


class AuditEvent(db.Model):
    """A security-relevant action: sign-ins, role changes, staff views of a case."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_target", "target_type", "target_id"),
        Index("ix_audit_events_actor_created_at", "actor_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    # Where the request came from (an IPv4 or IPv6 address; empty for the CLI and jobs).
    remote_addr: Mapped[str] = mapped_column(String(45), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)

    actor: Mapped[User | None] = relationship()


class OutboxMessage(db.Model):
    """An email, saved in the same transaction as the change that caused it.

    Delivery happens after commit, so a failing mail server never loses a submission
    and a message is never sent for a change that was rolled back.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(8), default="es")
    status: Mapped[OutboxStatus] = mapped_column(
        enum_column(OutboxStatus), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # While a deliverer holds the message (status SENDING); a crash mid-send leaves the
    # claim to expire, and the message is then delivered by the next run.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
