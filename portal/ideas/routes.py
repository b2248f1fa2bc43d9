"""The ideas board (/ideas) and the staff's side of it (/staff/ideas)."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    after_this_request,
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
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from wtforms import SelectChoice

from portal import clock, deployment, storage
from portal.cases import service as cases
from portal.cases.forms import FILE_ERRORS, megabytes
from portal.extensions import db, limiter
from portal.forms import uploaded_files
from portal.i18n import current_language
from portal.ideas import service
from portal.ideas.forms import (
    IDEA_ERRORS,
    ActionForm,
    BoardForm,
    CommentForm,
    EditIdeaForm,
    FlagForm,
    IdeaForm,
    IdeaStatusForm,
    LinkCaseForm,
    MergeIdeaForm,
    ModerationForm,
    WithdrawForm,
)
from portal.knowledge import service as knowledge
from portal.markdown import linkify
from portal.models import Case, Comment, Department, IdeaStatus, Role, WithdrawalReason
from portal.permissions import PermissionDenied
from portal.request_limits import whole_number
from portal.security import guard_blueprint, public

bp = Blueprint("ideas", __name__)
bp.add_app_template_filter(linkify, "linkify")
staff_bp = Blueprint("ideas_staff", __name__)
guard_blueprint(staff_bp, Role.AGENT)

# A guest's idea, kept while they sign in or register (accounts keeps "draft:" keys).
DRAFT_KEY = "draft:idea"


def _user():
    return current_user if current_user.is_authenticated else None


def _user_key() -> str:
    """Rate limits per account (every POST here needs one), across workers."""
    return f"user:{current_user.get_id()}" if current_user.is_authenticated else \
        request.remote_addr or ""


def show_idea_error(form, error: service.IdeaError) -> None:
    if error.code in FILE_ERRORS:
        message = FILE_ERRORS[error.code] % {
            "name": error.filename,
            "size": megabytes(current_app.config["PORTAL"]["UPLOAD_MAX_FILE_BYTES"])}
    else:
        message = IDEA_ERRORS.get(error.code, IDEA_ERRORS["invalid_transition"]) % {
            "name": error.filename}
    target = getattr(form, error.field or "", None) if form is not None else None
    if target is not None:
        target.errors = [*target.errors, message]
    else:
        flash(message, "error")


def _department_choices(first_label) -> list[SelectChoice]:
    language = current_language()
    departments = db.session.scalars(select(Department).where(Department.active.is_(True)))
    return [SelectChoice("", first_label)] + sorted(
        (SelectChoice(str(department.id), department.name(language))
         for department in departments), key=lambda choice: choice.label)


def _idea_or_404(idea_id: int):
    idea = service.idea_for(idea_id, _user())
    if idea is None:
        abort(404)  # the same answer for a missing idea and one the viewer may not see
    return idea


# ---------------------------------------------------------------- the board

@bp.get("/ideas")
@public
def board():
    form = BoardForm(request.args)
    form.department.choices = _department_choices(_("All departments"))
    valid = form.validate()
    department_id = whole_number(form.department.data) if valid else None
    try:
        status = IdeaStatus(form.status.data) if valid and form.status.data else None
    except ValueError:
        status = None
    mine = valid and form.mine.data == "1" and current_user.is_authenticated
    sort = form.sort.data if valid and form.sort.data in service.SORTS else "supported"
    query = service.BoardQuery(
        sort=sort, department_id=department_id, status=status,
        author=current_user if mine else None,
        text=(form.q.data or "") if valid else "", locale=current_language(),
        page=whole_number(request.args.get("page"), maximum=10_000) or 1)
    page = service.board(query)
    if sort == "trending" and service.trending_is_stale():
        _age_trending_after_this_response()
    return render_template("ideas/board.html", form=form, page=page, query=query,
                           args={key: value for key, value in request.args.items()
                                 if key != "page"})


def _age_trending_after_this_response() -> None:
    """Age the trending counts once the page has gone out (it takes a second or more at
    scale): the visitor does not wait for it, the next one sees it."""
    app = current_app._get_current_object()

    @after_this_request
    def later(response):
        def refresh():
            with app.app_context():
                service.refresh_trending_if_stale()
        response.call_on_close(refresh)
        return response


# ---------------------------------------------------------------- proposing

@bp.route("/ideas/new", methods=["GET", "POST"])
@public(personal=True)
@limiter.limit("10 per hour", methods=["POST"], key_func=_user_key)
def new():
    form = IdeaForm()
    form.department.choices = _department_choices(_("I'm not sure"))
    suggestions = None
    held: list[storage.KeptFile] = []
    refused: list = []
    if request.method == "GET" and current_user.is_authenticated and DRAFT_KEY in session:
        draft = session.pop(DRAFT_KEY)
        form.title.data, form.body.data = draft.get("title"), draft.get("body")
        form.department.data = draft.get("department", "")
        form.location_text.data = draft.get("location_text", "")
        held = cases.held_files(draft.get("kept", []))
        flash(_("We kept what you wrote. Check it and send your idea."), "info")
    if request.method == "POST":
        # A picture that arrives is checked and held at once, so that no answer of this
        # form (an error, the check step, signing in first) loses it.
        held, refused = cases.hold_for_form(request.form.getlist("kept"),
                                            request.form.get("remove_kept", ""),
                                            uploaded_files(form.attachments))
        held, refused = _pictures_only(held, refused)
    if request.method == "POST" and request.form.get("check"):
        text = f"{form.title.data or ''} {form.body.data or ''}"
        suggestions = knowledge.suggestions_for(text)
        if suggestions is None:
            suggestions = knowledge.suggestions_for(form.title.data or "") or False
    elif request.method == "POST" and request.form.get("remove_kept"):
        pass
    elif form.validate_on_submit() and not refused:
        if len(held) > 1:
            refused.append(service.IdeaError("one_image", field="attachments"))
        elif not current_user.is_authenticated:
            # Kept in the (signed) session cookie until they sign in or register.
            session[DRAFT_KEY] = {"title": form.title.data, "body": form.body.data,
                                  "department": form.department.data or "",
                                  "location_text": form.location_text.data or "",
                                  "kept": [item.token for item in held]}
            flash(_("Sign in or create an account to send your idea. We have kept what "
                    "you wrote."), "info")
            return redirect(url_for("accounts.login", next=url_for("ideas.new")))
        else:
            idea = _propose(form, held)
            if idea is not None:
                return redirect(url_for("ideas.idea", idea_id=idea.id))
    for error in refused:
        show_idea_error(form, error)
    return render_template("ideas/new.html", form=form, suggestions=suggestions, held=held,
                           max_size=megabytes(
                               current_app.config["PORTAL"]["UPLOAD_MAX_FILE_BYTES"]))


def _pictures_only(held, refused):
    """An idea takes a picture, not a document: a PDF is refused (by name) and dropped."""
    pictures = []
    for item in held:
        if item.content_type.startswith("image/"):
            pictures.append(item)
        else:
            storage.discard_kept(item.token)
            refused.append(service.IdeaError("not_an_image", field="attachments",
                                             filename=item.original_name))
    return pictures, refused


def _propose(form, held):
    images = cases.release_held(held)
    try:
        idea = service.propose(current_user, service.Proposal(
            title=form.title.data, body=form.body.data, language=current_language(),
            department_id=whole_number(form.department.data),
            location_text=form.location_text.data or "",
            image=images[0] if images else None))
        db.session.commit()
    except service.IdeaError as error:
        db.session.rollback()
        show_idea_error(form, error)
        return None
    cases.forget_held(held)
    if idea.public:
        flash(_("Thank you: your idea is on the board. You will be told by email when it "
                "gets a status or an answer."), "success")
    else:
        flash(_("Thank you: your idea will show on the board once a moderator has looked "
                "at it. You will be told by email."), "success")
    return idea


# ---------------------------------------------------------------- an idea

def _render_idea(idea, comment_form=None, flag_form=None, status=200):
    user = _user()
    return render_template(
        "ideas/idea.html", idea=idea, action_form=ActionForm(),
        comment_form=comment_form or CommentForm(), flag_form=flag_form or FlagForm(),
        supported=service.has_supported(idea, user),
        following=service.is_following(idea, user),
        can_support=service.can_support(idea, user),
        can_comment=service.can_comment(idea, user),
        can_edit=service.can_edit(idea, user), can_withdraw=service.can_withdraw(idea, user),
        can_decide=service.can_decide(user, idea),
        answer=service.answer_state(idea),
        can_read_hidden=lambda comment: service.can_read_hidden(comment, user),
        raised_in=service.linked_case_count(idea)), status


@bp.get("/ideas/<int:idea_id>")
@public
def idea(idea_id: int):
    item = _idea_or_404(idea_id)
    if item.duplicate_of is not None and service.can_view(item.duplicate_of, _user()):
        flash(_("Idea %(number)d was merged into this one, which proposes the same.",
                number=item.id), "info")
        return redirect(url_for("ideas.idea", idea_id=item.duplicate_of.id))
    return _render_idea(item)


@bp.get("/ideas/<int:idea_id>/history")
@public
def history(idea_id: int):
    """A merged idea's own page (its redirect skips it): its text and its history."""
    item = _idea_or_404(idea_id)
    return _render_idea(item)


