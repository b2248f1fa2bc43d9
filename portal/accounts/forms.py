"""Account forms. Labels are lazy strings so they translate at render time."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from portal.forms import email_field, no_control_characters, strip_text
from portal.i18n import LANGUAGE_NAMES
from portal.security import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

# Each language is named in itself and marked with its lang, for screen readers.
LANGUAGE_CHOICES = [SelectChoice(code, name, render_kw={"lang": code})
                    for code, name in LANGUAGE_NAMES.items()]


def _new_password_field(label=None):
    return PasswordField(
        label or _l("Password"),
        validators=[
            DataRequired(message=_l("Enter a password.")),
            Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH,
                   message=_l("The password must be between %(min)d and %(max)d characters.",
                              min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)),
        ],
        render_kw={"autocomplete": "new-password"},
    )


def _confirm_field(target: str):
    return PasswordField(
        _l("Repeat the password"),
        validators=[
            DataRequired(message=_l("Repeat the password.")),
            EqualTo(target, message=_l("The two passwords do not match.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


def _name_field():
    return StringField(
        _l("Your name"),
        filters=[strip_text],
        validators=[
            DataRequired(message=_l("Enter your name.")),
            Length(max=120, message=_l("The name must be 120 characters or fewer.")),
            no_control_characters,
        ],
        render_kw={"autocomplete": "name"},
    )


def _language_field():
    return SelectField(_l("Language for our messages"), choices=LANGUAGE_CHOICES)


class RegisterForm(FlaskForm):
    display_name = _name_field()
    email = email_field()
    password = _new_password_field()
    password_confirm = _confirm_field("password")
    locale = _language_field()


class LoginForm(FlaskForm):
    email = email_field()
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(message=_l("Enter your password.")),
                    Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )


class ConfirmEmailForm(FlaskForm):
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(message=_l("Enter your password.")),
                    Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )


class ForgotPasswordForm(FlaskForm):
    email = email_field()


class ResetPasswordForm(FlaskForm):
    password = _new_password_field(_l("New password"))
    password_confirm = _confirm_field("password")


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(message=_l("Enter your current password.")),
                    Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    password = _new_password_field(_l("New password"))
    password_confirm = _confirm_field("password")


class PreferencesForm(FlaskForm):
    display_name = _name_field()
    locale = _language_field()


class SecondFactorForm(FlaskForm):
    code = StringField(
        _l("Code"),
        filters=[strip_text],
        validators=[DataRequired(message=_l("Enter the code.")),
                    Length(max=20, message=_l("Enter the code.")),
                    no_control_characters],
        render_kw={"autocomplete": "one-time-code", "inputmode": "text", "spellcheck": "false",
                   "autocapitalize": "off"},
    )
