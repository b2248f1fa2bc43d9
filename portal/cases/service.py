"""The citizen's side of a case: submit, follow, reply, rate, reopen.

Service functions take explicit arguments (never the request), write a case event for
every change, and queue mail for after the commit. The caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import exists, or_, select, update

from portal import clock, jobs, mail, scanning, sla, storage
from portal.audit import audit
from portal.cases import references
from portal.extensions import db
from portal.knowledge import service as knowledge
from portal.models import (
    Attachment,
    Case,
    CaseEvent,
    CaseEventKind,
    CaseGrant,
    CaseKind,
    CaseLink,
    CaseStatus,
    Category,
    Channel,
    ContactPreference,
    Department,
    Message,
    User,
)

# The wording of the publication consent is versioned; the version is kept with the
# case as evidence of what the citizen agreed to.
PUBLISH_CONSENT_VERSION = "kb-consent-2026-11"

CITIZEN_CAN_REPLY = frozenset({CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.WAITING_ON_CITIZEN})
ANSWERED = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED})


class CaseError(Exception):
    """Something the citizen can put right; ``field`` names the form field at fault."""

    def __init__(self, code: str, field: str | None = None, filename: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.field = field
        self.filename = filename


# A file as it arrives from a form (name, bytes), or one already checked and held.
Upload = tuple[str, bytes] | storage.CleanFile


@dataclass
class Submission:
    """What a citizen (or an agent on their behalf) sends to open a case."""

    kind: CaseKind
    subject: str
    body: str
    contact_name: str
    contact_email: str
    language: str
    department_id: int | None = None
    category_id: int | None = None
    desired_outcome: str = ""
    contact_phone: str = ""
    contact_preference: ContactPreference = ContactPreference.EMAIL
    location_text: str = ""
    latitude: float | None = None
    longitude: float | None = None
    publish_consent: bool = False
    files: list[Upload] = field(default_factory=list)
    submission_token: str | None = None
    channel: Channel = Channel.WEB
    #: An earlier case this one follows on from (past its reopen window), which the
    #: sender may see; linked for staff (CaseLink), as an agent's link would be.
    related_case: Case | None = None


def _settings() -> dict:
    return current_app.config["PORTAL"]


def check_files(files: list[Upload], already_stored: int = 0) -> list[storage.CleanFile]:
    """Check every file and the totals; raise ``CaseError`` for the first problem.

    Files held for a form (``storage.CleanFile``) were checked when they arrived.
    """
    settings = _settings()
    if len(files) > settings["UPLOAD_MAX_FILES"]:
        raise CaseError("too_many_files", field="attachments")
    cleaned = []
    for item in files:
        if isinstance(item, storage.CleanFile):
            cleaned.append(item)
            continue
        filename, data = item
        try:
            cleaned.append(storage.inspect_upload(filename, data,
                                                  settings["UPLOAD_MAX_FILE_BYTES"]))
        except storage.UploadRejected as error:
            raise CaseError(error.code, field="attachments", filename=error.filename) from None
    if already_stored + sum(item.size for item in cleaned) > settings["UPLOAD_MAX_CASE_BYTES"]:
        raise CaseError("case_too_large", field="attachments")
    return cleaned


def hold_uploads(files: list[tuple[str, bytes]]
                 ) -> tuple[list[storage.KeptFile], list[CaseError]]:
    """Check files sent with a form that goes back to its citizen, and hold those that pass.

    Returns the held files and one error per refused file (naming it), so that the form
    can list what is kept and say what was not; nothing is silently dropped.
    """
    max_bytes = _settings()["UPLOAD_MAX_FILE_BYTES"]
    kept, errors = [], []
    for filename, data in files:
        try:
            kept.append(storage.keep_upload(storage.inspect_upload(filename, data, max_bytes)))
        except storage.UploadRejected as error:
            errors.append(CaseError(error.code, field="attachments", filename=error.filename))
        except storage.StorageUnavailable:
            errors.append(CaseError("storage_unavailable", field="attachments"))
            break
    return kept, errors


def hold_for_form(tokens: list[str], removed: str, files: list[tuple[str, bytes]]
                  ) -> tuple[list[storage.KeptFile], list[CaseError]]:
    """The files of a form's earlier tries (less ``removed``) and the new ones, held.

    A form sent back to its citizen (an error, the check step, a removed file) lists
    them as kept, so nothing chosen is ever silently dropped.
    """
    newly_held, refused = hold_uploads(files)
    return held_files(tokens, removed) + newly_held, refused


def held_files(tokens: list[str], removed: str = "") -> list[storage.KeptFile]:
    """The files still held under ``tokens`` (a form's earlier tries), less ``removed``."""
    held = []
    for token in dict.fromkeys(tokens):
        if token == removed:
            storage.discard_kept(token)
            continue
        item = storage.describe_kept(token)
        if item is not None:
            held.append(item)
    return held


def release_held(held: list[storage.KeptFile]) -> list[storage.CleanFile]:
    """The held files' contents, to attach; they stay held until ``forget_held``."""
    return [clean for item in held if (clean := storage.kept_file(item.token))]


def forget_held(held: list[storage.KeptFile]) -> None:
    for item in held:
        storage.discard_kept(item.token)


def _attach(case: Case, files: list[storage.CleanFile], message: Message | None = None) -> None:
    for item in files:
        try:
            content_hash = storage.store(item)
        except storage.StorageUnavailable:
            raise CaseError("storage_unavailable", field="attachments") from None
        attachment = Attachment(content_hash=content_hash, original_name=item.original_name,
                                content_type=item.content_type, size=item.size,
                                message=message, scan_status=scanning.new_status())
        case.attachments.append(attachment)
    if files and scanning.enabled():
        jobs.after_commit_collect(scanning.scan_pending, "attachments")


def record_event(case: Case, kind: CaseEventKind, actor: User | None = None, from_value: str = "",
           to_value: str = "", reason: str = "", **data) -> None:
    case.events.append(CaseEvent(kind=kind, actor_id=actor.id if actor else None,
                                 from_value=from_value, to_value=to_value, reason=reason,
                                 data=data))


def _unique_reference(kind: CaseKind) -> str:
    while True:
        reference = references.new_reference(kind)
        if not db.session.scalar(select(exists().where(Case.reference == reference))):
            return reference


def find_by_submission_token(token: str | None) -> Case | None:
    if not token:
        return None
    return db.session.scalar(select(Case).where(Case.submission_token == token))


def targets_for(department: Department | None) -> tuple[int, int, bool]:
    """(first response days, resolution days, calendar days?) for a department or triage."""
    if department is None:
        settings = _settings()
        return settings["TRIAGE_FIRST_RESPONSE_DAYS"], settings["TRIAGE_RESOLUTION_DAYS"], False
    return department.first_response_days, department.resolution_days, department.calendar_days


def submit_case(submission: Submission, citizen: User | None = None) -> tuple[Case, bool]:
    """Open a case; return it and whether it is new (False: this form was already sent)."""
    existing = find_by_submission_token(submission.submission_token)
    if existing is not None:
        return existing, False

    department = None
    category = None
    if submission.category_id is not None:
        category = db.session.get(Category, submission.category_id)
        if category is None or not category.active:
            raise CaseError("unknown_topic", field="topic")
        department = category.department
    elif submission.department_id is not None:
        department = db.session.get(Department, submission.department_id)
        if department is None or not department.active:
            raise CaseError("unknown_topic", field="topic")

    files = check_files(submission.files)
    now = clock.now()
    first_days, resolution_days, calendar_days = targets_for(department)
    calendar = None if calendar_days else sla.deployment_calendar()
    case = Case(
        reference=_unique_reference(submission.kind),
        submission_token=submission.submission_token,
        kind=submission.kind,
        subject=submission.subject,
        body=submission.body,
        desired_outcome=submission.desired_outcome,
        department=department,
        category=category,
        status=CaseStatus.NEW,
        channel=submission.channel,
        citizen=citizen,
        contact_name=submission.contact_name,
        contact_email=submission.contact_email.strip().lower(),
        contact_phone=submission.contact_phone,
        contact_preference=submission.contact_preference,
        language=submission.language,
        location_text=submission.location_text,
        latitude=submission.latitude,
        longitude=submission.longitude,
        publish_consent=submission.publish_consent,
        publish_consent_at=now if submission.publish_consent else None,
        publish_consent_version=PUBLISH_CONSENT_VERSION if submission.publish_consent else "",
        first_response_due_at=sla.due_at(now, first_days, calendar_days, calendar),
        resolution_due_at=sla.due_at(now, resolution_days, calendar_days, calendar),
        created_at=now,
    )
    if citizen is not None:
        case.followers.append(citizen)
    db.session.add(case)
    _attach(case, files)
    record_event(case, CaseEventKind.CREATED, actor=citizen, to_value=case.status.value,
           channel=case.channel.value)
    db.session.flush()
    if submission.related_case is not None and submission.related_case.id != case.id:
        _link_follow_up(case, submission.related_case, citizen)
    notify_citizen(case, "case_received")
    from portal.knowledge import service as knowledge

    knowledge.form_submitted(submission.submission_token)
    return case, True


def _link_follow_up(case: Case, earlier: Case, citizen: User | None) -> None:
    """Record that ``case`` follows on from ``earlier``: a link staff see on both."""
    db.session.add(CaseLink(case_id=case.id, related_case_id=earlier.id,
                            created_by_id=citizen.id if citizen else None,
                            created_at=clock.now()))
    record_event(case, CaseEventKind.LINKED, actor=citizen, to_value=earlier.reference,
           follow_up=True)
    record_event(earlier, CaseEventKind.LINKED, actor=citizen, to_value=case.reference,
           follow_up=True)


def notify_citizen(case: Case, template: str, **context) -> None:
    """Email the case's citizen, in the case's language, with a link that opens it."""
    if case.contact_email:
        with mail.url_context():
            link_path = case_link_path(case)
        mail.queue_mail(case.contact_email, template, case.language, case=case,
                        link_path=link_path, **context)


# ---------------------------------------------------------------- access

def _link_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="case-link")


