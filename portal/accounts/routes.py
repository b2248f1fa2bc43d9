"""Sign in, sign out, registration, password reset and the account page."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_time
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from portal import clock
from portal.accounts import export, second_factor, service
from portal.accounts.forms import (
    ChangePasswordForm,
    ConfirmEmailForm,
    ForgotPasswordForm,
    LoginForm,
    PreferencesForm,
    RegisterForm,
    ResetPasswordForm,
    SecondFactorForm,
)
from portal.audit import audit
from portal.cases import service as cases
from portal.extensions import db, limiter, login_manager
from portal.i18n import current_language
from portal.models import User
from portal.security import public, safe_next_url, signed_in

bp = Blueprint("accounts", __name__)

# The account whose right password was given before its address was confirmed.
UNCONFIRMED_KEY = "unconfirmed_user"
# A staff session ended for being idle (the sign-in page says so, once).
IDLE_KEY = "signed_out_idle"
# The password was right; the second factor is still to come: {"uid", "at", "next",
# "failures"}.
PENDING_KEY = "second_factor_pending"
PENDING_SECONDS = 300
PENDING_FAILURES = 5
# The secret shown while the person enrols, until a code from it turns it on.
SETUP_KEY = "second_factor_setup"


@login_manager.user_loader
def _load_user(token: str):
    try:
        return service.load_session(token)
    except service.IdleSignOut:
        session[IDLE_KEY] = True  # the sign-in page says why
        return None
    except SQLAlchemyError:
        # Database down: treat the visitor as signed out so the error page still renders.
        db.session.rollback()
        return None


login_manager.login_view = "accounts.login"
login_manager.login_message = None  # the sign-in page explains itself


# What a visitor wrote before signing in and has not sent yet (a guest's idea: "draft:idea")
DRAFT_PREFIX = "draft:"


def _landing(user) -> str:
    if second_factor.needed_for_staff_areas(user):
        return url_for("accounts.second_factor_setup")
    return url_for("staff.index") if user.is_staff else url_for("accounts.account")


def _sign_in(user, with_second_factor: bool = False) -> None:
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
    service.start_session(user, second_factor=with_second_factor)
    db.session.commit()
    login_user(user)


@bp.route("/login", methods=["GET", "POST"])
@public
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
            if user is not None and second_factor.is_on(user):
                db.session.commit()
                session[PENDING_KEY] = {"uid": user.id, "at": clock.now().timestamp(),
                                        "next": next_url, "failures": 0}
                return redirect(url_for("accounts.second_factor_code"))
            if user is not None:
                _sign_in(user)
                return redirect(next_url or _landing(user))
            db.session.commit()  # keep the audit record of the failed attempt
            error = _("The email address or password is not right.")
    return render_template("accounts/login.html", form=form, error=error, next_url=next_url,
                           locked=locked, unconfirmed=unconfirmed,
                           idle=session.pop(IDLE_KEY, False) and request.method == "GET")


def _pending_user():
    """The account whose password was just given, while its second factor is awaited."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or \
            clock.now().timestamp() - pending.get("at", 0) > PENDING_SECONDS:
        session.pop(PENDING_KEY, None)
        return None, None
    user = db.session.get(User, pending.get("uid"))
    if user is None or not user.is_active or not second_factor.is_on(user):
        session.pop(PENDING_KEY, None)
        return None, None
    return user, pending


@bp.route("/login/code", methods=["GET", "POST"])
@public(personal=True)
@limiter.limit("10 per minute", methods=["POST"])
def second_factor_code():
    user, pending = _pending_user()
    if user is None:
        flash(_("Sign in again: the time to enter the code ran out."), "error")
        return redirect(url_for("accounts.login"))
    form = SecondFactorForm()
    if form.validate_on_submit():
        if second_factor.verify(user, form.code.data):
            _sign_in(user, with_second_factor=True)
            return redirect(safe_next_url(pending.get("next"), fallback="") or _landing(user))
        pending["failures"] = pending.get("failures", 0) + 1
        db.session.commit()  # the audit entry of the failure
        if pending["failures"] >= PENDING_FAILURES:
            session.pop(PENDING_KEY, None)
            flash(_("Too many wrong codes. Sign in again."), "error")
            return redirect(url_for("accounts.login"))
        session[PENDING_KEY] = pending
        form.code.errors.append(_("The code is not right. Enter the code your app shows now, "
                                  "or one of your recovery codes."))
    return render_template("accounts/second_factor_code.html", form=form)


