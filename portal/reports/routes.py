"""Reports: the public pages (/reports) and the managers' editor (/manage/reports)."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from portal import clock, deployment, markdown, page_cache
from portal.extensions import db
from portal.i18n import LANGUAGE_NAMES, current_language
from portal.models import (
    Article,
    Commitment,
    CommitmentStatus,
    Department,
    Idea,
    Milestone,
    Report,
    ReportStatus,
    Role,
)
from portal.reports import service
from portal.reports.forms import CommitmentUpdateForm, MilestoneForm, ReportForm, WithdrawForm
from portal.security import guard_blueprint, public
from portal.stats import figures

bp = Blueprint("reports", __name__)
manage_bp = Blueprint("reports_manage", __name__)
guard_blueprint(manage_bp, Role.MANAGER)

FEED_ENTRIES = 30
PICKERS = ("ideas", "cases", "articles")  # each with a <singular>_query search box


# ---------------------------------------------------------------- public

@bp.get("/reports")
@public
@page_cache.cached()
def index():
    reports = service.published()
    return render_template("reports/index.html", reports=reports,
                           totals=service.commitment_totals(), today=figures.today())


@bp.get("/reports/<int:report_id>")
@public
@page_cache.cached()
def report(report_id: int):
    item = service.public_report(report_id) or abort(404)
    return _render_report("reports/report.html", item)


def _render_report(template: str, item: Report, **context):
    language = current_language()
    count, topics = service.public_case_summary(item, language)
    return render_template(template, report=item, body=markdown.render(item.body),
                           case_count=count, case_topics=topics, today=figures.today(),
                           totals=service.commitment_totals([item]), **context)


@bp.get("/reports/feed.atom")
@public
def feed():
    """Published reports and their commitment updates, newest first (Atom)."""
    from feedgen.feed import FeedGenerator

    base = current_app.config["PORTAL"]["BASE_URL"].rstrip("/")
    generator = FeedGenerator()
    generator.id(f"{base}{url_for('reports.index')}")
    generator.title(_("You said, we did") + " · " + deployment.current().site_name)
    generator.link(href=f"{base}{url_for('reports.index')}", rel="alternate")
    generator.link(href=f"{base}{url_for('reports.feed')}", rel="self")
    generator.language(current_language())
    reports = service.published(FEED_ENTRIES)
    generator.updated(max((item.withdrawn_at or item.published_at for item in reports),
                          default=clock.now()))
    for item in reversed(reports):  # feedgen puts the last added first
        link = f"{base}{url_for('reports.report', report_id=item.id)}"
        entry = generator.add_entry()
        entry.id(link)
        entry.link(href=link)
        entry.published(item.published_at)
        entry.updated(item.withdrawn_at or item.published_at)
        if item.status is ReportStatus.WITHDRAWN:
            entry.title(_("Withdrawn: %(title)s", title=item.title))
            entry.summary(item.withdrawal_reason)
        else:
            entry.title(item.title)
            entry.summary(item.summary)
    response = current_app.response_class(generator.atom_str(pretty=True),
                                          mimetype="application/atom+xml")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# ---------------------------------------------------------------- the editor

@manage_bp.get("/")
def reports():
    return render_template("reports/manage_list.html", reports=service.all_for_managers())


@manage_bp.route("/new", methods=["GET", "POST"])
def new():
    return _editor(None)


@manage_bp.route("/<int:report_id>/edit", methods=["GET", "POST"])
def edit(report_id: int):
    item = db.session.get(Report, report_id) or abort(404)
    if item.status is not ReportStatus.DRAFT:
        flash(_("A published report cannot be changed; update its commitments instead."),
              "error")
        return redirect(url_for("reports_manage.manage", report_id=item.id))
    return _editor(item)


def _editor(item: Report | None):
    language = current_language()
    form = ReportForm(obj=item if request.method == "GET" else None)
    form.locale.choices = [SelectChoice(code, name) for code, name in LANGUAGE_NAMES.items()]
    form.department.choices = [SelectChoice("", _("All departments"))] + [
        SelectChoice(str(department.id), department.name(language))
        for department in db.session.scalars(select(Department).order_by(Department.slug))]
    if request.method == "GET":
        _fill(form, item)
    action = request.form.get("action", "save")
    if action == "save":
        # Enter in a picker's search box presses the form's first button (save): words
        # typed there and not yet searched for mean "search", as the box promises.
        action = next((f"find_{name}" for name in PICKERS
                       if (getattr(form, f"{name[:-1]}_query").data or "").strip()), "save")
    if request.method == "POST" and action == "add_commitment":
        form.commitments.append_entry()
    _offer_choices(form, action if request.method == "POST" else "")
    if request.method == "POST" and action == "save" and form.validate_on_submit():
        draft = service.Draft(
            title=form.title.data, summary=form.summary.data, body=form.body.data or "",
            locale=form.locale.data, period_start=form.period_start.data,
            period_end=form.period_end.data,
            department=db.session.get(Department, int(form.department.data))
            if (form.department.data or "").isdigit() else None,
            idea_ids=form.ideas.data or [], implemented_idea_ids=form.implemented.data or [],
            case_ids=form.cases.data or [], article_ids=form.articles.data or [],
            commitments=[(row.form.title.data, row.form.due_on.data)
                         for row in form.commitments if row.form.title.data])
        try:
            saved = service.save(current_user, item, draft)
        except service.ReportError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            flash(_("Draft saved. Check it below, then publish it."), "success")
            return redirect(url_for("reports_manage.manage", report_id=saved.id))
    status = 400 if request.method == "POST" and action == "save" else 200
    return render_template("reports/edit.html", form=form, item=item), status


def _fill(form: ReportForm, item: Report | None) -> None:
    if item is None:
        today = figures.today()
        form.locale.data = current_language()
        form.period_end.data = today
        form.period_start.data = today.replace(day=1)
        return
    form.department.data = str(item.department_id or "")
    form.ideas.data = [idea.id for idea in item.ideas]
    form.implemented.data = list(item.implemented_idea_ids)
    form.cases.data = [case.id for case in item.cases]
    form.articles.data = [article.id for article in item.articles]
    while len(form.commitments) < len(item.commitments) + 1:
        form.commitments.append_entry()
    for row, commitment in zip(form.commitments, item.commitments, strict=False):
        row.form.title.data, row.form.due_on.data = commitment.title, commitment.due_on


def _offer_choices(form: ReportForm, action: str) -> None:
    """The checkboxes: what is linked already, plus what the picker just found."""
    chosen_ideas = _ints(form.ideas.data)
    ideas = list(db.session.scalars(select(Idea).where(Idea.id.in_(chosen_ideas)))) \
        if chosen_ideas else []
    if action == "find_ideas":
        ideas += [idea for idea in service.find_ideas(form.idea_query.data or "")
                  if idea.id not in chosen_ideas]
    form.ideas.choices = [SelectChoice(idea.id, f"#{idea.id} {idea.title}") for idea in ideas]
    form.implemented.choices = [SelectChoice(idea.id, f"#{idea.id} {idea.title}")
                                for idea in ideas if idea.id in chosen_ideas
                                or action == "find_ideas"]
    chosen_cases = _ints(form.cases.data)
    cases = service.find_cases_by_id(current_user, chosen_cases)
    if action == "find_cases":
        cases += [case for case in service.find_cases(current_user, form.case_query.data or "")
                  if case.id not in chosen_cases]
    form.cases.choices = [SelectChoice(case.id, f"{case.reference} · {case.subject}")
                          for case in cases]
    chosen_articles = _ints(form.articles.data)
    articles = list(db.session.scalars(select(Article).where(Article.id.in_(chosen_articles)))) \
        if chosen_articles else []
    if action == "find_articles":
        articles += [article for article in service.find_articles(form.article_query.data or "")
                     if article.id not in chosen_articles]
    form.articles.choices = [SelectChoice(article.id, article.title) for article in articles]
    # A search is done once: its results are now checkboxes, and its box is empty again.
    if action.startswith("find_"):
        getattr(form, f"{action[5:-1]}_query").data = ""


def _ints(values) -> list[int]:
    return [value for value in (values or []) if isinstance(value, int)]


def _field_error(form, error: service.ReportError) -> None:
    messages = {
        "period_order": _("The last day must be on or after the first day."),
        "not_a_draft": _("A published report cannot be changed; update its commitments instead."),
        "summary_required": _("Enter a summary: it is what the home page and the emails show."),
        "reason_required": _("Say why: the reason is shown on the report."),
        "not_published": _("Only a published report can be changed like this."),
        "bad_progress": _("Enter the progress, from 0 to 100."),
        "nothing_changed": _("Change the status or the progress, or say what has changed."),
    }
    field = getattr(form, error.field, None) if error.field else None
    message = messages.get(error.code, error.code)
    if field is not None:
        field.errors = [*field.errors, message] if isinstance(field.errors, list) else [message]
    else:
        flash(message, "error")


@manage_bp.get("/<int:report_id>")
def manage(report_id: int):
    item = db.session.get(Report, report_id) or abort(404)
    return _render_manage(item)


def _render_manage(item: Report, withdraw_form=None, update_forms=None, milestone_forms=None,
                   status: int = 200):
    update_forms = update_forms or {}
    milestone_forms = milestone_forms or {}
    for commitment in item.commitments:
        if commitment.id not in update_forms:
            form = CommitmentUpdateForm(prefix=f"c{commitment.id}")
            form.status.data, form.progress.data = commitment.status.value, commitment.progress
            update_forms[commitment.id] = form
        milestone_forms.setdefault(commitment.id, MilestoneForm(prefix=f"m{commitment.id}"))
    return _render_report("reports/manage.html", item,
                          withdraw_form=withdraw_form or WithdrawForm(),
                          update_forms=update_forms, milestone_forms=milestone_forms,
                          recipients=len(service.recipients(item))), status


@manage_bp.post("/<int:report_id>/publish")
def publish(report_id: int):
    item = db.session.get(Report, report_id) or abort(404)
    try:
        told = service.publish(current_user, item)
    except service.ReportError as error:
        _field_error(None, error)
        return redirect(url_for("reports_manage.manage", report_id=item.id))
    db.session.commit()
    flash(ngettext("Published. %(num)d person has been told by email.",
                   "Published. %(num)d people have been told by email.", told), "success")
    return redirect(url_for("reports_manage.manage", report_id=item.id))


@manage_bp.post("/<int:report_id>/withdraw")
def withdraw(report_id: int):
    item = db.session.get(Report, report_id) or abort(404)
    form = WithdrawForm()
    if form.validate_on_submit():
        try:
            service.withdraw(current_user, item, form.reason.data)
        except service.ReportError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            flash(_("The report has been withdrawn; its page says why."), "success")
            return redirect(url_for("reports_manage.manage", report_id=item.id))
    return _render_manage(item, withdraw_form=form, status=400)


@manage_bp.post("/commitments/<int:commitment_id>/update")
def update_commitment(commitment_id: int):
    commitment = db.session.get(Commitment, commitment_id) or abort(404)
    form = CommitmentUpdateForm(prefix=f"c{commitment.id}")
    if form.validate_on_submit():
        try:
            service.update_commitment(current_user, commitment,
                                      CommitmentStatus(form.status.data), form.progress.data,
                                      form.note.data or "")
        except service.ReportError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            flash(_("Commitment updated; the people linked to the report have been told."),
                  "success")
            return redirect(url_for("reports_manage.manage", report_id=commitment.report_id)
                            + f"#commitment-{commitment.id}")
    return _render_manage(commitment.report, update_forms={commitment.id: form}, status=400)


@manage_bp.post("/commitments/<int:commitment_id>/milestones")
def add_milestone(commitment_id: int):
    commitment = db.session.get(Commitment, commitment_id) or abort(404)
    form = MilestoneForm(prefix=f"m{commitment.id}")
    if form.validate_on_submit():
        service.add_milestone(current_user, commitment, form.title.data, form.due_on.data)
        db.session.commit()
        flash(_("Milestone added."), "success")
        return redirect(url_for("reports_manage.manage", report_id=commitment.report_id)
                        + f"#commitment-{commitment.id}")
    return _render_manage(commitment.report, milestone_forms={commitment.id: form}, status=400)


@manage_bp.post("/milestones/<int:milestone_id>/done")
def milestone_done(milestone_id: int):
    milestone = db.session.get(Milestone, milestone_id) or abort(404)
    service.mark_milestone_done(current_user, milestone)
    db.session.commit()
    flash(_("Milestone marked as reached."), "success")
    return redirect(url_for("reports_manage.manage", report_id=milestone.commitment.report_id)
                    + f"#commitment-{milestone.commitment_id}")

