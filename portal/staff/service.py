"""The civil servants' work on cases: queues, answers, transfers, merges, history.

Every function takes the acting user and checks, by name, that they may act
(``can_see_case``); a refusal is ``PermissionDenied``, which the views show as 404 so
that a case of another department is indistinguishable from a missing one.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Select, and_, func, or_, select, true
from sqlalchemy.orm import selectinload

from portal import clock, sla
from portal.audit import audit
from portal.cases import references
from portal.cases import service as cases
from portal.cases.service import CaseError, Submission
from portal.dates import format_date
from portal.extensions import db
from portal.greetings import opens_with_greeting
from portal.models import (
    Attachment,
    CannedResponse,
    Case,
    CaseEvent,
    CaseEventKind,
    CaseKind,
    CaseLink,
    CasePriority,
    CaseStatus,
    Channel,
    Department,
    Idea,
    Message,
    Role,
    User,
    user_departments,
)
from portal.models.case import OPEN_STATUSES as OPEN_STATUSES  # re-exported for the views
from portal.permissions import PermissionDenied

WORKING_STATUSES = (CaseStatus.NEW, CaseStatus.OPEN)
DONE_STATUSES = (CaseStatus.RESOLVED, CaseStatus.CLOSED)
PAGE_SIZE = 25




class StaleCase(Exception):
    """Someone else changed the case since the page was loaded."""

    def __init__(self, changes: list[CaseEvent]) -> None:
        super().__init__("stale")
        self.changes = changes


# ---------------------------------------------------------------- permissions

def department_ids(user: User) -> set[int]:
    return {department.id for department in user.departments}


def sees_everything(user: User) -> bool:
    return user.has_role(Role.MANAGER)


def can_see_case(user: User, case: Case) -> bool:
    """Agents: their departments' cases and triage. Managers and admins: every case."""
    if not user.is_authenticated or not user.is_staff:
        return False
    if sees_everything(user):
        return True
    return case.department_id is None or case.department_id in department_ids(user)


def get_case(user: User, reference: str) -> Case:
    """The case for the staff page; ``PermissionDenied`` if missing or not visible."""
    case = db.session.scalar(select(Case).where(Case.reference == reference))
    if case is None or not can_see_case(user, case):
        raise PermissionDenied
    audit("case.viewed", actor=user, target_type="case", target_id=case.id)
    return case


def _check(user: User, case: Case, version: int | None, since_event_id: int | None) -> None:
    if not can_see_case(user, case):
        raise PermissionDenied
    if version is not None and version != case.version:
        query = select(CaseEvent).where(CaseEvent.case_id == case.id)
        if since_event_id is not None:
            query = query.where(CaseEvent.id > since_event_id)
        raise StaleCase(list(db.session.scalars(query.order_by(CaseEvent.id))))


# ---------------------------------------------------------------- queues

QUEUES = ("mine", "department", "triage", "waiting", "due_soon", "overdue", "resolved")


@dataclass
class Filters:
    department_id: int | None = None
    category_id: int | None = None
    kind: CaseKind | None = None
    status: CaseStatus | None = None
    channel: Channel | None = None
    assignee_id: int | None = None
    created_from: date | None = None
    created_to: date | None = None
    # Not a filter of the queue: a search across every queue (``search``).
    text: str = ""


@dataclass
class QueuePage:
    cases: list[Case]
    next_cursor: str | None
    counts: dict[str, int] = field(default_factory=dict)


def _own_departments(user: User):
    """The cases of the user's departments (not triage)."""
    if sees_everything(user):
        return Case.department_id.is_not(None)
    ids = sorted(department_ids(user))
    # One department (the usual agent) is an equality: the index then serves the order.
    return Case.department_id == ids[0] if len(ids) == 1 else Case.department_id.in_(
        ids or [-1])


