"""Accounts: registration, sign-in sessions, passwords and staff accounts.

Service functions take explicit arguments, never the request; the views, the CLI and
the tests all call them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select, update

from portal import clock, mail
from portal.accounts import throttle
from portal.audit import audit
from portal.config import LANGUAGES
from portal.extensions import db
from portal.models import AuditEvent, Department, Role, User, UserSession
from portal.security import MIN_PASSWORD_LENGTH, hash_password, verify_password


class AccountError(Exception):
    """A domain error the user can act on; ``field`` names the form field at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SignInLocked(AccountError):
    """Too many failed sign-ins to this address: every attempt is refused until ``until``."""

    def __init__(self, until: datetime) -> None:
        super().__init__("locked", field="email")
        self.until = until


class EmailNotConfirmed(AccountError):
    """The password is right, but the account's address was never confirmed."""

    def __init__(self, user: User) -> None:
        super().__init__("not_confirmed", field="email")
        self.user = user


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def _check_password(password: str) -> None:
    # Length only: composition rules make passwords weaker, not stronger (NIST 800-63B).
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("too_short", field="password")


def create_user(email: str, password: str, display_name: str, role: Role = Role.CITIZEN,
                locale: str = "es", departments: list[Department] | None = None,
                verified: bool = True) -> User:
    """Create an account. Raises ``AccountError('taken')`` if the email is in use.

    Accounts made by the CLI, staff and tests count their address as confirmed; only
    self-registration (``verified=False``) waits for the link sent to it.
    """
    _check_password(password)
    if find_user_by_email(email) is not None:
        raise AccountError("taken", field="email")
    return _add_user(email, hash_password(password), display_name, role, locale,
                     departments, verified)


def _add_user(email: str, password_hash: str, display_name: str, role: Role, locale: str,
              departments: list[Department] | None, verified: bool) -> User:
    user = User(
        email=normalise_email(email),
        display_name=display_name.strip(),
        password_hash=password_hash,
        role=role,
        locale=locale if locale in LANGUAGES else "es",
        departments=list(departments or []),
        password_changed_at=clock.now(),
        email_verified_at=clock.now() if verified else None,
    )
    db.session.add(user)
    db.session.flush()
    audit("user.created", target_type="user", target_id=user.id, role=role.value)
    return user


def register_citizen(email: str, password: str, display_name: str, locale: str) -> None:
    """A citizen asks for an account; what happens next is told by email only.

    A new address gets an account that waits for its confirmation link. An address whose
    account was never confirmed is not an account yet: it takes these details and gets a
    new link (earlier links stop working). An address with a confirmed account is left
    alone, and its owner is told someone tried. Every path hashes the password and
    writes one email, so neither the page nor its timing tells them apart.
    """
    _check_password(password)
    locale = locale if locale in LANGUAGES else "es"
    password_hash = hash_password(password)
    user = find_user_by_email(email)
    if user is None:
        user = _add_user(email, password_hash, display_name, Role.CITIZEN, locale, None,
                         verified=False)
    elif user.email_verified_at is None:
        user.display_name = display_name.strip()
        user.locale = locale
        user.password_hash = password_hash
        user.password_changed_at = clock.now()
        audit("user.registration_renewed", target_type="user", target_id=user.id)
    else:
        audit("user.registration_existing", target_type="user", target_id=user.id)
        mail.queue_mail(user.email, "register_existing", user.locale, user=user)
        return
    send_confirmation(user)


def authenticate(email: str, password: str) -> User | None:
    """The user with these credentials, or None (same answer for unknown email).

    Raises ``SignInLocked`` while the address is locked after too many failures, with or
    without an account, and ``EmailNotConfirmed`` for the right password of an account
    whose address was never confirmed.
    """
    address = normalise_email(email)
    attempt = throttle.start_attempt(address)
    if attempt.locked_until is not None:
        raise SignInLocked(attempt.locked_until)
    user = find_user_by_email(address)
    if user is None:
        # Spend the same time as a real check, so timing does not reveal accounts.
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(user.password_hash, password) or not user.is_active:
        audit("auth.failed", target_type="user", target_id=user.id)
        if attempt.locks_if_wrong and user.is_active:
            _tell_owner_of_lock(user, attempt)
        return None
    throttle.clear(address)
    if user.email_verified_at is None:
        raise EmailNotConfirmed(user)
    return user


def _tell_owner_of_lock(user: User, attempt: throttle.Attempt) -> None:
    audit("auth.locked", target_type="user", target_id=user.id)
    if throttle.claim_notice(attempt):
        mail.queue_mail(user.email, "sign_in_locked", user.locale, user=user)


_DUMMY_HASH: dict[str, str] = {}


