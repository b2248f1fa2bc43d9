"""Sign in, sign out, registration, password reset and the account page."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_time
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from portal import clock
from portal.accounts import export, service
from portal.accounts.forms import (
    ChangePasswordForm,
    ConfirmEmailForm,
    ForgotPasswordForm,
    LoginForm,
    PreferencesForm,
    RegisterForm,
    ResetPasswordForm,
)
from portal.audit import audit
from portal.cases import service as cases
from portal.extensions import db, limiter, login_manager
from portal.i18n import current_language
from portal.security import safe_next_url

bp = Blueprint("accounts", __name__)

# The account whose right password was given before its address was confirmed.
UNCONFIRMED_KEY = "unconfirmed_user"


@login_manager.user_loader
def _load_user(token: str):
    try:
        return service.load_session(token)
    except SQLAlchemyError:
        # Database down: treat the visitor as signed out so the error page still renders.
        db.session.rollback()
        return None


login_manager.login_view = "accounts.login"
login_manager.login_message = None  # the sign-in page explains itself


# What a visitor wrote before signing in and has not sent yet (a guest's idea: "draft:idea")
DRAFT_PREFIX = "draft:"


def _sign_in(user) -> None:
    # A fresh session cookie at sign-in defeats session fixation; keep the language and
    # the visitor's unsent drafts (they signed in to send them).
    language = session.get("lang")
    browser = session.get(cases.BROWSER_SESSION_KEY)
    drafts = {key: value for key, value in session.items() if key.startswith(DRAFT_PREFIX)}
    session.clear()
    session.update(drafts)
    if language:
        session["lang"] = language
    if browser:
        # The cases this browser may open come along under a new key, for the same reason.
        session[cases.BROWSER_SESSION_KEY] = cases.new_browser_key()
        cases.rekey_browser_grants(browser, session[cases.BROWSER_SESSION_KEY])
    service.start_session(user)
    db.session.commit()
    login_user(user)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def login():
    next_url = safe_next_url(request.args.get("next"), fallback="")
    if current_user.is_authenticated:
        return redirect(next_url or url_for("accounts.account"))
    form = LoginForm()
    error = None
    locked = unconfirmed = False
    if form.validate_on_submit():
        try:
            user = service.authenticate(form.email.data, form.password.data)
        except service.SignInLocked as lock:
            # The same answer for every address, with or without an account.
            locked = True
            error = _("Signing in with this email address is paused until %(time)s, after "
                      "too many wrong passwords. To sign in now, reset your password: the "
                      "link we email you works straight away.",
                      time=format_time(lock.until, "short"))
        except service.EmailNotConfirmed as pending:
            db.session.commit()
            # Only someone who knows the password learns this, and may ask for a new link.
            session[UNCONFIRMED_KEY] = pending.user.id
            unconfirmed = True
            error = _("You have not confirmed your email address yet. Open the link in the "
                      "message we sent you when you created the account, or ask for a new "
                      "one.")
        else:
            if user is not None:
                _sign_in(user)
                default = url_for("staff.index") if user.is_staff else url_for("accounts.account")
                return redirect(next_url or default)
            db.session.commit()  # keep the audit record of the failed attempt
            error = _("The email address or password is not right.")
    return render_template("accounts/login.html", form=form, error=error, next_url=next_url,
                           locked=locked, unconfirmed=unconfirmed)


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        service.end_session(current_user.session_token)
    # Whatever cases this browser could open, a copy of its cookie can no longer open.
    cases.revoke_browser_grants(session.get(cases.BROWSER_SESSION_KEY))
    db.session.commit()
    language = session.get("lang")
    logout_user()
    session.clear()
    if language:
        session["lang"] = language
    flash(_("You have signed out."), "success")
    return redirect(url_for("main.index"))


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("5 per minute", methods=["POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("accounts.account"))
    form = RegisterForm()
    if request.method == "GET":
        form.locale.data = current_language()
    if form.validate_on_submit():
        service.register_citizen(form.email.data, form.password.data,
                                 form.display_name.data, form.locale.data)
        db.session.commit()
        # The same page whether or not the address has an account: the email says which.
        return render_template("accounts/register_sent.html", email=form.email.data)
    return render_template("accounts/register.html", form=form)


@bp.route("/register/confirm/<token>", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def confirm_email(token: str):
    # Opening the link only shows the form: confirming takes the password, so a mail
    # scanner that follows links confirms nothing.
    user = service.user_for_confirmation_token(token)
    if user is None:
        return render_template("accounts/confirm_invalid.html"), 400
    form = ConfirmEmailForm()
    if form.validate_on_submit():
        try:
            service.confirm_email(token, form.password.data)
        except service.AccountError:
            form.password.errors.append(_("The password is not right. Enter the one you "
                                          "chose when you created the account."))
        else:
            _sign_in(user)
            flash(_("Your email address is confirmed and your account is ready."), "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/confirm_email.html", form=form, email=user.email)


@bp.post("/register/resend")
@limiter.limit("5 per minute")
def resend_confirmation():
    # Offered on the sign-in page after the right password of an unconfirmed account.
    user_id = session.pop(UNCONFIRMED_KEY, None)
    if user_id is not None:
        service.resend_confirmation(user_id)
        db.session.commit()
        flash(_("We have sent you a new link. Open it to confirm your email address."),
              "success")
    return redirect(url_for("accounts.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit("5 per minute", methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        service.request_password_reset(form.email.data, current_language())
        db.session.commit()
        # The same answer, and an email, whether or not the account exists.
        return render_template("accounts/reset_sent.html", email=form.email.data)
    return render_template("accounts/forgot_password.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def reset_password(token: str):
    if service.user_for_reset_token(token) is None:
        return render_template("accounts/reset_invalid.html"), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        user = service.reset_password(token, form.password.data)
        # Cases opened from emailed links while signed in as this person: closed too.
        cases.revoke_user_grants(user)
        db.session.commit()
        flash(_("Your password has been changed. Sign in with the new one."), "success")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/reset_password.html", form=form)


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def accept_invitation(token: str):
    """A member of staff invited by an administrator chooses a password and comes in."""
    user = service.user_for_invitation_token(token)
    if user is None:
        return render_template("accounts/invitation_invalid.html"), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        user = service.accept_invitation(token, form.password.data)
        _sign_in(user)
        flash(_("Your account is open. Welcome."), "success")
        return redirect(url_for("staff.index"))
    return render_template("accounts/invitation.html", form=form, user=user), \
        400 if form.errors else 200


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    form = PreferencesForm(obj=current_user)
    if form.validate_on_submit():
        service.update_preferences(current_user, form.display_name.data, form.locale.data)
        db.session.commit()
        # The new preference applies now, unless the person chose a language with ?lang=.
        session.pop("lang", None)
        flash(_("Your details have been saved."), "success")
        return redirect(url_for("accounts.account"))
    return render_template("accounts/account.html", form=form,
                           sessions=service.active_session_count(current_user))


@bp.get("/account/data")
@login_required
def data():
    """What the portal holds about the person, and the button that downloads it."""
    return render_template("accounts/data.html")


@bp.post("/account/data/download")
@login_required
def download_data():
    """Everything about the signed-in person as a ZIP (GDPR Arts. 15 and 20)."""
    archive = export.build_zip(current_user)
    audit("user.data_exported", actor=current_user, target_type="user",
          target_id=current_user.id, size=len(archive))
    db.session.commit()
    response = Response(archive, mimetype="application/zip")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="ventanilla-{clock.now().date().isoformat()}.zip"')
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            service.change_password(current_user, form.current_password.data,
                                    form.password.data, keep_token=current_user.session_token)
            cases.revoke_user_grants(current_user,
                                     keep_browser_key=session.get(cases.BROWSER_SESSION_KEY))
        except service.AccountError:
            form.current_password.errors.append(_("The current password is not right."))
        else:
            db.session.commit()
            flash(_("Your password has been changed. Other devices have been signed out."),
                  "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/change_password.html", form=form)


@bp.post("/account/sessions/end-others")
@login_required
def end_other_sessions():
    service.end_all_sessions(current_user, keep_token=current_user.session_token)
    db.session.commit()
    flash(_("You have been signed out on every other device."), "success")
    return redirect(url_for("accounts.account"))
