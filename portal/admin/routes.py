"""The administration pages (/manage/admin/, administrators) and the audit log
(/manage/audit/, administrators and managers)."""

from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from wtforms import SelectChoice

from portal import deployment, jobs
from portal.accounts import second_factor
from portal.admin import service
from portal.admin.forms import (
    AuditFilterForm,
    CategoryForm,
    ConfirmForm,
    DepartmentForm,
    DeploymentForm,
    HolidayForm,
    InviteForm,
    RetryJobForm,
    StaffForm,
)
from portal.audit import audit
from portal.extensions import db
from portal.i18n import LANGUAGE_NAMES, current_language
from portal.models import Category, Department, Holiday, Role, User
from portal.request_limits import whole_number
from portal.security import guard_blueprint
from portal.sla import spanish_national_holidays
from portal.stats import tables
from portal.stats.periods import today

bp = Blueprint("admin", __name__)
guard_blueprint(bp, Role.ADMIN)
# The audit log, at /manage/audit: administrators read all of it, managers what
# concerns their departments (admin.service.audit_events).
audit_bp = Blueprint("audit", __name__)
guard_blueprint(audit_bp, Role.MANAGER)

# What each refusal of the service says, next to its field.
ERRORS = {
    "slug_taken": lambda: _("Another one already uses this short name."),
    "resolution_before_first_response": lambda: _(
        "The time to resolve cannot be shorter than the time to answer first."),
    "accepts_nothing": lambda: _("Tick at least one: questions or complaints."),
    "national_holiday": lambda: _("That day is already a national holiday."),
    "holiday_exists": lambda: _("That day is already a holiday."),
    "email_taken": lambda: _("This address already has an account."),
    "not_a_staff_role": lambda: _("Choose a role."),
    "not_yourself": lambda: _(
        "You cannot take away your own access: another administrator must do it."),
}


def _refused(form, error: service.AdminError) -> None:
    form[error.field].errors = [*form[error.field].errors, ERRORS[error.code]()]


@bp.get("/")
def index():
    return render_template("admin/index.html", departments=service.departments())


# ---------------------------------------------------------------- departments

def _save_department(form: DepartmentForm, department: Department | None):
    return service.save_department(
        current_user, department, slug=form.slug.data, names=form.names,
        contact_email=form.contact_email.data or "",
        first_response_days=form.first_response_days.data,
        resolution_days=form.resolution_days.data,
        calendar_days=form.counting.data == "calendar", active=form.active.data)


@bp.route("/departments/new", methods=["GET", "POST"])
def new_department():
    form = DepartmentForm()
    if form.validate_on_submit():
        try:
            department = _save_department(form, None)
        except service.AdminError as error:
            _refused(form, error)
        else:
            db.session.commit()
            flash(_("Department “%(name)s” created.", name=department.name(current_language())),
                  "success")
            return redirect(url_for("admin.index"))
    return render_template("admin/department.html", form=form, department=None), \
        400 if form.errors else 200


@bp.route("/departments/<int:department_id>", methods=["GET", "POST"])
def edit_department(department_id: int):
    department = db.session.get(Department, department_id) or abort(404)
    form = DepartmentForm(obj=department, names=department.names)
    if not form.is_submitted():
        form.counting.data = "calendar" if department.calendar_days else "working"
    if form.validate_on_submit():
        try:
            _save_department(form, department)
        except service.AdminError as error:
            _refused(form, error)
        else:
            db.session.commit()
            flash(_("Department “%(name)s” saved.", name=department.name(current_language())),
                  "success")
            return redirect(url_for("admin.index"))
    return render_template("admin/department.html", form=form, department=department), \
        400 if form.errors else 200


# ---------------------------------------------------------------- topics

def _category_form(category: Category | None = None, department: Department | None = None):
    language = current_language()
    form = CategoryForm(obj=category, names=category.names if category else None)
    form.department.choices = [SelectChoice("", _("Choose…"))] + [
        SelectChoice(str(item.id), item.name(language)) for item in service.departments()]
    if not form.is_submitted():
        chosen = category.department if category else department
        form.department.data = str(chosen.id) if chosen else ""
    return form


def _save_category(form: CategoryForm, category: Category | None):
    department = db.session.get(Department, int(form.department.data)) \
        if form.department.data.isdigit() else None
    if department is None:
        abort(400)  # not one of the choices: WTForms has refused it already
    return service.save_category(
        current_user, category, department=department, slug=form.slug.data,
        names=form.names, accepts_questions=form.accepts_questions.data,
        accepts_complaints=form.accepts_complaints.data, active=form.active.data)


