"""Citizen pages: the intake forms, the confirmation, the case page and /track."""

from __future__ import annotations

import secrets

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import page_cache, storage
from portal.cases import service
from portal.cases.forms import (
    CaseForm,
    ComplaintForm,
    RatingForm,
    ReopenForm,
    ReplyForm,
    TrackForm,
    megabytes,
    show_case_error,
    submission_from,
    topic_choices,
)
from portal.extensions import db, limiter
from portal.forms import uploaded_files
from portal.i18n import current_language
from portal.knowledge import service as knowledge
from portal.models import CaseKind, Idea, ScanStatus
from portal.security import public, signed_in

bp = Blueprint("cases", __name__)


@bp.after_request
def _never_cache(response):
    # Every page here can show a case, a message or contact details, signed in or not:
    # no shared cache, proxy or back button may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response

BROWSER_KEY = service.BROWSER_SESSION_KEY


# ---------------------------------------------------------------- helpers

def browser_key() -> str | None:
    return session.get(BROWSER_KEY)


def _grant(case) -> None:
    """Let this browser see the case (it sent the form or opened the emailed link)."""
    if not session.get(BROWSER_KEY):
        session[BROWSER_KEY] = service.new_browser_key()
    service.grant_access(case, session[BROWSER_KEY],
                         current_user if current_user.is_authenticated else None)


def _visible_case_or_404(reference: str):
    case = service.find_visible_case(reference, current_user, browser_key())
    if case is None:
        abort(404)  # the same answer for a missing case and someone else's
    return case


def _hold_form_files(field):
    return service.hold_for_form(request.form.getlist("kept"),
                                 request.form.get("remove_kept", ""), uploaded_files(field))


def _removing_a_file() -> bool:
    """The citizen pressed "Remove" by a kept file: show the form again, send nothing."""
    return bool(request.form.get("remove_kept"))


def _submission_key() -> str:
    """Rate-limit key per email address given in the form (or the account)."""
    email = request.form.get("contact_email", "").strip().lower()
    if not email and current_user.is_authenticated:
        email = current_user.email
    return f"case-email:{email}"


# ---------------------------------------------------------------- intake

INTAKE_CACHED_ARGS = frozenset({"kind", "subject", "lang"})


@bp.route("/cases/new", methods=["GET", "POST"])
@public
# The empty form is kept for anonymous visitors, its tokens made afresh per response;
# not with other arguments (?related= shows a case only this browser may see). Above
# the limits, which count POSTs only: a kept form is served without evaluating them.
@page_cache.cached(unless=lambda: not set(request.args) <= INTAKE_CACHED_ARGS)
@limiter.limit("20 per hour", methods=["POST"])
@limiter.limit("10 per hour", methods=["POST"], key_func=_submission_key)
def new():
    if request.args.get("kind") == "idea":
        return redirect(url_for("ideas.new"))  # ideas have a board of their own
    try:
        kind = CaseKind(request.args.get("kind", "question"))
    except ValueError:
        abort(404)
    form = (ComplaintForm if kind is CaseKind.COMPLAINT else CaseForm)()
    form.topic.choices = topic_choices()
    signed_in = current_user.is_authenticated
    form.contact_required = not signed_in
    if request.method == "GET":
        form.submission_token.data = page_cache.fresh("submission",
                                                      lambda: secrets.token_urlsafe(24))
        form.language.data = current_language()
        form.subject.data = request.args.get("subject", "")[:200] or None
        form.related.data = request.args.get("related", "")[:32]
        if signed_in:
            form.contact_name.data = current_user.display_name
            form.contact_email.data = current_user.email
            form.language.data = current_user.locale
    suggestions = None
    held: list[storage.KeptFile] = []
    refused: list[service.CaseError] = []
    if request.method == "POST":
        held, refused = _hold_form_files(form.attachments)
    if request.method == "POST" and request.form.get("check"):
        # "Check for existing answers" without JavaScript: show matches, keep the form.
        suggestions = knowledge.suggestions_for(f"{form.subject.data or ''} {form.body.data or ''}")
        if suggestions is None:
            suggestions = knowledge.suggestions_for(form.subject.data or "") or False
    elif request.method == "POST" and _removing_a_file():
        pass
    elif form.validate_on_submit() and not refused:
        if form.website.data:
            # A bot filled the hidden field: pretend all went well, keep nothing.
            service.forget_held(held)
            return render_template("cases/bot.html"), 200
        try:
            case = _submit(form, kind, held)
        except BaseException:
            service.forget_held(held)  # the error page cannot offer them back
            raise
        if case is not None:
            service.forget_held(held)
            return redirect(url_for("cases.submitted", reference=case.reference))
    for error in refused:
        show_case_error(form, error)
    return render_template("cases/new.html", form=form, kind=kind, suggestions=suggestions,
                           held=held, related=_related_case(form),
                           max_files=current_app.config["PORTAL"]["UPLOAD_MAX_FILES"],
                           max_file_size=megabytes(
                               current_app.config["PORTAL"]["UPLOAD_MAX_FILE_BYTES"]))


