"""The report editor and the commitment updates."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from portal.forms import no_control_characters, strip_text
from portal.models import CommitmentStatus

_TEXT = [strip_text]


class CheckboxesField(SelectMultipleField):
    """Several checkboxes; the choices are the linked items and the picker's results."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):  # a choice may have been found by an earlier search
        pass


class CommitmentRow(Form):
    title = StringField(_l("Commitment"), filters=_TEXT,
                        validators=[Optional(), Length(max=300), no_control_characters])
    due_on = DateField(_l("To be done by"), validators=[Optional()])


class ReportForm(FlaskForm):
    title = StringField(_l("Title"), filters=_TEXT,
                        validators=[DataRequired(_l("Enter a title.")), Length(max=200),
                                    no_control_characters])
    summary = TextAreaField(_l("Summary"), filters=_TEXT, validators=[
        DataRequired(_l("Enter a summary: it is what the home page and the emails show.")),
        Length(max=1000), no_control_characters])
    body = TextAreaField(_l("What we did, and why"), filters=_TEXT,
                         validators=[Optional(), Length(max=20000), no_control_characters])
    locale = SelectField(_l("Language of the report"))
    period_start = DateField(_l("Period from"), validators=[
        DataRequired(_l("Enter the first day of the period."))])
    period_end = DateField(_l("Period to"), validators=[
        DataRequired(_l("Enter the last day of the period."))])
    department = SelectField(_l("Department"), filters=_TEXT, validators=[Optional()])
    idea_query = StringField(_l("Find ideas"), filters=_TEXT,
                             validators=[Optional(), Length(max=200)])
    ideas = CheckboxesField(_l("Ideas this report answers"), coerce=int)
    implemented = CheckboxesField(_l("Mark as implemented when published"), coerce=int)
    case_query = StringField(_l("Find cases"), filters=_TEXT,
                             validators=[Optional(), Length(max=200)])
    cases = CheckboxesField(_l("Cases this report answers"), coerce=int)
    article_query = StringField(_l("Find articles"), filters=_TEXT,
                                validators=[Optional(), Length(max=200)])
    articles = CheckboxesField(_l("Knowledge base articles"), coerce=int)
    commitments = FieldList(FormField(CommitmentRow), min_entries=3, max_entries=30)

    def validate_period_end(self, field):
        from wtforms.validators import ValidationError

        start = self.period_start.data
        if start is not None and field.data is not None and field.data < start:
            raise ValidationError(_l("The last day must be on or after the first day."))


class WithdrawForm(FlaskForm):
    reason = TextAreaField(_l("Why is it withdrawn?"), filters=_TEXT, validators=[
        DataRequired(_l("Say why: the reason is shown on the report.")), Length(max=2000),
        no_control_characters])


class CommitmentUpdateForm(FlaskForm):
    status = SelectField(_l("Status"), choices=[
        SelectChoice(status.value, status.label) for status in CommitmentStatus])
    progress = IntegerField(_l("Progress (per cent)"), validators=[
        InputRequired(_l("Enter the progress, from 0 to 100.")),
        NumberRange(0, 100, _l("Enter the progress, from 0 to 100."))])
    note = TextAreaField(_l("What has changed"), filters=_TEXT,
                         validators=[Optional(), Length(max=2000), no_control_characters])


class MilestoneForm(FlaskForm):
    title = StringField(_l("Milestone"), filters=_TEXT, validators=[
        DataRequired(_l("Enter the milestone.")), Length(max=300), no_control_characters])
    due_on = DateField(_l("Date"), validators=[DataRequired(_l("Enter the date."))])
