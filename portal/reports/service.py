"""Improvement reports: compose, publish (freezing the figures, telling everyone who
raised it, once), withdraw, and follow the commitments a report makes.

What a published report shows of the cases it answers is counts and topics, never
their text, their references or who wrote them (``public_case_summary``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import current_app, url_for
from sqlalchemy import func, or_, select

from portal import clock, mail
from portal.audit import audit
from portal.extensions import db
from portal.ideas import service as ideas
from portal.models import (
    Article,
    ArticleStatus,
    Case,
    Commitment,
    CommitmentStatus,
    CommitmentUpdate,
    Department,
    Idea,
    IdeaStatus,
    Milestone,
    Report,
    ReportStatus,
    Role,
    User,
)
from portal.permissions import PermissionDenied
from portal.request_limits import whole_number
from portal.stats import figures

PICKER_LIMIT = 10


class ReportError(Exception):
    """A report cannot be saved or published as asked; ``field`` names the form field."""

    def __init__(self, code: str, field: str | None = None) -> None:
        super().__init__(code)
        self.code, self.field = code, field


def can_edit(user: User) -> bool:
    return user.is_authenticated and user.has_role(Role.MANAGER)


def _require(actor: User) -> None:
    if not can_edit(actor):
        raise PermissionDenied


# ---------------------------------------------------------------- reading

def published(limit: int | None = None) -> list[Report]:
    query = (select(Report).where(Report.status != ReportStatus.DRAFT)
             .order_by(Report.published_at.desc(), Report.id.desc()))
    return list(db.session.scalars(query.limit(limit) if limit else query))


def latest_for_home(limit: int = 3) -> list[Report]:
    return list(db.session.scalars(
        select(Report).where(Report.status == ReportStatus.PUBLISHED)
        .order_by(Report.published_at.desc(), Report.id.desc()).limit(limit)))


def all_for_managers() -> list[Report]:
    return list(db.session.scalars(select(Report).order_by(
        Report.status != ReportStatus.DRAFT, Report.updated_at.desc(), Report.id.desc())))


def public_report(report_id: int) -> Report | None:
    """A report anyone may read: published or withdrawn, never a draft."""
    report = db.session.get(Report, report_id)
    return report if report is not None and report.public else None


@dataclass
class CommitmentTotals:
    done: int = 0
    in_progress: int = 0
    late: int = 0
    planned: int = 0
    dropped: int = 0

    @property
    def total(self) -> int:
        return self.done + self.in_progress + self.planned + self.dropped


def commitment_totals(reports: list[Report] | None = None) -> CommitmentTotals:
    """Commitments of the published reports: done, in progress, planned, dropped, and
    how many of those not done are late (past their date)."""
    past = (Commitment.due_on < figures.today()).label("past")
    query = (select(Commitment.status, past, func.count())
             .join(Report).where(Report.status == ReportStatus.PUBLISHED)
             .group_by(Commitment.status, past))
    if reports is not None:
        query = query.where(Report.id.in_([report.id for report in reports]))
    totals = CommitmentTotals()
    for status, past, count in db.session.execute(query):
        status = CommitmentStatus(status)
        name = status.value
        setattr(totals, name, getattr(totals, name) + count)
        if past and status in (CommitmentStatus.PLANNED, CommitmentStatus.IN_PROGRESS):
            totals.late += count
    return totals


def public_case_summary(report: Report, locale: str) -> tuple[int, list[tuple[str, int]]]:
    """How many cases the report answers, and their topics with counts: nothing else."""
    topics: Counter[str] = Counter()
    for case in report.cases:
        if case.category is not None:
            topics[case.category.name(locale)] += 1
        elif case.department is not None:
            topics[case.department.name(locale)] += 1
    return len(report.cases), sorted(topics.items(), key=lambda item: (-item[1], item[0]))


# ---------------------------------------------------------------- the pickers

def find_ideas(text: str) -> list[Idea]:
    """Ideas on the board by number or words of the title (the editor's picker)."""
    text = text.strip()
    if not text:
        return []
    query = select(Idea).where(Idea.public.is_(True))
    if text.lstrip("#").isdigit():
        # whole_number: "²" is a digit that int() refuses, and a number past PostgreSQL's
        # integer made the query fail (both a 500); neither is an idea's number.
        query = query.where(Idea.id == (whole_number(text.lstrip("#")) or 0))
    else:
        query = query.where(_words(Idea.title, text))
    return list(db.session.scalars(query.order_by(Idea.vote_count.desc(), Idea.id.desc())
                                   .limit(PICKER_LIMIT)))


def find_articles(text: str) -> list[Article]:
    text = text.strip()
    if not text:
        return []
    return list(db.session.scalars(
        select(Article).where(Article.status == ArticleStatus.PUBLISHED,
                              _words(Article.title, text))
        .order_by(Article.id.desc()).limit(PICKER_LIMIT)))


def find_cases(actor: User, text: str) -> list[Case]:
    """Cases by reference, subject, email or name: the staff search, for managers."""
    from portal.staff import service as staff

    text = text.strip()
    return staff.search(actor, text, limit=PICKER_LIMIT).cases if text else []


def _words(column, text: str):
    """Any of the first six words in the column, case-insensitive; a typed % or _ is a
    character, not a wildcard."""
    return or_(*[func.lower(column).contains(word.lower(), autoescape=True)
                 for word in text.split()[:6]])


# ---------------------------------------------------------------- composing

@dataclass
class Draft:
    """What the editor sends: the report's text, links and commitments."""

    title: str
    summary: str
    body: str
    locale: str
    period_start: date
    period_end: date
    department: Department | None = None
    idea_ids: list[int] = field(default_factory=list)
    implemented_idea_ids: list[int] = field(default_factory=list)
    case_ids: list[int] = field(default_factory=list)
    article_ids: list[int] = field(default_factory=list)
    # (title, due date or None); kept in this order.
    commitments: list[tuple[str, date | None]] = field(default_factory=list)


def save(actor: User, report: Report | None, draft: Draft) -> Report:
    """Create (``report`` None) or update a report that is still a draft."""
    _require(actor)
    if report is not None and report.status is not ReportStatus.DRAFT:
        raise ReportError("not_a_draft")
    if draft.period_end < draft.period_start:
        raise ReportError("period_order", field="period_end")
    if report is None:
        report = Report(author_id=actor.id)
        db.session.add(report)
    report.title, report.summary, report.body = draft.title, draft.summary, draft.body
    report.locale = draft.locale
    report.period_start, report.period_end = draft.period_start, draft.period_end
    report.department = draft.department
    report.ideas = list(db.session.scalars(
        select(Idea).where(Idea.id.in_(draft.idea_ids)))) if draft.idea_ids else []
    linked = {idea.id for idea in report.ideas}
    report.implemented_idea_ids = sorted(set(draft.implemented_idea_ids) & linked)
    report.cases = find_cases_by_id(actor, draft.case_ids)
    report.articles = list(db.session.scalars(
        select(Article).where(Article.id.in_(draft.article_ids)))) if draft.article_ids else []
    _replace_commitments(report, draft.commitments)
    db.session.flush()
    audit("report.saved", actor=actor, target_type="report", target_id=report.id)
    return report


def find_cases_by_id(actor: User, ids: list[int]) -> list[Case]:
    from portal.staff import service as staff

    if not ids:
        return []
    return [case for case in db.session.scalars(select(Case).where(Case.id.in_(ids)))
            if staff.can_see_case(actor, case)]


def _replace_commitments(report: Report, items: list[tuple[str, date | None]]) -> None:
    """A draft's commitments are simply its list (nothing has been promised yet)."""
    existing = {commitment.title: commitment for commitment in report.commitments}
    kept = []
    for position, (title, due_on) in enumerate(items):
        commitment = existing.pop(title, None) or Commitment(title=title)
        commitment.position, commitment.due_on = position, due_on
        kept.append(commitment)
    report.commitments = kept


def add_milestone(actor: User, commitment: Commitment, title: str, due_on: date) -> Milestone:
    _require(actor)
    milestone = Milestone(title=title, due_on=due_on)
    commitment.milestones.append(milestone)
    db.session.flush()
    return milestone


def mark_milestone_done(actor: User, milestone: Milestone) -> None:
    _require(actor)
    milestone.done_on = milestone.done_on or figures.today()


# ---------------------------------------------------------------- publishing

def frozen_figures(report: Report) -> dict[str, Any]:
    """The period's figures for the report's department (or all), as published."""
    period = figures.Period(report.period_start, report.period_end)
    ids = [report.department_id] if report.department_id else None
    service = figures.total(figures.service_figures([period], ids)[0])
    idea_totals = figures.ideas_total(figures.idea_figures([period], ids)[0])
    return {
        "received": service.received,
        "answered": service.answered,
        "first_response_median": service.first_response_median,
        "on_time_share": service.on_time_share,
        "satisfaction": service.satisfaction,
        "rated": service.rated,
        "ideas_proposed": idea_totals.total,
        "ideas_answered": idea_totals.answered,
        "computed_at": clock.now().isoformat(),
    }


def publish(actor: User, report: Report) -> int:
    """Publish a draft: freeze its figures, answer the ticked ideas with it, and tell
    the authors and followers of its ideas and the citizens of its cases, once each,
    in their language. Returns how many people were told."""
    _require(actor)
    if report.status is not ReportStatus.DRAFT:
        raise ReportError("not_a_draft")
    if not report.summary.strip():
        raise ReportError("summary_required", field="summary")
    now = clock.now()
    report.figures = frozen_figures(report)
    report.status, report.published_at = ReportStatus.PUBLISHED, now
    db.session.flush()
    link = current_app.config["PORTAL"]["BASE_URL"].rstrip("/") + _report_path(report)
    for idea in report.ideas:
        if idea.id in report.implemented_idea_ids and not idea.status.closed \
                and idea.status.can_become(IdeaStatus.IMPLEMENTED):
            response = f"{report.summary.strip()}\n\n{report.title}: {link}"
            ideas.change_status(actor, idea, IdeaStatus.IMPLEMENTED, response, notify=False)
    told = _tell(report, "report_published")
    audit("report.published", actor=actor, target_type="report", target_id=report.id,
          told=told)
    return told


def withdraw(actor: User, report: Report, reason: str) -> None:
    """Take back a published report, with a public reason; its page says so."""
    _require(actor)
    if report.status is not ReportStatus.PUBLISHED:
        raise ReportError("not_published")
    if not reason.strip():
        raise ReportError("reason_required", field="reason")
    report.status, report.withdrawn_at = ReportStatus.WITHDRAWN, clock.now()
    report.withdrawal_reason = reason.strip()
    audit("report.withdrawn", actor=actor, target_type="report", target_id=report.id)


def update_commitment(actor: User, commitment: Commitment, status: CommitmentStatus,
                      progress: int, note: str) -> CommitmentUpdate:
    """A dated step of a published commitment; everyone the report told is told again,
    once, in their language."""
    _require(actor)
    if commitment.report.status is not ReportStatus.PUBLISHED:
        raise ReportError("not_published")
    if not 0 <= progress <= 100:
        raise ReportError("bad_progress", field="progress")
    if status is CommitmentStatus.DONE:
        progress = 100
    if status is commitment.status and progress == commitment.progress and not note.strip():
        raise ReportError("nothing_changed", field="note")
    update = CommitmentUpdate(status=status, progress=progress, note=note.strip(),
                              actor_id=actor.id, created_at=clock.now())
    commitment.updates.append(update)
    commitment.status, commitment.progress = status, progress
    db.session.flush()
    _tell(commitment.report, "report_commitment", commitment=commitment, update=update)
    audit("report.commitment", actor=actor, target_type="report",
          target_id=commitment.report_id, commitment=commitment.id, status=status.value)
    return update


# ---------------------------------------------------------------- who is told

@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    locale: str


def recipients(report: Report) -> list[Recipient]:
    """The authors and followers of the linked ideas and the citizens of the linked
    cases, once each (by address), each with their own language."""
    people: dict[str, Recipient] = {}

    def add(email: str, name: str, locale: str) -> None:
        key = email.strip().lower()
        if key and key not in people:
            people[key] = Recipient(email.strip(), name, locale)

    for idea in report.ideas:
        for user in ideas.people_to_tell(idea):
            add(user.email, user.display_name, user.locale)
    for case in report.cases:
        if case.citizen is not None:
            if case.citizen.is_active:
                add(case.citizen.email, case.citizen.display_name, case.citizen.locale)
        elif case.contact_email:
            add(case.contact_email, case.contact_name, case.language)
    return list(people.values())


def _report_path(report: Report) -> str:
    with mail.url_context():
        return url_for("reports.report", report_id=report.id)


def _tell(report: Report, template: str, **context) -> int:
    link = _report_path(report)
    people = recipients(report)
    for person in people:
        mail.queue_mail(person.email, template, person.locale, report=report,
                        person=person, link_path=link, **context)
    return len(people)

