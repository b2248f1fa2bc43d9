"""Intake, reply, rating, reopen and tracking forms."""

from __future__ import annotations

import dataclasses
import re

from flask import current_app, flash
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    MultipleFileField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, Email, Length, Optional

from portal import page_cache
from portal.cases.service import CaseError, Submission
from portal.extensions import db
from portal.forms import email_field, no_control_characters, strip_text, text_field
from portal.i18n import LANGUAGE_NAMES, current_language
from portal.models import CaseKind, ContactPreference, Department

SUBJECT_MAX = 200
BODY_MAX = 10_000

LANGUAGE_CHOICES = [SelectChoice(code, name, render_kw={"lang": code})
                    for code, name in LANGUAGE_NAMES.items()]

# Messages for the reasons a file or a case is refused (codes from the services).
FILE_ERRORS = {
    "empty": _l("%(name)s is empty."),
    "too_large": _l("%(name)s is larger than %(size)s. Attach a smaller file."),
    "type": _l("%(name)s is not a JPEG, PNG or PDF file. Only those types are accepted."),
    "mismatch": _l("%(name)s is not really the type of file its name says."),
    "damaged": _l("%(name)s is damaged or could not be read."),
    "active_content": _l("%(name)s contains active content (scripts or embedded files) "
                         "and cannot be accepted."),
    "too_many_pixels": _l("%(name)s is an image too large to process."),
    "encrypted": _l("%(name)s is protected with a password. Attach a copy without a "
                    "password."),
}
CASE_ERRORS = {
    "too_many_files": _l("Attach at most %(count)d files."),
    "storage_unavailable": _l("We could not save your files just now, so your message has "
                              "not been sent yet. What you wrote is still here: try again in "
                              "a few minutes, or remove the files and send it without them."),
    "case_too_large": _l("All the files together must be at most %(size)s."),
    "unknown_topic": _l("Choose a topic from the list."),
    "closed_for_replies": _l("This case is closed for replies."),
    "not_answered": _l("You can rate the answer once your case has been answered."),
    "already_rated": _l("You have already rated this answer. Thank you."),
    "bad_score": _l("Choose a rating from 1 to 5."),
    "cannot_reopen": _l("This case can no longer be reopened. Write a new question "
                        "and mention this reference."),
    # Refusals of the staff's actions on a case.
    "summary_required": _l("Write a resolution summary: the citizen receives it."),
    "reason_required": _l("Give a reason for the transfer."),
    "same_department": _l("The case is already in that department."),
    "assignee_cannot_see": _l("That person cannot work on this department's cases."),
    "merge_not_found": _l("There is no other open case with that reference that you can see."),
    "merge_other_citizen": _l("Only cases of the same citizen can be merged: the same "
                              "account, or an email address confirmed on both cases. Link "
                              "them as related instead."),
    "invalid_transition": _l("The case cannot change to that status from its current one."),
}


def _coordinate(label, low, high, message):
    def check(form, field):
        if not field.data:
            return
        try:
            value = float(field.data.replace(",", "."))
        except ValueError:
            raise ValidationError(message) from None
        if not low <= value <= high:
            raise ValidationError(message)

    return StringField(label, filters=[strip_text],
                       validators=[Optional(), Length(max=32, message=message),
                                   no_control_characters, check],
                       render_kw={"inputmode": "decimal", "autocomplete": "off"})


PHONE = re.compile(r"^\+?[0-9 ()\-.]{6,24}$")
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what secrets.token_urlsafe gives, as stored


def _issued_token(value):
    """WTForms filter: the submission token as we issued it, or None for anything else."""
    return value if isinstance(value, str) and TOKEN.fullmatch(value) else None


