"""Pieces shared by the forms of every feature."""

from __future__ import annotations

import re
from functools import cache

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField, TextAreaField
from wtforms.fields.core import UnboundField
from wtforms.validators import DataRequired, Email, Length, StopValidation

# C0/C1 control characters except tab, newline and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def no_control_characters(form, field) -> None:
    """Refuse text with control characters (they break mail, exports and the database).

    Validation of the field stops here: the checks after it (an email address's format,
    a phone number's) would only repeat that the text is wrong.
    """
    if isinstance(field.data, str) and _CONTROL.search(field.data):
        raise StopValidation(_l("Remove the special characters from this text."))


@cache
def fields_refusing_control_characters() -> frozenset[str]:
    """Names of the form fields that answer a control character with a field error.

    A name counts only if every form with a field of that name checks it with
    ``no_control_characters``: the request check in ``portal.security`` lets a NUL byte
    through to these fields (the person sees what they typed, and why it is refused)
    and answers 400 for it anywhere else. Forms defined after the first call are not
    seen, so their fields get the 400: the safe side.
    """
    checked: set[str] = set()
    unchecked: set[str] = set()
    pending = [FlaskForm]
    while pending:
        form_class = pending.pop()
        pending.extend(form_class.__subclasses__())
        for name, value in vars(form_class).items():
            if not isinstance(value, UnboundField):
                continue
            validators = value.kwargs.get("validators")
            if validators is None and len(value.args) > 1:
                validators = value.args[1]  # Field(label, validators, ...)
            (checked if no_control_characters in (validators or ()) else unchecked).add(name)
    return frozenset(checked - unchecked)


def strip_text(value):
    """WTForms filter: trim surrounding spaces from text input."""
    return value.strip() if isinstance(value, str) else value


def text_field(label, max_length, required_message, multiline=False, too_long=None, **kwargs):
    """A required text field, trimmed, with our messages: ``required_message`` when it
    is empty, ``too_long`` (or the usual one) past ``max_length``."""
    field_class = TextAreaField if multiline else StringField
    return field_class(
        label,
        filters=[strip_text],
        validators=[
            DataRequired(message=required_message),
            Length(max=max_length, message=too_long or _l(
                "This must be %(max)d characters or fewer.", max=max_length)),
            no_control_characters,
        ],
        **kwargs,
    )


def email_field(label=None, missing=None) -> EmailField:
    """A required email address field with our messages (``missing``: when it is empty,
    for a form about someone else's address)."""
    return EmailField(
        label or _l("Email address"),
        filters=[strip_text],
        validators=[
            DataRequired(message=missing or _l("Enter your email address.")),
            Length(max=254, message=_l("The email address must be 254 characters or fewer.")),
            no_control_characters,
            Email(message=_l("Enter an email address in the right format, like "
                             "name@example.com."), check_deliverability=False),
        ],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )


def uploaded_files(field) -> list[tuple[str, bytes]]:
    """(name, bytes) of each file chosen in a file field, single or multiple (empty
    inputs skipped)."""
    chosen = field.data if isinstance(field.data, list) else [field.data]
    files = []
    for upload in chosen:
        if getattr(upload, "filename", ""):
            files.append((upload.filename, upload.read()))
    return files
