"""The managers' area. Every view here needs a manager or above (deny by default)."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Department, Role, User, user_departments
from portal.security import guard_blueprint

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
                           staff_counts=staff_counts)
