"""The civil servants' area. Every view here needs an agent or above (deny by default)."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from wtforms import SelectChoice

from portal import clock, sla, storage
from portal.cases import references
from portal.cases import service as cases
from portal.cases.forms import show_case_error, submission_from, topic_choices
from portal.extensions import db
from portal.forms import uploaded_files
from portal.i18n import LANGUAGE_NAMES, current_language
from portal.ideas import service as ideas
from portal.ideas.forms import LinkCaseForm
from portal.models import (
    CaseKind,
    CasePriority,
    CaseStatus,
    Channel,
    Department,
    Role,
    ScanStatus,
    User,
)
from portal.models.enums import label_of
from portal.request_limits import whole_number
from portal.security import guard_blueprint
from portal.staff import service
from portal.staff.forms import (
    AssignForm,
    LinkForm,
    MergeForm,
    NoteForm,
    PriorityForm,
    QueueFilterForm,
    RecordCaseForm,
    StaffReplyForm,
    StatusForm,
    TransferForm,
    as_int,
)

bp = Blueprint("staff", __name__)
guard_blueprint(bp, Role.AGENT)


@bp.context_processor
def _labels():
    return {"status_label": lambda value: label_of(CaseStatus, value, "staff_label"),
            "priority_label": lambda value: label_of(CasePriority, value)}



# ---------------------------------------------------------------- queues

def _departments() -> list[Department]:
    return list(db.session.scalars(select(Department).where(Department.active.is_(True))
                                   .order_by(Department.slug)))


def _filters_from(form: QueueFilterForm) -> service.Filters:
    return service.Filters(
        department_id=as_int(form.department.data),
        kind=CaseKind(form.kind.data) if form.kind.data else None,
        status=CaseStatus(form.status.data) if form.status.data else None,
        channel=Channel(form.channel.data) if form.channel.data else None,
        assignee_id=as_int(form.assignee.data),
        created_from=form.created_from.data,
        created_to=form.created_to.data,
        text=form.q.data or "",
    )


@bp.get("/")
def index():
    language = current_language()
    form = QueueFilterForm(request.args)
    visible_departments = (_departments() if service.sees_everything(current_user)
                           else list(current_user.departments))
    form.department.choices = [SelectChoice("", _("Any"))] + [
        SelectChoice(str(department.id), department.name(language))
        for department in visible_departments]
    form.assignee.choices = [SelectChoice("", _("Anyone")),
                             SelectChoice(str(current_user.id), _("Me"))]
    filters = _filters_from(form) if form.validate() else service.Filters()
    name = request.args.get("queue", "")
    counts = service.queue_counts(current_user, filters)
    if name not in service.QUEUES:
        # Nothing of her own yet: start on her departments' unassigned cases.
        name = "department" if not counts["mine"] and counts["department"] else "mine"
    found = None
    if filters.text:
        # A search looks in every queue she can see, not only the one open.
        found = service.search(current_user, filters.text, filters)
        if found.exact is not None:
            return redirect(url_for("staff.case", reference=found.exact.reference))
        page = service.QueuePage(cases=found.cases, next_cursor=None)
    else:
        page = service.queue(current_user, name, filters, cursor=request.args.get("after"))
    now = clock.now()
    calendar = sla.deployment_calendar()
    deadlines = {}
    for case in page.cases:
        if case.next_deadline is not None:
            which, at = case.next_deadline
            calendar_days = case.department.calendar_days if case.department else False
            deadlines[case.id] = (which, at, sla.describe(at, now, calendar_days, calendar))
    args = {key: value for key, value in request.args.items() if key not in {"queue", "after"}}
    return render_template("staff/queue.html", form=form, queue=name, page=page,
                           counts=counts, deadlines=deadlines, found=found,
                           queue_of={case.id: service.queue_of(current_user, case)
                                     for case in page.cases} if found else {},
                           args=args, queues=service.QUEUES, count_cap=service.COUNT_CAP,
                           # A tab leaves the search for that queue, keeping the filters.
                           tab_args={key: value for key, value in args.items() if key != "q"},
                           filtering=any(key != "lang" for key in args))


# ---------------------------------------------------------------- the case page

def _case_or_404(reference: str):
    try:
        case = service.get_case(current_user, references.normalise(reference))
    except service.PermissionDenied:
        abort(404)
    return case


def _last_event_id(case) -> int:
    return max((event.id for event in case.events), default=0)


def _versioned(form_class, case, **kwargs):
    form = form_class(**kwargs)
    if not form.is_submitted():
        form.version.data = case.version
        form.last_event.data = _last_event_id(case)
    return form


def _render_case(case, http_status=200, stale=None, held=(), **forms):
    language = current_language()
    reply_form = forms.get("reply") or _versioned(StaffReplyForm, case)
    canned_id = as_int(request.args.get("canned"))
    canned = service.canned_responses_for(case, case.language)
    if canned_id and not reply_form.is_submitted():
        chosen = next((item for item in canned if item.id == canned_id), None)
        if chosen is not None:
            reply_form.body.data = service.fill_placeholders(chosen.body, case, case.language)
    assign_form = forms.get("assign") or _versioned(AssignForm, case)
    assign_form.assignee.choices = [SelectChoice("", _("Nobody (department queue)"))] + [
        SelectChoice(str(user.id), user.display_name) for user in service.colleagues_for(case)]
    if not assign_form.is_submitted():
        assign_form.assignee.data = str(case.assignee_id or "")
    transfer_form = forms.get("transfer") or _versioned(TransferForm, case)
    transfer_form.department.choices = [SelectChoice("", _("Choose a department"))] + [
        SelectChoice(str(department.id), department.name(language))
        for department in _departments() if department.id != case.department_id]
    priority_form = forms.get("priority") or _versioned(PriorityForm, case)
    if not priority_form.is_submitted():
        priority_form.priority.data = case.priority.value
    status_form = forms.get("status") or _versioned(StatusForm, case)
    if not status_form.is_submitted() and case.status is not CaseStatus.NEW:
        status_form.status.data = case.status.value
    history = service.citizen_history(case)
    listed = history.cases + history.unverified + history.related
    now = clock.now()
    calendar_days = case.department.calendar_days if case.department else False
    return render_template(
        "staff/case.html", case=case, reply_form=reply_form,
        note_form=forms.get("note") or _versioned(NoteForm, case), status_form=status_form,
        assign_form=assign_form, priority_form=priority_form, transfer_form=transfer_form,
        merge_form=forms.get("merge") or _versioned(MergeForm, case),
        link_form=forms.get("link") or _versioned(LinkForm, case), canned=canned,
        history=history, stale=stale,
        can_open={other.id: service.can_see_case(current_user, other) for other in listed},
        resolution_clock=sla.describe(case.resolution_due_at, now, calendar_days)
        if case.status in service.OPEN_STATUSES else None,
        first_clock=sla.describe(case.first_response_due_at, now, calendar_days)
        if case.first_responded_at is None and case.status in service.OPEN_STATUSES else None,
        canned_preview={item.id: service.fill_placeholders(item.body, case, case.language)
                        for item in canned},
        department_names={item.slug: item.name(language) for item in _departments()},
        language_names=LANGUAGE_NAMES, held=held,
        linked_ideas=ideas.ideas_linked_to(case), idea_link_form=LinkCaseForm(),
    ), http_status


@bp.get("/cases/<reference:reference>")
def case(reference: str):
    case = _case_or_404(reference)
    if case.merged_into is not None:
        flash(_("Case %(old)s was merged into this one.", old=case.reference), "success")
        return redirect(url_for("staff.case", reference=case.merged_into.reference))
    db.session.commit()  # keep the audit record of this view
    return _render_case(case)


def _act(reference: str, form_key: str, form_class, action, success: str):
    """Validate the form, run the action; show errors, or what changed meanwhile."""
    case = _case_or_404(reference)
    form = form_class()
    if form_key == "assign":
        form.assignee.choices = [SelectChoice("", ""), SelectChoice("me", "")] + [
            SelectChoice(str(user.id), user.display_name)
            for user in service.colleagues_for(case)]
    if form_key == "transfer":
        form.department.choices = [SelectChoice(str(item.id), item.slug)
                                   for item in _departments()]
    held, refused = [], []
    if "attachments" in form:
        # Chosen files survive the form coming back (an error, someone else's change).
        held, refused = _hold_files(form)
    if not request.form.get("remove_kept") and form.validate_on_submit() and not refused:
        try:
            # whole_number: the events since an id past PostgreSQL's integer (a page
            # that was tampered with) made the query fail, a 500 instead of a 409.
            action(case, form, version=as_int(form.version.data),
                   since_event_id=whole_number(form.last_event.data))
            db.session.commit()
        except service.StaleCase as error:
            db.session.rollback()
            return _render_case(case, http_status=409, stale=error.changes, held=held,
                                **{form_key: form})
        except StaleDataError:
            db.session.rollback()
            db.session.refresh(case)
            return _render_case(case, http_status=409, stale=[], held=held, **{form_key: form})
        except cases.CaseError as error:
            db.session.rollback()
            show_case_error(form, error)
        else:
            cases.forget_held(held)
            flash(success, "success")
            return redirect(url_for("staff.case", reference=case.reference))
    for error in refused:
        show_case_error(form, error)
    return _render_case(case, http_status=400, held=held, **{form_key: form})


def _hold_files(form):
    held, refused = cases.hold_for_form(request.form.getlist("kept"),
                                        request.form.get("remove_kept", ""),
                                        uploaded_files(form.attachments))
    form.held = held
    return held, refused


@bp.post("/cases/<reference:reference>/reply")
def reply(reference: str):
    return _act(reference, "reply", StaffReplyForm, lambda case, form, **lock:
                service.reply_to_citizen(current_user, case, form.body.data,
                                         cases.release_held(form.held),
                                         ask_citizen=form.ask_citizen.data, **lock),
                _("Your reply has been sent to the citizen."))


@bp.post("/cases/<reference:reference>/note")
def note(reference: str):
    return _act(reference, "note", NoteForm, lambda case, form, **lock:
                service.add_note(current_user, case, form.body.data, **lock),
                _("Internal note added."))


@bp.post("/cases/<reference:reference>/status")
def status(reference: str):
    return _act(reference, "status", StatusForm, lambda case, form, **lock:
                service.set_status(current_user, case, CaseStatus(form.status.data),
                                   form.summary.data or "", **lock),
                _("Status changed."))


def _assignee(value: str):
    if value == "me":
        return current_user
    user_id = as_int(value)
    return db.session.get(User, user_id) if user_id else None


@bp.post("/cases/<reference:reference>/assign")
def assign(reference: str):
    return _act(reference, "assign", AssignForm, lambda case, form, **lock:
                service.assign(current_user, case, _assignee(form.assignee.data), **lock),
                _("Assignment changed."))


@bp.post("/cases/<reference:reference>/priority")
def priority(reference: str):
    return _act(reference, "priority", PriorityForm, lambda case, form, **lock:
                service.set_priority(current_user, case, CasePriority(form.priority.data),
                                     **lock),
                _("Priority changed."))


@bp.post("/cases/<reference:reference>/transfer")
def transfer(reference: str):
    response = _act(reference, "transfer", TransferForm, lambda case, form, **lock:
                    service.transfer(current_user, case,
                                     db.session.get(Department, as_int(form.department.data)),
                                     form.reason.data, **lock),
                    _("The case has been transferred. The citizen has been told."))
    if getattr(response, "status_code", None) == 302:
        # Sent out of her departments, the case is no longer hers to open: back to the
        # queue rather than a 404 under the success message.
        moved = db.session.scalar(select(cases.Case).where(
            cases.Case.reference == references.normalise(reference)))
        if moved is None or not service.can_see_case(current_user, moved):
            return redirect(url_for("staff.index"))
    return response


@bp.post("/cases/<reference:reference>/merge")
def merge(reference: str):
    return _act(reference, "merge", MergeForm, lambda case, form, **lock: service.merge(
        current_user, case, _case_by_reference(form.target.data), form.reason.data or "",
        **lock), _("The cases have been merged."))


def _case_by_reference(reference: str):
    target = db.session.scalar(select(cases.Case).where(
        cases.Case.reference == references.normalise(reference)))
    if target is None:
        raise cases.CaseError("merge_not_found", field="target")
    return target


@bp.post("/cases/<reference:reference>/link")
def link(reference: str):
    return _act(reference, "link", LinkForm, lambda case, form, **lock: service.link_cases(
        current_user, case, _case_by_reference(form.target.data), form.reason.data or "",
        **lock), _("The cases are now linked as related."))


@bp.get("/cases/<reference:reference>/files/<int:attachment_id>")
def download(reference: str, attachment_id: int):
    case = _case_or_404(reference)
    attachment = db.session.get(cases.Attachment, attachment_id)
    if attachment is None or attachment.case_id != case.id or \
            attachment.scan_status is not ScanStatus.CLEAN:
        abort(404)  # not scanned yet, or withheld: never served
    response = storage.send(attachment.content_hash, mimetype=attachment.content_type,
                            as_attachment=True, download_name=attachment.original_name,
                            max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


# ---------------------------------------------------------------- staff-entered cases

@bp.route("/cases/new", methods=["GET", "POST"])
def record():
    form = RecordCaseForm()
    form.topic.choices = topic_choices()
    if request.method == "GET":
        form.language.data = current_language()
        form.contact_preference.data = "phone"
    held, refused = _hold_files(form) if request.method == "POST" else ([], [])
    if not request.form.get("remove_kept") and form.validate_on_submit() and not refused:
        submission = submission_from(form, CaseKind(form.kind.data), cases.release_held(held),
                                     channel=Channel(form.channel.data))
        try:
            case = service.record_case(current_user, submission)
            db.session.commit()
        except cases.CaseError as error:
            db.session.rollback()
            show_case_error(form, error)
        else:
            cases.forget_held(held)
            flash(_("Case %(reference)s recorded.", reference=case.reference), "success")
            if service.can_see_case(current_user, case):
                return redirect(url_for("staff.case", reference=case.reference))
            return redirect(url_for("staff.index"))
    for error in refused:
        show_case_error(form, error)
    return render_template("staff/record.html", form=form, held=held)