def _dummy_hash() -> str:
    settings = current_app.config["PORTAL"]
    key = f"{settings['ARGON2_TIME_COST']}:{settings['ARGON2_MEMORY_COST']}"
    if key not in _DUMMY_HASH:
        _DUMMY_HASH[key] = hash_password(secrets.token_hex(16))
    return _DUMMY_HASH[key]


def _user_for_link(serializer: URLSafeTimedSerializer, token: str,
                   max_age: int) -> User | None:
    """The active account an emailed link is for, if the link is genuine, not expired and
    signed with the account's current password (so a new password retires it)."""
    try:
        data = serializer.loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict):
        return None
    user = db.session.get(User, data.get("uid"))
    if user is None or not user.is_active or data.get("fp") != _password_fingerprint(user):
        return None
    return user


def _unconfirmed(user: User | None) -> User | None:
    return user if user is not None and user.email_verified_at is None else None


# ---------------------------------------------------------------- confirming addresses

def _confirm_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="confirm-email")


def email_confirmation_token(user: User) -> str:
    # The password fingerprint retires the links of earlier registrations of the address.
    return _confirm_serializer().dumps({"uid": user.id, "fp": _password_fingerprint(user)})


def send_confirmation(user: User) -> None:
    """Email ``user`` the link that confirms their address and opens the account."""
    max_age = current_app.config["PORTAL"]["EMAIL_CONFIRM_MAX_AGE"]
    mail.queue_mail(user.email, "confirm_email", user.locale, user=user,
                    token=email_confirmation_token(user),
                    expires_at=clock.now() + timedelta(seconds=max_age))
    audit("user.confirmation_sent", target_type="user", target_id=user.id)


def user_for_confirmation_token(token: str) -> User | None:
    """The unconfirmed account a confirmation link is for, if it is genuine and current."""
    return _unconfirmed(_user_for_link(_confirm_serializer(), token,
                                       current_app.config["PORTAL"]["EMAIL_CONFIRM_MAX_AGE"]))


def confirm_email(token: str, password: str) -> User:
    """Confirm an address from its link; the password proves who registered.

    Asking for the password means that a mail scanner following the link confirms
    nothing, and that someone who registered another person's address with a password
    of their own cannot have that person confirm it for them.
    """
    user = user_for_confirmation_token(token)
    if user is None:
        raise AccountError("invalid_token")
    if not verify_password(user.password_hash, password):
        raise AccountError("wrong_password", field="password")
    user.email_verified_at = clock.now()
    audit("user.email_confirmed", actor=user, target_type="user", target_id=user.id)
    mail.queue_mail(user.email, "welcome", user.locale, user=user)
    return user


def resend_confirmation(user_id: int) -> None:
    """A new confirmation link for an account still waiting for one."""
    user = db.session.get(User, user_id)
    if user is not None and user.is_active and user.email_verified_at is None:
        send_confirmation(user)


# ---------------------------------------------------------------- staff invitations

def _invitation_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="staff-invitation")


def invite_staff(email: str, display_name: str, role: Role, locale: str,
                 departments: list[Department]) -> User:
    """An account for a member of staff, who chooses its password from an emailed link.

    Until then the account has a random password nobody knows, and no confirmed
    address, so it cannot be signed in to. ``AccountError('taken')`` if the address
    already has an account.
    """
    if find_user_by_email(email) is not None:
        raise AccountError("taken", field="email")
    user = _add_user(email, hash_password(secrets.token_urlsafe(32)), display_name, role,
                     locale, departments, verified=False)
    send_invitation(user)
    return user


def send_invitation(user: User) -> None:
    """Email (again) the link with which an invited member of staff opens the account.

    A new link retires the earlier ones: the random password changes with it.
    """
    user.password_hash = hash_password(secrets.token_urlsafe(32))
    max_age = current_app.config["PORTAL"]["EMAIL_CONFIRM_MAX_AGE"]
    token = _invitation_serializer().dumps({"uid": user.id, "fp": _password_fingerprint(user)})
    mail.queue_mail(user.email, "staff_invitation", user.locale, user=user, token=token,
                    expires_at=clock.now() + timedelta(seconds=max_age))
    audit("user.invitation_sent", target_type="user", target_id=user.id)


def user_for_invitation_token(token: str) -> User | None:
    """The invited account a link is for, if the link is genuine, the newest and unused."""
    return _unconfirmed(_user_for_link(_invitation_serializer(), token,
                                       current_app.config["PORTAL"]["EMAIL_CONFIRM_MAX_AGE"]))


def accept_invitation(token: str, password: str) -> User:
    """Set the invited account's password: its address is then confirmed, the link used."""
    user = user_for_invitation_token(token)
    if user is None:
        raise AccountError("invalid_token")
    set_password(user, password)
    user.email_verified_at = clock.now()
    audit("user.invitation_accepted", actor=user, target_type="user", target_id=user.id)
    return user


