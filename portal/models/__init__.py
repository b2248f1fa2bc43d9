"""The domain model. Importing this package registers every table on the metadata."""

from portal.models.case import (
    Attachment,
    Case,
    CaseEvent,
    CaseGrant,
    CaseLink,
    Message,
    case_followers,
)
from portal.models.deployment import DeploymentSettings
from portal.models.enums import (
    ArticleStatus,
    CaseEventKind,
    CaseKind,
    CasePriority,
    CaseStatus,
    Channel,
    CommitmentStatus,
    ContactPreference,
    DataRequestChannel,
    DataRequestKind,
    IdeaStatus,
    OutboxStatus,
    ReportStatus,
    Role,
    ScanStatus,
    WithdrawalReason,
)
from portal.models.idea import (
    Comment,
    Flag,
    Idea,
    IdeaCaseLink,
    IdeaFollow,
    IdeaRevision,
    IdeaStatusChange,
    IdeaVote,
)
from portal.models.knowledge import (
    Article,
    ArticleFeedback,
    SearchPending,
    SuggestionOpen,
    Tag,
)
from portal.models.organisation import Category, Department, Holiday
from portal.models.privacy import DataRequest
from portal.models.report import (
    Commitment,
    CommitmentUpdate,
    Milestone,
    Report,
    StatsSnapshot,
    report_articles,
    report_cases,
    report_ideas,
)
from portal.models.rollup import DailyCases, DailyTimes, DirtyDay
from portal.models.support import AuditEvent, CannedResponse, OutboxMessage
from portal.models.theme import Theme
from portal.models.user import SignInThrottle, User, UserSession, user_departments

__all__ = [
    "Article", "ArticleFeedback", "ArticleStatus", "Attachment", "AuditEvent",
    "CannedResponse", "Case", "CaseEvent", "CaseEventKind", "CaseGrant", "CaseKind",
    "CaseLink", "CasePriority", "Holiday",
    "CaseStatus", "Category", "Channel", "Comment", "ContactPreference", "Department",
    "DeploymentSettings",
    "Flag", "Idea", "IdeaCaseLink", "IdeaFollow", "IdeaRevision", "IdeaStatus",
    "IdeaStatusChange", "IdeaVote", "WithdrawalReason", "Message", "OutboxMessage",
    "OutboxStatus", "Report", "ReportStatus", "Role", "SearchPending", "SuggestionOpen",
    "SignInThrottle", "Tag", "User", "UserSession",
    "Commitment", "CommitmentStatus", "CommitmentUpdate", "Milestone", "StatsSnapshot", "Theme",
    "DailyCases", "DailyTimes", "DirtyDay", "ScanStatus", "DataRequest",
    "DataRequestChannel", "DataRequestKind",
    "case_followers", "report_articles", "report_cases", "report_ideas", "user_departments",
]