def case_link_token(case: Case) -> str:
    return _link_serializer().dumps({"ref": case.reference, "v": case.link_version})


def case_link_path(case: Case) -> str:
    from flask import url_for

    return url_for("cases.view_case", reference=case.reference, access=case_link_token(case))


def case_for_link(token: str, reference: str) -> Case | None:
    """The case an emailed link opens, if the token is genuine, current and for it.

    Opening the link proves that whoever holds it reads the mail of the case's
    contact address, so the address counts as confirmed from then on.
    """
    max_age = _settings()["CASE_LINK_MAX_AGE_DAYS"] * 86400
    try:
        data = _link_serializer().loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or data.get("ref") != references.normalise(reference):
        return None
    case = db.session.scalar(select(Case).where(Case.reference == data["ref"]))
    # Links from before versioning carry no "v": they are version 1.
    if case is None or data.get("v", 1) != case.link_version:
        return None
    if case.contact_verified_at is None:
        case.contact_verified_at = clock.now()
    return case


# The session cookie holds only a random key for this browser; which cases it may open
# is kept on the server (CaseGrant), so sign-out revokes it for every copy of the cookie.
BROWSER_SESSION_KEY = "browser"


def _browser_hash(browser_key: str) -> str:
    return hashlib.sha256(browser_key.encode()).hexdigest()


