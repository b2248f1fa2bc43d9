"""Passwords, redirects after sign-in, role gates and security headers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Blueprint, Flask, abort, current_app, redirect, request, url_for
from flask_login import current_user, login_required

from portal import clock
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


# ---------------------------------------------------------------- who may open a route
#
# Every endpoint says who may open it, in one of three ways, and a test walks the URL
# map to check that none is left without (tests/security/test_route_guard.py):
#
# - its blueprint is behind a role: ``guard_blueprint(bp, Role.AGENT)``;
# - its view is: ``@role_required(Role.MANAGER)``, or ``@signed_in`` (anyone signed in);
# - its view is ``@public``: anyone may open it. ``@public(personal=True)`` for a page
#   that anyone may reach but that shows someone's data once the view has checked the
#   grant or token it needs (a guest's case): it is never kept by a cache.

GUARDED_BLUEPRINTS: dict[str, Role] = {}
_ACCESS = "portal_access"  # on a view: a Role, or "public" / "personal"


def role_required(role: Role) -> Callable:
    """Decorator for a single view that needs at least ``role``."""
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            gate = _check_role(role)
            return gate if gate is not None else view(*args, **kwargs)
        setattr(wrapped, _ACCESS, role)
        return wrapped
    return decorator


def signed_in(view: Callable) -> Callable:
    """Decorator for a view anyone signed in may open (Flask-Login's ``login_required``)."""
    wrapped = login_required(view)
    setattr(wrapped, _ACCESS, Role.CITIZEN)
    return wrapped


def public(view: Callable | None = None, *, personal: bool = False):
    """Decorator for a view anyone may open; ``personal``: it shows a person's data to
    whoever holds the grant or token the view checks, so it is never cached."""
    def mark(function: Callable) -> Callable:
        setattr(function, _ACCESS, "personal" if personal else "public")
        return function
    return mark(view) if view is not None else mark


def guard_blueprint(bp: Blueprint, role: Role) -> None:
    """Deny by default: every view of ``bp`` needs at least ``role``."""
    GUARDED_BLUEPRINTS[bp.name] = role
    bp.before_request(lambda: _check_role(role))


def access_of(app: Flask, endpoint: str) -> Role | str | None:
    """Who may open ``endpoint``: the Role it needs, "public", "personal", or None when
    nothing says (a route the guard test refuses)."""
    blueprint = endpoint.rpartition(".")[0]
    if blueprint in GUARDED_BLUEPRINTS:
        return GUARDED_BLUEPRINTS[blueprint]
    view = app.view_functions.get(endpoint)
    return getattr(view, _ACCESS, None)


def second_factor_missing(user) -> bool:
    """A member of staff whose second factor is on or required, in a session that has
    not given it (portal/accounts/second_factor.py): the staff areas stay closed."""
    required = current_app.config["PORTAL"]["STAFF_SECOND_FACTOR_REQUIRED"]
    return user.is_staff and (required or user.totp_enabled_at is not None) and \
        not user.session_second_factor


def _check_role(role: Role):
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    if not current_user.has_role(role):
        abort(403)
    if role.at_least(Role.AGENT) and second_factor_missing(current_user):
        return redirect(url_for("accounts.second_factor_setup"))
    return None


# No inline scripts or styles, no third-party origins, no <base>, no plugins, no frames.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
# Production (HTTPS, PORTAL_SESSION_COOKIE_SECURE): browsers remember to use it, for two
# years, and preload lists may include the site.
STRICT_TRANSPORT_SECURITY = "max-age=63072000; includeSubDomains"


def _may_be_kept() -> bool:
    """Whether a cache may keep this response: a public page, for an anonymous visitor.

    Deny by default: everything else, and every page of a signed-in person, may show
    someone's data, so it is ``no-store`` (no shared cache, no back-button copy).
    """
    endpoint = request.endpoint
    if endpoint == "static":  # the same for everyone; Flask sets how long
        return True
    if current_user and current_user.is_authenticated:
        return False
    return endpoint is not None and access_of(current_app, endpoint) == "public"


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    if not _may_be_kept():
        response.headers["Cache-Control"] = "no-store"
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
    app.context_processor(lambda: {"Role": Role, "staff_idle_until": _staff_idle_until})


def _staff_idle_until():
    """When a staff session ends if no other request comes (the page says so)."""
    minutes = current_app.config["PORTAL"]["STAFF_IDLE_MINUTES"]
    return clock.now() + timedelta(minutes=minutes)
