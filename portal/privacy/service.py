"""A person's data rights and the retention of personal data (GDPR Arts. 5.1.e, 12, 17).

Erasure anonymises rather than deletes: the administration must keep the record of
what it was asked and what it answered, so a person's cases and ideas stay, under a
pseudonym, with every trace of who they were taken out:

- their account: email, name and password replaced, every session and emailed link
  revoked, follows dropped (supports stay, as counts of a pseudonymous account);
- their cases (by account or by address): contact details and location cleared, files
  deleted, and their email, name and phone cut out of every text of the case (the
  conversation, internal notes and history included, as an agent's greeting names
  them) and of the articles built from it;
- their ideas and comments: the same cut, images deleted;
- mail: whatever is addressed to them is dropped (sent or not), and they are cut out
  of the rest;
- the search index is rebuilt when a document in it changed, so no old segment keeps
  the words.

The audit log is not touched: it never holds names, addresses or texts (portal/audit.py).
Retention applies the case part of the same to every case closed longer ago than its
kind's period (``RETENTION_MONTHS_QUESTION`` / ``_COMPLAINT``), and purges sent mail
older than ``OUTBOX_RETENTION_DAYS``.
"""

from __future__ import annotations

import calendar
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from portal import clock, jobs, sla, storage
from portal.accounts import service as accounts
from portal.accounts import throttle
from portal.audit import audit
from portal.cases import service as cases
from portal.extensions import db
from portal.models import (
    Article,
    Attachment,
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    Comment,
    DataRequest,
    DataRequestChannel,
    DataRequestKind,
    Flag,
    Idea,
    IdeaFollow,
    IdeaRevision,
    IdeaStatusChange,
    Message,
    OutboxMessage,
    OutboxStatus,
    SignInThrottle,
    User,
    case_followers,
)
from portal.models.knowledge import article_sources

# What replaces a name, an address or a phone number cut out of a text.
REDACTED = "[…]"
# Shorter strings are not cut out of texts: a two-letter name would cut words apart.
MIN_TERM_LENGTH = 3


def pseudonym() -> str:
    """The name a person's records carry once they are nobody's."""
    return "anon-" + secrets.token_hex(4)


def one_month_after(moment: datetime) -> datetime:
    """The legal deadline of a request: the same day of the next month (Art. 12.3 GDPR),
    or that month's last day when it is shorter."""
    local = moment.astimezone(sla.local_zone())  # the month of the calendar on the wall
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).astimezone(UTC)


# ---------------------------------------------------------------- cutting out

def _terms(*values: str) -> list[str]:
    """The strings to cut out, longest first (so a full name goes before a part of it)."""
    found = {value.strip() for value in values if value and len(value.strip()) >= MIN_TERM_LENGTH}
    return sorted(found, key=len, reverse=True)


def _pattern(terms: list[str]) -> re.Pattern | None:
    if not terms:
        return None
    parts = []
    for term in terms:
        escaped = re.escape(term)
        # A phone number is found whatever spaces, dots or dashes it was written with.
        if re.fullmatch(r"[+\d][\d\s.\-]{5,}", term):
            digits = [re.escape(digit) for digit in re.sub(r"\D", "", term)]
            escaped = r"[\s.\-]*".join(digits)
        parts.append(escaped)
    return re.compile("|".join(parts), re.IGNORECASE)