def new_browser_key() -> str:
    """A random key for the session cookie; grants are stored against its hash."""
    return secrets.token_urlsafe(32)


def grant_access(case: Case, browser_key: str, user: User | None) -> None:
    """Let this browser open the case (it sent the form or opened the emailed link)."""
    now = clock.now()
    lifetime = timedelta(days=_settings()["SESSION_LIFETIME_DAYS"])
    db.session.add(CaseGrant(case=case, browser_hash=_browser_hash(browser_key),
                             user_id=user.id if user is not None else None,
                             created_at=now, expires_at=now + lifetime))


def _has_grant(case: Case, browser_key: str) -> bool:
    now = clock.now()
    return bool(db.session.scalar(
        select(exists().where(
            CaseGrant.case_id == case.id,
            CaseGrant.browser_hash == _browser_hash(browser_key),
            CaseGrant.revoked_at.is_(None),
            CaseGrant.expires_at > now,
            # A grant made while signed in dies with the account's access.
            or_(CaseGrant.user_id.is_(None),
                CaseGrant.user_id.in_(select(User.id).where(User.active.is_(True),
                                                            User.anonymised.is_(False)))),
        ))))


def revoke_browser_grants(browser_key: str | None) -> None:
    """Sign-out: this browser's grants stop working, for any copy of its cookie too."""
    if browser_key:
        db.session.execute(update(CaseGrant).where(
            CaseGrant.browser_hash == _browser_hash(browser_key),
            CaseGrant.revoked_at.is_(None)).values(revoked_at=clock.now()))


def rekey_browser_grants(old_key: str, new_key: str) -> None:
    """Sign-in: the browser's live grants move to a fresh key (no fixation of the old one)."""
    db.session.execute(update(CaseGrant).where(
        CaseGrant.browser_hash == _browser_hash(old_key), CaseGrant.revoked_at.is_(None)
    ).values(browser_hash=_browser_hash(new_key)))


def revoke_user_grants(user: User, keep_browser_key: str | None = None) -> None:
    """Password changed or account disabled: grants made while signed in as ``user`` end."""
    query = update(CaseGrant).where(CaseGrant.user_id == user.id,
                                    CaseGrant.revoked_at.is_(None))
    if keep_browser_key:
        query = query.where(CaseGrant.browser_hash != _browser_hash(keep_browser_key))
    db.session.execute(query.values(revoked_at=clock.now()))