@bp.get("/ideas/<int:idea_id>/image")
@public
def image(idea_id: int):
    item = _idea_or_404(idea_id)
    if not item.image_hash:
        abort(404)
    return storage.send(item.image_hash, mimetype=item.image_type,
                        download_name=item.image_name, max_age=3600)


def _signed_in_post():
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login",
                                next=url_for("ideas.idea", idea_id=request.view_args["idea_id"])))
    if not ActionForm().validate_on_submit():
        abort(400)
    return None


@bp.post("/ideas/<int:idea_id>/support")
@public
@limiter.limit("60 per hour", key_func=_user_key)
def support(idea_id: int):
    item = _idea_or_404(idea_id)
    if (refusal := _signed_in_post()) is not None:
        return refusal
    try:
        added = service.support(item, current_user)
        db.session.commit()
    except service.IdeaError as error:
        db.session.rollback()
        show_idea_error(None, error)
    else:
        if added:
            flash(_("Thank you for your support. You now follow this idea."), "success")
    return redirect(url_for("ideas.idea", idea_id=item.id, _anchor="support"))


@bp.post("/ideas/<int:idea_id>/unsupport")
@public
@limiter.limit("60 per hour", key_func=_user_key)
def unsupport(idea_id: int):
    item = _idea_or_404(idea_id)
    if (refusal := _signed_in_post()) is not None:
        return refusal
    if service.withdraw_support(item, current_user):
        flash(_("Your support has been withdrawn."), "success")
    db.session.commit()
    return redirect(url_for("ideas.idea", idea_id=item.id, _anchor="support"))


