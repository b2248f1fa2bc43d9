"""The managers' area. Every view here needs a manager or above (deny by default)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from wtforms import SelectChoice

from portal.extensions import db
from portal.i18n import LANGUAGE_NAMES, current_language
from portal.manage import service
from portal.manage.forms import DashboardForm, ThemeForm
from portal.models import CannedResponse, Department, Role, Theme, User, user_departments
from portal.security import guard_blueprint
from portal.staff.forms import CannedResponseForm
from portal.stats import dashboard, figures, tables, themes

bp = Blueprint("manage", __name__)
guard_blueprint(bp, Role.MANAGER)


@bp.get("/")
def index():
    """The dashboard: a period's figures against the previous period's."""
    return _dashboard_page(request.args)


def _dashboard_page(args, theme_form: ThemeForm | None = None, status: int = 200):
    form, period, department = _dashboard_choice(args)
    board = dashboard.build(period, department) if period is not None else None
    if board is not None:
        theme_form = theme_form or ThemeForm(formdata=None, data={
            key: args.get(key, "") for key in ("period", "start", "end", "department")})
        _theme_choices(theme_form, board.themes)
    return render_template("manage/index.html", form=form, board=board, theme_form=theme_form,
                           csv_args=args.to_dict(), targets=_targets()), status


def _theme_choices(form: ThemeForm, found: themes.Themes) -> None:
    form.term.choices = [SelectChoice(theme.term, f"{theme.label} ({theme.count})")
                         for theme in found.rising]
    if found.named:
        form.theme.choices = [SelectChoice("", _("Choose…"))] + [
            SelectChoice(str(item.theme.id), item.theme.name) for item in found.named]
    elif form.theme is not None:  # (None: done already, for the page showing it back)
        # Nothing to add it to, and the page shows no list of named themes: "merge"
        # chosen anyway gave an error for a field that was not there. Without the field
        # (and its check), "merge" is a choice not offered, an error on the choice.
        form.action.choices = [choice for choice in form.action.choices
                               if choice.value != "merge"]
        del form.theme


@bp.post("/themes")
def decide_theme():
    """Name, merge or dismiss a suggested theme; back to the same dashboard."""
    form = ThemeForm()
    back = {key: getattr(form, key).data for key in ("period", "start", "end", "department")
            if getattr(form, key).data}
    args = MultiDict(back)
    _form, period, department = _dashboard_choice(args)
    if period is None:
        abort(400)
    # Only the suggestions the manager chose from, not the whole dashboard.
    _theme_choices(form, themes.compute(period, [department.id] if department else None))
    if not form.validate_on_submit():
        return _dashboard_page(args, theme_form=form, status=400)
    if form.action.data == "name":
        themes.name(current_user, form.term.data, form.name.data)
        flash(_("Theme named: it is counted in every period from now on."), "success")
    elif form.action.data == "merge":
        theme = db.session.get(Theme, int(form.theme.data)) if form.theme.data.isdigit() \
            else None
        if theme is None or theme.dismissed:
            abort(400)
        themes.merge(current_user, form.term.data, theme)
        flash(_("Added to the theme “%(name)s”.", name=theme.name), "success")
    else:
        themes.dismiss(current_user, form.term.data)
        flash(_("It will not be suggested again."), "success")
    db.session.commit()
    return redirect(url_for("manage.index", **back) + "#themes")


@bp.get("/dashboard.csv")
def dashboard_csv():
    """One table of the dashboard, as the page shows it, for a spreadsheet."""
    _form, period, department = _dashboard_choice(request.args)
    if period is None:
        abort(400)
    board = dashboard.build(period, department)
    table = board.tables.get(request.args.get("table", "")) or abort(404)
    name = f"{table.name}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    return tables.csv_response(table, _("previous period"), name)


def _dashboard_choice(args):
    """The form, the period chosen (None while the form has errors) and the department."""
    language = current_language()
    form = DashboardForm(args)
    departments = db.session.scalars(select(Department).order_by(Department.slug)).all()
    form.department.choices = [SelectChoice("", _("All departments"))] + [
        SelectChoice(str(item.id), item.name(language)) for item in departments]
    if not form.validate():
        return form, None, None
    period = figures.period_for(form.period.data or "month", form.start.data, form.end.data)
    if form.period.data != "custom":  # show the dates the preset stands for
        form.start.data, form.end.data = period.start, period.end
    return form, period, _department(form.department.data or "")


def _targets():
    departments = db.session.scalars(select(Department).order_by(Department.slug)).all()
    staff_counts = dict(db.session.execute(
        select(user_departments.c.department_id, func.count(User.id))
        .join(User, User.id == user_departments.c.user_id)
        .where(User.active.is_(True))
        .group_by(user_departments.c.department_id)
    ).all())
    return departments, staff_counts


# ---------------------------------------------------------------- saved replies

def _canned_form(item=None) -> CannedResponseForm:
    language = current_language()
    form = CannedResponseForm(obj=item)
    form.locale.choices = [SelectChoice(code, name) for code, name in LANGUAGE_NAMES.items()]
    form.department.choices = [SelectChoice("", _("All departments"))] + [
        SelectChoice(str(department.id), department.name(language))
        for department in db.session.scalars(select(Department).order_by(Department.slug))]
    if item is not None and not form.is_submitted():
        form.department.data = str(item.department_id or "")
    return form


@bp.route("/canned", methods=["GET", "POST"])
def canned():
    form = _canned_form()
    if request.method == "GET":
        form.locale.data = current_language()
    if form.validate_on_submit():
        service.save_canned(current_user, None, form.title.data, form.body.data,
                            form.locale.data, _department(form.department.data))
        db.session.commit()
        flash(_("Saved reply created."), "success")
        return redirect(url_for("manage.canned"))
    return render_template("manage/canned.html", form=form, items=service.canned_responses())


@bp.route("/canned/<int:item_id>", methods=["GET", "POST"])
def edit_canned(item_id: int):
    item = db.session.get(CannedResponse, item_id) or abort(404)
    form = _canned_form(item)
    if form.validate_on_submit():
        service.save_canned(current_user, item, form.title.data, form.body.data,
                            form.locale.data, _department(form.department.data))
        db.session.commit()
        flash(_("Saved reply updated."), "success")
        return redirect(url_for("manage.canned"))
    return render_template("manage/canned_edit.html", form=form, item=item)


@bp.post("/canned/<int:item_id>/delete")
def delete_canned(item_id: int):
    item = db.session.get(CannedResponse, item_id) or abort(404)
    service.delete_canned(current_user, item)
    db.session.commit()
    flash(_("Saved reply deleted."), "success")
    return redirect(url_for("manage.canned"))


def _department(value: str):
    return db.session.get(Department, int(value)) if value and value.isdigit() else None
