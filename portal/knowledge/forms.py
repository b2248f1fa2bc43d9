"""Knowledge-base forms: the public search and feedback, the editors' article form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.forms import no_control_characters, strip_text, text_field


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form: bookmarkable results

    q = StringField(_l("Search our answers"), filters=[strip_text],
                    validators=[Optional(), Length(max=200)])


class FeedbackForm(FlaskForm):
    helpful = HiddenField(validators=[DataRequired()])
    reason = TextAreaField(
        _l("What was missing or unclear? (optional)"), filters=[strip_text],
        validators=[Optional(), Length(max=2000, message=_l(
            "This must be %(max)d characters or fewer.", max=2000)), no_control_characters])


class ArticleForm(FlaskForm):
    title = text_field(_l("Title"), 200, _l("Enter a title."))
    summary = TextAreaField(
        _l("Summary"), filters=[strip_text],
        validators=[Optional(), Length(max=500, message=_l(
            "This must be %(max)d characters or fewer.", max=500)), no_control_characters])
    body = text_field(_l("Text (Markdown)"), 50_000, _l("Enter the text."), multiline=True)
    locale = SelectField(_l("Language"))
    department = SelectField(_l("Department"), validators=[Optional()])
    tags = StringField(_l("Tags (separated by commas)"), filters=[strip_text],
                       validators=[Optional(), Length(max=300), no_control_characters])
    review_by = DateField(_l("Review by"), validators=[Optional()])