def _related_case(form):
    """The earlier case this one follows on from, if the sender may see it; else None."""
    reference = (form.related.data or "").strip()
    return service.find_visible_case(reference, _author(), browser_key()) if reference else None


def _submit(form, kind: CaseKind, held: list[storage.KeptFile]):
    overrides = {}
    if current_user.is_authenticated:
        overrides = {"contact_name": form.contact_name.data or current_user.display_name,
                     "contact_email": form.contact_email.data or current_user.email}
    submission = submission_from(
        form, kind, service.release_held(held), **overrides,
        publish_consent=form.publish_consent.data,
        submission_token=form.submission_token.data or None,
        related_case=_related_case(form))
    signed_in = current_user.is_authenticated
    try:
        case, _created = service.submit_case(submission, current_user if signed_in else None)
        _grant(case)
        db.session.commit()
    except service.CaseError as error:
        db.session.rollback()
        show_case_error(form, error)
        return None
    except IntegrityError:
        # The same form sent twice at once: the other request created the case.
        db.session.rollback()
        case = service.find_by_submission_token(submission.submission_token)
        if case is None:
            raise
        _grant(case)
        db.session.commit()
    return case


@bp.get("/cases/<reference:reference>/submitted")
@public(personal=True)
def submitted(reference: str):
    case = _visible_case_or_404(reference)
    first_days, _resolution_days, calendar_days = service.targets_for(case.department)
    return render_template("cases/submitted.html", case=case, first_days=first_days,
                           calendar_days=calendar_days)


# ---------------------------------------------------------------- the case page

@bp.get("/cases/<reference:reference>")
@public(personal=True)
def view_case(reference: str):
    token = request.args.get("access")
    if token is not None:
        case = service.case_for_link(token, reference)
        if case is None:
            abort(404)
        _grant(case)
        db.session.commit()
        # Drop the token from the address bar (and from any Referer header).
        return redirect(url_for("cases.view_case", reference=case.reference))
    case = _visible_case_or_404(reference)
    if case.merged_into is not None:
        target = case.merged_into
        # A merge grants nothing: only someone who may already open the other case is
        # taken there. Its citizen was sent a link to it by email.
        if service.can_view(target, current_user, browser_key()):
            return redirect(url_for("cases.view_case", reference=target.reference))
        return render_template("cases/merged.html", case=case)
    return _render_case(case)


def _render_case(case, reply_form=None, rating_form=None, reopen_form=None, status=200,
                 held=()):
    return render_template(
        "cases/case.html", case=case, messages=service.conversation(case),
        reply_form=reply_form or ReplyForm(), rating_form=rating_form or RatingForm(),
        reopen_form=reopen_form or ReopenForm(),
        can_reply=case.status in service.CITIZEN_CAN_REPLY,
        can_rate=case.status in service.ANSWERED and case.satisfaction is None,
        can_reopen=service.can_reopen(case), reopen_until=service.reopen_until(case),
        initial_files=[item for item in case.attachments if item.message_id is None],
        held=held,
    ), status


def _author():
    return current_user if current_user.is_authenticated else None


