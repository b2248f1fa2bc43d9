"""Pieces shared by the forms of every feature."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from wtforms import ValidationError

# C0/C1 control characters except tab, newline and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def no_control_characters(form, field) -> None:
    """Refuse text with control characters (they break mail and exports)."""
    if field.data and _CONTROL.search(field.data):
        raise ValidationError(_l("Remove the special characters from this text."))


def strip_text(value):
    """WTForms filter: trim surrounding spaces from text input."""
    return value.strip() if isinstance(value, str) else value
