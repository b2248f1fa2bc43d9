"""Cases (questions and complaints), their messages, attachments and history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.config import DEFAULT_LANGUAGE
from portal.extensions import db
from portal.models.enums import (
    CaseEventKind,
    CaseKind,
    CasePriority,
    CaseStatus,
    Channel,
    ContactPreference,
    ScanStatus,
)
from portal.models.organisation import Category, Department
from portal.models.types import UTCDateTime, enum_column
from portal.models.user import User

case_followers = Table(
    "case_followers",
    db.metadata,
    Column("case_id", ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


# A case waits for an answer, or for the citizen, in these states; the others are done.
OPEN_STATUSES = (CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.WAITING_ON_CITIZEN)
# The sort key of an open case with no deadline at all: after every dated one.
NO_DEADLINE = datetime(9999, 1, 1, tzinfo=UTC)


class Case(db.Model):
    __tablename__ = "cases"
    __table_args__ = (
        # One index per queue query: see README.md, Architecture (Speed). Every queue sorts
        # by (next_due_at, id), so each index puts the queue's equality column first,
        # then that key, then the columns the queue filters on, so that rows are read in
        # order and skipped inside the index (staff/service.py ``_queue_condition``).
        Index("ix_cases_status_created_at", "status", "created_at"),
        # "mine" (assignee = me) and, for managers, "department" (assignee IS NULL).
        Index("ix_cases_assignee_due", "assignee_id", "next_due_at", "id", "status",
              "department_id"),
        # "department" for an agent (department = hers) and "triage" (department IS NULL).
        Index("ix_cases_department_due", "department_id", "next_due_at", "id", "status",
              "assignee_id"),
        # "waiting" (status = waiting on citizen).
        Index("ix_cases_status_due", "status", "next_due_at", "id", "department_id"),
        # "due soon" and "overdue": a range of next_due_at; "resolved": next_due_at IS
        # NULL, newest (highest id) first.
        Index("ix_cases_due", "next_due_at", "id", "status", "department_id"),
        Index("ix_cases_citizen_created_at", "citizen_id", "created_at"),
        Index("ix_cases_contact_email", "contact_email"),
        # The dashboard and /stats (portal/stats): every figure is over the cases
        # received in a range of dates, grouped by department.
        Index("ix_cases_created_at_department", "created_at", "department_id"),
        # The dashboard's "late, not yet answered", as of now: the cases waiting for a
        # first answer only, a few among a million (portal/stats/figures.py).
        Index("ix_cases_unanswered_created_at", "created_at", "department_id",
              sqlite_where=text("first_responded_at IS NULL"),
              postgresql_where=text("first_responded_at IS NULL")),
        # The dashboard's latest comments: the newest ratings of a period, read in order.
        Index("ix_cases_rated_at", "rated_at"),
        # The queues rely on it: no deadline is due exactly when the case is done.
        CheckConstraint("(next_due_at IS NULL) = (status IN ('resolved', 'closed'))",
                        name="next_due_at_while_open"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    # The hidden token of the form that created the case: a second submit of the same
    # form finds this case instead of creating another.
    submission_token: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    kind: Mapped[CaseKind] = mapped_column(enum_column(CaseKind))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    desired_outcome: Mapped[str] = mapped_column(Text, default="")
    # No department: the citizen did not know, and the case waits in triage.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    status: Mapped[CaseStatus] = mapped_column(enum_column(CaseStatus), default=CaseStatus.NEW)
    priority: Mapped[CasePriority] = mapped_column(
        enum_column(CasePriority), default=CasePriority.NORMAL
    )
    channel: Mapped[Channel] = mapped_column(enum_column(Channel), default=Channel.WEB)

    # The citizen: an account, or a guest's contact details.
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    contact_name: Mapped[str] = mapped_column(String(120), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    contact_preference: Mapped[ContactPreference] = mapped_column(
        enum_column(ContactPreference), default=ContactPreference.EMAIL
    )
    language: Mapped[str] = mapped_column(String(8), default=DEFAULT_LANGUAGE)
    # When someone opened a link emailed to ``contact_email``: only then is the typed
    # address known to belong to whoever wrote the case (see staff.service.merge).
    contact_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of every emailed link; asking for a new link at /track raises it, so every
    # earlier link stops working.
    link_version: Mapped[int] = mapped_column(default=1)

    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    location_text: Mapped[str] = mapped_column(String(300), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)

    # Consent to publish an anonymised answer; the wording version is kept as evidence.
    publish_consent: Mapped[bool] = mapped_column(default=False)
    publish_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    publish_consent_version: Mapped[str] = mapped_column(String(32), default="")

    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The deadline due next (``next_deadline``), stored so that queues sort on an
    # index: NO_DEADLINE for an open case without one, NULL once (and only once) the
    # case is done (a CHECK constraint says so, and the queues' WHERE clauses use it).
    # Kept up to date on every flush by ``_keep_next_due_at`` below.
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How long the citizen waited, in working days as the deadlines count them (the
    # deployment's holidays included, days waiting on the citizen left out), kept when
    # the first answer and each resolution are given, so that the dashboard and /stats
    # are aggregates over stored numbers (cases.service.record_first_response).
    first_response_working_days: Mapped[int | None] = mapped_column()
    resolution_working_days: Mapped[int | None] = mapped_column()
    paused_working_days: Mapped[int] = mapped_column(default=0)
    # How many times an answered case was opened again (the dashboard's reopen rate).
    reopen_count: Mapped[int] = mapped_column(default=0)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the clock was paused by "waiting on citizen"; None while it runs.
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_summary: Mapped[str] = mapped_column(Text, default="")

    satisfaction: Mapped[int | None] = mapped_column()
    satisfaction_comment: Mapped[str] = mapped_column(Text, default="")
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    # When its personal data was erased (the citizen's request, or the retention period
    # after closing, portal/privacy.py): the case stays for the record, nobody's.
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # active_history: moving a case's date must recount the day it leaves, so the old
    # value is loaded when a new one is set (portal/models/rollup.py).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now,
                                                 active_history=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now,
                                                 onupdate=clock.now)
    # Optimistic locking: a second agent saving a stale copy gets StaleDataError.
    version: Mapped[int] = mapped_column(default=1)
    __mapper_args__ = {"version_id_col": version}

    department: Mapped[Department | None] = relationship()
    category: Mapped[Category | None] = relationship()
    citizen: Mapped[User | None] = relationship(foreign_keys=[citizen_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    merged_into: Mapped[Case | None] = relationship(remote_side=[id])
    followers: Mapped[list[User]] = relationship(secondary=case_followers)
    messages: Mapped[list[Message]] = relationship(
        back_populates="case", order_by="Message.created_at, Message.id"
    )
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.created_at, CaseEvent.id"
    )
    attachments: Mapped[list[Attachment]] = relationship(back_populates="case")

    def __repr__(self) -> str:
        return f"<Case {self.reference}>"

    @property
    def next_deadline(self) -> tuple[str, datetime] | None:
        """("first_response" or "resolution", when) due next while open, else None.

        The first response while the citizen has had no answer, then the resolution.
        """
        if (self.status or CaseStatus.NEW) not in OPEN_STATUSES:  # None: NEW on insert
            return None
        if self.first_responded_at is None and self.first_response_due_at is not None:
            return "first_response", self.first_response_due_at
        if self.resolution_due_at is not None:
            return "resolution", self.resolution_due_at
        return None



@event.listens_for(Case, "before_insert")
@event.listens_for(Case, "before_update")
def _keep_next_due_at(_mapper, _connection, case: Case) -> None:
    """Derive the stored sort key from the status and the dates at every flush.

    Done here, below every service, so that no path that answers, pauses, resumes,
    resolves or reopens a case can forget it. (Bulk Core inserts bypass it and must set
    ``next_due_at`` themselves, as the benchmark does.)
    """
    deadline = case.next_deadline
    if deadline is not None:
        case.next_due_at = deadline[1]
    elif (case.status or CaseStatus.NEW) in OPEN_STATUSES:
        case.next_due_at = NO_DEADLINE
    else:
        case.next_due_at = None


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_case_created_at", "case_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    # None: written by the citizen as a guest (the case's contact) or by the system.
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    from_staff: Mapped[bool] = mapped_column(default=False)
    # Internal notes are for staff only and never reach the citizen.
    internal: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    case: Mapped[Case] = relationship(back_populates="messages")
    author: Mapped[User | None] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(back_populates="message")


class Attachment(db.Model):
    """A file stored outside the web root under its content hash."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    original_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column()
    # Served only once clean (portal/scanning.py): with a virus scanner configured a new
    # file waits as "pending" until it has answered.
    scan_status: Mapped[ScanStatus] = mapped_column(enum_column(ScanStatus),
                                                    default=ScanStatus.CLEAN, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    case: Mapped[Case] = relationship(back_populates="attachments")
    message: Mapped[Message | None] = relationship(back_populates="attachments")


class CaseEvent(db.Model):
    """One change to a case: who, what, when and why. The timeline is built from these."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case_created_at", "case_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[CaseEventKind] = mapped_column(enum_column(CaseEventKind))
    from_value: Mapped[str] = mapped_column(String(120), default="")
    to_value: Mapped[str] = mapped_column(String(120), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    case: Mapped[Case] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class CaseGrant(db.Model):
    """A browser that may open a guest's case: it sent the form or opened the emailed link.

    The session cookie holds only a random browser key; the grant lives here, so that
    signing out, changing the password, disabling the account or asking for a new link
    revokes it even for a copy of the cookie taken before.
    """

    __tablename__ = "case_grants"
    __table_args__ = (
        Index("ix_case_grants_browser_case", "browser_hash", "case_id"),
        Index("ix_case_grants_case_id", "case_id"),
        Index("ix_case_grants_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    # sha256 of the browser key in the cookie; the key itself is never stored.
    browser_hash: Mapped[str] = mapped_column(String(64))
    # Who was signed in when the grant was made, if anyone.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship()


class CaseLink(db.Model):
    """Two cases an agent linked as related (e.g. possibly the same person, unverified).

    Unlike a merge, a link moves nothing and grants the citizen of one case nothing of
    the other; it is for staff only.
    """

    __tablename__ = "case_links"
    __table_args__ = (Index("ix_case_links_related_case_id", "related_case_id"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"),
                                         primary_key=True)
    related_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"),
                                                 primary_key=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
