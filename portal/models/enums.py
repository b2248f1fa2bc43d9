"""Statuses and kinds. Labels are lazy so they translate at render time."""

from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp


class Role(StrEnum):
    CITIZEN = "citizen"
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank

    @property
    def label(self):
        return _ROLE_LABELS[self]


_ROLE_RANK = {Role.CITIZEN: 0, Role.AGENT: 1, Role.MANAGER: 2, Role.ADMIN: 3}
_ROLE_LABELS = {
    Role.CITIZEN: _l("Citizen"),
    Role.AGENT: _l("Civil servant"),
    Role.MANAGER: _l("Manager"),
    Role.ADMIN: _l("Administrator"),
}


class CaseKind(StrEnum):
    QUESTION = "question"
    COMPLAINT = "complaint"

    @property
    def label(self):
        return {CaseKind.QUESTION: _l("Question"), CaseKind.COMPLAINT: _l("Complaint")}[self]


class CaseStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING_ON_CITIZEN = "waiting_on_citizen"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def label(self):
        """The status's name, the same for the citizen and for staff (see below)."""
        return _CASE_STATUS_LABELS[self]

    @property
    def staff_label(self):
        """Kept for old callers: staff see the same names as citizens (``label``)."""
        return _CASE_STATUS_LABELS[self]

    def can_become(self, target: CaseStatus) -> bool:
        """Whether the case state machine allows moving from this status to ``target``."""
        return target in CASE_TRANSITIONS[self]


# One vocabulary of case states for everyone: the citizen's case page, the staff case
# page, the queues' status column and filters, the history and the emails all use these
# names, in every language. They are singular and neutral (no "you", no "the citizen"),
# so the same words read right on both sides of the counter. Queue tabs are something
# else - lists of cases, named in the plural in staff/queue.html ("Resolved", "Waiting
# on citizen") - and must not be reused as status names, or the translations (plural
# there, singular here) clash.
_CASE_STATUS_LABELS = {
    CaseStatus.NEW: _l("Received"),
    CaseStatus.OPEN: _l("Being handled"),
    CaseStatus.WAITING_ON_CITIZEN: _l("Waiting for information"),
    CaseStatus.RESOLVED: _l("Answered"),
    CaseStatus.CLOSED: _l("Closed"),
}

# The one place the case life cycle is written down (a reopen goes back to open).
CASE_TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.NEW: frozenset({CaseStatus.OPEN, CaseStatus.WAITING_ON_CITIZEN,
                               CaseStatus.RESOLVED, CaseStatus.CLOSED}),
    CaseStatus.OPEN: frozenset({CaseStatus.WAITING_ON_CITIZEN, CaseStatus.RESOLVED,
                                CaseStatus.CLOSED}),
    CaseStatus.WAITING_ON_CITIZEN: frozenset({CaseStatus.OPEN, CaseStatus.RESOLVED,
                                              CaseStatus.CLOSED}),
    CaseStatus.RESOLVED: frozenset({CaseStatus.OPEN, CaseStatus.CLOSED}),
    CaseStatus.CLOSED: frozenset({CaseStatus.OPEN}),
}


class CasePriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def label(self):
        return {
            CasePriority.LOW: _l("Low"),
            CasePriority.NORMAL: _l("Normal"),
            CasePriority.HIGH: _l("High"),
            CasePriority.URGENT: _l("Urgent"),
        }[self]


class Channel(StrEnum):
    WEB = "web"
    EMAIL = "email"
    PHONE = "phone"
    COUNTER = "counter"
    SOCIAL = "social"
    API = "api"

    @property
    def label(self):
        return {
            Channel.WEB: _l("Website"),
            Channel.EMAIL: _l("Email"),
            Channel.PHONE: _l("Phone"),
            Channel.COUNTER: _l("In person"),
            Channel.SOCIAL: _l("Social media"),
            Channel.API: _l("Other system"),
        }[self]


def label_of(enum_cls, value: str, attribute: str = "label"):
    """The label of a stored enum value (event histories keep values), or the value."""
    try:
        return getattr(enum_cls(value), attribute)
    except ValueError:
        return value


class CaseEventKind(StrEnum):
    CREATED = "created"
    STATUS_CHANGED = "status_changed"
    ASSIGNED = "assigned"
    TRANSFERRED = "transferred"
    PRIORITY_CHANGED = "priority_changed"
    MESSAGE_ADDED = "message_added"
    NOTE_ADDED = "note_added"
    MERGED = "merged"
    RATED = "rated"
    REOPENED = "reopened"
    LINKED = "linked"


