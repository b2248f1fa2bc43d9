"""Administration: departments and their targets, topics, the holiday calendar, staff,
and the deployment's own name, contact details and public texts.

Every change is the administrator's (``Role.ADMIN``) and goes to the audit log with
the names of the fields it changed, never their personal content. A holiday added or
removed moves the working-day due dates of the open cases and ideas it falls within;
``holiday_changes`` says which before anything is saved, and ``add_holiday`` /
``remove_holiday`` save the calendar and those dates together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import String, and_, cast, or_, select
from sqlalchemy.orm import joinedload

from portal import clock, deployment, sla
from portal.accounts import service as accounts
from portal.audit import audit
from portal.config import LANGUAGES
from portal.extensions import db
from portal.models import (
    AuditEvent,
    Case,
    Category,
    Department,
    DeploymentSettings,
    Holiday,
    Idea,
    Role,
    User,
    user_departments,
)
from portal.models.case import OPEN_STATUSES
from portal.permissions import PermissionDenied
from portal.stats.periods import local_midnight, today


class AdminError(Exception):
    """A change refused for a reason the form shows next to ``field``."""

    def __init__(self, code: str, field: str) -> None:
        super().__init__(code)
        self.code, self.field = code, field


def require_admin(actor: User) -> None:
    if not (actor.is_authenticated and actor.has_role(Role.ADMIN)):
        raise PermissionDenied


def _changed(item, values: dict) -> list[str]:
    """Apply ``values`` to ``item``; the names of the fields that changed, sorted."""
    changed = []
    for name, value in values.items():
        if getattr(item, name) != value:
            setattr(item, name, value)
            changed.append(name)
    return sorted(changed)


def _names(names: dict[str, str]) -> dict[str, str]:
    return {code: names[code].strip() for code in LANGUAGES if names.get(code, "").strip()}


# ---------------------------------------------------------------- departments

def departments() -> list[Department]:
    return list(db.session.scalars(select(Department).order_by(Department.slug)))


def save_department(actor: User, department: Department | None, *, slug: str,
                    names: dict[str, str], contact_email: str, first_response_days: int,
                    resolution_days: int, calendar_days: bool, active: bool) -> Department:
    """Create (``department`` None) or change a department.

    New targets apply to the cases received from then on: a case keeps the due dates
    it was given, as the citizen was told them.
    """
    require_admin(actor)
    if resolution_days < first_response_days:
        raise AdminError("resolution_before_first_response", "resolution_days")
    other = db.session.scalar(select(Department).where(Department.slug == slug))
    if other is not None and other is not department:
        raise AdminError("slug_taken", "slug")
    created = department is None
    if created:
        department = Department(slug=slug)
        db.session.add(department)
    changed = _changed(department, {
        "slug": slug, "names": _names(names), "contact_email": contact_email,
        "first_response_days": first_response_days, "resolution_days": resolution_days,
        "calendar_days": calendar_days, "active": active})
    db.session.flush()
    if created or changed:
        audit("admin.department_created" if created else "admin.department_changed",
              actor=actor, target_type="department", target_id=department.id,
              fields=changed)
    return department


# ---------------------------------------------------------------- topics

def save_category(actor: User, category: Category | None, *, department: Department,
                  slug: str, names: dict[str, str], accepts_questions: bool,
                  accepts_complaints: bool, active: bool) -> Category:
    """Create (``category`` None) or change a topic, and which department handles it."""
    require_admin(actor)
    if not (accepts_questions or accepts_complaints):
        raise AdminError("accepts_nothing", "accepts_questions")
    other = db.session.scalar(select(Category).where(
        Category.department_id == department.id, Category.slug == slug))
    if other is not None and other is not category:
        raise AdminError("slug_taken", "slug")
    created = category is None
    if created:
        category = Category(slug=slug, department=department)
        db.session.add(category)
    changed = _changed(category, {
        "department_id": department.id, "slug": slug, "names": _names(names),
        "accepts_questions": accepts_questions, "accepts_complaints": accepts_complaints,
        "active": active})
    db.session.flush()
    if created or changed:
        audit("admin.topic_created" if created else "admin.topic_changed", actor=actor,
              target_type="category", target_id=category.id, fields=changed)
    return category


# ---------------------------------------------------------------- holidays

def holidays(year: int) -> list[Holiday]:
    return list(db.session.scalars(select(Holiday).where(
        Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31))
        .order_by(Holiday.day)))


@dataclass(frozen=True)
class DueDateChange:
    """One deadline that a change of the calendar moves."""

    item: Case | Idea
    deadline: str  # first_response | resolution | answer
    before: datetime
    after: datetime


_DEADLINES = {"first_response": ("first_response_due_at", "first_responded_at"),
              "resolution": ("resolution_due_at", "resolved_at")}


def holiday_changes(day: date, adding: bool) -> list[DueDateChange]:
    """The due dates that adding (or removing) ``day`` as a holiday would move.

    Only working-day deadlines still running can move: those of open cases in
    departments that count working days (and of triage), not yet met, due on or after
    the day, and of open ideas awaiting an answer. Days already past are not recounted.
    """
    before = sla.deployment_calendar()
    extra = set(before.extra_holidays)
    extra = extra | {day} if adding else extra - {day}
    after = sla.Calendar(extra)
    day_starts = local_midnight(day)
    since_today = today()
    zone = sla.local_zone()
    changes: list[DueDateChange] = []

    working_days = or_(Case.department_id.is_(None), Department.calendar_days.is_(False))
    for deadline, (due_name, done_name) in _DEADLINES.items():
        due, done = getattr(Case, due_name), getattr(Case, done_name)
        query = (select(Case).outerjoin(Department, Department.id == Case.department_id)
                 .where(Case.status.in_([status.value for status in OPEN_STATUSES]),
                        Case.merged_into_id.is_(None), done.is_(None), due >= day_starts,
                        working_days)
                 .order_by(due, Case.id))
        for case in db.session.scalars(query):
            since = max(since_today, case.created_at.astimezone(zone).date())
            moved = sla.recount_due(getattr(case, due_name), since, before, after)
            if moved != getattr(case, due_name):
                changes.append(DueDateChange(case, deadline, getattr(case, due_name), moved))

    for idea in db.session.scalars(select(Idea).where(
            Idea.answer_due_at >= day_starts, Idea.official_response_at.is_(None))
            .order_by(Idea.answer_due_at, Idea.id)):
        since = max(since_today, idea.created_at.astimezone(zone).date())
        moved = sla.recount_due(idea.answer_due_at, since, before, after)
        if moved != idea.answer_due_at:
            changes.append(DueDateChange(idea, "answer", idea.answer_due_at, moved))
    return changes


def _move(changes: list[DueDateChange]) -> None:
    for change in changes:
        name = "answer_due_at" if change.deadline == "answer" \
            else _DEADLINES[change.deadline][0]
        setattr(change.item, name, change.after)


def check_new_holiday(day: date) -> None:
    if day in sla.spanish_national_holidays(day.year):
        raise AdminError("national_holiday", "day")
    if db.session.scalar(select(Holiday).where(Holiday.day == day)) is not None:
        raise AdminError("holiday_exists", "day")


def add_holiday(actor: User | None, day: date, name: str) -> list[DueDateChange]:
    """Add a regional or local holiday and move the due dates it falls within.

    ``actor`` None: the command line, run by whoever operates the server.
    """
    if actor is not None:
        require_admin(actor)
    check_new_holiday(day)
    changes = holiday_changes(day, adding=True)
    db.session.add(Holiday(day=day, name=name))
    _move(changes)
    db.session.flush()
    audit("admin.holiday_added", actor=actor, target_type="holiday", target_id=day.isoformat(),
          moved=len(changes))
    return changes


def remove_holiday(actor: User, holiday: Holiday) -> list[DueDateChange]:
    require_admin(actor)
    changes = holiday_changes(holiday.day, adding=False)
    db.session.delete(holiday)
    _move(changes)
    db.session.flush()
    audit("admin.holiday_removed", actor=actor, target_type="holiday",
          target_id=holiday.day.isoformat(), moved=len(changes))
    return changes


# ---------------------------------------------------------------- the deployment

def deployment_settings() -> DeploymentSettings | None:
    """The saved name, contact details and texts (None until first saved)."""
    return db.session.get(DeploymentSettings, DeploymentSettings.ONE)


def _texts(texts: dict[str, str]) -> dict[str, str]:
    # Browsers send a textarea's lines ending in CRLF: stored with LF, a text sent back
    # as it was shown is not a change.
    cleaned = {code: texts.get(code, "").replace("\r\n", "\n").strip() for code in LANGUAGES}
    return {code: text for code, text in cleaned.items() if text}


def save_deployment(actor: User, *, site_name: str, organisation_name: str,
                    contact_email: str, contact_phone: str, contact_address: str,
                    dpo_email: str, privacy_texts: dict[str, str],
                    accessibility_texts: dict[str, str]) -> list[str]:
    """Save the deployment's name, contact details and texts; the names of what changed.

    An empty value gives the environment setting back; a language without a text, the
    built-in page. The audit entry names the fields (a text as ``privacy_texts.ca``),
    never their values.
    """
    require_admin(actor)
    settings = deployment_settings() or DeploymentSettings(
        id=DeploymentSettings.ONE, site_name="", organisation_name="", contact_email="",
        contact_phone="", contact_address="", dpo_email="", privacy_texts={},
        accessibility_texts={})
    changed = _changed(settings, {
        "site_name": site_name.strip(), "organisation_name": organisation_name.strip(),
        "contact_email": contact_email.strip(), "contact_phone": contact_phone.strip(),
        "contact_address": contact_address.strip(), "dpo_email": dpo_email.strip()})
    for name, texts in (("privacy_texts", _texts(privacy_texts)),
                        ("accessibility_texts", _texts(accessibility_texts))):
        before = getattr(settings, name)
        languages = [code for code in LANGUAGES if before.get(code) != texts.get(code)]
        if languages:
            setattr(settings, name, texts)  # a new dict: the JSON column sees the change
            changed += [f"{name}.{code}" for code in languages]
    if not changed:
        return []
    settings.updated_at = clock.now()
    settings.updated_by_id = actor.id
    db.session.add(settings)
    db.session.flush()
    audit("admin.deployment_changed", actor=actor, target_type="deployment",
          fields=sorted(changed))
    deployment.forget()  # this request (or command) shows the new values from now on
    return sorted(changed)


# ---------------------------------------------------------------- staff

STAFF_ROLES = (Role.AGENT, Role.MANAGER, Role.ADMIN)


def staff() -> list[User]:
    """Everyone who is not a citizen: administrators first, then managers, then agents."""
    people = db.session.scalars(select(User).where(
        User.role.in_([role.value for role in STAFF_ROLES])).order_by(User.email))
    return sorted(people, key=lambda user: -user.role.rank)


def invite(actor: User, *, email: str, display_name: str, role: Role, locale: str,
           departments: list[Department]) -> User:
    """Open a staff account and email its owner the link that sets the password."""
    require_admin(actor)
    if role not in STAFF_ROLES:
        raise AdminError("not_a_staff_role", "role")
    try:
        user = accounts.invite_staff(email, display_name, role, locale, departments)
    except accounts.AccountError as error:
        raise AdminError("email_taken", "email") from error
    audit("admin.user_invited", actor=actor, target_type="user", target_id=user.id,
          role=role.value, departments=sorted(item.id for item in departments))
    return user


def change_user(actor: User, user: User, *, role: Role, departments: list[Department],
                active: bool) -> list[str]:
    """Change a member of staff's role, departments or access; the fields changed.

    Disabling ends every session of theirs at once. Administrators cannot take away
    their own access or role: another administrator must, so that one is always left.
    """
    require_admin(actor)
    if role not in STAFF_ROLES:
        raise AdminError("not_a_staff_role", "role")
    if user.id == actor.id and role is not Role.ADMIN:
        raise AdminError("not_yourself", "role")
    if user.id == actor.id and not active:
        raise AdminError("not_yourself", "active")
    changed = _changed(user, {"role": role, "active": active})
    if sorted(item.id for item in user.departments) != sorted(item.id for item in departments):
        user.departments = list(departments)
        changed.append("departments")
    if "active" in changed and not active:
        accounts.end_all_sessions(user)
    db.session.flush()
    if changed:
        audit("admin.user_changed", actor=actor, target_type="user", target_id=user.id,
              fields=sorted(changed), role=role.value, active=active)
    return sorted(changed)


def reinvite(actor: User, user: User) -> None:
    require_admin(actor)
    if user.email_verified_at is not None or not user.active:
        raise AdminError("already_accepted", "email")
    accounts.send_invitation(user)
    audit("admin.user_reinvited", actor=actor, target_type="user", target_id=user.id)


# ---------------------------------------------------------------- the audit log

AUDIT_PAGE = 50
AUDIT_CSV_ROWS = 10_000


@dataclass(frozen=True)
class AuditFilters:
    person: str = ""  # an email address
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    start: date | None = None
    end: date | None = None


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).distinct().order_by(
        AuditEvent.action)))


def can_read_audit(user: User) -> bool:
    return user.is_authenticated and user.has_role(Role.MANAGER)


def _manager_scope(viewer: User):
    """What a manager may read: entries about the cases of their departments and
    entries by the staff of those departments (all departments if they have none, as
    for the cases they see). Administrators read everything."""
    department_ids = [item.id for item in viewer.departments]
    cases = select(cast(Case.id, String))
    staff_of = select(user_departments.c.user_id)
    if department_ids:
        cases = cases.where(Case.department_id.in_(department_ids))
        staff_of = staff_of.where(user_departments.c.department_id.in_(department_ids))
    return or_(and_(AuditEvent.target_type == "case", AuditEvent.target_id.in_(cases)),
               AuditEvent.actor_id.in_(staff_of))


def audit_events(viewer: User, filters: AuditFilters, before: int | None = None,
                 limit: int = AUDIT_PAGE) -> list[AuditEvent]:
    """The newest entries ``viewer`` may read that match, newest first, older than entry
    ``before``."""
    if not can_read_audit(viewer):
        raise PermissionDenied
    query = (select(AuditEvent).options(joinedload(AuditEvent.actor))
             .order_by(AuditEvent.id.desc()).limit(limit))
    if not viewer.has_role(Role.ADMIN):
        query = query.where(_manager_scope(viewer))
    if filters.person:
        query = query.where(AuditEvent.actor_id.in_(select(User.id).where(
            User.email == accounts.normalise_email(filters.person))))
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.target_type:
        query = query.where(AuditEvent.target_type == filters.target_type)
    if filters.target_id:
        query = query.where(AuditEvent.target_id == filters.target_id)
    if filters.start:
        query = query.where(AuditEvent.created_at >= local_midnight(filters.start))
    if filters.end:
        query = query.where(AuditEvent.created_at < local_midnight(filters.end + timedelta(days=1)))
    if before is not None:
        query = query.where(AuditEvent.id < before)
    return list(db.session.scalars(query))


def audit_export(actor: User, filters: AuditFilters) -> list[AuditEvent]:
    """The entries for a download; the download itself is an entry of the log."""
    events = audit_events(actor, filters, limit=AUDIT_CSV_ROWS)
    audit("audit.exported", actor=actor, target_type="audit", rows=len(events),
          filters={name: str(value) for name, value in vars(filters).items() if value})
    return events
