"""Knowledge-base articles, their tags, source cases and reader feedback."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.config import DEFAULT_LANGUAGE
from portal.extensions import db
from portal.models.case import Case
from portal.models.enums import ArticleStatus
from portal.models.organisation import Department
from portal.models.types import UTCDateTime, enum_column
from portal.models.user import User

article_tags = Table(
    "article_tags",
    db.metadata,
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)

# Which resolved cases an article grew out of (shown to staff only).
article_sources = Table(
    "article_sources",
    db.metadata,
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("case_id", ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
)


class Tag(db.Model):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(64))


class Article(db.Model):
    __tablename__ = "articles"
    __table_args__ = (
        Index("ix_articles_status_locale_published_at", "status", "locale", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), default="")
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text)  # Markdown, sanitised when rendered
    locale: Mapped[str] = mapped_column(String(8), default=DEFAULT_LANGUAGE)
    # Translations of one article share a group id (the id of the first of them).
    translation_group: Mapped[int | None] = mapped_column(index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    status: Mapped[ArticleStatus] = mapped_column(
        enum_column(ArticleStatus), default=ArticleStatus.DRAFT
    )
    review_by: Mapped[date | None] = mapped_column(Date)
    helpful_yes: Mapped[int] = mapped_column(default=0)
    helpful_no: Mapped[int] = mapped_column(default=0)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now,
                                                 onupdate=clock.now)

    department: Mapped[Department | None] = relationship()
    author: Mapped[User | None] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=article_tags, order_by=Tag.slug)
    source_cases: Mapped[list[Case]] = relationship(secondary=article_sources)


class ArticleFeedback(db.Model):
    """A reader's "was this helpful?" answer, with an optional reason when it was not."""

    __tablename__ = "article_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    helpful: Mapped[bool] = mapped_column()
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class SuggestionOpen(db.Model):
    """A citizen opened a suggested answer while writing a question.

    ``form_token`` is the hidden token of the form being written; if that form is then
    sent, ``submitted`` is set. Opened and never sent: the knowledge base answered.
    """

    __tablename__ = "suggestion_opens"
    __table_args__ = (Index("ix_suggestion_opens_opened_at", "opened_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    form_token: Mapped[str] = mapped_column(String(64), index=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    submitted: Mapped[bool] = mapped_column(default=False)


class SearchPending(db.Model):
    """An index update that failed (index locked or broken) and waits to be retried."""

    __tablename__ = "search_pending"

    doc_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    attempts: Mapped[int] = mapped_column(default=0)
