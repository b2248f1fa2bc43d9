"""Accounts: registration, sign-in sessions, passwords and staff accounts.

Service functions take explicit arguments, never the request; the views, the CLI and
the tests all call them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select, update

from portal import clock, mail
from portal.config import LANGUAGES
from portal.extensions import db
from portal.models import AuditEvent, Department, Role, User, UserSession
from portal.security import MIN_PASSWORD_LENGTH, hash_password, verify_password


class AccountError(Exception):
    """A domain error the user can act on; ``field`` names the form field at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def audit(action: str, actor: User | None = None, target_type: str = "",
          target_id: str | int = "", **data) -> None:
    """Record a security-relevant action (no passwords, no message text)."""
    db.session.add(AuditEvent(actor_id=actor.id if actor else None, action=action,
                              target_type=target_type, target_id=str(target_id), data=data))


def _check_password(password: str) -> None:
    # Length only: composition rules make passwords weaker, not stronger (NIST 800-63B).
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("too_short", field="password")


def create_user(email: str, password: str, display_name: str, role: Role = Role.CITIZEN,
                locale: str = "es", departments: list[Department] | None = None) -> User:
    """Create an account. Raises ``AccountError('taken')`` if the email is in use."""
    _check_password(password)
    if find_user_by_email(email) is not None:
        raise AccountError("taken", field="email")
    user = User(
        email=normalise_email(email),
        display_name=display_name.strip(),
        password_hash=hash_password(password),
        role=role,
        locale=locale if locale in LANGUAGES else "es",
        departments=list(departments or []),
        password_changed_at=clock.now(),
    )
    db.session.add(user)
    db.session.flush()
    audit("user.created", target_type="user", target_id=user.id, role=role.value)
    return user


def register_citizen(email: str, password: str, display_name: str, locale: str) -> User:
    """A citizen creates their own account."""
    user = create_user(email, password, display_name, Role.CITIZEN, locale)
    mail.queue_mail(user.email, "welcome", user.locale, user=user)
    return user


def authenticate(email: str, password: str) -> User | None:
    """The user with these credentials, or None (same answer for unknown email)."""
    user = find_user_by_email(email)
    if user is None:
        # Spend the same time as a real check, so timing does not reveal accounts.
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(user.password_hash, password) or not user.is_active:
        audit("auth.failed", target_type="user", target_id=user.id)
        return None
    return user


_DUMMY_HASH: dict[str, str] = {}


def _dummy_hash() -> str:
    settings = current_app.config["PORTAL"]
    key = f"{settings['ARGON2_TIME_COST']}:{settings['ARGON2_MEMORY_COST']}"
    if key not in _DUMMY_HASH:
        _DUMMY_HASH[key] = hash_password(secrets.token_hex(16))
    return _DUMMY_HASH[key]


# ---------------------------------------------------------------- sessions

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User) -> str:
    """Open a server-side session for ``user`` and return its raw token (for the cookie)."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    lifetime = timedelta(days=current_app.config["PORTAL"]["SESSION_LIFETIME_DAYS"])
    db.session.add(UserSession(user_id=user.id, token_hash=_token_hash(token),
                               created_at=now, last_seen_at=now, expires_at=now + lifetime))
    user.last_login_at = now
    user.session_token = token
    audit("auth.signed_in", actor=user, target_type="user", target_id=user.id)
    return token


def load_session(token: str) -> User | None:
    """The user of a live session token, or None if it was revoked or has expired."""
    if not token:
        return None
    record = db.session.scalar(
        select(UserSession).where(UserSession.token_hash == _token_hash(token))
    )
    if record is None or record.revoked_at is not None or record.expires_at <= clock.now():
        return None
    user = record.user
    if not user.is_active:
        return None
    user.session_token = token
    return user


def end_session(token: str) -> None:
    """Sign out: the session's cookie stops working, even if someone copied it."""
    db.session.execute(
        update(UserSession)
        .where(UserSession.token_hash == _token_hash(token), UserSession.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )


def end_all_sessions(user: User, keep_token: str | None = None) -> None:
    """Revoke every session of ``user`` except ``keep_token``'s."""
    query = update(UserSession).where(UserSession.user_id == user.id,
                                      UserSession.revoked_at.is_(None))
    if keep_token:
        query = query.where(UserSession.token_hash != _token_hash(keep_token))
    db.session.execute(query.values(revoked_at=clock.now()))


def active_session_count(user: User) -> int:
    return db.session.scalar(
        select(func.count()).select_from(UserSession).where(
            UserSession.user_id == user.id, UserSession.revoked_at.is_(None),
            UserSession.expires_at > clock.now())
    ) or 0


# ---------------------------------------------------------------- passwords

def set_password(user: User, new_password: str) -> None:
    _check_password(new_password)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = clock.now()


def change_password(user: User, current_password: str, new_password: str,
                    keep_token: str | None) -> None:
    """Change a password; every other session of the user is signed out."""
    if not verify_password(user.password_hash, current_password):
        raise AccountError("wrong_password", field="current_password")
    set_password(user, new_password)
    end_all_sessions(user, keep_token=keep_token)
    audit("auth.password_changed", actor=user, target_type="user", target_id=user.id)
    mail.queue_mail(user.email, "password_changed", user.locale, user=user)


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def _password_fingerprint(user: User) -> str:
    # Part of the token: once the password changes, every earlier link stops working.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def password_reset_token(user: User) -> str:
    return _reset_serializer().dumps({"uid": user.id, "fp": _password_fingerprint(user)})


def request_password_reset(email: str) -> None:
    """Email a reset link if the account exists; say nothing either way."""
    user = find_user_by_email(email)
    if user is None or not user.is_active:
        return
    mail.queue_mail(user.email, "password_reset", user.locale, user=user,
                    token=password_reset_token(user),
                    max_age_minutes=current_app.config["PORTAL"]["PASSWORD_RESET_MAX_AGE"] // 60)
    audit("auth.reset_requested", target_type="user", target_id=user.id)


def user_for_reset_token(token: str) -> User | None:
    """The user a reset link is for, if it is genuine, unused and not expired."""
    max_age = current_app.config["PORTAL"]["PASSWORD_RESET_MAX_AGE"]
    try:
        data = _reset_serializer().loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict):
        return None
    user = db.session.get(User, data.get("uid"))
    if user is None or not user.is_active or data.get("fp") != _password_fingerprint(user):
        return None
    return user


def reset_password(token: str, new_password: str) -> User:
    """Set a new password from a reset link; the link then stops working."""
    user = user_for_reset_token(token)
    if user is None:
        raise AccountError("invalid_token")
    set_password(user, new_password)
    end_all_sessions(user)
    audit("auth.password_reset", actor=user, target_type="user", target_id=user.id)
    mail.queue_mail(user.email, "password_changed", user.locale, user=user)
    return user


def update_preferences(user: User, display_name: str, locale: str) -> None:
    user.display_name = display_name.strip()
    if locale in LANGUAGES:
        user.locale = locale
