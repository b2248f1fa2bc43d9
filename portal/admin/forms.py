"""Forms of the administration pages."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from portal.config import LANGUAGES
from portal.forms import email_field, no_control_characters, strip_text
from portal.i18n import LANGUAGE_NAMES
from portal.models import Role

_TEXT = [strip_text]
SLUG = Regexp(r"^[a-z0-9]+(-[a-z0-9]+)*$",
              message=_l("Use lowercase letters without accents, digits and hyphens, like "
                         "medio-ambiente."))


class WholeNumberField(IntegerField):
    """An integer whose wrong input gets the field's own message, not WTForms' English one."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None  # NumberRange then says what is wanted


def _days(label, maximum: int, message):
    return WholeNumberField(label, validators=[InputRequired(message),
                                               NumberRange(1, maximum, message)])


class _Named(FlaskForm):
    """A name in each language: Spanish required, the others shown in Spanish if empty."""

    slug = StringField(_l("Short name for addresses"), filters=_TEXT, validators=[
        DataRequired(_l("Enter a short name, like medio-ambiente.")), Length(max=64),
        no_control_characters, SLUG])
    name_es = StringField(filters=_TEXT, validators=[
        DataRequired(_l("Enter the name in Spanish.")), Length(max=120), no_control_characters])
    name_en = StringField(filters=_TEXT, validators=[Optional(), Length(max=120),
                                                     no_control_characters])
    name_ca = StringField(filters=_TEXT, validators=[Optional(), Length(max=120),
                                                     no_control_characters])
    name_eu = StringField(filters=_TEXT, validators=[Optional(), Length(max=120),
                                                     no_control_characters])
    name_gl = StringField(filters=_TEXT, validators=[Optional(), Length(max=120),
                                                     no_control_characters])

    def __init__(self, *args, names: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        for code in LANGUAGES:
            field = self[f"name_{code}"]
            field.label.text = _("Name in %(language)s", language=LANGUAGE_NAMES[code])
            if names is not None and not self.is_submitted():
                field.data = names.get(code, "")

    def name_fields(self):
        return [self[f"name_{code}"] for code in LANGUAGES]

    @property
    def names(self) -> dict[str, str]:
        return {code: self[f"name_{code}"].data or "" for code in LANGUAGES}


class DepartmentForm(_Named):
    contact_email = EmailField(_l("Contact email address (optional)"), filters=_TEXT,
                               validators=[Optional(), Length(max=254), no_control_characters,
                                           Email(
                                   _l("Enter an email address in the right format, like "
                                      "name@example.com."), check_deliverability=False)])
    first_response_days = _days(_l("First answer within (days)"), 60,
                                _l("Enter a whole number of days from 1 to 60."))
    resolution_days = _days(_l("Resolved within (days)"), 365,
                            _l("Enter a whole number of days from 1 to 365."))
    counting = RadioField(_l("How the days are counted"), default="working", choices=[
        SelectChoice("working", _l("Working days: weekends and holidays are not counted")),
        SelectChoice("calendar", _l("Calendar days: every day is counted"))],
        validators=[InputRequired(_l("Choose how the days are counted."))])
    active = BooleanField(_l("Accepts new cases"), default=True)


class CategoryForm(_Named):
    department = SelectField(_l("Department that handles it"),
                             validators=[DataRequired(_l("Choose a department."))])
    accepts_questions = BooleanField(_l("Citizens can ask questions about it"), default=True)
    accepts_complaints = BooleanField(_l("Citizens can complain about it"), default=True)
    active = BooleanField(_l("Offered on the forms"), default=True)


class HolidayForm(FlaskForm):
    """Step one shows what the day would move; step two (``confirm``) saves it."""

    day = DateField(_l("Date"), validators=[DataRequired(_l("Enter the date of the holiday."))])
    name = StringField(_l("Name"), filters=_TEXT, validators=[
        DataRequired(_l("Enter the name of the holiday, like San Isidro.")), Length(max=120),
        no_control_characters])
    confirm = HiddenField()


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class _StaffAccess(FlaskForm):
    # Every option is a role, so no required attribute (HTML wants an empty first option
    # then); the check stays on the server.
    role = SelectField(_l("Role"), choices=[
        SelectChoice(role.value, role.label) for role in (Role.AGENT, Role.MANAGER, Role.ADMIN)],
        validators=[DataRequired(_l("Choose a role."))], render_kw={"required": False})
    departments = CheckboxesField(_l("Departments"), coerce=int)


class InviteForm(_StaffAccess):
    email = email_field(_l("Email address"), missing=_l("Enter the person's email address."))
    display_name = StringField(_l("Name"), filters=_TEXT, validators=[
        DataRequired(_l("Enter the person's name.")), Length(max=120), no_control_characters])
    locale = SelectField(_l("Language of the invitation"), choices=[
        SelectChoice(code, name) for code, name in LANGUAGE_NAMES.items()])


class StaffForm(_StaffAccess):
    active = BooleanField(_l("Can sign in"))


class ConfirmForm(FlaskForm):
    confirm = HiddenField()


class RetryJobForm(FlaskForm):
    job_id = HiddenField(validators=[DataRequired(), Length(max=100), no_control_characters])


# A privacy notice or accessibility statement: as long as the longest article.
PAGE_TEXT_MAX = 50_000
# Digits, spaces and + ( ) - . only: the number is also a tel: link.
PHONE = Regexp(r"^\+?[0-9 ()\-.]{3,40}$", message=_l(
    "Enter a phone number with digits and spaces, like 010 or +34 915 555 555."))


def _too_long(maximum: int):
    return Length(max=maximum, message=_l("This must be %(max)d characters or fewer.",
                                          max=maximum))


def _optional_email(label):
    return EmailField(label, filters=_TEXT, validators=[
        Optional(), Length(max=254, message=_l(
            "The email address must be 254 characters or fewer.")),
        no_control_characters,
        Email(_l("Enter an email address in the right format, like name@example.com."),
              check_deliverability=False)],
        render_kw={"autocomplete": "off", "spellcheck": "false"})


def _page_text():
    # The label is set per page in DeploymentForm.__init__; the fieldset names the language.
    return TextAreaField(filters=_TEXT, validators=[
        Optional(), _too_long(PAGE_TEXT_MAX), no_control_characters],
        render_kw={"rows": 10})


class DeploymentForm(FlaskForm):
    """The portal's name, contact details and texts; empty keeps the environment's."""

    site_name = StringField(_l("Name of the portal"), filters=_TEXT, validators=[
        Optional(), _too_long(120), no_control_characters])
    organisation_name = StringField(_l("Organisation that runs it"), filters=_TEXT,
                                    validators=[Optional(), _too_long(200),
                                                no_control_characters])
    contact_email = _optional_email(_l("Contact email address"))
    contact_phone = StringField(_l("Contact phone number"), filters=_TEXT, validators=[
        Optional(), _too_long(40), no_control_characters, PHONE],
        render_kw={"autocomplete": "off", "inputmode": "tel"})
    contact_address = StringField(_l("Postal address"), filters=_TEXT, validators=[
        Optional(), _too_long(300), no_control_characters])
    dpo_email = _optional_email(_l("Email address of the data protection officer"))
    privacy_es = _page_text()
    privacy_en = _page_text()
    privacy_ca = _page_text()
    privacy_eu = _page_text()
    privacy_gl = _page_text()
    accessibility_es = _page_text()
    accessibility_en = _page_text()
    accessibility_ca = _page_text()
    accessibility_eu = _page_text()
    accessibility_gl = _page_text()

    DETAILS = ("site_name", "organisation_name", "contact_email", "contact_phone",
               "contact_address", "dpo_email")
    PAGES = ("privacy", "accessibility")

    def __init__(self, *args, texts: dict[str, dict[str, str]] | None = None, **kwargs):
        """``texts``: the saved ones, {"privacy": {language: text}, "accessibility": ...}."""
        super().__init__(*args, **kwargs)
        titles = {"privacy": _("Privacy notice"), "accessibility": _("Accessibility statement")}
        for page in self.PAGES:
            for code in LANGUAGES:
                field = self[f"{page}_{code}"]
                field.label.text = titles[page]
                if texts is not None and not self.is_submitted():
                    field.data = texts.get(page, {}).get(code, "")

    def detail_fields(self):
        return [self[name] for name in self.DETAILS]

    def text_fields(self, code: str):
        return [self[f"{page}_{code}"] for page in self.PAGES]

    def page_texts(self, page: str) -> dict[str, str]:
        return {code: self[f"{page}_{code}"].data or "" for code in LANGUAGES}


class AuditFilterForm(FlaskForm):
    """The audit log's filters (a GET form: bookmarkable, no token)."""

    class Meta:
        csrf = False

    person = StringField(_l("Person (email address)"), filters=_TEXT,
                         validators=[Optional(), Length(max=254), no_control_characters])
    action = SelectField(_l("Action"), validators=[Optional()])
    target_type = StringField(_l("Kind of object"), filters=_TEXT,
                              validators=[Optional(), Length(max=32), no_control_characters])
    target_id = StringField(_l("Object"), filters=_TEXT,
                            validators=[Optional(), Length(max=64), no_control_characters])
    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("To"), validators=[Optional()])

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError(_l("The last day must be on or after the first day."))
