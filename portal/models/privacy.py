"""Requests a person makes about their own data (GDPR Arts. 15-17, 20)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.extensions import db
from portal.models.enums import DataRequestChannel, DataRequestKind
from portal.models.types import UTCDateTime, enum_column
from portal.models.user import User


class DataRequest(db.Model):
    """A request for a copy of someone's data, or for its erasure, and what became of it.

    Kept as the administration's record that it answered in time (one month, Art. 12.3
    GDPR). Once an erasure is carried out the address it was about is cleared: the row
    keeps only the pseudonym the person's records now carry.
    """

    __tablename__ = "data_requests"
    __table_args__ = (Index("ix_data_requests_open", "completed_at", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[DataRequestKind] = mapped_column(enum_column(DataRequestKind))
    channel: Mapped[DataRequestChannel] = mapped_column(enum_column(DataRequestChannel))
    # Whose data: the address the request is about (cleared after an erasure) and the
    # account with it, if there is one.
    subject_email: Mapped[str] = mapped_column(String(254), default="")
    subject_pseudonym: Mapped[str] = mapped_column(String(32), default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # At the counter: the member of staff who took it, and how the identity was checked.
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    identity_checked: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    recorded_by: Mapped[User | None] = relationship(foreign_keys=[recorded_by_id])
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])