@bp.route("/account/second-factor", methods=["GET", "POST"])
@signed_in
def second_factor_setup():
    """Turn the second factor on (a QR code to scan, then a code from the app), see how
    many recovery codes are left, renew them or turn it off."""
    if not current_user.is_staff:
        abort(404)
    if second_factor.is_on(current_user):
        return render_template("accounts/second_factor.html", form=SecondFactorForm(),
                               required=second_factor.is_required(current_user))
    secret = second_factor.unseal(session.get(SETUP_KEY)) or second_factor.new_secret()
    session[SETUP_KEY] = second_factor.seal(secret)
    form = SecondFactorForm()
    if form.validate_on_submit():
        try:
            codes = second_factor.turn_on(current_user, secret, form.code.data)
        except second_factor.SecondFactorError:
            form.code.errors.append(_("The code is not right. Check the time on your phone "
                                      "and enter the code the app shows now."))
        else:
            db.session.commit()
            session.pop(SETUP_KEY, None)
            return render_template("accounts/recovery_codes.html", codes=codes, first=True)
    uri = second_factor.provisioning_uri(current_user, secret)
    return render_template(
        "accounts/second_factor_setup.html", form=form,
        qr=second_factor.qr_code_svg(uri, _("QR code to add this account to your app")),
        secret=second_factor.grouped(secret),
        required=second_factor.is_required(current_user))


@bp.post("/account/second-factor/recovery-codes")
@signed_in
def renew_recovery_codes():
    if not current_user.is_staff or not second_factor.is_on(current_user):
        abort(404)
    codes = second_factor.new_recovery_codes(current_user)
    db.session.commit()
    return render_template("accounts/recovery_codes.html", codes=codes)


@bp.post("/account/second-factor/off")
@signed_in
def second_factor_off():
    if not current_user.is_staff or not second_factor.is_on(current_user):
        abort(404)
    form = SecondFactorForm()
    if form.validate_on_submit():
        try:
            second_factor.turn_off(current_user, form.code.data)
        except second_factor.SecondFactorError as error:
            db.session.commit()
            form.code.errors.append(
                _("Your administration requires it for staff accounts.")
                if error.code == "required" else _("The code is not right."))
        else:
            db.session.commit()
            flash(_("The second factor is off."), "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/second_factor.html", form=form,
                           required=second_factor.is_required(current_user)), 400


@bp.post("/logout")
@public
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
@public
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


@bp.route("/register/confirm/<token:token>", methods=["GET", "POST"])
@public(personal=True)
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
@public
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
@public
@limiter.limit("5 per minute", methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        service.request_password_reset(form.email.data, current_language())
        db.session.commit()
        # The same answer, and an email, whether or not the account exists.
        return render_template("accounts/reset_sent.html", email=form.email.data)
    return render_template("accounts/forgot_password.html", form=form)


@bp.route("/password/reset/<token:token>", methods=["GET", "POST"])
@public(personal=True)
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


@bp.route("/invitation/<token:token>", methods=["GET", "POST"])
@public(personal=True)
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
@signed_in
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
                           sessions=service.active_session_count(current_user),
                           history=service.sign_in_history(current_user))


@bp.get("/account/data")
@signed_in
def data():
    """What the portal holds about the person, and the button that downloads it."""
    return render_template("accounts/data.html")


@bp.post("/account/data/download")
@signed_in
def download_data():
    """Everything about the signed-in person as a ZIP (GDPR Arts. 15 and 20)."""
    archive = export.build_zip(current_user)
    audit("user.data_exported", actor=current_user, target_type="user",
          target_id=current_user.id, size=len(archive))
    db.session.commit()
    return export.zip_response(archive)


@bp.route("/account/password", methods=["GET", "POST"])
@signed_in
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
@signed_in
def end_other_sessions():
    service.end_all_sessions(current_user, keep_token=current_user.session_token)
    db.session.commit()
    flash(_("You have been signed out on every other device."), "success")
    return redirect(url_for("accounts.account"))