# ---------------------------------------------------------------- sessions

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User, second_factor: bool = False) -> str:
    """Open a server-side session for ``user`` and return its raw token (for the cookie);
    ``second_factor``: the person gave it too (portal/accounts/second_factor.py)."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    lifetime = timedelta(days=current_app.config["PORTAL"]["SESSION_LIFETIME_DAYS"])
    db.session.add(UserSession(user_id=user.id, token_hash=_token_hash(token),
                               created_at=now, last_seen_at=now, expires_at=now + lifetime,
                               second_factor_at=now if second_factor else None))
    user.last_login_at = now
    user.session_token = token
    user.session_second_factor = second_factor
    audit("auth.signed_in", actor=user, target_type="user", target_id=user.id,
          second_factor=second_factor)
    return token


def session_record(token: str) -> UserSession | None:
    return db.session.scalar(
        select(UserSession).where(UserSession.token_hash == _token_hash(token)))


# A staff session's last request is written at most this often (one write a minute, not
# one per request), which is as exact as the idle timeout needs.
SEEN_PRECISION = timedelta(minutes=1)


class IdleSignOut(Exception):
    """A staff session ended by the idle timeout (the sign-in page says so)."""


def load_session(token: str) -> User | None:
    """The user of a live session token, or None if it was revoked or has expired.

    A staff session also ends after ``STAFF_IDLE_MINUTES`` without a request
    (``IdleSignOut``): a staff screen left open at a counter must not stay signed in.
    """
    if not token:
        return None
    record = session_record(token)
    now = clock.now()
    if record is None or record.revoked_at is not None or record.expires_at <= now:
        return None
    user = record.user
    if not user.is_active:
        return None
    if user.is_staff:
        idle = timedelta(minutes=current_app.config["PORTAL"]["STAFF_IDLE_MINUTES"])
        if now - record.last_seen_at > idle:
            record.revoked_at = now
            audit("auth.idle_signed_out", target_type="user", target_id=user.id)
            db.session.commit()
            raise IdleSignOut
        if now - record.last_seen_at >= SEEN_PRECISION:
            record.last_seen_at = now
            db.session.commit()
    user.session_token = token
    user.session_second_factor = record.second_factor_at is not None
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


# What the person sees of their own sign-ins on /account (audit entries about them).
SIGN_IN_ACTIONS = ("auth.signed_in", "auth.failed", "auth.locked", "auth.second_factor_failed",
                   "auth.idle_signed_out", "auth.password_changed", "auth.password_reset")


def sign_in_history(user: User, limit: int = 10) -> list[AuditEvent]:
    """The latest sign-ins, failed attempts and password changes of ``user``, newest
    first, with the address each came from (so that one that was not them shows)."""
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.target_type == "user",
                                 AuditEvent.target_id == str(user.id),
                                 AuditEvent.action.in_(SIGN_IN_ACTIONS))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)))


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


def request_password_reset(email: str, locale: str) -> None:
    """Email a reset link, or (no active account) say so to the address in ``locale``.

    Both paths write one email and one audit record, so the answer and its timing are
    the same whether or not the account exists.
    """
    user = find_user_by_email(email)
    if user is None or not user.is_active:
        mail.queue_mail(normalise_email(email), "reset_no_account", locale)
        audit("auth.reset_requested", target_type="user")
        return
    mail.queue_mail(user.email, "password_reset", user.locale, user=user,
                    token=password_reset_token(user),
                    max_age_minutes=current_app.config["PORTAL"]["PASSWORD_RESET_MAX_AGE"] // 60)
    audit("auth.reset_requested", target_type="user", target_id=user.id)


def user_for_reset_token(token: str) -> User | None:
    """The user a reset link is for, if it is genuine, unused and not expired."""
    return _user_for_link(_reset_serializer(), token,
                          current_app.config["PORTAL"]["PASSWORD_RESET_MAX_AGE"])


def reset_password(token: str, new_password: str) -> User:
    """Set a new password from a reset link; the link then stops working."""
    user = user_for_reset_token(token)
    if user is None:
        raise AccountError("invalid_token")
    set_password(user, new_password)
    end_all_sessions(user)
    # The link reached the address: it is confirmed, and any sign-in lock on it ends.
    if user.email_verified_at is None:
        user.email_verified_at = clock.now()
    throttle.clear(user.email)
    audit("auth.password_reset", actor=user, target_type="user", target_id=user.id)
    mail.queue_mail(user.email, "password_changed", user.locale, user=user)
    return user


def update_preferences(user: User, display_name: str, locale: str) -> None:
    user.display_name = display_name.strip()
    if locale in LANGUAGES:
        user.locale = locale