def revoke_case_access(case: Case) -> None:
    """Every emailed link and every browser grant of the case stops working."""
    case.link_version += 1
    db.session.execute(update(CaseGrant).where(
        CaseGrant.case_id == case.id, CaseGrant.revoked_at.is_(None)
    ).values(revoked_at=clock.now()))


def can_view(case: Case, user: User | None, browser_key: str | None) -> bool:
    """The signed-in owner, or a browser holding a live grant, may see the case."""
    if user is not None and user.is_authenticated and case.citizen_id == user.id:
        return True
    return bool(browser_key) and _has_grant(case, browser_key)


def find_visible_case(reference: str, user: User | None, browser_key: str | None
                      ) -> Case | None:
    """The case if this visitor may see it; None otherwise (the same as a missing case)."""
    reference = references.normalise(reference)
    if not references.looks_valid(reference):
        return None
    case = db.session.scalar(select(Case).where(Case.reference == reference))
    if case is None or not can_view(case, user, browser_key):
        return None
    return case


def request_tracking_link(reference: str, email: str) -> None:
    """Email a fresh link if reference and email match; do nothing visible otherwise.

    The new link replaces every earlier one: someone who got hold of an old link, or
    of a browser that opened it, loses access.
    """
    reference = references.normalise(reference)
    if not references.looks_valid(reference):
        return
    case = db.session.scalar(select(Case).where(Case.reference == reference))
    if case is None or case.contact_email != email.strip().lower():
        return
    revoke_case_access(case)
    notify_citizen(case, "case_link")


# ---------------------------------------------------------------- conversation

def public_messages(case: Case) -> list[Message]:
    """The conversation the citizen sees: never internal notes."""
    return [message for message in case.messages if not message.internal]


def add_message(case: Case, body: str, files: list[Upload], author: User | None,
                from_staff: bool, internal: bool = False) -> Message:
    """A message on the case with its files, checked against the case's totals."""
    cleaned = check_files(files, already_stored=sum(item.size for item in case.attachments))
    message = Message(case=case, author_id=author.id if author else None, body=body,
                      from_staff=from_staff, internal=internal, created_at=clock.now())
    db.session.add(message)
    _attach(case, cleaned, message)
    record_event(case, CaseEventKind.NOTE_ADDED if internal else CaseEventKind.MESSAGE_ADDED,
                 actor=author, **({} if internal else {"attachments": len(cleaned)}))
    return message


def add_citizen_message(case: Case, body: str, files: list[tuple[str, bytes]],
                        author: User | None = None) -> Message:
    """The citizen writes on their case; a case waiting on them goes back to the queue."""
    if case.status not in CITIZEN_CAN_REPLY:
        raise CaseError("closed_for_replies")
    message = add_message(case, body, files, author, from_staff=False)
    if case.status is CaseStatus.WAITING_ON_CITIZEN:
        change_status(case, CaseStatus.OPEN, actor=author)
    db.session.flush()
    return message


def change_status(case: Case, target: CaseStatus, actor: User | None, reason: str = "",
                  event: CaseEventKind = CaseEventKind.STATUS_CHANGED) -> None:
    """Move a case along its life cycle (CASE_TRANSITIONS): the one place a status changes.

    It pauses or resumes the clock and keeps the answered and closed times; ``event``
    names the history entry (a citizen's reopen is told apart from a staff change).
    """
    if not case.status.can_become(target):
        raise CaseError("invalid_transition")
    previous = case.status
    case.status = target
    now = clock.now()
    if target is CaseStatus.WAITING_ON_CITIZEN:
        pause_clock(case)
    elif previous is CaseStatus.WAITING_ON_CITIZEN:
        resume_clock(case)
    if target is CaseStatus.RESOLVED:
        case.resolved_at = now
        record_first_response(case, now)  # an answer that resolves is also the first
        case.resolution_working_days = max(0, sla.working_days_elapsed(
            case.created_at or now, now) - (case.paused_working_days or 0))
    elif target is CaseStatus.CLOSED:
        case.closed_at = now
    elif previous in ANSWERED:
        case.closed_at = None  # open again: not closed, whoever reopened it
        case.reopen_count = (case.reopen_count or 0) + 1
    record_event(case, event, actor=actor, from_value=previous.value, to_value=target.value,
                 reason=reason)