@bp.post("/ideas/<int:idea_id>/follow")
@public
@limiter.limit("60 per hour", key_func=_user_key)
def follow(idea_id: int):
    item = _idea_or_404(idea_id)
    if (refusal := _signed_in_post()) is not None:
        return refusal
    service.follow(item, current_user)
    db.session.commit()
    flash(_("You follow this idea: we will email you when it gets a status or an answer."),
          "success")
    return redirect(url_for("ideas.idea", idea_id=item.id, _anchor="support"))


@bp.post("/ideas/<int:idea_id>/unfollow")
@public
@limiter.limit("60 per hour", key_func=_user_key)
def unfollow(idea_id: int):
    item = _idea_or_404(idea_id)
    if (refusal := _signed_in_post()) is not None:
        return refusal
    service.unfollow(item, current_user)
    db.session.commit()
    flash(_("You no longer follow this idea."), "success")
    return redirect(url_for("ideas.idea", idea_id=item.id, _anchor="support"))


@bp.post("/ideas/<int:idea_id>/comments")
@public
@limiter.limit("30 per hour", key_func=_user_key)
def comment(idea_id: int):
    item = _idea_or_404(idea_id)
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login", next=url_for("ideas.idea", idea_id=item.id)))
    form = CommentForm()
    if form.validate_on_submit():
        try:
            added = service.add_comment(item, current_user, form.body.data)
            db.session.commit()
        except service.IdeaError as error:
            db.session.rollback()
            show_idea_error(form, error)
        else:
            return redirect(url_for("ideas.idea", idea_id=item.id,
                                    _anchor=f"comment-{added.id}"))
    return _render_idea(item, comment_form=form, status=400)


def _flag(item, comment=None):
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login", next=url_for("ideas.idea", idea_id=item.id)))
    form = FlagForm()
    if form.validate_on_submit():
        if service.flag(current_user, form.reason.data, idea=None if comment else item,
                        comment=comment):
            flash(_("Thank you: a moderator will look at it."), "success")
        else:
            flash(_("You have already told us about this. A moderator will look at it."),
                  "info")
        db.session.commit()
        return redirect(url_for("ideas.idea", idea_id=item.id))
    return render_template("ideas/flag.html", idea=item, comment=comment, form=form), \
        400 if request.method == "POST" else 200


@bp.route("/ideas/<int:idea_id>/flag", methods=["GET", "POST"])
@public(personal=True)
@limiter.limit("20 per hour", methods=["POST"], key_func=_user_key)
def flag_idea(idea_id: int):
    return _flag(_idea_or_404(idea_id))


@bp.route("/ideas/<int:idea_id>/comments/<int:comment_id>/flag", methods=["GET", "POST"])
@public(personal=True)
@limiter.limit("20 per hour", methods=["POST"], key_func=_user_key)
def flag_comment(idea_id: int, comment_id: int):
    item = _idea_or_404(idea_id)
    target = db.session.get(Comment, comment_id)
    if target is None or target.idea_id != item.id:
        abort(404)
    return _flag(item, target)


# ---------------------------------------------------------------- the author's

@bp.route("/ideas/<int:idea_id>/edit", methods=["GET", "POST"])
@public(personal=True)
def edit(idea_id: int):
    item = _idea_or_404(idea_id)
    if not service.can_edit(item, _user()):
        abort(404)
    form = EditIdeaForm(obj=item)
    if form.validate_on_submit():
        try:
            service.edit_idea(item, current_user, form.title.data, form.body.data)
            db.session.commit()
        except service.IdeaError as error:
            db.session.rollback()
            show_idea_error(form, error)
        else:
            flash(_("Your idea has been updated."), "success")
            return redirect(url_for("ideas.idea", idea_id=item.id))
    return render_template("ideas/edit.html", idea=item, form=form)


@bp.route("/ideas/<int:idea_id>/withdraw", methods=["GET", "POST"])
@public(personal=True)
def withdraw(idea_id: int):
    item = _idea_or_404(idea_id)
    if not service.can_withdraw(item, _user()):
        abort(404)
    form = WithdrawForm()
    if form.validate_on_submit():
        service.withdraw_idea(item, current_user, WithdrawalReason(form.reason.data),
                              form.note.data or "")
        db.session.commit()
        flash(_("Your idea has been withdrawn. It stays on the board with your reason."),
              "success")
        return redirect(url_for("ideas.idea", idea_id=item.id))
    return render_template("ideas/withdraw.html", idea=item, form=form)


@bp.route("/ideas/moved-support/<token:token>", methods=["GET", "POST"])
@public(personal=True)
def moved_support(token: str):
    """The link in "your support was moved": one button takes it back, no sign-in."""
    found = service.moved_support(token)
    if found is None:
        abort(404)
    user, target, merged = found
    form = ActionForm()
    if form.validate_on_submit():
        removed = service.withdraw_moved_support(user, target, merged)
        db.session.commit()
        flash(_("Your moved support has been withdrawn.") if removed else
              _("There is no moved support of yours left to withdraw."), "success")
        return redirect(url_for("ideas.idea", idea_id=target.id))
    return render_template("ideas/moved_support.html", target=target, merged=merged,
                           form=form)


# ---------------------------------------------------------------- staff

@staff_bp.get("/")
def queue():
    return render_template("ideas/staff_queue.html",
                           awaiting=service.awaiting_answer(current_user),
                           flagged=service.moderation_queue(),
                           overdue_count=service.overdue_answers(), now=clock.now())


@staff_bp.route("/<int:idea_id>", methods=["GET", "POST"])
def decide(idea_id: int):
    item = service.idea_for(idea_id, current_user)
    if item is None:
        abort(404)
    status_form = IdeaStatusForm(prefix="status")
    merge_form = MergeIdeaForm(prefix="merge")
    http_status = 200
    if request.method == "GET":
        status_form.status.data = item.status.value
        status_form.version.data = merge_form.version.data = str(item.version)
    elif not service.can_decide(current_user, item):
        abort(403)
    else:
        form = status_form if "status-status" in request.form else merge_form
        if form.validate_on_submit():
            if str(item.version) != (form.version.data or ""):
                flash(_("Someone else changed this idea while you were looking at it. "
                        "Check it again before you save."), "error")
                return redirect(url_for("ideas_staff.decide", idea_id=item.id))
            try:
                if form is status_form:
                    service.change_status(current_user, item, IdeaStatus(form.status.data),
                                          form.response.data or "")
                else:
                    target = service.idea_for(whole_number(
                        form.target.data.lstrip("#"), maximum=10**9) or 0, current_user)
                    if target is None:
                        raise service.IdeaError("merge_target", field="target")
                    service.merge_ideas(current_user, item, target, form.response.data)
                db.session.commit()
            except service.IdeaError as error:
                db.session.rollback()
                show_idea_error(form, error)
            except StaleDataError:
                db.session.rollback()
                flash(_("Someone else changed this idea while you were looking at it. "
                        "Check it again before you save."), "error")
                return redirect(url_for("ideas_staff.decide", idea_id=item.id))
            else:
                flash(_("Saved. The author and the followers have been told by email."),
                      "success")
                return redirect(url_for("ideas_staff.decide", idea_id=item.id))
        http_status = 400
    return render_template("ideas/staff_idea.html", idea=item, status_form=status_form,
                           merge_form=merge_form, moderation_form=ModerationForm(),
                           link_form=LinkCaseForm(), cases=service.linked_cases(item),
                           flags=service.open_flags(item),
                           answer=service.answer_state(item)), http_status