def _act(reference: str, form_key: str, form_class, action, success: str, anchor=None):
    """Validate the form, run the service action and commit; else show the errors."""
    case = _visible_case_or_404(reference)
    form = form_class()
    if form.validate_on_submit():
        try:
            action(case, form)
            db.session.commit()
        except service.CaseError as error:
            db.session.rollback()
            show_case_error(form, error)
        else:
            flash(success, "success")
            return redirect(url_for("cases.view_case", reference=case.reference,
                                    _anchor=anchor))
    return _render_case(case, status=400, **{f"{form_key}_form": form})


@bp.post("/cases/<reference:reference>/reply")
@public(personal=True)
@limiter.limit("30 per hour")
def reply(reference: str):
    case = _visible_case_or_404(reference)
    form = ReplyForm()
    held, refused = _hold_form_files(form.attachments)
    if not _removing_a_file() and form.validate_on_submit() and not refused:
        try:
            service.add_citizen_message(case, form.body.data, service.release_held(held),
                                        author=_author())
            db.session.commit()
        except service.CaseError as error:
            db.session.rollback()
            show_case_error(form, error)
        else:
            service.forget_held(held)
            flash(_("Your reply has been sent."), "success")
            return redirect(url_for("cases.view_case", reference=case.reference,
                                    _anchor="conversation"))
    for error in refused:
        show_case_error(form, error)
    return _render_case(case, status=400, reply_form=form, held=held)


@bp.post("/cases/<reference:reference>/rate")
@public(personal=True)
def rate(reference: str):
    return _act(reference, "rating", RatingForm, lambda case, form: service.rate_case(
        case, int(form.score.data), form.comment.data or "", author=_author()),
        _("Thank you for rating the answer."))


@bp.post("/cases/<reference:reference>/reopen")
@public(personal=True)
def reopen(reference: str):
    return _act(reference, "reopen", ReopenForm, lambda case, form: service.reopen_case(
        case, form.reason.data, author=_author()),
        _("Your case is open again. We will answer you."))


@bp.post("/cases/<reference:reference>/consent")
@public(personal=True)
def withdraw_consent(reference: str):
    """The citizen takes back the permission to publish their case in the knowledge base."""
    case = _visible_case_or_404(reference)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        service.withdraw_publish_consent(case, author=_author())
    except service.CaseError:
        pass  # already withdrawn (a second click): the page says so
    else:
        db.session.commit()
        flash(_("Done: nothing from this case will be published, and what was published "
                "has been taken down."), "success")
    return redirect(url_for("cases.view_case", reference=case.reference, _anchor="publishing"))


@bp.get("/cases/<reference:reference>/files/<int:attachment_id>")
@public(personal=True)
def download(reference: str, attachment_id: int):
    case = _visible_case_or_404(reference)
    attachment = service.attachment_of(case, attachment_id)
    if attachment is None or attachment.scan_status is not ScanStatus.CLEAN:
        abort(404)  # not scanned yet, or withheld: never served
    response = storage.send(attachment.content_hash, mimetype=attachment.content_type,
                            as_attachment=True, download_name=attachment.original_name,
                            max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# ---------------------------------------------------------------- tracking

@bp.route("/track", methods=["GET", "POST"])
@public
@limiter.limit("10 per hour", methods=["POST"])
@limiter.limit("5 per hour", methods=["POST"],
               key_func=lambda: "track-email:" + request.form.get("email", "").strip().lower())
def track():
    form = TrackForm()
    if form.validate_on_submit():
        service.request_tracking_link(form.reference.data, form.email.data)
        db.session.commit()
        # The same page whether or not they matched: references are not confirmed here.
        return render_template("cases/track_sent.html", email=form.email.data)
    return render_template("cases/track.html", form=form)


@bp.get("/account/cases")
@signed_in
def my_cases():
    ideas = db.session.scalars(
        select(Idea).where(Idea.author_id == current_user.id).order_by(Idea.created_at.desc())
    ).all()
    return render_template("cases/my_cases.html", cases=service.cases_of(current_user),
                           ideas=ideas)