class _Cutter:
    """Cuts a person's identifying strings out of texts, counting what it changed."""

    def __init__(self, terms: list[str]) -> None:
        self.terms = terms
        self.pattern = _pattern(terms)

    def __call__(self, text: str | None) -> str | None:
        if not text or self.pattern is None:
            return text
        return self.pattern.sub(REDACTED, text)

    def value(self, value):
        """The same through JSON values (case-event data)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        return value

    def fields(self, row, *names: str) -> bool:
        """Cut the person out of these attributes of ``row``; whether any changed."""
        changed = False
        for name in names:
            before = getattr(row, name)
            after = self.value(before)
            if after != before:
                setattr(row, name, after)
                changed = True
        return changed


# ---------------------------------------------------------------- files and index

def _delete_files(hashes: Iterable[str]) -> None:
    """After the commit, delete the files no remaining row refers to."""
    hashes = sorted(set(filter(None, hashes)))
    if hashes:
        jobs.after_commit(_unlink_unreferenced, hashes)


def _unlink_unreferenced(hashes: list[str]) -> None:
    with Session(db.engine) as session:
        for content_hash in hashes:
            used = session.scalar(select(func.count()).select_from(Attachment)
                                  .where(Attachment.content_hash == content_hash))
            used += session.scalar(select(func.count()).select_from(Idea)
                                   .where(Idea.image_hash == content_hash))
            if not used:
                storage.discard(content_hash)


def _changed_in_index(doc_id: str) -> None:
    from portal.knowledge.service import index_changed

    index_changed(doc_id, rewritten=True)


# ---------------------------------------------------------------- cases

def _anonymise_case(case: Case, cut: _Cutter, label: str) -> int:
    """Take the person out of one case; how many files were deleted."""
    case.contact_name = label
    case.contact_email = ""
    case.contact_phone = ""
    case.contact_verified_at = None
    case.location_text = ""
    case.latitude = case.longitude = None
    cut.fields(case, "subject", "body", "desired_outcome", "resolution_summary",
               "satisfaction_comment")
    for message in db.session.scalars(select(Message).where(Message.case_id == case.id)):
        cut.fields(message, "body")
    for event in db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)):
        cut.fields(event, "from_value", "to_value", "reason", "data")
    for article in db.session.scalars(select(Article).join(
            article_sources, article_sources.c.article_id == Article.id)
            .where(article_sources.c.case_id == case.id)):
        if cut.fields(article, "title", "summary", "body"):
            _changed_in_index(f"article:{article.id}")
    files = list(db.session.scalars(select(Attachment).where(Attachment.case_id == case.id)))
    _delete_files(item.content_hash for item in files)
    for item in files:
        db.session.delete(item)
    db.session.execute(delete(case_followers).where(case_followers.c.case_id == case.id))
    cases.revoke_case_access(case)
    case.anonymised_at = clock.now()
    return len(files)


# ---------------------------------------------------------------- erasure

@dataclass
class Erasure:
    """What an erasure did (the audit entry's data, and the confirmation page)."""

    pseudonym: str
    cases: int = 0
    ideas: int = 0
    comments: int = 0
    files: int = 0
    mails: int = 0


def holdings(email: str, user: User | None = None) -> dict[str, int]:
    """How many cases and ideas the portal holds for this address (or account)."""
    condition = Case.contact_email == email.lower()
    if user is not None:
        condition = or_(condition, Case.citizen_id == user.id)
    count_cases = db.session.scalar(select(func.count()).select_from(Case).where(
        condition, Case.anonymised_at.is_(None)))
    count_ideas = db.session.scalar(select(func.count()).select_from(Idea).where(
        Idea.author_id == user.id)) if user is not None else 0
    return {"cases": count_cases, "ideas": count_ideas}


def erase(email: str, user: User | None = None, actor: User | None = None,
          channel: DataRequestChannel = DataRequestChannel.ACCOUNT) -> Erasure:
    """Erase a person: the account ``user`` if they have one, and whatever carries the
    address ``email``. The caller commits; files and the index follow the commit."""
    email = email.strip().lower()
    if user is None:
        user = accounts.find_user_by_email(email)
    label = pseudonym()
    result = Erasure(pseudonym=label)

    case_condition = Case.contact_email == email
    if user is not None:
        case_condition = or_(case_condition, Case.citizen_id == user.id)
    their_cases = list(db.session.scalars(select(Case).where(case_condition)))
    known = [user.email, user.display_name] if user is not None else []
    cut = _Cutter(_terms(email, *known, *(item.contact_name for item in their_cases),
                         *(item.contact_phone for item in their_cases)))

    for case in their_cases:
        result.files += _anonymise_case(case, cut, label)
    result.cases = len(their_cases)

    if user is not None:
        result.ideas, result.comments, files = _erase_contributions(user, cut)
        result.files += files
        _erase_account(user, label)

    result.mails = _forget_mail(email, cut)
    db.session.execute(delete(SignInThrottle).where(
        SignInThrottle.key_hash == throttle.key_for(accounts.normalise_email(email))))
    db.session.execute(update(DataRequest).where(DataRequest.subject_email == email)
                       .values(subject_email="", subject_pseudonym=label))
    # A member of staff carried it out, or the person themselves (then no actor).
    staff = actor if actor is not None and actor is not user else None
    if channel is not DataRequestChannel.COUNTER:  # a counter request is already recorded
        now = clock.now()
        db.session.add(DataRequest(
            kind=DataRequestKind.ERASURE, channel=channel, subject_pseudonym=label,
            user_id=user.id if user else None, received_at=now,
            due_at=one_month_after(now), completed_at=now))
    audit("privacy.erased", actor=staff, target_type="user" if user else "person",
          target_id=user.id if user else label, channel=channel.value,
          cases=result.cases, ideas=result.ideas, comments=result.comments,
          files=result.files, mails=result.mails)
    return result


def _erase_contributions(user: User, cut: _Cutter) -> tuple[int, int, int]:
    """Their ideas, comments and flags: kept, with them cut out; images deleted."""
    ideas = list(db.session.scalars(select(Idea).where(Idea.author_id == user.id)))
    hashes = []
    for idea in ideas:
        cut.fields(idea, "title", "body", "location_text", "official_response",
                   "withdrawal_note")
        if idea.image_hash:
            hashes.append(idea.image_hash)
            idea.image_hash, idea.image_name, idea.image_type, idea.image_size = None, "", "", 0
        for revision in db.session.scalars(select(IdeaRevision).where(
                IdeaRevision.idea_id == idea.id)):
            cut.fields(revision, "title", "body")
        for change in db.session.scalars(select(IdeaStatusChange).where(
                IdeaStatusChange.idea_id == idea.id)):
            cut.fields(change, "response")
        _changed_in_index(f"idea:{idea.id}")
    idea_ids = [idea.id for idea in ideas]
    comments = list(db.session.scalars(select(Comment).where(or_(
        Comment.author_id == user.id, Comment.idea_id.in_(idea_ids)))))
    for comment in comments:
        cut.fields(comment, "body")
    for flag in db.session.scalars(select(Flag).where(Flag.user_id == user.id)):
        cut.fields(flag, "reason")
    db.session.execute(delete(IdeaFollow).where(IdeaFollow.user_id == user.id))
    db.session.execute(delete(case_followers).where(case_followers.c.user_id == user.id))
    _delete_files(hashes)
    written = sum(1 for comment in comments if comment.author_id == user.id)
    return len(ideas), written, len(hashes)


def _erase_account(user: User, label: str) -> None:
    accounts.end_all_sessions(user)
    cases.revoke_user_grants(user)
    user.email = f"{label}@anonymised.invalid"
    user.display_name = label
    # No password hashes to this: nobody can sign in, and a reset link made for the
    # old password (its fingerprint) stops working.
    user.password_hash = "!" + secrets.token_hex(16)
    user.password_changed_at = clock.now()
    user.email_verified_at = None
    user.last_login_at = None
    user.active = False
    user.anonymised = True
    user.can_publish_articles = False
    user.departments = []


def _forget_mail(email: str, cut: _Cutter) -> int:
    """Mail to them is dropped, sent or not; they are cut out of any other."""
    dropped = db.session.execute(delete(OutboxMessage).where(
        func.lower(OutboxMessage.to_address) == email)).rowcount or 0
    if cut.pattern is not None:
        # Found by the database (a phone number only as it was typed), cut out here.
        mentions = [column.ilike(f"%{term}%") for term in cut.terms
                    for column in (OutboxMessage.subject, OutboxMessage.body_text)]
        for message in db.session.scalars(select(OutboxMessage).where(or_(*mentions))):
            cut.fields(message, "subject", "body_text")
        jobs.after_commit(_forget_written_mail, cut.pattern)
    return dropped


def _forget_written_mail(pattern: re.Pattern) -> None:
    """Without a mail server, mail is written as files (instance/outbox): those about
    them go too."""
    if current_app.config["PORTAL"]["MAIL_SERVER"]:
        return
    folder = Path(current_app.config["OUTBOX_PATH"])
    for path in folder.glob("*.eml") if folder.is_dir() else []:
        if pattern.search(path.read_bytes().decode("utf-8", "replace")):
            path.unlink(missing_ok=True)


# ---------------------------------------------------------------- requests

def record_request(kind: DataRequestKind, email: str, actor: User, identity_checked: str,
                   received_at: datetime, note: str = "") -> DataRequest:
    """A request made at the counter or on paper, to be carried out within a month."""
    email = email.strip().lower()
    request = DataRequest(kind=kind, channel=DataRequestChannel.COUNTER, subject_email=email,
                          user_id=(found.id if (found := accounts.find_user_by_email(email))
                                   else None),
                          recorded_by_id=actor.id, identity_checked=identity_checked,
                          note=note, received_at=received_at,
                          due_at=one_month_after(received_at))
    db.session.add(request)
    db.session.flush()
    audit("privacy.request_recorded", actor=actor, target_type="data_request",
          target_id=request.id, kind=kind.value)
    db.session.commit()
    return request


def open_requests() -> list[DataRequest]:
    return list(db.session.scalars(select(DataRequest).where(
        DataRequest.completed_at.is_(None)).order_by(DataRequest.due_at, DataRequest.id)))


def recent_requests(limit: int = 50) -> list[DataRequest]:
    return list(db.session.scalars(select(DataRequest).where(
        DataRequest.completed_at.is_not(None))
        .order_by(DataRequest.completed_at.desc(), DataRequest.id.desc()).limit(limit)))


def complete_access(request: DataRequest, actor: User) -> None:
    """The copy was handed over (downloaded by staff for the person)."""
    request.completed_at = clock.now()
    request.completed_by_id = actor.id
    audit("privacy.request_completed", actor=actor, target_type="data_request",
          target_id=request.id, kind=request.kind.value)
    db.session.commit()


def complete_erasure(request: DataRequest, actor: User) -> Erasure:
    result = erase(request.subject_email or "", user=request.user, actor=actor,
                   channel=DataRequestChannel.COUNTER)
    request.subject_email = ""
    request.subject_pseudonym = result.pseudonym
    request.completed_at = clock.now()
    request.completed_by_id = actor.id
    audit("privacy.request_completed", actor=actor, target_type="data_request",
          target_id=request.id, kind=request.kind.value)
    db.session.commit()
    return result


# ---------------------------------------------------------------- retention

@dataclass
class RetentionPlan:
    cases: list[Case]
    outbox: int
    cutoffs: dict[CaseKind, datetime]


def retention_plan() -> RetentionPlan:
    """What retention would change now: the cases closed before their kind's cutoff and
    not yet anonymised, and the sent mail past its period."""
    settings = current_app.config["PORTAL"]
    now = clock.now()
    cutoffs = {CaseKind.QUESTION: _months_before(now, settings["RETENTION_MONTHS_QUESTION"]),
               CaseKind.COMPLAINT: _months_before(now, settings["RETENTION_MONTHS_COMPLAINT"])}
    done_at = func.coalesce(Case.closed_at, Case.resolved_at)
    due = list(db.session.scalars(select(Case).where(
        Case.anonymised_at.is_(None),
        Case.status.in_((CaseStatus.RESOLVED, CaseStatus.CLOSED)),
        or_(*[(Case.kind == kind) & (done_at < cutoff) for kind, cutoff in cutoffs.items()]),
    ).order_by(Case.id)))
    outbox = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        *_old_mail(now, settings["OUTBOX_RETENTION_DAYS"])))
    return RetentionPlan(cases=due, outbox=outbox, cutoffs=cutoffs)


