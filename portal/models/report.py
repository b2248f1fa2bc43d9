"""Improvement reports: "you said, we did", and the commitments they make."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.extensions import db
from portal.models.case import Case
from portal.models.enums import CommitmentStatus, ReportStatus
from portal.models.idea import Idea
from portal.models.knowledge import Article
from portal.models.organisation import Department
from portal.models.types import UTCDateTime, enum_column
from portal.models.user import User

report_ideas = Table(
    "report_ideas",
    db.metadata,
    Column("report_id", ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
    Column("idea_id", ForeignKey("ideas.id", ondelete="CASCADE"), primary_key=True),
)
report_cases = Table(
    "report_cases",
    db.metadata,
    Column("report_id", ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
    Column("case_id", ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
)
report_articles = Table(
    "report_articles",
    db.metadata,
    Column("report_id", ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
)


class Report(db.Model):
    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_status_published_at", "status", "published_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(8), default="es")
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    status: Mapped[ReportStatus] = mapped_column(
        enum_column(ReportStatus), default=ReportStatus.DRAFT
    )
    # The figures as they were when published, so a report never changes afterwards.
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The linked ideas the manager ticked: publishing moves them to implemented, with
    # the report as the official response.
    implemented_idea_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawal_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now,
                                                 onupdate=clock.now)

    department: Mapped[Department | None] = relationship()
    author: Mapped[User | None] = relationship()
    ideas: Mapped[list[Idea]] = relationship(secondary=report_ideas, order_by=Idea.id)
    cases: Mapped[list[Case]] = relationship(secondary=report_cases, order_by=Case.id)
    articles: Mapped[list[Article]] = relationship(secondary=report_articles,
                                                   order_by=Article.id)
    commitments: Mapped[list[Commitment]] = relationship(
        back_populates="report", order_by="Commitment.position, Commitment.id",
        cascade="all, delete-orphan")

    @property
    def public(self) -> bool:
        """Published, or withdrawn (its page says so and why): never a draft."""
        return self.status is not ReportStatus.DRAFT


class Commitment(db.Model):
    """Something a report promises to do, followed after publication."""

    __tablename__ = "report_commitments"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"),
                                           index=True)
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[CommitmentStatus] = mapped_column(
        enum_column(CommitmentStatus), default=CommitmentStatus.PLANNED)
    progress: Mapped[int] = mapped_column(default=0)  # per cent
    due_on: Mapped[date | None] = mapped_column(Date)

    report: Mapped[Report] = relationship(back_populates="commitments")
    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="commitment", order_by="Milestone.due_on, Milestone.id",
        cascade="all, delete-orphan")
    updates: Mapped[list[CommitmentUpdate]] = relationship(
        back_populates="commitment",
        order_by="CommitmentUpdate.created_at, CommitmentUpdate.id",
        cascade="all, delete-orphan")

    def late(self, today: date) -> bool:
        return (self.due_on is not None and self.due_on < today
                and self.status not in (CommitmentStatus.DONE, CommitmentStatus.DROPPED))


class Milestone(db.Model):
    __tablename__ = "report_milestones"

    id: Mapped[int] = mapped_column(primary_key=True)
    commitment_id: Mapped[int] = mapped_column(
        ForeignKey("report_commitments.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    due_on: Mapped[date] = mapped_column(Date)
    done_on: Mapped[date | None] = mapped_column(Date)

    commitment: Mapped[Commitment] = relationship(back_populates="milestones")


class CommitmentUpdate(db.Model):
    """A dated step of a commitment after publication, shown on the report as it was."""

    __tablename__ = "report_commitment_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    commitment_id: Mapped[int] = mapped_column(
        ForeignKey("report_commitments.id", ondelete="CASCADE"), index=True)
    status: Mapped[CommitmentStatus] = mapped_column(enum_column(CommitmentStatus))
    progress: Mapped[int] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    commitment: Mapped[Commitment] = relationship(back_populates="updates")


class StatsSnapshot(db.Model):
    """Figures computed once and read many times (/stats), with when they were made."""

    __tablename__ = "stats_snapshots"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
