"""Forms of the staff area."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from portal.cases.forms import BODY_MAX, CaseForm
from portal.forms import no_control_characters, strip_text, text_field
from portal.models import CaseKind, CasePriority, CaseStatus, Channel

# A filter that is "Any" (empty) or one of its choices. Optional() takes "  " for empty
# and then forgets that it was not a valid choice; stripped first, it is the "" of Any.
_ANY_OR_ONE = {"filters": [strip_text], "validators": [Optional()]}


class QueueFilterForm(FlaskForm):
    """The filters above a queue (a GET form: bookmarkable, no CSRF needed)."""

    class Meta:
        csrf = False

    q = StringField(_l("Search your cases"), filters=[strip_text],
                    validators=[Optional(), Length(max=200)])
    department = SelectField(_l("Department"), **_ANY_OR_ONE)
    kind = SelectField(_l("Kind"), **_ANY_OR_ONE, choices=[
        SelectChoice("", _l("Any")), *[SelectChoice(kind.value, kind.label) for kind in CaseKind]])
    status = SelectField(_l("Status"), **_ANY_OR_ONE, choices=[
        SelectChoice("", _l("Any")),
        *[SelectChoice(status.value, status.staff_label) for status in CaseStatus]])
    channel = SelectField(_l("Channel"), **_ANY_OR_ONE, choices=[
        SelectChoice("", _l("Any")),
        *[SelectChoice(channel.value, channel.label) for channel in Channel]])
    assignee = SelectField(_l("Assigned to"), **_ANY_OR_ONE)
    created_from = DateField(_l("Received from"), validators=[Optional()])
    created_to = DateField(_l("Received until"), validators=[Optional()])


class _Versioned(FlaskForm):
    """Carries the version of the case the page showed (optimistic locking)."""

    version = HiddenField()
    last_event = HiddenField()


class StaffReplyForm(_Versioned):
    body = text_field(_l("Reply to the citizen"), BODY_MAX, _l("Write the reply."), multiline=True)
    attachments = MultipleFileField(_l("Attach files (optional)"))
    ask_citizen = BooleanField(_l("This asks the citizen for something: wait for their "
                                  "reply (the clock stops)"))


# The case page shows every form of this module at once: a field that shares its name
# with another form's has an id of its own, so that each label and error link finds it.
class NoteForm(_Versioned):
    body = text_field(_l("Internal note"), BODY_MAX, _l("Write the note."), multiline=True,
                 id="note-body")


class StatusForm(_Versioned):
    status = SelectField(_l("New status"), choices=[
        SelectChoice(status.value, status.staff_label) for status in CaseStatus
        if status is not CaseStatus.NEW])
    summary = TextAreaField(
        _l("Resolution summary (sent to the citizen when resolving)"), filters=[strip_text],
        validators=[Optional(), Length(max=BODY_MAX, message=_l(
            "This must be %(max)d characters or fewer.", max=BODY_MAX)), no_control_characters])


class AssignForm(_Versioned):
    assignee = SelectField(_l("Assign to"))


class PriorityForm(_Versioned):
    priority = SelectField(_l("Priority"), choices=[
        SelectChoice(priority.value, priority.label) for priority in CasePriority])


class TransferForm(_Versioned):
    department = SelectField(_l("Transfer to"),
                             validators=[DataRequired(message=_l("Choose a department."))])
    reason = text_field(_l("Why? (the citizen is told which department has it now)"), 2000,
                   _l("Give a reason for the transfer."), multiline=True, id="transfer-reason")


class MergeForm(_Versioned):
    target = StringField(_l("Merge into case (reference)"), filters=[strip_text],
                         validators=[DataRequired(message=_l("Enter the reference of the "
                                                             "case to merge into.")),
                                     Length(max=20)], id="merge-target")
    reason = StringField(_l("Reason (optional)"), filters=[strip_text],
                         validators=[Optional(), Length(max=300), no_control_characters],
                         id="merge-reason")


class LinkForm(_Versioned):
    """Link another case as related: nothing moves, and neither citizen sees the other."""

    target = StringField(_l("Related case (reference)"), filters=[strip_text],
                         validators=[DataRequired(message=_l("Enter the reference of the "
                                                             "related case.")),
                                     Length(max=20)], id="link-target")
    reason = StringField(_l("Reason (optional)"), filters=[strip_text],
                         validators=[Optional(), Length(max=300), no_control_characters],
                         id="link-reason")


class RecordCaseForm(CaseForm):
    """A case received by phone, at the counter or by social media."""

    kind = SelectField(_l("Kind"), choices=[SelectChoice(kind.value, kind.label)
                                            for kind in CaseKind])
    channel = SelectField(_l("Received by"), choices=[
        SelectChoice(channel.value, channel.label) for channel in Channel
        if channel not in (Channel.WEB, Channel.API)])
    body = text_field(_l("What the citizen asked or reported"), BODY_MAX,
                 _l("Write what the citizen asked or reported."), multiline=True)
    desired_outcome = TextAreaField(_l("Outcome the citizen wants (complaints)"),
                                    filters=[strip_text],
                                    validators=[Optional(), Length(max=2000),
                                                no_control_characters])
    contact_required = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The citizen form speaks to the citizen; here the agent fills it in for them.
        self.contact_name.label.text = _l("Citizen's name")
        self.contact_email.label.text = _l("Citizen's email address (optional)")
        self.contact_phone.label.text = _l("Citizen's phone number")
        self.contact_preference.label.text = _l("How they want us to contact them")
        self.language.label.text = _l("Language of the citizen")


class CannedResponseForm(FlaskForm):
    title = text_field(_l("Title"), 200, _l("Enter a title."))
    body = text_field(_l("Text"), BODY_MAX, _l("Enter the text."), multiline=True)
    locale = SelectField(_l("Language"))
    department = SelectField(_l("Department"))


# Used by the views to read hidden integers safely.
def as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


__all__ = ["AssignForm", "CannedResponseForm", "IntegerField", "MergeForm", "NoteForm",
           "PriorityForm", "QueueFilterForm", "RecordCaseForm", "StaffReplyForm", "StatusForm",
           "TransferForm", "as_int"]
