"""Pieces shared by the forms of every feature."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, ValidationError
from wtforms.validators import DataRequired, Email, Length

# C0/C1 control characters except tab, newline and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def no_control_characters(form, field) -> None:
    """Refuse text with control characters (they break mail and exports)."""
    if field.data and _CONTROL.search(field.data):
        raise ValidationError(_l("Remove the special characters from this text."))


def strip_text(value):
    """WTForms filter: trim surrounding spaces from text input."""
    return value.strip() if isinstance(value, str) else value


def email_field(label=None) -> EmailField:
    """A required email address field with our messages."""
    return EmailField(
        label or _l("Email address"),
        filters=[strip_text],
        validators=[
            DataRequired(message=_l("Enter your email address.")),
            Length(max=254, message=_l("The email address must be 254 characters or fewer.")),
            Email(message=_l("Enter an email address in the right format, like "
                             "name@example.com."), check_deliverability=False),
        ],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )
