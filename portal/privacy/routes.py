"""A person's data rights on the web: deleting one's account, a guest's copy or erasure
through an emailed link (/track/data), and requests staff take at the counter
(/manage/privacy)."""

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
from flask import session as browser_session
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, logout_user
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from portal import clock, mail
from portal.accounts import export
from portal.accounts import service as accounts
from portal.audit import audit
from portal.dates import dateformat
from portal.extensions import db, limiter
from portal.i18n import current_language
from portal.models import DataRequest, DataRequestChannel, DataRequestKind, Role
from portal.privacy import service
from portal.privacy.forms import (
    AddressForm,
    ConfirmErasureForm,
    CounterRequestForm,
    DeleteAccountForm,
)
from portal.security import guard_blueprint, public, signed_in, verify_password
from portal.stats.periods import local_midnight, today

bp = Blueprint("privacy", __name__)
# Requests made at the counter: any member of staff records and carries them out
# (audited; the identity check is written down).
desk_bp = Blueprint("privacy_desk", __name__)
guard_blueprint(desk_bp, Role.AGENT)

# How long the link emailed to a guest works (seconds).
LINK_MAX_AGE = 24 * 3600


# ---------------------------------------------------------------- the account

@bp.route("/account/delete", methods=["GET", "POST"])
@signed_in
def delete_account():
    if current_user.is_staff:
        # Staff answers are the administration's record: an administrator closes a
        # staff account (disabling it), not its holder.
        return render_template("privacy/delete_staff.html")
    form = DeleteAccountForm()
    if form.validate_on_submit():
        if not verify_password(current_user.password_hash, form.current_password.data):
            form.current_password.errors.append(_("The password is not right."))
        else:
            service.erase(current_user.email, user=current_user, actor=current_user,
                          channel=DataRequestChannel.ACCOUNT)
            db.session.commit()
            language = current_language()  # the page goes on in the language they read
            logout_user()
            browser_session.clear()
            browser_session["lang"] = language
            flash(_("Your account has been deleted. Your personal data has been erased."),
                  "success")
            return redirect(url_for("main.index"))
    return render_template("privacy/delete_account.html", form=form,
                           holdings=service.holdings(current_user.email, current_user))


# ---------------------------------------------------------------- guests, by link

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="privacy-link")


def _address_for(token: str) -> str:
    """The address an emailed link proves, or 404 (the same as a wrong link)."""
    try:
        data = _serializer().loads(token, max_age=LINK_MAX_AGE)
    except (BadSignature, SignatureExpired):
        abort(404)
    if not isinstance(data, dict) or not isinstance(data.get("email"), str):
        abort(404)
    return data["email"]


@bp.route("/track/data", methods=["GET", "POST"])
@public
@limiter.limit("10 per hour", methods=["POST"])
@limiter.limit("5 per hour", methods=["POST"],
               key_func=lambda: "data-email:" + request.form.get("email", "").strip().lower())
