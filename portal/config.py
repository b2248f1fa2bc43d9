"""Configuration: defaults, then ``PORTAL_*`` environment variables, then a test mapping.

Unknown keys are rejected so that a typo in a deployment (``PORTAL_MAIL_SEVER``) fails
loudly at start-up instead of silently using a default.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "PORTAL_"

# Environment variables that start with the prefix but are not settings of the app.
NOT_SETTINGS = frozenset({"PORTAL_TEST_DATABASE_URL", "PORTAL_TEST_REDIS_URL",
                          "PORTAL_NEW_PASSWORD"})

DEFAULTS: dict[str, Any] = {
    "INSTANCE_PATH": "instance",
    "DATABASE_URL": "",  # empty: SQLite in the instance folder
    "SECRET_KEY": "",  # empty: generated on first run and kept in the instance folder
    "SEARCH_BACKEND": "whoosh",
    # Result pages each process keeps for the current state of the search index.
    "SEARCH_RESULTS_CACHE": 1000,
    "REDIS_URL": "",
    # The RQ queue the jobs go to when REDIS_URL is set (also the prefix of the workers'
    # keys in Redis), so that deployments can share one server.
    "JOBS_QUEUE": "ventanilla",
    "MAIL_SERVER": "",  # empty: write each message as an .eml file to instance/outbox/
    "MAIL_PORT": 587,
    "MAIL_USE_TLS": True,
    "MAIL_USERNAME": "",
    "MAIL_PASSWORD": "",
    "MAIL_SENDER": "Ventanilla <no-reply@ventanilla.example>",
    # Who runs this deployment. All but TIMEZONE are the defaults of what an administrator
    # saves at /manage/admin/deployment: read them through portal.deployment, not here.
    "SITE_NAME": "Ventanilla",
    "TIMEZONE": "Europe/Madrid",
    "ORGANISATION_NAME": "Ayuntamiento de Ejemplo",
    "CONTACT_EMAIL": "atencion@ventanilla.example",
    "CONTACT_PHONE": "010",
    "CONTACT_ADDRESS": "Plaza Mayor 1, 00000 Ejemplo",
    "DPO_EMAIL": "dpd@ventanilla.example",
    "BASE_URL": "http://127.0.0.1:5000",
    "SESSION_COOKIE_SECURE": False,
    "SESSION_LIFETIME_DAYS": 14,
    # Staff: a second factor (an authenticator app's codes) for every staff account when
    # set, optional otherwise; and how long a staff session lasts without a request.
    "STAFF_SECOND_FACTOR_REQUIRED": False,
    "STAFF_IDLE_MINUTES": 30,
    "PASSWORD_RESET_MAX_AGE": 3600,  # seconds
    # How long the link that confirms the address of a new account works (seconds).
    "EMAIL_CONFIRM_MAX_AGE": 86400,
    # Failed sign-ins to one email address, from any network address: after this many
    # within the window, signing in with it pauses for the lock time, doubled at each
    # further lock up to the maximum. A password reset ends the pause at once.
    "SIGN_IN_MAX_FAILURES": 5,
    "SIGN_IN_WINDOW_SECONDS": 900,
    "SIGN_IN_LOCK_SECONDS": 60,
    "SIGN_IN_LOCK_MAX_SECONDS": 3600,
    "RATELIMIT_ENABLED": True,
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted (0: none,
    # the client's own address counts). Behind one TLS-terminating nginx, 1; without this
    # every citizen would share the proxy's address, and its rate limits.
    "PROXY_HOPS": 0,
    # Prepended to the rate-limit keys, so that deployments can share one Redis.
    "RATELIMIT_KEY_PREFIX": "ventanilla",
    "WTF_CSRF_ENABLED": True,
    "TESTING": False,
    "DEBUG": False,
    "MAX_CONTENT_LENGTH": 26 * 1024 * 1024,
    # Form text held in memory while a request is parsed: each text field of a multipart
    # form, and the whole of a urlencoded one (portal/request_limits.py). The longest
    # text we take is a 50,000-character knowledge-base article: percent-encoded UTF-8
    # needs at most 12 bytes a character (600 KB), some 300 KB in our languages; a
    # 10,000-character case with all its other fields needs at most 160 KB.
    "MAX_FORM_MEMORY_SIZE": 1024 * 1024,
    # Fields in one form, files included. Our longest (a case recorded by staff, with
    # five files) has about 30; 500 leaves room for a checkbox per department, and
    # costs nothing to parse. Unlimited, 2.4 million fields took seconds of CPU a post.
    "MAX_FORM_PARTS": 500,
    # Attachments: at most this many files per message, this size each and per case.
    "UPLOAD_MAX_FILES": 5,
    "UPLOAD_MAX_FILE_BYTES": 10 * 1024 * 1024,
    "UPLOAD_MAX_CASE_BYTES": 25 * 1024 * 1024,
    # Where uploaded files are kept (portal/file_stores.py); empty: uploads/ in the
    # instance folder. With several app servers, a folder all of them and the worker
    # mount. A relative path is taken from the instance folder.
    "UPLOAD_PATH": "",
    # Checked files of a form sent back with an error are held this long for its resend.
    "UPLOAD_KEEP_HOURS": 6,
    # The local socket of a ClamAV daemon (clamd): attachments are served only once it
    # has found them clean (portal/scanning.py). Empty: no virus scanning.
    "CLAMD_SOCKET": "",
    # How long the link in a case email opens the case page (a new one: /track).
    "CASE_LINK_MAX_AGE_DAYS": 180,
    # A citizen may say "this did not solve it" this many days after the answer.
    "REOPEN_DAYS": 30,
    # Targets for cases whose citizen did not know the department (triage).
    "TRIAGE_FIRST_RESPONSE_DAYS": 2,
    "TRIAGE_RESOLUTION_DAYS": 10,
    # The ideas board. New ideas wait for a moderator before they show (pre-moderation),
    # or show at once; either way they enter the moderation queue.
    "IDEAS_PREMODERATION": False,
    # Every idea gets a public answer within this many working days (the SLA calendar),
    # counted from the day it reaches IDEAS_ANSWER_THRESHOLD supports (0: from the day
    # it is proposed).
    "IDEAS_ANSWER_DAYS": 20,
    "IDEAS_ANSWER_THRESHOLD": 0,
    # An idea or comment flagged by this many people is hidden until a moderator looks.
    "IDEAS_FLAGS_TO_HIDE": 3,
    # Public statistics (/stats): a department with fewer cases than this in a month
    # shows "too few to compare" instead of a rate; the figures are recomputed when
    # older than STATS_REFRESH_MINUTES (or by ``flask portal stats refresh``).
    "STATS_MIN_CASES": 10,
    "STATS_REFRESH_MINUTES": 60,
    # Audit entries older than this many days are deleted by ``flask portal audit purge``
    # (a daily timer); the log cannot be changed or deleted otherwise.
    "AUDIT_RETENTION_DAYS": 730,
    # Retention (``flask portal retention``, a daily timer): this many months after a
    # case is closed its personal data is anonymised and its files deleted, per kind of
    # case; sent mail is purged from the outbox after OUTBOX_RETENTION_DAYS.
    "RETENTION_MONTHS_QUESTION": 24,
    "RETENTION_MONTHS_COMPLAINT": 60,
    "OUTBOX_RETENTION_DAYS": 90,
    "ARGON2_TIME_COST": 3,
    "ARGON2_MEMORY_COST": 65536,  # KiB
}

LANGUAGES = ("es", "en", "ca", "eu", "gl")
DEFAULT_LANGUAGE = "es"


class ConfigError(ValueError):
    """A setting is unknown or cannot be read as the type of its default."""


def _coerce(key: str, raw: str) -> Any:
    default = DEFAULTS[key]
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{ENV_PREFIX}{key} must be true or false, not {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{key} must be a whole number, not {raw!r}") from None
    return raw


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Settings given as ``PORTAL_*`` variables, typed like their defaults."""
    settings = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NOT_SETTINGS:
            continue
        key = name[len(ENV_PREFIX):]
        if key not in DEFAULTS:
            raise ConfigError(f"Unknown setting {name}")
        settings[key] = _coerce(key, raw)
    return settings


def load(overrides: Mapping[str, Any] | None = None,
         environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Merge defaults, environment and overrides; reject unknown keys."""
    settings = dict(DEFAULTS)
    settings.update(from_environment(os.environ if environ is None else environ))
    for key, value in (overrides or {}).items():
        if key not in DEFAULTS:
            raise ConfigError(f"Unknown setting {key}")
        settings[key] = value
    return settings


def instance_secret_key(instance_path: Path) -> str:
    """Read the instance's secret key, creating it (mode 0600) on first run."""
    path = instance_path / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    # O_EXCL: two workers starting together must not overwrite each other's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
