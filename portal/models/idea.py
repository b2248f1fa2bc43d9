"""The open-ideas board: ideas, votes, follows and comments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.extensions import db
from portal.models.enums import IdeaStatus
from portal.models.organisation import Department
from portal.models.types import UTCDateTime, enum_column
from portal.models.user import User


class Idea(db.Model):
    __tablename__ = "ideas"
    __table_args__ = (Index("ix_ideas_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    status: Mapped[IdeaStatus] = mapped_column(
        enum_column(IdeaStatus), default=IdeaStatus.SUBMITTED
    )
    # The public reason for a status, required before an idea is declined or closed.
    official_response: Mapped[str] = mapped_column(Text, default="")
    official_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id"))
    language: Mapped[str] = mapped_column(String(8), default="es")
    vote_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now,
                                                 onupdate=clock.now)
    version: Mapped[int] = mapped_column(default=1)
    __mapper_args__ = {"version_id_col": version}

    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    responded_by: Mapped[User | None] = relationship(foreign_keys=[responded_by_id])
    department: Mapped[Department | None] = relationship()
    duplicate_of: Mapped[Idea | None] = relationship(remote_side=[id])
    comments: Mapped[list[Comment]] = relationship(
        back_populates="idea", order_by="Comment.created_at, Comment.id"
    )


class IdeaVote(db.Model):
    __tablename__ = "idea_votes"
    __table_args__ = (UniqueConstraint("idea_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class IdeaFollow(db.Model):
    __tablename__ = "idea_follows"
    __table_args__ = (UniqueConstraint("idea_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class Comment(db.Model):
    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_idea_created_at", "idea_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    # Hidden by a moderator: kept for the record, not shown in public.
    hidden: Mapped[bool] = mapped_column(default=False)
    hidden_reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    idea: Mapped[Idea] = relationship(back_populates="comments")
    author: Mapped[User | None] = relationship()