def _queue_condition(user: User, queue: str, now: datetime):
    """The WHERE clause of one queue, visibility included (built alone: not free).

    The status groups are said through ``next_due_at``, which is NULL exactly when a
    case is done (a CHECK constraint on ``cases``): open is ``next_due_at IS NOT NULL``,
    done is ``IS NULL``, and "working" (new or open) is open but not waiting. That lets
    each queue's index (models/case.py) seek and read in order, where ``status IN
    (...)`` would lure the planner to a status index and a sort of every match.
    """
    still_open = Case.next_due_at.is_not(None)
    working = and_(still_open, Case.status != CaseStatus.WAITING_ON_CITIZEN)
    if queue == "mine":
        return _visible_condition(user, Case.assignee_id == user.id, still_open)
    if queue == "department":
        return and_(Case.assignee_id.is_(None), _own_departments(user), working)
    if queue == "triage":  # every agent sees triage
        return and_(Case.department_id.is_(None), still_open)
    if queue == "waiting":
        return _visible_condition(user, Case.status == CaseStatus.WAITING_ON_CITIZEN,
                                  still_open)
    if queue == "due_soon":
        return _visible_condition(user, Case.next_due_at >= now,
                                  Case.next_due_at < now + timedelta(days=2), working)
    if queue == "overdue":
        return _visible_condition(user, Case.next_due_at < now, working)
    if queue == "resolved":
        return _visible_condition(user, Case.next_due_at.is_(None))
    raise ValueError(f"unknown queue {queue!r}")


def _visible_condition(user: User, *conditions):
    """``conditions`` and the cases ``user`` may see (``can_see_case``, in SQL).

    Written as coalesce(department_id, 0) IN (0, hers...): a filter on rows found by
    the queue's own index, never an index choice of its own (an OR of two department
    lookups would read and sort every case of her departments).
    """
    if not sees_everything(user):
        conditions = (*conditions, func.coalesce(Case.department_id, 0).in_(
            [0, *sorted(department_ids(user))]))
    return and_(true(), *conditions)  # true() vanishes from the SQL


def _apply_filters(query: Select, filters: Filters) -> Select:
    if filters.department_id:
        query = query.where(Case.department_id == filters.department_id)
    if filters.category_id:
        query = query.where(Case.category_id == filters.category_id)
    if filters.kind:
        query = query.where(Case.kind == filters.kind)
    if filters.status:
        query = query.where(Case.status == filters.status)
    if filters.channel:
        query = query.where(Case.channel == filters.channel)
    if filters.assignee_id:
        query = query.where(Case.assignee_id == filters.assignee_id)
    zone = sla.local_zone()
    if filters.created_from:
        start = datetime.combine(filters.created_from, datetime.min.time(), tzinfo=zone)
        query = query.where(Case.created_at >= start)
    if filters.created_to:
        end = datetime.combine(filters.created_to + timedelta(days=1), datetime.min.time(),
                               tzinfo=zone)
        query = query.where(Case.created_at < end)
    return query


