"""Improvement reports: "you said, we did"."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.extensions import db
from portal.models.case import Case
from portal.models.enums import ReportStatus
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
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now,
                                                 onupdate=clock.now)

    department: Mapped[Department | None] = relationship()
    author: Mapped[User | None] = relationship()
    ideas: Mapped[list[Idea]] = relationship(secondary=report_ideas)
    cases: Mapped[list[Case]] = relationship(secondary=report_cases)
    articles: Mapped[list[Article]] = relationship(secondary=report_articles)