class ContactPreference(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    POST = "post"

    @property
    def label(self):
        return {
            ContactPreference.EMAIL: _l("By email"),
            ContactPreference.PHONE: _l("By phone"),
            ContactPreference.POST: _l("By post"),
        }[self]


class ArticleStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"

    @property
    def label(self):
        return {
            ArticleStatus.DRAFT: _l("Draft"),
            ArticleStatus.PUBLISHED: _l("Published"),
            ArticleStatus.ARCHIVED: _l("Archived"),
        }[self]


class IdeaStatus(StrEnum):
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    IMPLEMENTED = "implemented"
    DECLINED = "declined"
    DUPLICATE = "duplicate"
    WITHDRAWN = "withdrawn"  # by its author, with a public reason

    @property
    def label(self):
        return _IDEA_STATUS_LABELS[self]

    @property
    def needs_official_response(self) -> bool:
        """No idea is turned away silently: these statuses need a public response."""
        return self in ANSWERING_IDEA_STATUSES

    @property
    def closed(self) -> bool:
        """Nothing more happens to the idea: no supports, no status change by staff."""
        return self in {IdeaStatus.IMPLEMENTED, IdeaStatus.DECLINED, IdeaStatus.DUPLICATE,
                        IdeaStatus.WITHDRAWN}

    def can_become(self, target: IdeaStatus) -> bool:
        return target in IDEA_TRANSITIONS[self]


_IDEA_STATUS_LABELS = {
    IdeaStatus.SUBMITTED: _l("Submitted"),
    IdeaStatus.UNDER_REVIEW: _l("Under review"),
    IdeaStatus.PLANNED: _l("Planned"),
    IdeaStatus.IN_PROGRESS: _l("In progress"),
    IdeaStatus.IMPLEMENTED: _l("Implemented"),
    IdeaStatus.DECLINED: _l("Declined"),
    IdeaStatus.DUPLICATE: _l("Duplicate"),
    IdeaStatus.WITHDRAWN: _l("Withdrawn by its author"),
}

# Statuses that answer an idea: reaching one needs a public official response, and an
# idea in one no longer has an answer due.
ANSWERING_IDEA_STATUSES = frozenset({IdeaStatus.IMPLEMENTED, IdeaStatus.DECLINED,
                                     IdeaStatus.DUPLICATE})

_OPEN_IDEA = (IdeaStatus.SUBMITTED, IdeaStatus.UNDER_REVIEW, IdeaStatus.PLANNED,
              IdeaStatus.IN_PROGRESS)
# The one place the idea life cycle is written down. Staff move an idea forward (or
# back, when a plan changes) among the open statuses, and answer it with a response;
# a duplicate is reached only by merging (ideas.service.merge_ideas); a withdrawal only
# by the author. An implemented or declined idea may be reopened for review.
IDEA_TRANSITIONS: dict[IdeaStatus, frozenset[IdeaStatus]] = {
    **{status: frozenset({*_OPEN_IDEA, IdeaStatus.IMPLEMENTED, IdeaStatus.DECLINED,
                          IdeaStatus.DUPLICATE, IdeaStatus.WITHDRAWN} - {status})
       for status in _OPEN_IDEA},
    IdeaStatus.IMPLEMENTED: frozenset({IdeaStatus.UNDER_REVIEW}),
    IdeaStatus.DECLINED: frozenset({IdeaStatus.UNDER_REVIEW}),
    IdeaStatus.DUPLICATE: frozenset(),
    IdeaStatus.WITHDRAWN: frozenset(),
}


class WithdrawalReason(StrEnum):
    DUPLICATE = "duplicate"
    SOLVED = "solved"
    OTHER = "other"

    @property
    def label(self):
        return {WithdrawalReason.DUPLICATE: _l("It repeats another idea"),
                WithdrawalReason.SOLVED: _l("It has already been solved"),
                WithdrawalReason.OTHER: _l("Another reason")}[self]


class ReportStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    # Taken back after publication, with a public reason; its page stays, marked so.
    WITHDRAWN = "withdrawn"

    @property
    def label(self):
        return {ReportStatus.DRAFT: _l("Draft"), ReportStatus.PUBLISHED: _l("Published"),
                ReportStatus.WITHDRAWN: _l("Withdrawn")}[self]


class CommitmentStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    # Given up, with the reason in its update: shown, never deleted.
    DROPPED = "dropped"

    @property
    def label(self):
        # A context of their own: "Planned" is feminine for an idea ("Prevista") and
        # masculine for a commitment ("Previsto") in Spanish, Catalan and Galician.
        return {CommitmentStatus.PLANNED: _lp("commitment", "Planned"),
                CommitmentStatus.IN_PROGRESS: _lp("commitment", "In progress"),
                CommitmentStatus.DONE: _lp("commitment", "Done"),
                CommitmentStatus.DROPPED: _lp("commitment", "Dropped")}[self]


class OutboxStatus(StrEnum):
    PENDING = "pending"
    # Claimed by one deliverer until ``claimed_until``; then sent, or pending again.
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class DataRequestKind(StrEnum):
    ACCESS = "access"  # a copy of everything held (Arts. 15 and 20)
    ERASURE = "erasure"  # Art. 17: anonymised, the administration's record kept

    @property
    def label(self):
        return {DataRequestKind.ACCESS: _l("A copy of their data"),
                DataRequestKind.ERASURE: _l("Erasure of their data")}[self]


class DataRequestChannel(StrEnum):
    ACCOUNT = "account"  # signed in, from /account
    LINK = "link"  # a guest, through a link emailed from /track
    COUNTER = "counter"  # in person or on paper, recorded by staff

    @property
    def label(self):
        return {DataRequestChannel.ACCOUNT: _l("From their account"),
                DataRequestChannel.LINK: _l("By an emailed link"),
                DataRequestChannel.COUNTER: _l("At the counter")}[self]


class ScanStatus(StrEnum):
    """What the virus scanner (portal/scanning.py) said of an attachment."""

    CLEAN = "clean"  # scanned clean, or no scanner configured
    PENDING = "pending"  # waiting for the scanner: kept, never served
    INFECTED = "infected"  # held in quarantine, never served

    @property
    def label(self):
        return {ScanStatus.CLEAN: _l("Checked"),
                ScanStatus.PENDING: _l("Being checked for viruses"),
                ScanStatus.INFECTED: _l("Withheld: a virus was found in it")}[self]