# A page of an open queue continues after (next_due_at, id); of "resolved", newest
# first, before (id). The cursor is that position, opaque to the browser.
def _encode_cursor(case: Case) -> str:
    raw = json.dumps([case.next_due_at.isoformat() if case.next_due_at else None, case.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime | None, int] | None:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        due, case_id = json.loads(base64.urlsafe_b64decode(padded))
        due = datetime.fromisoformat(due) if due else None
        if due is not None and due.tzinfo is None:
            return None
        return due, int(case_id)
    except (ValueError, TypeError):
        return None


def queue_query(user: User, name: str, filters: Filters | None = None,
                cursor: str | None = None) -> Select:
    """The SELECT of one page of a queue, in order, without its LIMIT (see ``queue``)."""
    query = _apply_filters(select(Case).where(_queue_condition(user, name, clock.now())),
                           filters or Filters())
    position = _decode_cursor(cursor) if cursor else None
    if name == "resolved":
        if position is not None:
            query = query.where(Case.id < position[1])
        return query.order_by(Case.id.desc())
    if position is not None and position[0] is not None:
        after_due, after_id = position
        # The first term is a range an index can seek to; the second trims its start.
        query = query.where(Case.next_due_at >= after_due,
                            or_(Case.next_due_at > after_due, Case.id > after_id))
    return query.order_by(Case.next_due_at, Case.id)


def queue(user: User, name: str, filters: Filters | None = None, cursor: str | None = None,
          limit: int = PAGE_SIZE) -> QueuePage:
    """One page of a queue, the next deadline due first (keyset pagination).

    The tab counts are ``queue_counts``, asked for separately.
    """
    query = queue_query(user, name, filters, cursor).limit(limit + 1).options(
        selectinload(Case.department), selectinload(Case.assignee),
        selectinload(Case.category))
    rows = list(db.session.scalars(query))
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return QueuePage(cases=rows[:limit], next_cursor=next_cursor)


# Tabs count up to this many cases and then say "100+": exact counts of a queue that
# holds tens of thousands of resolved cases would cost a full scan on every page view,
# and seven counts of up to 1,000 each were most of a queue page's database time at
# 100 000 cases (benchmarks/queue_benchmark.py). A tab says whether there is work
# there; how much is the reports' job. Each count reads only index entries (every
# column it tests is in the queue's index).
COUNT_CAP = 100


def count_query(user: User, name: str, filters: Filters | None = None) -> Select:
    """How many cases one queue holds, up to ``COUNT_CAP``."""
    capped = _apply_filters(select(Case.id).where(_queue_condition(user, name, clock.now())),
                            filters or Filters()).limit(COUNT_CAP).subquery()
    return select(func.count()).select_from(capped)


def queue_counts(user: User, filters: Filters | None = None) -> dict[str, int]:
    """How many cases each queue holds (at most ``COUNT_CAP``), for the tabs."""
    return {name: db.session.scalar(count_query(user, name, filters)) for name in QUEUES}


def queue_of(user: User, case: Case) -> str | None:
    """The queue of ``user``'s that a case is in, or None: a colleague is handling it.

    Queues overlap ("overdue" and "due soon" cut across the others); this names the
    one that says most about who has to act.
    """
    if case.status in DONE_STATUSES:
        return "resolved"
    if case.assignee_id == user.id:
        return "mine"
    if case.department_id is None:
        return "triage"
    if case.status is CaseStatus.WAITING_ON_CITIZEN:
        return "waiting"
    if case.assignee_id is None:
        return "department"
    return None


# ---------------------------------------------------------------- staff search

SEARCH_LIMIT = 50


@dataclass
class SearchResult:
    cases: list[Case]
    # The case whose reference was typed, when the user may open it.
    exact: Case | None = None
    # More cases matched than ``cases`` holds (the newest are shown).
    more: bool = False


def search_query(user: User, text: str, filters: Filters | None = None) -> Select:
    """The SELECT behind ``search``, newest first, without its LIMIT."""
    text = text.strip()
    lowered = text.lower()
    query = _apply_filters(select(Case).where(_visible_condition(user)), filters or Filters())
    if "@" in lowered:
        # An address: equality on contact_email (ix_cases_contact_email) or on the
        # citizen's account (unique). Both are stored lower-cased (cases.submit_case).
        # The account is looked up first: as a subquery inside the OR, PostgreSQL
        # gave up both indexes and read every case.
        account = db.session.scalar(select(User.id).where(User.email == lowered))
        matches = (Case.contact_email == lowered if account is None
                   else or_(Case.contact_email == lowered, Case.citizen_id == account))
    else:
        # A name, words of the subject or part of a reference: a scan, newest first,
        # that stops at the LIMIT (cost measured in benchmarks/queue_benchmark.py).
        matches = or_(func.lower(Case.contact_name).contains(lowered, autoescape=True),
                      func.lower(Case.subject).contains(lowered, autoescape=True),
                      Case.reference.contains(text.upper(), autoescape=True))
    return query.where(matches).order_by(Case.id.desc())


def search(user: User, text: str, filters: Filters | None = None,
           limit: int = SEARCH_LIMIT) -> SearchResult:
    """Cases in any of the user's queues, done ones too, by reference, email or name.

    This is the database, never the public search index. A whole reference finds that
    case alone (``exact``), through the unique index on ``reference``.
    """
    reference = references.normalise(text)
    if references.looks_valid(reference):
        case = db.session.scalar(select(Case).where(Case.reference == reference))
        if case is not None and can_see_case(user, case):
            return SearchResult(cases=[case], exact=case)
    rows = list(db.session.scalars(search_query(user, text, filters).limit(limit + 1).options(
        selectinload(Case.department), selectinload(Case.assignee))))
    return SearchResult(cases=rows[:limit], more=len(rows) > limit)


# ---------------------------------------------------------------- the case page

def proven_email(case: Case) -> str | None:
    """The address known to belong to whoever wrote the case, or None.

    A typed address proves nothing: anyone can type a neighbour's. It is proven by a
    confirmed account, or by someone opening a link that was emailed to it.
    """
    if case.citizen is not None and case.citizen.email_verified_at is not None:
        return case.citizen.email
    if case.contact_email and case.contact_verified_at is not None:
        return case.contact_email
    return None


def same_citizen(case: Case, other: Case) -> bool:
    """The same account, or the same address proven on both cases."""
    if case.citizen_id is not None and case.citizen_id == other.citizen_id:
        return True
    email = proven_email(case)
    return email is not None and email == proven_email(other)


@dataclass
class CitizenHistory:
    """What an agent sees beside a case: the citizen's other cases and ideas.

    ``unverified`` are cases that only share a typed email address: possibly the same
    person, but they may be linked as related, never merged.
    """

    cases: list[Case]
    unverified: list[Case]
    ideas: list[Idea]
    related: list[Case]


def citizen_history(case: Case) -> CitizenHistory:
    """Every other case of the same citizen (account, or proven address), and their ideas."""
    candidates = []
    if case.citizen_id:
        candidates.append(Case.citizen_id == case.citizen_id)
    emails = {email for email in (case.contact_email, proven_email(case)) if email}
    if emails:
        candidates.append(Case.contact_email.in_(emails))
    mine: list[Case] = []
    unverified: list[Case] = []
    if candidates:
        for other in db.session.scalars(
                select(Case).where(or_(*candidates), Case.id != case.id)
                .options(selectinload(Case.department), selectinload(Case.citizen))
                .order_by(Case.created_at.desc()).limit(50)):
            (mine if same_citizen(case, other) else unverified).append(other)
    ideas: list[Idea] = []
    if case.citizen_id:
        ideas = list(db.session.scalars(
            select(Idea).where(Idea.author_id == case.citizen_id)
            .order_by(Idea.created_at.desc()).limit(50)))
    return CitizenHistory(cases=mine, unverified=unverified, ideas=ideas,
                          related=related_cases(case))


def related_cases(case: Case) -> list[Case]:
    """Cases an agent linked to this one, in either direction."""
    linked = select(CaseLink.related_case_id).where(CaseLink.case_id == case.id).union(
        select(CaseLink.case_id).where(CaseLink.related_case_id == case.id))
    return list(db.session.scalars(
        select(Case).where(Case.id.in_(linked)).options(selectinload(Case.department))
        .order_by(Case.created_at.desc())))


def colleagues_for(case: Case) -> list[User]:
    """Staff who may be assigned the case: its department's, or everyone's for triage."""
    query = select(User).where(User.role != Role.CITIZEN, User.active.is_(True))
    if case.department_id is not None:
        query = query.where(or_(
            User.id.in_(select(user_departments.c.user_id)
                        .where(user_departments.c.department_id == case.department_id)),
            User.role.in_((Role.MANAGER, Role.ADMIN))))
    return list(db.session.scalars(query.order_by(User.display_name)))


def canned_responses_for(case: Case, locale: str) -> list[CannedResponse]:
    query = select(CannedResponse).where(or_(CannedResponse.department_id.is_(None),
                                             CannedResponse.department_id == case.department_id))
    responses = list(db.session.scalars(query.order_by(CannedResponse.title)))
    # The case's language first, then the others.
    return sorted(responses, key=lambda item: (item.locale != locale, item.title.lower()))


def fill_placeholders(text: str, case: Case, locale: str) -> str:
    """Replace {name}, {reference} and {due_date} in a canned response."""
    # In the case's language, whatever language the agent reads the site in.
    due = (format_date(case.resolution_due_at.astimezone(sla.local_zone()).date(), "long",
                       locale) if case.resolution_due_at else "")
    values = {"name": case.contact_name or "", "reference": case.reference, "due_date": due}
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


# ---------------------------------------------------------------- actions

def _event(case, kind, actor, **kwargs):
    cases.record_event(case, kind, actor=actor, **kwargs)


def assign(actor: User, case: Case, assignee: User | None, version: int | None = None,
           since_event_id: int | None = None) -> None:
    """Give the case to ``assignee`` (None: back to the department's queue)."""
    _check(actor, case, version, since_event_id)
    if assignee is not None and not can_see_case(assignee, case):
        raise CaseError("assignee_cannot_see", field="assignee")
    previous = case.assignee.display_name if case.assignee else ""
    case.assignee = assignee
    if case.status is CaseStatus.NEW and assignee is not None:
        cases.change_status(case, CaseStatus.OPEN, actor=actor)
    _event(case, CaseEventKind.ASSIGNED, actor, from_value=previous,
           to_value=assignee.display_name if assignee else "")


def reply_to_citizen(actor: User, case: Case, body: str, files: list[tuple[str, bytes]],
                     ask_citizen: bool = False, version: int | None = None,
                     since_event_id: int | None = None) -> Message:
    """Answer the citizen (emailed). ``ask_citizen`` waits for them and pauses the clock."""
    _check(actor, case, version, since_event_id)
    if case.status in DONE_STATUSES:
        cases.change_status(case, CaseStatus.OPEN, actor=actor)
    message = cases.add_message(case, body, files, actor, from_staff=True)
    cases.record_first_response(case, message.created_at)
    if ask_citizen:
        cases.change_status(case, CaseStatus.WAITING_ON_CITIZEN, actor=actor)
    elif case.status is CaseStatus.NEW:
        cases.change_status(case, CaseStatus.OPEN, actor=actor)
    if case.assignee_id is None:
        case.assignee = actor
    db.session.flush()
    # The email greets the citizen unless the message already does (a saved reply may).
    cases.notify_citizen(case, "case_reply", message=message, asks=ask_citizen,
                         greeted=opens_with_greeting(body, case.contact_name or ""))
    return message


def add_note(actor: User, case: Case, body: str, version: int | None = None,
             since_event_id: int | None = None) -> Message:
    """An internal note: staff only, never shown or sent to the citizen."""
    _check(actor, case, version, since_event_id)
    return cases.add_message(case, body, [], actor, from_staff=True, internal=True)


def set_status(actor: User, case: Case, target: CaseStatus, summary: str = "",
               version: int | None = None, since_event_id: int | None = None) -> None:
    """Change the status; resolving needs a summary, which the citizen receives."""
    _check(actor, case, version, since_event_id)
    if target is case.status:
        return
    if target is CaseStatus.RESOLVED and not summary.strip():
        raise CaseError("summary_required", field="summary")
    cases.change_status(case, target, actor=actor, reason=summary)
    if target is CaseStatus.RESOLVED:
        case.resolution_summary = summary.strip()
        cases.notify_citizen(case, "case_resolved")


def set_priority(actor: User, case: Case, priority: CasePriority, version: int | None = None,
                 since_event_id: int | None = None) -> None:
    _check(actor, case, version, since_event_id)
    if priority is case.priority:
        return
    _event(case, CaseEventKind.PRIORITY_CHANGED, actor, from_value=case.priority.value,
           to_value=priority.value)
    case.priority = priority


def transfer(actor: User, case: Case, department: Department, reason: str,
             version: int | None = None, since_event_id: int | None = None) -> None:
    """Send the case to another department with a reason; the history goes with it."""
    _check(actor, case, version, since_event_id)
    if not reason.strip():
        raise CaseError("reason_required", field="reason")
    if department.id == case.department_id:
        raise CaseError("same_department", field="department")
    previous = case.department.slug if case.department else ""
    case.department = department
    case.category = None
    case.assignee = None
    _event(case, CaseEventKind.TRANSFERRED, actor, from_value=previous,
           to_value=department.slug, reason=reason.strip())
    cases.notify_citizen(case, "case_transferred")


def merge(actor: User, case: Case, target: Case, reason: str, version: int | None = None,
          since_event_id: int | None = None) -> None:
    """Merge ``case`` into ``target``: messages, files and followers move; it then redirects.

    Only cases of the same citizen are merged (``same_citizen``: one account, or one
    proven address), so nobody ever sees another person's conversation. Cases that
    merely share a typed address can be linked instead.
    """
    _check(actor, case, version, since_event_id)
    if not can_see_case(actor, target):
        raise CaseError("merge_not_found", field="target")
    if target.id == case.id or target.merged_into_id is not None:
        raise CaseError("merge_not_found", field="target")
    if not same_citizen(case, target):
        raise CaseError("merge_other_citizen", field="target")
    # The merged case's own description becomes a message of the target.
    db.session.add(Message(case=target, author_id=case.citizen_id, body=case.body,
                           created_at=case.created_at))
    for message in list(case.messages):
        message.case = target
    for attachment in db.session.scalars(select(Attachment).where(Attachment.case_id == case.id)):
        attachment.case = target
    for follower in case.followers:
        if follower not in target.followers:
            target.followers.append(follower)
    case.merged_into = target
    if case.status is not CaseStatus.CLOSED:
        cases.change_status(case, CaseStatus.CLOSED, actor=actor, reason=reason)
    _event(case, CaseEventKind.MERGED, actor, to_value=target.reference, reason=reason)
    _event(target, CaseEventKind.MERGED, actor, from_value=case.reference, reason=reason)
    cases.notify_citizen(case, "case_merged", target=target,
                         target_token=cases.case_link_token(target))


def link_cases(actor: User, case: Case, target: Case, reason: str = "",
               version: int | None = None, since_event_id: int | None = None) -> None:
    """Note that two cases are related (e.g. possibly the same person). Nothing moves."""
    _check(actor, case, version, since_event_id)
    if target.id == case.id or not can_see_case(actor, target):
        raise CaseError("merge_not_found", field="target")
    if target in related_cases(case):
        return
    db.session.add(CaseLink(case_id=case.id, related_case_id=target.id,
                            created_by_id=actor.id, reason=reason.strip(),
                            created_at=clock.now()))
    _event(case, CaseEventKind.LINKED, actor, to_value=target.reference, reason=reason)
    _event(target, CaseEventKind.LINKED, actor, to_value=case.reference, reason=reason)


def record_case(actor: User, submission: Submission) -> Case:
    """A case that came by phone, at the counter or by social media, entered by staff."""
    if not actor.is_staff:
        raise PermissionDenied
    case, _created = cases.submit_case(submission, citizen=None)
    # Recorded by the agent; it may be for any department and lands in that queue.
    case.events[-1].actor_id = actor.id
    return case