@bp.route("/topics/new", methods=["GET", "POST"])
def new_category():
    # whole_number: a number past PostgreSQL's integer made the query fail (a 500).
    department = db.session.get(Department, whole_number(request.args.get("department")) or 0)
    form = _category_form(department=department)
    if form.validate_on_submit():
        try:
            category = _save_category(form, None)
        except service.AdminError as error:
            _refused(form, error)
        else:
            db.session.commit()
            flash(_("Topic “%(name)s” created.", name=category.name(current_language())),
                  "success")
            return redirect(url_for("admin.index") + f"#department-{category.department_id}")
    return render_template("admin/topic.html", form=form, category=None), \
        400 if form.errors else 200


@bp.route("/topics/<int:category_id>", methods=["GET", "POST"])
def edit_category(category_id: int):
    category = db.session.get(Category, category_id) or abort(404)
    form = _category_form(category)
    if form.validate_on_submit():
        try:
            _save_category(form, category)
        except service.AdminError as error:
            _refused(form, error)
        else:
            db.session.commit()
            flash(_("Topic “%(name)s” saved.", name=category.name(current_language())),
                  "success")
            return redirect(url_for("admin.index") + f"#department-{category.department_id}")
    return render_template("admin/topic.html", form=form, category=category), \
        400 if form.errors else 200


# ---------------------------------------------------------------- holidays

def _year() -> int:
    year = request.args.get("year", type=int)
    this_year = today().year
    return year if year is not None and this_year - 5 <= year <= this_year + 5 else this_year


def _holidays_page(form: HolidayForm, year: int, status: int = 200):
    return render_template(
        "admin/holidays.html", form=form, year=year, holidays=service.holidays(year),
        national=sorted(spanish_national_holidays(year)), remove_form=ConfirmForm()), status


@bp.get("/holidays")
def holidays():
    return _holidays_page(HolidayForm(formdata=None), _year())


@bp.post("/holidays")
def add_holiday():
    """Step one: what the day would move; step two (confirm): save it and move them."""
    form = HolidayForm()
    year = form.day.data.year if form.day.data else _year()
    if not form.validate_on_submit():
        return _holidays_page(form, year, 400)
    if form.confirm.data != "yes":
        try:  # no preview for a day that cannot be added
            service.check_new_holiday(form.day.data)
        except service.AdminError as error:
            _refused(form, error)
            return _holidays_page(form, year, 400)
        changes = service.holiday_changes(form.day.data, adding=True)
        form.confirm.data = "yes"
        return render_template("admin/holiday_confirm.html", form=form, changes=changes,
                               adding=True)
    try:
        changes = service.add_holiday(current_user, form.day.data, form.name.data)
    except service.AdminError as error:
        _refused(form, error)
        return _holidays_page(form, year, 400)
    db.session.commit()
    flash(_moved_message(changes), "success")
    return redirect(url_for("admin.holidays", year=year))


@bp.post("/holidays/<int:holiday_id>/remove")
def remove_holiday(holiday_id: int):
    holiday = db.session.get(Holiday, holiday_id) or abort(404)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if form.confirm.data != "yes":
        form.confirm.data = "yes"
        return render_template("admin/holiday_confirm.html", form=form, holiday=holiday,
                               changes=service.holiday_changes(holiday.day, adding=False),
                               adding=False)
    year = holiday.day.year
    changes = service.remove_holiday(current_user, holiday)
    db.session.commit()
    flash(_moved_message(changes), "success")
    return redirect(url_for("admin.holidays", year=year))


def _moved_message(changes) -> str:
    if not changes:
        return _("Calendar saved. No due date had to move.")
    return ngettext("Calendar saved. %(num)d due date moved.",
                    "Calendar saved. %(num)d due dates moved.", len(changes))


# ---------------------------------------------------------------- the deployment

@bp.route("/deployment", methods=["GET", "POST"])
def deployment_settings():
    """The portal's name, contact details, privacy notice and accessibility statement."""
    saved = service.deployment_settings()
    form = DeploymentForm(obj=saved, texts={
        "privacy": saved.privacy_texts, "accessibility": saved.accessibility_texts,
    } if saved else None)
    if form.validate_on_submit():
        service.save_deployment(
            current_user, **{name: form[name].data or "" for name in form.DETAILS},
            privacy_texts=form.page_texts("privacy"),
            accessibility_texts=form.page_texts("accessibility"))
        db.session.commit()
        flash(_("Saved. The portal shows these details and texts now."), "success")
        return redirect(url_for("admin.deployment_settings"))
    return render_template("admin/deployment.html", form=form, defaults=deployment.defaults(),
                           text_languages=LANGUAGE_NAMES), 400 if form.errors else 200


# ---------------------------------------------------------------- staff

def _department_choices(form) -> None:
    language = current_language()
    form.departments.choices = [SelectChoice(item.id, item.name(language))
                                for item in service.departments()]


def _chosen_departments(form) -> list[Department]:
    chosen = set(form.departments.data or [])
    return [item for item in service.departments() if item.id in chosen]


