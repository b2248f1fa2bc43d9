"""Forms of the managers' area."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, RadioField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from portal.forms import no_control_characters, strip_text

# Long enough for two years side by side, short enough to stay one quick page.
MAX_CUSTOM_DAYS = 3 * 366


class DashboardForm(FlaskForm):
    """The period and department of the dashboard (a GET form: bookmarkable)."""

    class Meta:
        csrf = False

    period = SelectField(_l("Period"), filters=[strip_text], validators=[Optional()],
                         default="month", choices=[
        SelectChoice("week", _l("This week")), SelectChoice("month", _l("This month")),
        SelectChoice("quarter", _l("This quarter")), SelectChoice("year", _l("This year")),
        SelectChoice("custom", _l("Dates of my choice"))])
    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("To"), validators=[Optional()])
    department = SelectField(_l("Department"), filters=[strip_text], validators=[Optional()])

    def validate_start(self, field):
        if self.period.data == "custom" and field.data is None and not field.errors:
            raise ValidationError(_l("Enter the first day of the period."))

    def validate_end(self, field):
        if self.period.data != "custom" or field.errors:
            return
        if field.data is None:
            raise ValidationError(_l("Enter the last day of the period."))
        start = self.start.data
        if start is not None and field.data < start:
            raise ValidationError(_l("The last day must be on or after the first day."))
        if start is not None and field.data - start > timedelta(days=MAX_CUSTOM_DAYS):
            raise ValidationError(_l("Choose a period of at most three years."))




class ThemeForm(FlaskForm):
    """Name a suggested theme, add it to a named one, or stop suggesting it."""

    # Every option is a theme, so no required attribute (HTML wants an empty first option
    # then); the check stays on the server.
    term = SelectField(_l("Suggested theme"), validators=[DataRequired(_l("Choose a theme."))],
                       render_kw={"required": False})
    action = RadioField(_l("What to do with it"), default="name", choices=[
        SelectChoice("name", _l("Name it, and follow it from period to period")),
        SelectChoice("merge", _l("Add it to a named theme")),
        SelectChoice("dismiss", _l("Stop suggesting it"))])
    # No Optional(): it would stop the checks below that make these required for their
    # action.
    name = StringField(_l("Name"), filters=[strip_text],
                       validators=[Length(max=120), no_control_characters])
    theme = SelectField(_l("Named theme"), filters=[strip_text], default="")
    # The dashboard to come back to (ids of their own: the dashboard's form is on the page).
    period = HiddenField(id="theme-period")
    start = HiddenField(id="theme-start")
    end = HiddenField(id="theme-end")
    department = HiddenField(id="theme-department")

    def validate_name(self, field):
        if self.action.data == "name" and not field.data:
            raise ValidationError(_l("Enter a name for the theme."))

    def validate_theme(self, field):
        if self.action.data == "merge" and not field.data:
            raise ValidationError(_l("Choose the named theme to add it to."))