def record_first_response(case: Case, at: datetime) -> None:
    """The citizen's first answer: when, and how many working days it took (once)."""
    if case.first_responded_at is not None:
        return
    case.first_responded_at = at
    case.first_response_working_days = sla.working_days_elapsed(case.created_at or at, at)


def pause_clock(case: Case) -> None:
    """Waiting on the citizen: the resolution clock stops until they reply."""
    if case.paused_at is None:
        case.paused_at = clock.now()


def resume_clock(case: Case) -> None:
    """End a pause: the resolution target moves on by the time spent waiting."""
    if case.paused_at is None:
        return
    now = clock.now()
    if case.resolution_due_at is not None:
        _first, _resolution, calendar_days = targets_for(case.department)
        case.resolution_due_at = sla.extend_for_pause(case.resolution_due_at, case.paused_at,
                                                      now, calendar_days)
    # Days spent waiting on the citizen are not the council's: resolution times leave
    # them out, as the deadline does.
    case.paused_working_days = ((case.paused_working_days or 0)
                                + sla.working_days_elapsed(case.paused_at, now))
    case.paused_at = None


def rate_case(case: Case, score: int, comment: str, author: User | None = None) -> None:
    """The citizen rates an answered case, 1 to 5, once."""
    if case.status not in ANSWERED:
        raise CaseError("not_answered")
    if case.satisfaction is not None:
        raise CaseError("already_rated")
    if not 1 <= score <= 5:
        raise CaseError("bad_score", field="score")
    case.satisfaction = score
    case.satisfaction_comment = comment
    case.rated_at = clock.now()
    record_event(case, CaseEventKind.RATED, actor=author, to_value=str(score))


def withdraw_publish_consent(case: Case, author: User | None = None) -> None:
    """The citizen takes back the permission to publish the case (GDPR Art. 7.3).

    Articles built from it are unpublished for an editor to review, and leave the
    search index; the case keeps when the permission was given, the audit log when it
    was withdrawn.
    """
    if not case.publish_consent:
        raise CaseError("no_consent")
    case.publish_consent = False
    unpublished = knowledge.unpublish_for_withdrawn_consent(case)
    audit("case.consent_withdrawn", actor=author, target_type="case", target_id=case.id,
          articles=[article.id for article in unpublished])


def reopen_until(case: Case) -> datetime | None:
    """Until when the citizen may reopen an answered case (None: not answered)."""
    if case.status not in ANSWERED or case.resolved_at is None:
        return None
    return case.resolved_at + timedelta(days=_settings()["REOPEN_DAYS"])


def can_reopen(case: Case) -> bool:
    until = reopen_until(case)
    return until is not None and clock.now() <= until


@dataclass
class EarlierAnswer:
    """An answer the case was resolved with before it was reopened, as the citizen saw it."""

    created_at: datetime
    body: str
    author: User | None
    earlier_answer: bool = True  # tells the template it is not a Message


def conversation(case: Case) -> list[Message | EarlierAnswer]:
    """The citizen's conversation: public messages and, in their place, earlier answers.

    A resolution's summary is the answer; a reopen must not make it vanish. Every
    resolution is in the history (its summary is the event's reason); all but the one
    the case stands answered with now (shown on its own above) join the conversation.
    """
    answers = [EarlierAnswer(event.created_at, event.reason, event.actor)
               for event in case.events
               if event.kind is CaseEventKind.STATUS_CHANGED
               and event.to_value == CaseStatus.RESOLVED.value and event.reason.strip()]
    if case.status in ANSWERED and answers:
        answers.pop()  # the latest: the current answer
    entries: list[Message | EarlierAnswer] = [*public_messages(case), *answers]
    return sorted(entries, key=lambda entry: entry.created_at)


def reopen_case(case: Case, reason: str, author: User | None = None) -> None:
    """"This did not solve it": back to the queue with a fresh target and the reason."""
    if not can_reopen(case):
        raise CaseError("cannot_reopen")
    change_status(case, CaseStatus.OPEN, actor=author, reason=reason,
                  event=CaseEventKind.REOPENED)
    _, resolution_days, calendar_days = targets_for(case.department)
    case.resolution_due_at = sla.due_at(clock.now(), resolution_days, calendar_days)
    db.session.add(Message(case=case, author_id=author.id if author else None, body=reason,
                           created_at=clock.now()))


def attachment_of(case: Case, attachment_id: int) -> Attachment | None:
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.case_id != case.id:
        return None
    if attachment.message is not None and attachment.message.internal:
        return None  # files on internal notes are for staff only
    return attachment


def cases_of(user: User) -> list[Case]:
    return list(db.session.scalars(
        select(Case).where(Case.citizen_id == user.id).order_by(Case.created_at.desc())))