class CaseForm(FlaskForm):
    """A question; ``ComplaintForm`` adds the outcome the citizen wants."""

    subject = text_field(_l("Subject"), SUBJECT_MAX, _l("Enter a subject."),
                    too_long=_l("The subject must be %(max)d characters or fewer.",
                                max=SUBJECT_MAX))
    body = text_field(_l("Describe your question"), BODY_MAX, _l("Describe your question."),
                 multiline=True,
                 too_long=_l("The description must be %(max)d characters or fewer.",
                             max=BODY_MAX))
    topic = SelectField(_l("Topic"), validators=[DataRequired(message=_l("Choose a topic."))])
    location_text = StringField(
        _l("Address or place (optional)"), filters=[strip_text],
        validators=[Optional(), Length(max=300, message=_l(
            "The address must be %(max)d characters or fewer.", max=300)),
            no_control_characters],
        # A one-line input: street-address is for a textarea (several lines).
        render_kw={"autocomplete": "address-line1"})
    latitude = _coordinate(_l("Latitude (optional)"), -90, 90,
                           _l("Enter a latitude between -90 and 90, like 40.4168."))
    longitude = _coordinate(_l("Longitude (optional)"), -180, 180,
                            _l("Enter a longitude between -180 and 180, like -3.7038."))
    contact_name = StringField(
        _l("Your name"), filters=[strip_text],
        validators=[Length(max=120, message=_l("The name must be 120 characters or fewer.")),
                    no_control_characters],
        render_kw={"autocomplete": "name"})
    # Whether name and email are required depends on who is signing in, so these
    # fields are checked in the validate_* methods below (Optional() would stop them).
    contact_email = EmailField(
        _l("Your email address"), filters=[strip_text],
        validators=[Length(max=254, message=_l(
            "The email address must be 254 characters or fewer.")), no_control_characters],
        render_kw={"autocomplete": "email", "spellcheck": "false"})
    contact_phone = StringField(
        _l("Phone number (optional)"), filters=[strip_text], validators=[no_control_characters],
        render_kw={"autocomplete": "tel", "type": "tel"})
    contact_preference = RadioField(
        _l("How should we contact you?"), default="email",
        choices=[SelectChoice("email", _l("By email")), SelectChoice("phone", _l("By phone"))],
        validators=[DataRequired(message=_l("Choose how we should contact you."))])
    language = SelectField(_l("Language for our answer"), choices=LANGUAGE_CHOICES)
    attachments = MultipleFileField(_l("Photos or documents (optional)"))
    publish_consent = BooleanField(_l(
        "I agree that an anonymised version of the answer may be published in the public "
        "knowledge base, so that it helps other people. My name, contact details and any "
        "other personal data will be removed first."))
    # Humans never see this field; automated form fillers tend to fill it in.
    website = StringField(_l("Leave this field empty"),
                          render_kw={"autocomplete": "off", "tabindex": "-1"})
    submission_token = HiddenField(filters=[_issued_token])
    # The reference of an earlier case this one follows on from (?related=), if any.
    related = HiddenField()

    #: Set by the view: guests must give a name and email so we can answer them.
    contact_required = True

    def validate_contact_name(self, field):
        if self.contact_required and not field.data:
            raise ValidationError(_l("Enter your name."))

    def validate_contact_email(self, field):
        if not field.data:
            if self.contact_required:
                raise ValidationError(_l("Enter your email address so we can answer you."))
            return
        Email(message=_l("Enter an email address in the right format, like "
                         "name@example.com."), check_deliverability=False)(self, field)

    def validate_contact_phone(self, field):
        if field.data and (len(field.data) > 24 or not PHONE.match(field.data)):
            raise ValidationError(_l("Enter a valid phone number, like 600 123 456."))
        if self.contact_preference.data == "phone" and not field.data:
            raise ValidationError(_l("Enter a phone number, or choose to be contacted by "
                                     "email."))


class ComplaintForm(CaseForm):
    body = text_field(_l("What happened?"), BODY_MAX, _l("Describe what happened."),
                 multiline=True,
                 too_long=_l("The description must be %(max)d characters or fewer.",
                             max=BODY_MAX))
    desired_outcome = text_field(_l("What would you like us to do?"), 2000,
                            _l("Tell us what outcome you would like."), multiline=True)


class ReplyForm(FlaskForm):
    body = text_field(_l("Your reply"), BODY_MAX, _l("Write your reply."), multiline=True)
    attachments = MultipleFileField(_l("Photos or documents (optional)"))


class RatingForm(FlaskForm):
    score = RadioField(
        _l("How satisfied are you with the answer?"),
        choices=[SelectChoice("5", _l("5 – Very satisfied")),
                 SelectChoice("4", _l("4 – Satisfied")),
                 SelectChoice("3", _l("3 – Neither satisfied nor dissatisfied")),
                 SelectChoice("2", _l("2 – Dissatisfied")),
                 SelectChoice("1", _l("1 – Very dissatisfied"))],
        validators=[DataRequired(message=_l("Choose a rating from 1 to 5."))])
    comment = TextAreaField(
        _l("Anything you would like to add? (optional)"), filters=[strip_text],
        validators=[Optional(), Length(max=2000, message=_l(
            "This must be %(max)d characters or fewer.", max=2000)), no_control_characters])