@bp.get("/jobs")
def background_jobs():
    queue = jobs.queue()
    return render_template("admin/jobs.html", queue=queue,
                           waiting=len(queue) if queue is not None else 0,
                           failed=jobs.failed_jobs(), retry_form=RetryJobForm())


@bp.post("/jobs/retry")
def retry_job():
    form = RetryJobForm()
    if form.validate_on_submit() and jobs.retry_failed(form.job_id.data):
        audit("job.retried", actor=current_user, target_type="job", target_id=form.job_id.data)
        db.session.commit()
        flash(_("The job is back in the queue."), "success")
    else:
        flash(_("That job is no longer among the failed ones."), "error")
    return redirect(url_for("admin.background_jobs"))


@bp.get("/users")
def users():
    return render_template("admin/users.html", people=service.staff(),
                           resend_form=ConfirmForm())


@bp.route("/users/invite", methods=["GET", "POST"])
def invite_user():
    form = InviteForm()
    _department_choices(form)
    if request.method == "GET":
        form.locale.data = current_language()
    if form.validate_on_submit():
        try:
            user = service.invite(current_user, email=form.email.data,
                                  display_name=form.display_name.data,
                                  role=Role(form.role.data), locale=form.locale.data,
                                  departments=_chosen_departments(form))
        except service.AdminError as error:
            _refused(form, error)
        else:
            db.session.commit()
            flash(_("Invitation sent to %(email)s.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user.html", form=form, person=None), \
        400 if form.errors else 200


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def edit_user(user_id: int):
    person = db.session.get(User, user_id)
    if person is None or person.role not in service.STAFF_ROLES:
        abort(404)
    form = StaffForm(obj=person)
    _department_choices(form)
    if not form.is_submitted():
        form.role.data = person.role.value
        form.departments.data = [item.id for item in person.departments]
    if form.validate_on_submit():
        try:
            service.change_user(current_user, person, role=Role(form.role.data),
                                departments=_chosen_departments(form),
                                active=form.active.data)
        except service.AdminError as error:
            _refused(form, error)
        else:
            db.session.commit()
            flash(_("Saved: %(name)s.", name=person.display_name), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user.html", form=form, person=person), \
        400 if form.errors else 200


@bp.post("/users/<int:user_id>/invitation")
def resend_invitation(user_id: int):
    person = db.session.get(User, user_id)
    if person is None or person.role not in service.STAFF_ROLES:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        service.reinvite(current_user, person)
    except service.AdminError:
        flash(_("%(name)s has already opened the account.", name=person.display_name), "error")
    else:
        db.session.commit()
        flash(_("Invitation sent to %(email)s.", email=person.email), "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/second-factor/reset")
def reset_second_factor(user_id: int):
    person = db.session.get(User, user_id)
    if person is None or person.role not in service.STAFF_ROLES or \
            person.totp_enabled_at is None:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    second_factor.reset(current_user, person)
    db.session.commit()
    flash(_("The second factor of %(name)s has been reset. Their sessions have ended.",
            name=person.display_name), "success")
    return redirect(url_for("admin.edit_user", user_id=person.id))


# ---------------------------------------------------------------- the audit log

def _audit_filters():
    form = AuditFilterForm(request.args)
    form.action.choices = [SelectChoice("", _("Any action"))] + [
        SelectChoice(action, action) for action in service.audit_actions()]
    if not form.validate():
        return form, None
    return form, service.AuditFilters(
        person=form.person.data or "", action=form.action.data or "",
        target_type=form.target_type.data or "", target_id=form.target_id.data or "",
        start=form.start.data, end=form.end.data)


@audit_bp.get("/")
def log():
    """Who did what, to which object, when: newest first, 50 at a time."""
    form, filters = _audit_filters()
    before = whole_number(request.args.get("before"))  # an id: past PostgreSQL's integer, a 500
    events = service.audit_events(current_user, filters, before) if filters is not None \
        else []
    args = {key: value for key, value in request.args.items() if key != "before" and value}
    return render_template("admin/audit.html", form=form, events=events, args=args,
                           page_size=service.AUDIT_PAGE), 200 if filters is not None else 400


@audit_bp.get("/audit.csv")
def log_csv():
    _form, filters = _audit_filters()
    if filters is None:
        abort(400)
    events = service.audit_export(current_user, filters)
    db.session.commit()
    table = tables.Table("audit", _("Audit log"), [
        _("When (UTC)"), _("Person"), _("Came from"), _("Action"), _("Kind of object"),
        _("Object"), _("Details")], [
        [event.created_at.isoformat(timespec="seconds"),
         event.actor.email if event.actor else "", event.remote_addr, event.action,
         event.target_type,
         event.target_id, json.dumps(event.data, ensure_ascii=False, sort_keys=True)]
        for event in events], numeric_from=99)
    return tables.csv_response(table, "", f"audit-{today().isoformat()}.csv")
