"""Sign in, sign out, registration, password reset and the account page."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from portal.accounts import service
from portal.accounts.forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    PreferencesForm,
    RegisterForm,
    ResetPasswordForm,
)
from portal.extensions import db, limiter, login_manager
from portal.i18n import current_language
from portal.security import safe_next_url

bp = Blueprint("accounts", __name__)


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


def _sign_in(user) -> None:
    # A fresh session cookie at sign-in defeats session fixation; keep the language.
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
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
    if form.validate_on_submit():
        user = service.authenticate(form.email.data, form.password.data)
        if user is None:
            db.session.commit()  # keep the audit record of the failed attempt
            error = _("The email address or password is not right.")
        else:
            _sign_in(user)
            default = url_for("staff.index") if user.is_staff else url_for("accounts.account")
            return redirect(next_url or default)
    return render_template("accounts/login.html", form=form, error=error, next_url=next_url)


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        service.end_session(current_user.session_token)
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
        try:
            user = service.register_citizen(form.email.data, form.password.data,
                                            form.display_name.data, form.locale.data)
        except service.AccountError:
            form.email.errors.append(_("An account with this email address already exists. "
                                       "Sign in, or reset your password if you forgot it."))
        else:
            _sign_in(user)
            flash(_("Your account is ready."), "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/register.html", form=form)


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit("5 per minute", methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        service.request_password_reset(form.email.data)
        db.session.commit()
        # The same answer whether or not the account exists.
        return render_template("accounts/reset_sent.html", email=form.email.data)
    return render_template("accounts/forgot_password.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def reset_password(token: str):
    if service.user_for_reset_token(token) is None:
        return render_template("accounts/reset_invalid.html"), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        service.reset_password(token, form.password.data)
        db.session.commit()
        flash(_("Your password has been changed. Sign in with the new one."), "success")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/reset_password.html", form=form)


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


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            service.change_password(current_user, form.current_password.data,
                                    form.password.data, keep_token=current_user.session_token)
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
