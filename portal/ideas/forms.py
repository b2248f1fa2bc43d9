"""Forms of the ideas board: propose, edit, withdraw, comment, flag, and the staff's."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    FileField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from portal.forms import no_control_characters, strip_text, text_field
from portal.models import IdeaStatus, WithdrawalReason

TITLE_MAX = 150
BODY_MAX = 5000
COMMENT_MAX = 2000

IDEA_ERRORS = {
    "cannot_edit": _l("This idea can no longer be edited: people have supported it or "
                      "commented on it."),
    "cannot_withdraw": _l("This idea can no longer be withdrawn."),
    "cannot_support": _l("This idea cannot be supported any more."),
    "cannot_comment": _l("Comments are closed on this idea."),
    "unknown_department": _l("Choose a department from the list."),
    "not_an_image": _l("%(name)s is not a picture: choose a JPEG or PNG file."),
    "one_image": _l("Choose one picture only."),
    "storage_unavailable": _l("We could not save the picture just now. Try again in a "
                              "few minutes, or send the idea without it."),
    "response_required": _l("Write the public response: it is shown on the idea and sent "
                            "to its author and followers."),
    "merge_instead": _l("To mark an idea as a duplicate, merge it into the other idea."),
    "invalid_transition": _l("The idea cannot change to that status from its current one."),
    "merge_target": _l("Choose another open idea on the board, by its number."),
}


class IdeaForm(FlaskForm):
    title = text_field(_l("Title of your idea"), TITLE_MAX, _l("Give your idea a title."),
                  too_long=_l("The title must be %(max)d characters or fewer.",
                              max=TITLE_MAX))
    body = text_field(_l("Describe your idea"), BODY_MAX, _l("Describe your idea."),
                 multiline=True,
                 too_long=_l("The description must be %(max)d characters or fewer.",
                             max=BODY_MAX))
    department = SelectField(_l("Which department is it for?"), validators=[Optional()])
    location_text = StringField(
        _l("Place (optional)"), filters=[strip_text],
        validators=[Optional(), Length(max=300, message=_l(
            "The place must be %(max)d characters or fewer.", max=300)),
            no_control_characters],
        render_kw={"autocomplete": "off"})
    attachments = FileField(_l("A photo or picture (optional)"),
                            render_kw={"accept": ".jpg,.jpeg,.png,image/jpeg,image/png"})


class EditIdeaForm(FlaskForm):
    title = IdeaForm.title
    body = IdeaForm.body


class WithdrawForm(FlaskForm):
    reason = RadioField(_l("Why do you withdraw it?"),
                        choices=[SelectChoice(reason.value, reason.label)
                                 for reason in WithdrawalReason],
                        validators=[DataRequired(message=_l("Choose a reason."))])
    note = TextAreaField(_l("Anything to add? (optional, shown in public)"),
                         filters=[strip_text],
                         validators=[Optional(), Length(max=500, message=_l(
                             "This must be %(max)d characters or fewer.", max=500)),
                             no_control_characters])


class CommentForm(FlaskForm):
    body = text_field(_l("Your comment"), COMMENT_MAX, _l("Write your comment."), multiline=True,
                 too_long=_l("The comment must be %(max)d characters or fewer.",
                             max=COMMENT_MAX))


class FlagForm(FlaskForm):
    reason = text_field(_l("What is wrong with it?"), 300,
                   _l("Tell the moderators what is wrong with it."))


class ActionForm(FlaskForm):
    """A button that changes something (support, follow): the CSRF token only."""


class BoardForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form: bookmarkable lists

    q = StringField(_l("Search ideas"), filters=[strip_text],
                    validators=[Optional(), Length(max=200)])
    sort = SelectField(_l("Sort by"), default="supported", choices=[
        SelectChoice("supported", _l("Most supported")),
        SelectChoice("newest", _l("Newest")),
        SelectChoice("trending", _l("Trending (supports in the last 30 days)")),
        SelectChoice("answered", _l("Recently answered"))], validators=[Optional()])
    department = SelectField(_l("Department"), validators=[Optional()])
    status = SelectField(_l("Status"), validators=[Optional()], choices=[
        SelectChoice("", _l("Any status")),
        *[SelectChoice(status.value, status.label) for status in IdeaStatus
          if status is not IdeaStatus.DUPLICATE]])
    mine = SelectField(_l("Whose ideas"), validators=[Optional()], choices=[
        SelectChoice("", _l("Everyone's")), SelectChoice("1", _l("Only mine"))])


# ---------------------------------------------------------------- staff

class _Versioned(FlaskForm):
    version = HiddenField()


class IdeaStatusForm(_Versioned):
    status = SelectField(_l("New status"), choices=[
        SelectChoice(status.value, status.label) for status in IdeaStatus
        if status not in (IdeaStatus.DUPLICATE, IdeaStatus.WITHDRAWN)])
    response = TextAreaField(
        _l("Public response"), filters=[strip_text],
        validators=[Optional(), Length(max=5000, message=_l(
            "This must be %(max)d characters or fewer.", max=5000)), no_control_characters])


class MergeIdeaForm(_Versioned):
    target = StringField(_l("Number of the idea it repeats"), filters=[strip_text],
                         validators=[DataRequired(message=_l(
                             "Enter the number of the other idea.")), Length(max=12)],
                         render_kw={"inputmode": "numeric", "autocomplete": "off"})
    response = text_field(_l("Public response"), 5000, _l(
        "Write the public response: it is shown on the idea and sent to its author and "
        "followers."), multiline=True)


class ModerationForm(FlaskForm):
    reason = StringField(_l("Reason (shown to the author and, briefly, in public)"),
                         filters=[strip_text],
                         validators=[Optional(), Length(max=300), no_control_characters])


class LinkCaseForm(FlaskForm):
    idea = StringField(_l("Idea number"), filters=[strip_text],
                       validators=[DataRequired(), Length(max=12)],
                       render_kw={"inputmode": "numeric", "autocomplete": "off"})
    reference = StringField(_l("Case reference"), filters=[strip_text],
                            validators=[DataRequired(), Length(max=20)],
                            render_kw={"autocomplete": "off", "spellcheck": "false"})