def guest_request():
    form = AddressForm()
    if form.validate_on_submit():
        email = accounts.normalise_email(form.email.data)
        # Only an address we hold something for gets mail; the page is the same either
        # way, so it says nothing about whether the address is known.
        if any(service.holdings(email).values()) or accounts.find_user_by_email(email):
            mail.queue_mail(email, "privacy_link", current_language(),
                            token=_serializer().dumps({"email": email}),
                            hours=LINK_MAX_AGE // 3600)
        audit("privacy.link_requested", target_type="person")
        db.session.commit()
        return render_template("privacy/guest_sent.html", email=form.email.data)
    return render_template("privacy/guest_request.html", form=form)


@bp.get("/track/data/<token:token>")
@public(personal=True)
def guest_data(token: str):
    email = _address_for(token)
    return render_template("privacy/guest_data.html", token=token, email=email,
                           has_account=accounts.find_user_by_email(email) is not None,
                           holdings=service.holdings(email), form=ConfirmErasureForm())


@bp.post("/track/data/<token:token>/download")
@public(personal=True)
def guest_download(token: str):
    email = _address_for(token)
    if accounts.find_user_by_email(email) is not None:
        abort(404)  # an account's data is downloaded from the account
    archive = export.build_zip(None, email)
    db.session.add(DataRequest(kind=DataRequestKind.ACCESS, channel=DataRequestChannel.LINK,
                               subject_email=email, received_at=clock.now(),
                               due_at=service.one_month_after(clock.now()),
                               completed_at=clock.now()))
    audit("privacy.exported", target_type="person", channel="link", size=len(archive))
    db.session.commit()
    return export.zip_response(archive)


@bp.post("/track/data/<token:token>/erase")
@public(personal=True)
def guest_erase(token: str):
    email = _address_for(token)
    if accounts.find_user_by_email(email) is not None:
        abort(404)
    form = ConfirmErasureForm()
    if not form.validate_on_submit():
        return render_template("privacy/guest_data.html", token=token, email=email,
                               has_account=False, holdings=service.holdings(email),
                               form=form), 400
    result = service.erase(email, channel=DataRequestChannel.LINK)
    db.session.commit()
    # The grants of this browser for the erased cases went with them.
    return render_template("privacy/erased.html", result=result)


# ---------------------------------------------------------------- the counter

def _request_or_404(request_id: int) -> DataRequest:
    found = db.session.get(DataRequest, request_id)
    if found is None or found.channel is not DataRequestChannel.COUNTER:
        abort(404)
    return found


@desk_bp.route("/", methods=["GET", "POST"])
def desk():
    form = CounterRequestForm()
    if not form.is_submitted():
        form.received_on.data = today()
    if form.validate_on_submit():
        if form.received_on.data > today():
            form.received_on.errors.append(_("The date cannot be in the future."))
        else:
            recorded = service.record_request(
                DataRequestKind(form.kind.data), form.email.data, current_user,
                form.identity_checked.data, local_midnight(form.received_on.data),
                form.note.data or "")
            flash(_("The request has been recorded. Answer it by %(date)s.",
                    date=dateformat(recorded.due_at, "long")), "success")
            return redirect(url_for("privacy_desk.request_page", request_id=recorded.id))
    return render_template("privacy/desk.html", form=form, open=service.open_requests(),
                           done=service.recent_requests(), now=clock.now())


@desk_bp.get("/<int:request_id>")
def request_page(request_id: int):
    found = _request_or_404(request_id)
    holdings = (service.holdings(found.subject_email, found.user)
                if found.completed_at is None else None)
    return render_template("privacy/request.html", item=found, holdings=holdings,
                           form=ConfirmErasureForm(), now=clock.now())


@desk_bp.post("/<int:request_id>/download")
def request_download(request_id: int):
    found = _request_or_404(request_id)
    if found.kind is not DataRequestKind.ACCESS or found.completed_at is not None:
        abort(404)
    archive = export.build_zip(found.user, found.subject_email)
    audit("privacy.exported", actor=current_user, target_type="data_request",
          target_id=found.id, channel="counter", size=len(archive))
    service.complete_access(found, current_user)
    return export.zip_response(archive)


@desk_bp.post("/<int:request_id>/erase")
def request_erase(request_id: int):
    found = _request_or_404(request_id)
    if found.kind is not DataRequestKind.ERASURE or found.completed_at is not None:
        abort(404)
    form = ConfirmErasureForm()
    if not form.validate_on_submit():
        return render_template("privacy/request.html", item=found, form=form, now=clock.now(),
                               holdings=service.holdings(found.subject_email, found.user)), 400
    result = service.complete_erasure(found, current_user)
    flash(_("The personal data has been erased: %(cases)s, %(ideas)s.",
            cases=_cases_count(result.cases), ideas=_ideas_count(result.ideas)), "success")
    return redirect(url_for("privacy_desk.request_page", request_id=found.id))


def _cases_count(number: int) -> str:
    return ngettext("%(num)d case", "%(num)d cases", number)


def _ideas_count(number: int) -> str:
    return ngettext("%(num)d idea", "%(num)d ideas", number)
