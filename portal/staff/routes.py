"""The civil servants' area. Every view here needs an agent or above (deny by default)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import func, select

from portal import clock
from portal.extensions import db
from portal.models import Case, CaseStatus, Role
from portal.security import guard_blueprint

bp = Blueprint("staff", __name__)
guard_blueprint(bp, Role.AGENT)

OPEN_STATUSES = (CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.WAITING_ON_CITIZEN)


@bp.get("/")
def index():
    """Open work per department of the signed-in civil servant (all for managers)."""
    departments = list(current_user.departments)
    department_ids = [department.id for department in departments]
    query = (
        select(Case.department_id, Case.status, func.count(Case.id))
        .where(Case.status.in_(OPEN_STATUSES))
        .group_by(Case.department_id, Case.status)
    )
    overdue_query = (
        select(Case.department_id, func.count(Case.id))
        .where(Case.status.in_((CaseStatus.NEW, CaseStatus.OPEN)),
               Case.resolution_due_at < clock.now())
        .group_by(Case.department_id)
    )
    if not current_user.has_role(Role.MANAGER):
        query = query.where(Case.department_id.in_(department_ids))
        overdue_query = overdue_query.where(Case.department_id.in_(department_ids))
    counts: dict[int | None, dict[str, int]] = {}
    for department_id, status, count in db.session.execute(query):
        counts.setdefault(department_id, {})[status.value] = count
    for department_id, count in db.session.execute(overdue_query):
        counts.setdefault(department_id, {})["overdue"] = count
    return render_template("staff/index.html", departments=departments, counts=counts,
                           statuses=OPEN_STATUSES)
