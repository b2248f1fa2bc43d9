"""The managers' area. Every view here needs a manager or above (deny by default)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import SelectChoice

from portal.extensions import db
from portal.i18n import LANGUAGE_NAMES, current_language
from portal.knowledge import service as knowledge
from portal.manage import service
from portal.models import CannedResponse, Department, Role, User, user_departments
from portal.security import guard_blueprint
from portal.staff.forms import CannedResponseForm

bp = Blueprint("manage", __name__)
guard_blueprint(bp, Role.MANAGER)


@bp.get("/")
def index():
    """Departments with their service-level targets and staff."""
    departments = db.session.scalars(select(Department).order_by(Department.slug)).all()
    staff_counts = dict(db.session.execute(
        select(user_departments.c.department_id, func.count(User.id))
        .join(User, User.id == user_departments.c.user_id)
        .where(User.active.is_(True))
        .group_by(user_departments.c.department_id)
    ).all())
    return render_template("manage/index.html", departments=departments,
                           staff_counts=staff_counts, figures=knowledge.deflection_figures())


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
