"""The second factor of staff accounts: time-based codes (TOTP, RFC 6238) from an
authenticator app, and single-use recovery codes.

Optional for every member of staff, required for all of them when
``PORTAL_STAFF_SECOND_FACTOR_REQUIRED`` is set. Where it is on or required, the staff
areas open only to a session that gave it (``UserSession.second_factor_at``): a password
alone reaches the citizen's pages and the enrolment page, nothing more.

The secret is kept encrypted with a key derived from the app's secret key, so a copy of
the database alone does not give the codes. A code is accepted once (the time step it
belongs to is remembered), within one step of the clock either way. Recovery codes are
random, shown once, kept as hashes and each used once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from io import BytesIO

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from markupsafe import Markup

from portal import clock
from portal.accounts.service import end_all_sessions, session_record
from portal.audit import audit
from portal.extensions import db
from portal.models import User
from portal.security import second_factor_missing

RECOVERY_CODES = 10
# Crockford-like: no 0/O, 1/I/L to mistake when written down.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"


class SecondFactorError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"totp-secret:" + current_app.secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _secret_of(user: User) -> str:
    # None: the app's secret key changed, and the codes cannot be checked; an
    # administrator resets the second factor.
    return unseal(user.totp_secret) or ""


def is_on(user: User) -> bool:
    return user.totp_enabled_at is not None


def is_required(user: User) -> bool:
    return user.is_staff and current_app.config["PORTAL"]["STAFF_SECOND_FACTOR_REQUIRED"]


def needed_for_staff_areas(user: User) -> bool:
    """Whether this signed-in person's session must still give the second factor."""
    return second_factor_missing(user)


def new_secret() -> str:
    return pyotp.random_base32()


def seal(secret: str) -> str:
    """The secret as the session cookie may carry it while the person enrols (the cookie
    is signed, not encrypted)."""
    return _fernet().encrypt(secret.encode()).decode()


def unseal(sealed: str | None) -> str | None:
    try:
        return _fernet().decrypt(sealed.encode()).decode() if sealed else None
    except (InvalidToken, ValueError):
        return None


def provisioning_uri(user: User, secret: str) -> str:
    issuer = current_app.config["PORTAL"]["SITE_NAME"]
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def qr_code_svg(uri: str, label: str) -> Markup:
    """The enrolment QR code as inline SVG, drawn here (the secret never leaves)."""
    output = BytesIO()
    segno.make(uri, error="m").save(output, kind="svg", scale=5, border=2, xmldecl=False,
                                    svgns=True, title=label, nl=False)
    svg = output.getvalue().decode().replace(
        "<svg ", f'<svg role="img" aria-label="{Markup.escape(label)}" ', 1)
    return Markup(svg)  # noqa: S704 - segno's own markup; the label escaped  # nosec B704


def grouped(secret: str) -> str:
    """The secret in groups of four, to type into an app by hand."""
    return " ".join(secret[index:index + 4] for index in range(0, len(secret), 4))


def _clean(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def _check_code(secret: str, code: str, after_step: int) -> int | None:
    """The time step ``code`` belongs to, if it is right and newer than ``after_step``."""
    code = _clean(code)
    if not secret or len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = totp.timecode(clock.now())
    for step in (now_step - 1, now_step, now_step + 1):
        if step > after_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _hash(code: str) -> str:
    return hashlib.sha256(_clean(code).encode()).hexdigest()


def _new_recovery_codes() -> list[str]:
    codes = ["".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
             for _ in range(RECOVERY_CODES)]
    return [f"{code[:4]}-{code[4:]}" for code in codes]


def turn_on(user: User, secret: str, code: str) -> list[str]:
    """Keep ``secret`` once a code from it proves the app has it; the recovery codes.

    The session that did it has given the second factor; every other session of the
    person ends (it had the password only)."""
    step = _check_code(secret, code, 0)
    if step is None:
        raise SecondFactorError("wrong_code")
    codes = _new_recovery_codes()
    user.totp_secret = seal(secret)
    user.totp_enabled_at = clock.now()
    user.totp_last_step = step
    user.recovery_code_hashes = [_hash(item) for item in codes]
    _end_other_sessions(user)
    _mark_session(user)
    audit("auth.second_factor_on", actor=user, target_type="user", target_id=user.id)
    return codes


def new_recovery_codes(user: User) -> list[str]:
    codes = _new_recovery_codes()
    user.recovery_code_hashes = [_hash(item) for item in codes]
    audit("auth.recovery_codes_renewed", actor=user, target_type="user", target_id=user.id)
    return codes


def verify(user: User, code: str) -> bool:
    """A code from the app, or an unused recovery code (then used up)."""
    step = _check_code(_secret_of(user), code, user.totp_last_step or 0)
    if step is not None:
        user.totp_last_step = step
        return True
    hashed = _hash(code)
    remaining = list(user.recovery_code_hashes or [])
    for item in remaining:
        if hmac.compare_digest(item, hashed):
            remaining.remove(item)
            user.recovery_code_hashes = remaining
            audit("auth.recovery_code_used", actor=user, target_type="user",
                  target_id=user.id, left=len(remaining))
            return True
    audit("auth.second_factor_failed", target_type="user", target_id=user.id)
    return False


def turn_off(user: User, code: str) -> None:
    """The person turns it off, with a current code (not where it is required)."""
    if is_required(user):
        raise SecondFactorError("required")
    if not verify(user, code):
        raise SecondFactorError("wrong_code")
    _clear(user)
    audit("auth.second_factor_off", actor=user, target_type="user", target_id=user.id)


def reset(actor: User, user: User) -> None:
    """An administrator clears someone's second factor (a lost phone): every session of
    theirs ends, and they enrol again after signing in with their password."""
    _clear(user)
    end_all_sessions(user)
    audit("admin.second_factor_reset", actor=actor, target_type="user", target_id=user.id)


def _clear(user: User) -> None:
    user.totp_secret = ""  # cleared, not a password  # nosec B105
    user.totp_enabled_at = None
    user.totp_last_step = 0
    user.recovery_code_hashes = []


def _end_other_sessions(user: User) -> None:
    end_all_sessions(user, keep_token=user.session_token)


def _mark_session(user: User) -> None:
    record = session_record(user.session_token) if user.session_token else None
    if record is not None:
        record.second_factor_at = clock.now()
        user.session_second_factor = True
        db.session.add(record)