def _months_before(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _old_mail(now: datetime, days: int):
    return (OutboxMessage.status == OutboxStatus.SENT,
            OutboxMessage.sent_at < now - timedelta(days=days))


@jobs.periodic("day")
def daily_retention() -> None:
    """Retention, applied by the worker once a day (with Redis; else a timer runs
    ``flask portal retention``)."""
    apply_retention(retention_plan())


def apply_retention(plan: RetentionPlan, progress: Callable[[int], None] | None = None
                    ) -> dict[str, int]:
    """Anonymise the plan's cases (each commit a few at a time) and purge the old mail;
    a summary goes to the audit log."""
    files = 0
    for number, case in enumerate(plan.cases, start=1):
        terms = [case.contact_name, case.contact_email, case.contact_phone]
        if case.citizen is not None:
            terms += [case.citizen.display_name, case.citizen.email]
        case.citizen_id = None
        files += _anonymise_case(case, _Cutter(_terms(*terms)), "")
        if number % 100 == 0:
            db.session.commit()
        if progress is not None:
            progress(1)
    settings = current_app.config["PORTAL"]
    purged = db.session.execute(delete(OutboxMessage).where(
        *_old_mail(clock.now(), settings["OUTBOX_RETENTION_DAYS"]))).rowcount or 0
    summary = {"cases": len(plan.cases), "files": files, "outbox": purged}
    audit("retention.applied", target_type="retention", **summary,
          question_months=settings["RETENTION_MONTHS_QUESTION"],
          complaint_months=settings["RETENTION_MONTHS_COMPLAINT"],
          outbox_days=settings["OUTBOX_RETENTION_DAYS"])
    db.session.commit()
    return summary
