"""Forms of a person's data rights: deleting an account, a guest's request, the counter."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    PasswordField,
    RadioField,
    SelectChoice,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length

from portal.forms import email_field, no_control_characters, strip_text
from portal.models import DataRequestKind
from portal.security import MAX_PASSWORD_LENGTH


def _understood(label):
    return BooleanField(label, validators=[DataRequired(
        message=_l("Tick the box to confirm that you understand what happens."))])


class DeleteAccountForm(FlaskForm):
    current_password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(message=_l("Enter your password.")),
                    Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    understood = _understood(_l(
        "I understand that my account and my personal data will be deleted, and that this "
        "cannot be undone."))


class AddressForm(FlaskForm):
    """A guest asks for their data: we email a link to the address to prove it is theirs."""

    email = email_field()


class ConfirmErasureForm(FlaskForm):
    understood = _understood(_l(
        "I understand that the personal data will be deleted, and that this cannot be undone."))


class CounterRequestForm(FlaskForm):
    """A request made in person or on paper, recorded by staff."""

    kind = RadioField(_l("What the person asks for"), default=DataRequestKind.ACCESS.value,
                      choices=[SelectChoice(kind.value, kind.label) for kind in DataRequestKind],
                      validators=[DataRequired(message=_l("Choose what the person asks for."))])
    email = email_field(_l("The person's email address"),
                        missing=_l("Enter the person's email address."))
    identity_checked = StringField(
        _l("How their identity was checked"),
        filters=[strip_text],
        validators=[DataRequired(message=_l("Say how you checked who the person is.")),
                    Length(max=200, message=_l("Write 200 characters or fewer.")),
                    no_control_characters],
        description=_l("For example: ID card shown at the counter. Never write the "
                       "document's number."),
    )
    received_on = DateField(_l("Date the request was received"), validators=[
        DataRequired(message=_l("Enter the date the request was received."))])
    note = TextAreaField(
        _l("Note (optional)"), filters=[strip_text],
        validators=[Length(max=2000, message=_l("Write 2,000 characters or fewer.")),
                    no_control_characters],
    )