class ReopenForm(FlaskForm):
    reason = text_field(_l("What is still not solved?"), 4000,
                   _l("Tell us what is still not solved."), multiline=True)


class TrackForm(FlaskForm):
    reference = StringField(
        _l("Reference number"), filters=[strip_text],
        validators=[DataRequired(message=_l("Enter the reference number.")),
                    Length(max=20, message=_l("Enter a reference like Q-7K3M-9XQD."))],
        render_kw={"autocomplete": "off", "spellcheck": "false",
                   "autocapitalize": "characters"})
    email = email_field(_l("The email address you gave us"))


# ---------------------------------------------------------------- shared by the intake views
# The citizen's form (cases) and the agent's (staff: a case by phone or at the counter)
# are the same form underneath; these helpers are their one place.

def topic_choices() -> list[SelectChoice]:
    """The topic select: active departments, each with its active categories. Every
    intake form needs it, sent or shown: kept like a public page until a department
    or a category changes."""
    language = current_language()
    return page_cache.remember(("topic_choices", language), lambda: _topic_choices(language))


def _topic_choices(language: str) -> list[SelectChoice]:
    departments = db.session.scalars(
        select(Department).where(Department.active.is_(True)).order_by(Department.slug)
        .options(selectinload(Department.categories))).all()
    choices = [SelectChoice("", _("Choose a topic")),
               SelectChoice("unknown", _("I don't know / other"))]
    for department in sorted(departments, key=lambda item: item.name(language)):
        group = department.name(language)
        choices.append(SelectChoice(f"department-{department.id}",
                                    _("%(department)s: general", department=group),
                                    optgroup=group))
        choices.extend(SelectChoice(f"category-{category.id}", category.name(language),
                                    optgroup=group)
                       for category in department.categories if category.active)
    return choices


def parse_topic(value: str) -> tuple[int | None, int | None]:
    """(department id, category id) from the topic select; (None, None) means triage."""
    kind, _dash, number = (value or "").partition("-")
    if kind in {"department", "category"} and number.isdigit():
        return (int(number), None) if kind == "department" else (None, int(number))
    return None, None


def _coordinate_value(text: str | None) -> float | None:
    return float(text.replace(",", ".")) if text else None


def submission_from(form: CaseForm, kind: CaseKind, files: list, **overrides) -> Submission:
    """The case a validated intake form describes; ``overrides`` set what the view knows
    better (the account's name and email, the channel an agent recorded)."""
    department_id, category_id = parse_topic(form.topic.data)
    outcome = getattr(form, "desired_outcome", None)  # complaint forms only
    submission = Submission(
        kind=kind,
        subject=form.subject.data,
        body=form.body.data,
        desired_outcome=(outcome.data or "") if outcome is not None else "",
        department_id=department_id,
        category_id=category_id,
        location_text=form.location_text.data or "",
        latitude=_coordinate_value(form.latitude.data),
        longitude=_coordinate_value(form.longitude.data),
        contact_name=form.contact_name.data or "",
        contact_email=form.contact_email.data or "",
        contact_phone=form.contact_phone.data or "",
        contact_preference=ContactPreference(form.contact_preference.data),
        language=form.language.data,
        files=files,
    )
    return dataclasses.replace(submission, **overrides)


def megabytes(size: int) -> str:
    return _("%(size)s MB", size=format_decimal(size / (1024 * 1024), format="#,##0.#"))


def show_case_error(form, error: CaseError) -> None:
    """Put a service refusal next to the form field at fault (or flash it)."""
    settings = current_app.config["PORTAL"]
    if error.code in FILE_ERRORS:
        message = FILE_ERRORS[error.code] % {
            "name": error.filename, "size": megabytes(settings["UPLOAD_MAX_FILE_BYTES"])}
    else:
        message = CASE_ERRORS.get(error.code, CASE_ERRORS["invalid_transition"]) % {
            "count": settings["UPLOAD_MAX_FILES"],
            "size": megabytes(settings["UPLOAD_MAX_CASE_BYTES"])}
    target = getattr(form, error.field or "", None)
    if target is not None:
        target.errors = [*target.errors, message]
    else:
        flash(message, "error")