@staff_bp.post("/links")
def link_case():
    """Link an idea and a case that raised the same problem, from either's staff page."""
    form = LinkCaseForm()
    back_to_case = request.form.get("back") == "case"
    idea_number = whole_number((form.idea.data or "").lstrip("#"), maximum=10**9)
    item = service.idea_for(idea_number, current_user) if idea_number else None
    case = db.session.scalar(select(Case).where(
        Case.reference == (form.reference.data or "").strip().upper()))
    if not form.validate_on_submit() or item is None or case is None:
        flash(_("Enter the number of an idea and the reference of a case you can open."),
              "error")
    else:
        try:
            service.link_case(current_user, item, case)
            db.session.commit()
            flash(_("Linked: staff see the case beside the idea, and the public sees how "
                    "many cases raised it."), "success")
        except PermissionDenied:
            db.session.rollback()
            flash(_("Enter the number of an idea and the reference of a case you can open."),
                  "error")
    if back_to_case and case is not None:
        return redirect(url_for("staff.case", reference=case.reference))
    if item is not None:
        return redirect(url_for("ideas_staff.decide", idea_id=item.id))
    return redirect(url_for("ideas_staff.queue"))


@staff_bp.post("/<int:idea_id>/moderate")
def moderate(idea_id: int):
    item = service.idea_for(idea_id, current_user)
    form = ModerationForm()
    if item is None:
        abort(404)
    if not form.validate_on_submit():
        abort(400)
    comment = None
    if request.form.get("comment"):
        comment = db.session.get(Comment, whole_number(request.form["comment"]) or 0)
        if comment is None or comment.idea_id != item.id:
            abort(404)
    action = request.form.get("action", "")
    if action not in {"hide", "restore", "dismiss", "approve"}:
        abort(400)
    service.moderate(current_user, action, form.reason.data or "", idea=item,
                     comment=comment)
    db.session.commit()
    flash({"hide": _("Hidden. The author can see why."), "restore": _("Restored."),
           "dismiss": _("The flags have been dismissed."),
           "approve": _("Approved: the idea is on the board.")}[action], "success")
    if request.form.get("back") == "queue":
        return redirect(url_for("ideas_staff.queue"))
    return redirect(url_for("ideas_staff.decide", idea_id=item.id))


# ---------------------------------------------------------------- the feed

FEED_ENTRIES = 50


@bp.get("/ideas/feed.atom")
@public
def feed():
    """New ideas and status changes of board ideas, newest first (Atom)."""
    from feedgen.feed import FeedGenerator

    base = current_app.config["PORTAL"]["BASE_URL"].rstrip("/")
    generator = FeedGenerator()
    generator.id(f"{base}{url_for('ideas.board')}")
    generator.title(_("Ideas board") + " · " + deployment.current().site_name)
    generator.link(href=f"{base}{url_for('ideas.board')}", rel="alternate")
    generator.link(href=f"{base}{url_for('ideas.feed')}", rel="self")
    generator.language(current_language())
    changes = service.feed_changes(FEED_ENTRIES)
    generator.updated(changes[0].created_at if changes else clock.now())
    for change in reversed(changes):  # feedgen puts the last added first
        idea = change.idea
        link = f"{base}{url_for('ideas.idea', idea_id=idea.id)}"
        entry = generator.add_entry()
        entry.id(f"{link}#change-{change.id}")
        entry.link(href=link)
        entry.updated(change.created_at)
        entry.published(change.created_at)
        if change.from_status is None:
            entry.title(_("New idea: %(title)s", title=idea.title))
            entry.summary(idea.body[:1000])
        else:
            entry.title(_("%(title)s: %(status)s", title=idea.title,
                          status=change.to_status.label))
            entry.summary(change.response or str(change.to_status.label))
    response = current_app.response_class(generator.atom_str(pretty=True),
                                          mimetype="application/atom+xml")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
