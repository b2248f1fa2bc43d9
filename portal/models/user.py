"""People who sign in, their departments, and their server-side sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.config import DEFAULT_LANGUAGE
from portal.extensions import db
from portal.models.enums import Role
from portal.models.organisation import Department
from portal.models.types import UTCDateTime, enum_column

user_departments = Table(
    "user_departments",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("department_id", ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True),
)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so the unique index makes emails unique regardless of case.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role), default=Role.CITIZEN)
    locale: Mapped[str] = mapped_column(String(8), default=DEFAULT_LANGUAGE)
    active: Mapped[bool] = mapped_column(default=True)
    anonymised: Mapped[bool] = mapped_column(default=False)
    # Agents with this right publish knowledge-base articles; managers always may.
    can_publish_articles: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the person opened the confirmation link sent to ``email``: until then
    # the account cannot sign in, and the address is not taken as theirs.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The second factor (portal/accounts/second_factor.py): the TOTP secret, encrypted
    # with a key derived from the app's secret key; when it was turned on; the last time
    # step a code was accepted for (a code works once); hashes of the unused recovery
    # codes.
    totp_secret: Mapped[str] = mapped_column(String(255), default="")
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int] = mapped_column(default=0)
    recovery_code_hashes: Mapped[list[str]] = mapped_column(JSON, default=list)

    departments: Mapped[list[Department]] = relationship(
        secondary=user_departments, order_by=Department.slug
    )

    # Flask-Login's session handling goes through UserSession (portal.accounts.sessions);
    # these three make a User usable as current_user.
    is_authenticated = True
    is_anonymous = False
    # The raw token of the session this request belongs to; never stored. And whether
    # that session gave the second factor.
    session_token = None
    session_second_factor = False

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def is_active(self) -> bool:
        return self.active and not self.anonymised

    def has_role(self, role: Role) -> bool:
        return self.role.at_least(role)

    @property
    def is_staff(self) -> bool:
        return self.has_role(Role.AGENT)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


class UserSession(db.Model):
    """A signed-in browser. The cookie holds a random token; we keep only its hash.

    Deleting or revoking the row signs that browser out, even if someone kept a copy
    of its cookie.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the browser gave the second factor; None: the password alone (staff areas
    # then ask for it where it is on or required).
    second_factor_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class SignInThrottle(db.Model):
    """Failed sign-ins for one email address, whatever address they come from.

    Keyed by a hash of the normalised email, for addresses with and without an account
    alike, so that a lock says nothing about whether the account exists. A lock is
    always temporary; the owner is told by email and a password reset still works.
    """

    __tablename__ = "sign_in_throttles"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
