"""Passwords, redirects after sign-in, role gates and security headers."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Blueprint, Flask, abort, current_app, redirect, request, url_for
from flask_login import current_user

from portal.forms import fields_refusing_control_characters
from portal.models import Role

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256  # long passphrases are welcome; megabytes are not


def _hasher() -> PasswordHasher:
    settings = current_app.config["PORTAL"]
    return PasswordHasher(time_cost=settings["ARGON2_TIME_COST"],
                          memory_cost=settings["ARGON2_MEMORY_COST"])


def hash_password(password: str) -> str:
    """Hash with Argon2id."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def safe_next_url(target: str | None, fallback: str = "/") -> str:
    """Return ``target`` if it is a path on this site, else ``fallback``.

    Rejects anything with a scheme or host, protocol-relative ``//host`` and the
    ``/\\host`` form that browsers treat as ``//host``, and control characters.
    """
    if not target or not target.startswith("/"):
        return fallback
    if target.startswith("//") or target.startswith("/\\"):
        return fallback
    if any(ord(char) < 32 or char == "\\" for char in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


def role_required(role: Role) -> Callable:
    """Decorator for a single view that needs at least ``role``."""
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            gate = _check_role(role)
            return gate if gate is not None else view(*args, **kwargs)
        return wrapped
    return decorator


def guard_blueprint(bp: Blueprint, role: Role) -> None:
    """Deny by default: every view of ``bp`` needs at least ``role``."""
    bp.before_request(lambda: _check_role(role))


def _check_role(role: Role):
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    if not current_user.has_role(role):
        abort(403)
    return None


# No inline scripts or styles, no third-party origins.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_user and current_user.is_authenticated:
        # Pages of a signed-in person must not be kept by shared caches or the back button.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _refuse_nul_bytes():
    """400 for a NUL byte in anything the app reads, before it can reach the database.

    PostgreSQL cannot store or even compare text with NUL in it (psycopg raises
    DataError, a 500). Nobody types one, so a NUL byte in the path, the query, a header
    or a hidden or chosen form value is refused outright. In a text field that checks
    for control characters the form says so next to the field instead, keeping what
    was typed (``portal.forms.fields_refusing_control_characters``).
    """
    if "\x00" in request.path:
        abort(400)
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            abort(400)
    # The values of headers we do not use are refused too: HTTP forbids NUL in all of
    # them, and a header someone starts to store later is then already safe.
    for name, value in request.headers.items():
        if "\x00" in name or "\x00" in value:
            abort(400)
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return None
    checked = fields_refusing_control_characters()
    for name, value in request.form.items(multi=True):
        if "\x00" in name or ("\x00" in value and name not in checked):
            abort(400)
    for name in request.files:
        if "\x00" in name:
            abort(400)
    return None


def register(app: Flask) -> None:
    app.before_request(_refuse_nul_bytes)
    app.after_request(_security_headers)
    app.context_processor(lambda: {"Role": Role})
