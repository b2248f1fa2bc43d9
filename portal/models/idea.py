"""The open-ideas board: ideas, their history, supports, follows, comments and flags."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.extensions import db
from portal.models.enums import IdeaStatus, WithdrawalReason
from portal.models.organisation import Department
from portal.models.types import UTCDateTime, enum_column
from portal.models.user import User


class Idea(db.Model):
    __tablename__ = "ideas"
    __table_args__ = (
        Index("ix_ideas_status_created_at", "status", "created_at"),
        # The board's orders, each over the public ideas only (hidden, pending and
        # merged ones are never listed), with the id as the tie-breaker.
        Index("ix_ideas_board_supported", "public", "vote_count", "id"),
        Index("ix_ideas_board_newest", "public", "created_at", "id"),
        Index("ix_ideas_board_answered", "public", "official_response_at", "id"),
        Index("ix_ideas_board_trending", "public", "recent_votes", "vote_count", "id"),
        Index("ix_ideas_board_department", "public", "department_id", "vote_count", "id"),
        Index("ix_ideas_board_department_newest", "public", "department_id", "created_at",
              "id"),
        Index("ix_ideas_board_department_answered", "public", "department_id",
              "official_response_at", "id"),
        Index("ix_ideas_board_status", "public", "status", "vote_count", "id"),
        Index("ix_ideas_answer_due", "answer_due_at", "id"),
        Index("ix_ideas_unmoderated", "moderated_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    location_text: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[IdeaStatus] = mapped_column(
        enum_column(IdeaStatus), default=IdeaStatus.SUBMITTED
    )
    # The public answer: required to implement, decline or merge an idea.
    official_response: Mapped[str] = mapped_column(Text, default="")
    official_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id"))
    language: Mapped[str] = mapped_column(String(8), default="es")
    # Kept by atomic UPDATEs (ideas.service), never read-modify-write: supports come
    # in concurrently, and must not collide with staff edits' version check.
    vote_count: Mapped[int] = mapped_column(default=0)
    # Supports of the last TRENDING_DAYS (ideas.service): kept by the same UPDATEs, and
    # aged by ideas.service.refresh_trending (the "trending" order reads this column).
    recent_votes: Mapped[int] = mapped_column(default=0)
    comment_count: Mapped[int] = mapped_column(default=0)
    # When an answer is due (None: not yet, the idea has not reached the support
    # threshold; or no longer, it has been answered). Public, and sorted on.
    answer_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # On the board: not hidden by moderation, not waiting for pre-moderation, not merged
    # into another. Kept in step by ideas.service (one column, so the board's indexes
    # can serve every order).
    public: Mapped[bool] = mapped_column(default=True)
    # Pre-moderation (PORTAL_IDEAS_PREMODERATION): waiting for a moderator's approval.
    awaiting_approval: Mapped[bool] = mapped_column(default=False)
    # When a moderator first looked at it (approved, hid, answered...): every new idea
    # is in the moderation queue until then, shown on the board or not.
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hidden: Mapped[bool] = mapped_column(default=False)
    hidden_reason: Mapped[str] = mapped_column(String(300), default="")
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: by flags
    withdrawal_reason: Mapped[WithdrawalReason | None] = mapped_column(
        enum_column(WithdrawalReason))
    withdrawal_note: Mapped[str] = mapped_column(String(500), default="")
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An optional image, checked as case attachments are (portal/storage.py).
    image_hash: Mapped[str | None] = mapped_column(String(64))
    image_name: Mapped[str] = mapped_column(String(255), default="")
    image_type: Mapped[str] = mapped_column(String(100), default="")
    image_size: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now,
                                                 onupdate=clock.now)
    version: Mapped[int] = mapped_column(default=1)
    __mapper_args__ = {"version_id_col": version}

    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    responded_by: Mapped[User | None] = relationship(foreign_keys=[responded_by_id])
    hidden_by: Mapped[User | None] = relationship(foreign_keys=[hidden_by_id])
    department: Mapped[Department | None] = relationship()
    duplicate_of: Mapped[Idea | None] = relationship(remote_side=[id])
    comments: Mapped[list[Comment]] = relationship(
        back_populates="idea", order_by="Comment.created_at, Comment.id"
    )
    history: Mapped[list[IdeaStatusChange]] = relationship(
        back_populates="idea", foreign_keys="IdeaStatusChange.idea_id",
        order_by="IdeaStatusChange.created_at, IdeaStatusChange.id"
    )
    revisions: Mapped[list[IdeaRevision]] = relationship(
        back_populates="idea", order_by="IdeaRevision.created_at, IdeaRevision.id"
    )


class IdeaStatusChange(db.Model):
    """The public history of an idea: every status, with its response, date and who."""

    __tablename__ = "idea_status_changes"
    __table_args__ = (Index("ix_idea_status_changes_idea", "idea_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    from_status: Mapped[IdeaStatus | None] = mapped_column(enum_column(IdeaStatus))
    to_status: Mapped[IdeaStatus] = mapped_column(enum_column(IdeaStatus))
    response: Mapped[str] = mapped_column(Text, default="")
    # A merge: the other idea (absorbed into this one, or this one into it).
    other_idea_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    idea: Mapped[Idea] = relationship(back_populates="history", foreign_keys=[idea_id])
    other_idea: Mapped[Idea | None] = relationship(foreign_keys=[other_idea_id])
    actor: Mapped[User | None] = relationship()


class IdeaRevision(db.Model):
    """An earlier version of an idea its author edited (shown as "edited")."""

    __tablename__ = "idea_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"),
                                         index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    idea: Mapped[Idea] = relationship(back_populates="revisions")


class IdeaVote(db.Model):
    """A support: one per account and idea, which the database enforces."""

    __tablename__ = "idea_votes"
    __table_args__ = (
        UniqueConstraint("idea_id", "user_id"),
        # The supports of the last days, per idea (ageing the trending counts).
        Index("ix_idea_votes_idea_created_at", "idea_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Moved here by a merge, from this idea: the supporter was told and may withdraw it.
    moved_from_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class IdeaFollow(db.Model):
    __tablename__ = "idea_follows"
    __table_args__ = (UniqueConstraint("idea_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    user: Mapped[User] = relationship()


class Comment(db.Model):
    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_idea_created_at", "idea_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    # Written by staff: shown as the administration's official word.
    official: Mapped[bool] = mapped_column(default=False)
    # Hidden by a moderator, or by flags pending review: kept for the record, not shown
    # in public; its author sees it and why.
    hidden: Mapped[bool] = mapped_column(default=False)
    hidden_reason: Mapped[str] = mapped_column(String(300), default="")
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: by flags
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    idea: Mapped[Idea] = relationship(back_populates="comments")
    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    hidden_by: Mapped[User | None] = relationship(foreign_keys=[hidden_by_id])


class Flag(db.Model):
    """Someone signed in asks moderators to look at an idea or a comment."""

    __tablename__ = "flags"
    __table_args__ = (
        # One flag per person and thing (NULLs are distinct, so each holds for its kind).
        UniqueConstraint("user_id", "idea_id", name="uq_flags_user_idea"),
        UniqueConstraint("user_id", "comment_id", name="uq_flags_user_comment"),
        CheckConstraint("(idea_id IS NULL) <> (comment_id IS NULL)", name="one_target"),
        Index("ix_flags_open", "resolved_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    idea_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id",
                                                              ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # hidden, restored or dismissed; by whom and when
    resolution: Mapped[str] = mapped_column(String(20), default="")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    idea: Mapped[Idea | None] = relationship()
    comment: Mapped[Comment | None] = relationship()


class IdeaCaseLink(db.Model):
    """An idea and a case that raised the same problem (staff see both sides)."""

    __tablename__ = "idea_case_links"
    __table_args__ = (UniqueConstraint("idea_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"),
                                         index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
