"""The ideas board's use cases: propose, edit, withdraw, support, follow, comment,
answer (a status with a public response), merge, and what the board lists.

Counts (supports, comments) change by atomic UPDATEs, never read-modify-write through
the ORM: supports arrive concurrently, and the idea row's version column is for staff
edits, which keep their optimistic locking (StaleDataError on a stale form).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Select, and_, delete, exists, func, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal import clock, mail, page_cache, sla, storage
from portal.audit import audit
from portal.extensions import db
from portal.knowledge import service as knowledge
from portal.models import (
    Case,
    Comment,
    Department,
    Flag,
    Idea,
    IdeaCaseLink,
    IdeaFollow,
    IdeaRevision,
    IdeaStatus,
    IdeaStatusChange,
    IdeaVote,
    Role,
    User,
    WithdrawalReason,
)
from portal.models.enums import ANSWERING_IDEA_STATUSES
from portal.permissions import PermissionDenied

OPEN_STATUSES = frozenset(status for status in IdeaStatus if not status.closed)
TRENDING_DAYS = 30
MOVED_SUPPORT_MAX_AGE = timedelta(days=180)


class IdeaError(Exception):
    """Something the user can put right; ``field`` names the form field at fault."""

    def __init__(self, code: str, field: str | None = None, filename: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.field = field
        self.filename = filename


def _settings() -> dict:
    return current_app.config["PORTAL"]


# ---------------------------------------------------------------- who may do what

def can_moderate(user: User | None) -> bool:
    """Agents and above moderate the board (hide, restore, approve)."""
    return bool(user and user.is_authenticated and user.is_staff)


def can_decide(user: User | None, idea: Idea) -> bool:
    """Give an idea a status and a response: staff of its department, or managers."""
    if not can_moderate(user):
        return False
    if user.has_role(Role.MANAGER) or idea.department_id is None:
        return True
    return idea.department_id in {department.id for department in user.departments}


def can_view(idea: Idea, user: User | None) -> bool:
    """The public sees board ideas and merged ones (which lead on); the author and staff
    also see hidden and pending ones."""
    if idea.public or idea.duplicate_of_id is not None:
        return True
    if user is None or not user.is_authenticated:
        return False
    return idea.author_id == user.id or can_moderate(user)


def can_edit(idea: Idea, user: User | None) -> bool:
    """Its author, until the first support or comment (after that others relied on it)."""
    return (user is not None and user.is_authenticated and idea.author_id == user.id
            and idea.status is IdeaStatus.SUBMITTED and idea.vote_count == 0
            and idea.comment_count == 0)


def can_withdraw(idea: Idea, user: User | None) -> bool:
    return (user is not None and user.is_authenticated and idea.author_id == user.id
            and idea.status in OPEN_STATUSES)


def can_support(idea: Idea, user: User | None) -> bool:
    return (user is not None and user.is_authenticated and idea.public
            and idea.status in OPEN_STATUSES and idea.author_id != user.id)


def can_comment(idea: Idea, user: User | None) -> bool:
    return (user is not None and user.is_authenticated and idea.public
            and idea.status is not IdeaStatus.DUPLICATE)


# ---------------------------------------------------------------- proposing

@dataclass
class Proposal:
    title: str
    body: str
    language: str
    department_id: int | None = None
    location_text: str = ""
    image: storage.CleanFile | None = None


def check_image(clean: storage.CleanFile) -> storage.CleanFile:
    """An idea's picture: checked as case attachments are (``clean``), and a picture."""
    if not clean.content_type.startswith("image/"):
        raise IdeaError("not_an_image", field="attachments", filename=clean.original_name)
    return clean


def _answer_due(start: datetime) -> datetime:
    return sla.due_at(start, _settings()["IDEAS_ANSWER_DAYS"], calendar_days=False)


def propose(author: User, proposal: Proposal) -> Idea:
    """A new idea: on the board at once, unless the deployment pre-moderates."""
    if not author.is_authenticated:
        raise PermissionDenied
    department = (db.session.get(Department, proposal.department_id)
                  if proposal.department_id else None)
    if proposal.department_id and (department is None or not department.active):
        raise IdeaError("unknown_department", field="department")
    if proposal.image is not None:
        check_image(proposal.image)
    now = clock.now()
    premoderated = _settings()["IDEAS_PREMODERATION"]
    idea = Idea(title=proposal.title, body=proposal.body, author=author,
                department=department, location_text=proposal.location_text,
                language=proposal.language, status=IdeaStatus.SUBMITTED,
                public=not premoderated, awaiting_approval=premoderated, created_at=now,
                vote_count=0, comment_count=0)
    if _settings()["IDEAS_ANSWER_THRESHOLD"] == 0:
        idea.answer_due_at = _answer_due(now)
    if proposal.image is not None:
        try:
            idea.image_hash = storage.store(proposal.image)
        except storage.StorageUnavailable:
            raise IdeaError("storage_unavailable", field="attachments") from None
        idea.image_name = proposal.image.original_name
        idea.image_type = proposal.image.content_type
        idea.image_size = proposal.image.size
    db.session.add(idea)
    idea.history.append(IdeaStatusChange(from_status=None, to_status=IdeaStatus.SUBMITTED,
                                         actor=author, created_at=now))
    db.session.flush()
    db.session.add(IdeaFollow(idea_id=idea.id, user_id=author.id, created_at=now))
    _reindex(idea)
    return idea


def edit_idea(idea: Idea, author: User, title: str, body: str) -> None:
    """The author corrects their idea; the earlier version is kept (and shown as edited)."""
    if not can_edit(idea, author):
        raise IdeaError("cannot_edit")
    if (title, body) == (idea.title, idea.body):
        return
    now = clock.now()
    idea.revisions.append(IdeaRevision(title=idea.title, body=idea.body, created_at=now))
    idea.title, idea.body, idea.edited_at = title, body, now
    _reindex(idea)


def withdraw_idea(idea: Idea, author: User, reason: WithdrawalReason, note: str = "") -> None:
    """The author withdraws their idea; the reason stays public."""
    if not can_withdraw(idea, author):
        raise IdeaError("cannot_withdraw")
    previous = idea.status
    idea.status = IdeaStatus.WITHDRAWN
    idea.withdrawal_reason, idea.withdrawal_note = reason, note.strip()
    idea.answer_due_at = None
    idea.history.append(IdeaStatusChange(from_status=previous, to_status=IdeaStatus.WITHDRAWN,
                                         response=note.strip(), actor=author,
                                         created_at=clock.now()))
    _reindex(idea)


# ---------------------------------------------------------------- supports and follows

def _add_to_counts(idea: Idea, deltas: dict) -> None:
    """Change counts in one UPDATE (no lost update, no version clash); the ORM's copy
    is refreshed on next access. No kept page shows them (page_cache.NOT_SHOWN)."""
    db.session.execute(update(Idea).where(Idea.id == idea.id)
                       .values({column: column + delta for column, delta in deltas.items()})
                       .execution_options(synchronize_session=False,
                                          **{page_cache.NOT_SHOWN: True}))
    db.session.expire(idea, [column.key for column in deltas] + ["updated_at"])


def _recent(moment: datetime) -> bool:
    return moment >= clock.now() - timedelta(days=TRENDING_DAYS)


def _insert_once(row) -> bool:
    """Insert ``row`` unless the unique constraint says it exists (a double click, or the
    same form from two tabs): True if it was inserted."""
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        return False
    return True


def has_supported(idea: Idea, user: User | None) -> bool:
    if user is None or not user.is_authenticated:
        return False
    return bool(db.session.scalar(select(exists().where(
        IdeaVote.idea_id == idea.id, IdeaVote.user_id == user.id))))


def support(idea: Idea, user: User) -> bool:
    """Add the user's support, once; True if it is new."""
    if not can_support(idea, user):
        raise IdeaError("cannot_support")
    if not _insert_once(IdeaVote(idea_id=idea.id, user_id=user.id, created_at=clock.now())):
        return False
    _add_to_counts(idea, {Idea.vote_count: 1, Idea.recent_votes: 1})
    threshold = _settings()["IDEAS_ANSWER_THRESHOLD"]
    if threshold:
        # The support that reaches the threshold starts the answer's clock, once.
        db.session.execute(
            update(Idea).where(Idea.id == idea.id, Idea.answer_due_at.is_(None),
                               Idea.vote_count >= threshold,
                               Idea.official_response_at.is_(None),
                               Idea.status.in_([status.value for status in OPEN_STATUSES]))
            .values(answer_due_at=_answer_due(clock.now()))
            .execution_options(synchronize_session=False))
        db.session.expire(idea, ["answer_due_at"])
    _follow(idea, user)
    return True


def _remove_supports(idea: Idea, *conditions) -> int:
    """Delete the supports matching ``conditions`` and take them off the counts."""
    removed = list(db.session.execute(delete(IdeaVote).where(
        IdeaVote.idea_id == idea.id, *conditions).returning(IdeaVote.created_at)).scalars())
    if removed:
        _add_to_counts(idea, {Idea.vote_count: -len(removed), Idea.recent_votes: -sum(
            1 for moment in removed if _recent(_aware(moment)))})
    return len(removed)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite keeps no zone


def withdraw_support(idea: Idea, user: User) -> bool:
    """Take the user's support back; True if there was one."""
    return bool(_remove_supports(idea, IdeaVote.user_id == user.id))


def is_following(idea: Idea, user: User | None) -> bool:
    if user is None or not user.is_authenticated:
        return False
    return bool(db.session.scalar(select(exists().where(
        IdeaFollow.idea_id == idea.id, IdeaFollow.user_id == user.id))))


def _follow(idea: Idea, user: User) -> None:
    _insert_once(IdeaFollow(idea_id=idea.id, user_id=user.id, created_at=clock.now()))


def follow(idea: Idea, user: User) -> None:
    """Be emailed when the idea gets a status or a response."""
    if not user.is_authenticated or not can_view(idea, user):
        raise PermissionDenied
    _follow(idea, user)


def unfollow(idea: Idea, user: User) -> None:
    db.session.execute(delete(IdeaFollow).where(IdeaFollow.idea_id == idea.id,
                                                IdeaFollow.user_id == user.id))


# ---------------------------------------------------------------- comments

def add_comment(idea: Idea, author: User, body: str) -> Comment:
    """A comment; staff comments are the administration's official word."""
    if not can_comment(idea, author):
        raise IdeaError("cannot_comment")
    # By id, not through idea.comments: changing the idea's collection would mark the
    # idea changed, and every kept page with it.
    comment = Comment(idea_id=idea.id, author=author, body=body, official=author.is_staff,
                      created_at=clock.now())
    db.session.add(comment)
    db.session.flush()
    _add_to_counts(idea, {Idea.comment_count: 1})
    db.session.expire(idea, ["comments"])
    return comment


def can_read_hidden(comment: Comment, viewer: User | None) -> bool:
    return viewer is not None and viewer.is_authenticated and (
        comment.author_id == viewer.id or can_moderate(viewer))


# ---------------------------------------------------------------- answering

def people_to_tell(idea: Idea) -> list[User]:
    """The author and the followers, once each, who can receive mail."""
    users = {follow.user.id: follow.user for follow in db.session.scalars(
        select(IdeaFollow).where(IdeaFollow.idea_id == idea.id))}
    if idea.author is not None:
        users.setdefault(idea.author.id, idea.author)
    return [user for user in users.values() if user.is_active and user.email]


def _notify(idea: Idea, template: str, exclude: frozenset[int] = frozenset(),
            **context) -> None:
    with mail.url_context():
        from flask import url_for

        link = url_for("ideas.idea", idea_id=idea.id)
    for user in people_to_tell(idea):
        if user.id in exclude:
            continue
        mail.queue_mail(user.email, template, user.locale, idea=idea, user=user,
                        link_path=link, **context)


def change_status(actor: User, idea: Idea, target: IdeaStatus, response: str = "",
                  notify: bool = True) -> None:
    """Move the idea along its life cycle. Implementing or declining needs a public
    response, which the author and the followers are emailed, each in their language
    (unless ``notify`` is False: a published report tells them itself, once)."""
    if not can_decide(actor, idea):
        raise PermissionDenied
    response = response.strip()
    if target is idea.status and not response:
        return
    if target is IdeaStatus.DUPLICATE:
        raise IdeaError("merge_instead", field="status")
    if target is IdeaStatus.WITHDRAWN:
        raise IdeaError("invalid_transition", field="status")
    if target is not idea.status and not idea.status.can_become(target):
        raise IdeaError("invalid_transition", field="status")
    if target.needs_official_response and not response:
        raise IdeaError("response_required", field="response")
    now = clock.now()
    previous = idea.status
    idea.status = target
    idea.moderated_at = idea.moderated_at or now  # answering it is looking at it
    if response:
        idea.official_response, idea.official_response_at = response, now
        idea.responded_by = actor
    if response or target in ANSWERING_IDEA_STATUSES:
        idea.answer_due_at = None  # answered: a status with a public response
    elif previous in ANSWERING_IDEA_STATUSES:
        idea.answer_due_at = _answer_due(now)  # reopened for review: a new answer is due
    idea.history.append(IdeaStatusChange(from_status=previous, to_status=target,
                                         response=response, actor=actor, created_at=now))
    audit("idea.status", actor=actor, target_type="idea", target_id=idea.id,
          from_status=previous.value, to_status=target.value)
    if notify:
        _notify(idea, "idea_status", previous=previous)
    _reindex(idea)


def merge_ideas(actor: User, idea: Idea, target: Idea, response: str) -> None:
    """``idea`` repeats ``target``: its supports and followers join ``target`` (a person
    who supported both counts once), its page leads there, and each moved supporter is
    told, with a link that takes the moved support back."""
    if not can_decide(actor, idea):
        raise PermissionDenied
    if (target.id == idea.id or not target.public or target.status.closed
            or idea.status.closed):
        raise IdeaError("merge_target", field="target")
    response = response.strip()
    if not response:
        raise IdeaError("response_required", field="response")
    now = clock.now()
    already = set(db.session.scalars(select(IdeaVote.user_id).where(
        IdeaVote.idea_id == target.id)))
    moved, counted_once = [], []
    for vote in list(db.session.scalars(select(IdeaVote).where(IdeaVote.idea_id == idea.id))):
        if vote.user_id in already or vote.user_id == target.author_id:
            counted_once.append(vote.user_id)
            db.session.delete(vote)
        else:
            vote.idea_id, vote.moved_from_id = target.id, idea.id
            moved.append(vote.user_id)
    following = set(db.session.scalars(select(IdeaFollow.user_id).where(
        IdeaFollow.idea_id == target.id)))
    for follow_row in list(db.session.scalars(select(IdeaFollow).where(
            IdeaFollow.idea_id == idea.id))):
        if follow_row.user_id not in following:
            db.session.add(IdeaFollow(idea_id=target.id, user_id=follow_row.user_id,
                                      created_at=now))
    db.session.flush()
    _recount_supports(target)
    _recount_supports(idea)
    previous = idea.status
    idea.status, idea.duplicate_of, idea.public = IdeaStatus.DUPLICATE, target, False
    idea.moderated_at = idea.moderated_at or now
    idea.official_response, idea.official_response_at = response, now
    idea.responded_by, idea.answer_due_at = actor, None
    idea.history.append(IdeaStatusChange(from_status=previous, to_status=IdeaStatus.DUPLICATE,
                                         response=response, other_idea=target, actor=actor,
                                         created_at=now))
    # The public trace on the idea that absorbed it (its status does not change).
    target.history.append(IdeaStatusChange(from_status=target.status,
                                           to_status=target.status, other_idea=idea,
                                           actor=actor, created_at=now))
    audit("idea.merge", actor=actor, target_type="idea", target_id=idea.id, into=target.id,
          moved=len(moved), counted_once=len(counted_once))
    # A moved supporter gets one email: the one about their support (with the response).
    _notify(idea, "idea_status", exclude=frozenset(moved), previous=previous)
    with mail.url_context():
        from flask import url_for

        for user in db.session.scalars(select(User).where(User.id.in_(moved))):
            if user.is_active and user.email:
                token = moved_support_token(user, target, idea)
                mail.queue_mail(user.email, "idea_support_moved", user.locale, user=user,
                                idea=idea, target=target,
                                link_path=url_for("ideas.idea", idea_id=target.id),
                                withdraw_path=url_for("ideas.moved_support", token=token))
    _reindex(idea)
    _reindex(target)


def _recount_supports(idea: Idea) -> None:
    votes = select(func.count()).where(IdeaVote.idea_id == idea.id)
    since = clock.now() - timedelta(days=TRENDING_DAYS)
    db.session.execute(update(Idea).where(Idea.id == idea.id).values(
        vote_count=votes.scalar_subquery(),
        recent_votes=votes.where(IdeaVote.created_at >= since).scalar_subquery())
        .execution_options(synchronize_session=False, **{page_cache.NOT_SHOWN: True}))
    db.session.expire(idea, ["vote_count", "recent_votes", "updated_at"])


def _moved_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="idea-moved-support")


def moved_support_token(user: User, target: Idea, merged: Idea) -> str:
    return _moved_serializer().dumps([user.id, target.id, merged.id])


def moved_support(token: str) -> tuple[User, Idea, Idea] | None:
    """Who, where to and where from, for a link in a "your support moved" email."""
    try:
        user_id, target_id, merged_id = _moved_serializer().loads(
            token, max_age=int(MOVED_SUPPORT_MAX_AGE.total_seconds()))
    except (BadSignature, ValueError, TypeError):
        return None
    user, target = db.session.get(User, user_id), db.session.get(Idea, target_id)
    merged = db.session.get(Idea, merged_id)
    if user is None or target is None or merged is None:
        return None
    return user, target, merged


def withdraw_moved_support(user: User, target: Idea, merged: Idea) -> bool:
    """Undo what the merge did in this person's name: True if a moved support went."""
    return bool(_remove_supports(target, IdeaVote.user_id == user.id,
                                 IdeaVote.moved_from_id == merged.id))


# ---------------------------------------------------------------- answer dates

@dataclass(frozen=True)
class AnswerState:
    overdue: bool
    date: datetime  # due by, or overdue since


def answer_state(idea: Idea) -> AnswerState | None:
    """"Answer due by …" or "answer overdue since …"; None once answered (a status with a
    public response) or while not yet due (below the support threshold)."""
    if idea.answer_due_at is None or idea.status.closed:
        return None
    return AnswerState(overdue=clock.now() > idea.answer_due_at, date=idea.answer_due_at)


def awaiting_answer(user: User, limit: int = 200) -> list[Idea]:
    """Ideas with an answer due that this person may give, the most urgent first."""
    query = (select(Idea).where(Idea.answer_due_at.is_not(None),
                                Idea.status.in_([status.value for status in OPEN_STATUSES]))
             .order_by(Idea.answer_due_at, Idea.id).limit(limit))
    if not user.has_role(Role.MANAGER):
        departments = [department.id for department in user.departments]
        query = query.where((Idea.department_id.is_(None))
                            | Idea.department_id.in_(departments))
    return list(db.session.scalars(query))


def overdue_answers(department_id: int | None = None) -> int:
    """How many ideas are past their answer date now: a public figure."""
    query = select(func.count()).select_from(Idea).where(
        Idea.public.is_(True), Idea.answer_due_at < clock.now(),
        Idea.status.in_([status.value for status in OPEN_STATUSES]))
    if department_id is not None:
        query = query.where(Idea.department_id == department_id)
    return db.session.scalar(query) or 0


# ---------------------------------------------------------------- the board

SORTS = ("supported", "newest", "trending", "answered")


@dataclass
class BoardQuery:
    sort: str = "supported"
    department_id: int | None = None
    status: IdeaStatus | None = None
    author: User | None = None  # "mine"
    text: str = ""
    locale: str = "es"  # the page's language, for a search's word forms
    page: int = 1
    per_page: int = 20


@dataclass
class BoardPage:
    ideas: list[Idea]
    total: int
    page: int
    pages: int
    trending: dict[int, int] = field(default_factory=dict)  # idea id -> recent supports


def _filtered(query: BoardQuery, statement: Select) -> Select:
    if query.author is not None:
        # "Mine": my ideas, pending and hidden ones too (never merged ones).
        statement = statement.where(Idea.author_id == query.author.id,
                                    Idea.duplicate_of_id.is_(None))
    else:
        statement = statement.where(Idea.public.is_(True))
    if query.department_id is not None:
        statement = statement.where(Idea.department_id == query.department_id)
    if query.status is not None:
        statement = statement.where(Idea.status == query.status.value)
    return statement


# Board totals, per filter, kept this long per process: a count of 100 000 ideas costs
# more than the page it heads, and a total a few seconds old misleads nobody.
TOTALS_FOR = timedelta(seconds=30)
_totals: dict[tuple, tuple[datetime, int]] = {}


def _total(query: BoardQuery, answered_only: bool) -> int:
    key = (str(db.engine.url), query.department_id, query.status,
           query.author.id if query.author else None, answered_only)
    now = clock.now()
    kept = _totals.get(key)
    if kept is not None and timedelta(0) <= now - kept[0] < TOTALS_FOR:
        return kept[1]
    statement = _filtered(query, select(func.count()).select_from(Idea))
    if answered_only:
        statement = statement.where(Idea.official_response_at.is_not(None))
    total = db.session.scalar(statement) or 0
    if len(_totals) > 1000:
        _totals.clear()
    _totals[key] = (now, total)
    return total


def board(query: BoardQuery) -> BoardPage:
    """One page of the board, sorted and filtered (search: ``search_board``)."""
    if query.text:
        return search_board(query)
    answered_only = query.sort == "answered"
    # A person's own list is always exact (they just proposed, or withdrew).
    total = (_total(query, answered_only) if query.author is None else
             db.session.scalar(_filtered(query, select(func.count()).select_from(Idea))
                               .where(Idea.official_response_at.is_not(None)
                                      if answered_only else true())) or 0)
    pages = max(1, -(-total // query.per_page))
    page = min(max(1, query.page), pages)
    order = {
        "supported": (Idea.vote_count.desc(), Idea.id.desc()),
        "newest": (Idea.created_at.desc(), Idea.id.desc()),
        "trending": (Idea.recent_votes.desc(), Idea.vote_count.desc(), Idea.id.desc()),
        # Only answered ideas are listed, so no NULLs: a plain DESC lets the index serve.
        "answered": (Idea.official_response_at.desc(), Idea.id.desc()),
    }.get(query.sort, (Idea.vote_count.desc(), Idea.id.desc()))
    statement = _filtered(query, select(Idea).options(selectinload(Idea.department)))
    if answered_only:
        statement = statement.where(Idea.official_response_at.is_not(None))
    ideas = list(db.session.scalars(statement.order_by(*order)
                                    .offset((page - 1) * query.per_page)
                                    .limit(query.per_page)))
    trending = {idea.id: idea.recent_votes for idea in ideas} if query.sort == "trending" \
        else {}
    return BoardPage(ideas=ideas, total=total, page=page, pages=pages, trending=trending)


# Supports age out of "trending" as days pass; the counts are brought up to date at most
# this often per process (the first trending page after that does it), or by
# ``refresh_trending()`` from the command line.
TRENDING_REFRESH = timedelta(hours=1)
_trending_refreshed: dict[str, datetime] = {}


def refresh_trending() -> int:
    """Age the trending counts: recount the supports of the last TRENDING_DAYS of every
    idea that has any counted (new supports are added as they come). Returns how many
    ideas were recounted."""
    since = clock.now() - timedelta(days=TRENDING_DAYS)
    recent = (select(func.count()).where(IdeaVote.idea_id == Idea.id,
                                         IdeaVote.created_at >= since).scalar_subquery())
    return db.session.execute(
        update(Idea).where(Idea.recent_votes > 0).values(recent_votes=recent)
        .execution_options(synchronize_session=False, **{page_cache.NOT_SHOWN: True})
    ).rowcount


def trending_is_stale() -> bool:
    """Whether this process last aged the trending counts over TRENDING_REFRESH ago."""
    last = _trending_refreshed.get(str(db.engine.url))
    now = clock.now()
    return last is None or not timedelta(0) <= now - last < TRENDING_REFRESH


def refresh_trending_if_stale() -> None:
    if trending_is_stale():
        _trending_refreshed[str(db.engine.url)] = clock.now()
        refresh_trending()
        db.session.commit()


def search_board(query: BoardQuery) -> BoardPage:
    """Ideas matching words, through the search port (board ideas only are indexed)."""
    from portal.search.base import SearchQuery

    department = db.session.get(Department, query.department_id) if query.department_id \
        else None
    results = knowledge.search_articles(SearchQuery(
        text=query.text, locale=query.locale,
        kinds=("idea",), department=department.slug if department else "",
        page=query.page, per_page=query.per_page))
    ids = [int(hit.doc_id.partition(":")[2]) for hit in results.hits
           if hit.doc_id.startswith("idea:")]
    by_id = {idea.id: idea for idea in db.session.scalars(select(Idea).where(
        Idea.id.in_(ids), Idea.public.is_(True)))}
    ideas = [by_id[number] for number in ids if number in by_id]
    if query.status is not None:
        ideas = [idea for idea in ideas if idea.status is query.status]
    return BoardPage(ideas=ideas, total=results.total, page=results.page,
                     pages=results.pages)


# ---------------------------------------------------------------- flags (moderation)

def flag(user: User, reason: str, idea: Idea | None = None,
         comment: Comment | None = None) -> bool:
    """Ask moderators to look; enough flags hide the thing until one does."""
    if not user.is_authenticated:
        raise PermissionDenied
    if not _insert_once(Flag(user_id=user.id, idea_id=idea.id if idea else None,
                             comment_id=comment.id if comment else None,
                             reason=reason.strip(), created_at=clock.now())):
        return False
    target_column = Flag.idea_id == idea.id if idea else Flag.comment_id == comment.id
    open_flags = db.session.scalar(select(func.count()).select_from(Flag).where(
        target_column, Flag.resolved_at.is_(None))) or 0
    if open_flags >= _settings()["IDEAS_FLAGS_TO_HIDE"]:
        thing = idea or comment
        if not thing.hidden:
            thing.hidden, thing.hidden_at, thing.hidden_by_id = True, clock.now(), None
            thing.hidden_reason = ""
            if idea is not None:
                _set_public(idea)
    return True


def _set_public(idea: Idea) -> None:
    idea.public = not (idea.hidden or idea.awaiting_approval or idea.duplicate_of_id)
    _reindex(idea)


def open_flags_count(idea: Idea | None = None, comment: Comment | None = None) -> int:
    target = (Flag.idea_id == idea.id) if idea is not None else (Flag.comment_id == comment.id)
    return db.session.scalar(select(func.count()).select_from(Flag).where(
        and_(target, Flag.resolved_at.is_(None)))) or 0


@dataclass
class ModerationItem:
    idea: Idea
    comment: Comment | None
    flags: list[Flag]

    @property
    def awaiting_approval(self) -> bool:
        return self.comment is None and self.idea.awaiting_approval

    @property
    def unreviewed(self) -> bool:
        """A new idea no moderator has looked at yet."""
        return self.comment is None and self.idea.moderated_at is None


def open_flags(idea: Idea) -> list[Flag]:
    """Open flags on the idea and on its comments."""
    return list(db.session.scalars(select(Flag).where(
        Flag.resolved_at.is_(None),
        (Flag.idea_id == idea.id) | Flag.comment_id.in_(
            select(Comment.id).where(Comment.idea_id == idea.id)))
        .order_by(Flag.created_at)))


def moderation_queue(limit: int = 200) -> list[ModerationItem]:
    """What waits for a moderator, the oldest first: new ideas nobody has looked at yet
    (shown on the board already, or waiting for approval), and reported ideas and
    comments."""
    items: dict[tuple, ModerationItem] = {}
    for idea in db.session.scalars(select(Idea).where(Idea.moderated_at.is_(None))
                                   .order_by(Idea.created_at, Idea.id).limit(limit)):
        items[(idea.id, None)] = ModerationItem(idea, None, [])
    for row in db.session.scalars(select(Flag).where(Flag.resolved_at.is_(None))
                                  .order_by(Flag.created_at).limit(limit * 5)):
        idea = row.idea or row.comment.idea
        key = (idea.id, row.comment_id)
        items.setdefault(key, ModerationItem(idea, row.comment, [])).flags.append(row)
    return list(items.values())[:limit]


def moderate(actor: User, action: str, reason: str, idea: Idea,
             comment: Comment | None = None) -> None:
    """hide, restore, dismiss (the flags) or approve (a pre-moderated idea). Hidden
    things stay in the database, with who hid them, when and why."""
    if not can_moderate(actor):
        raise PermissionDenied
    thing = comment if comment is not None else idea
    now = clock.now()
    if comment is None or action == "approve":
        idea.moderated_at = idea.moderated_at or now
    if action == "approve":
        idea.awaiting_approval = False
    elif action == "hide":
        thing.hidden, thing.hidden_at, thing.hidden_by_id = True, now, actor.id
        thing.hidden_reason = reason.strip()
    elif action == "restore" or (action == "dismiss" and thing.hidden
                                 and thing.hidden_by_id is None):
        # Restoring, or dismissing the flags that hid it pending review.
        thing.hidden, thing.hidden_reason = False, ""
        thing.hidden_at = thing.hidden_by_id = None
    target = Flag.comment_id == comment.id if comment is not None else Flag.idea_id == idea.id
    db.session.execute(update(Flag).where(target, Flag.resolved_at.is_(None)).values(
        resolution={"hide": "hidden", "restore": "restored"}.get(action, "dismissed"),
        resolved_at=now, resolved_by_id=actor.id).execution_options(
        synchronize_session=False))
    audit(f"idea.moderation.{action}", actor=actor, target_type="comment" if comment
          else "idea", target_id=thing.id)
    _set_public(idea)


# ---------------------------------------------------------------- ideas and cases

def link_case(actor: User, idea: Idea, case: Case) -> bool:
    """Note that a case raised the problem this idea is about (staff see both sides; the
    public only a count). True if the link is new."""
    from portal.staff import service as staff

    if not can_moderate(actor) or not staff.can_see_case(actor, case):
        raise PermissionDenied
    added = _insert_once(IdeaCaseLink(idea_id=idea.id, case_id=case.id,
                                      created_by_id=actor.id, created_at=clock.now()))
    if added:
        audit("idea.link_case", actor=actor, target_type="idea", target_id=idea.id,
              case=case.reference)
    return added


def linked_cases(idea: Idea) -> list[Case]:
    return list(db.session.scalars(select(Case).join(
        IdeaCaseLink, IdeaCaseLink.case_id == Case.id).where(IdeaCaseLink.idea_id == idea.id)
        .order_by(Case.created_at)))


def linked_case_count(idea: Idea) -> int:
    """How many cases raised the same problem: all the public learns of them."""
    return db.session.scalar(select(func.count()).select_from(IdeaCaseLink).where(
        IdeaCaseLink.idea_id == idea.id)) or 0


def ideas_linked_to(case: Case) -> list[Idea]:
    return list(db.session.scalars(select(Idea).join(
        IdeaCaseLink, IdeaCaseLink.idea_id == Idea.id).where(IdeaCaseLink.case_id == case.id)
        .order_by(Idea.id)))


# ---------------------------------------------------------------- the index

def _reindex(idea: Idea) -> None:
    """After a change the board shows: the search index, and this process's totals."""
    knowledge.index_changed(f"idea:{idea.id}")
    _totals.clear()


def idea_for(idea_id: int, viewer: User | None) -> Idea | None:
    idea = db.session.get(Idea, idea_id)
    return idea if idea is not None and can_view(idea, viewer) else None



def feed_changes(limit: int) -> list[IdeaStatusChange]:
    """The latest public events of the board: new ideas and status changes (a merge's
    trace on the idea that absorbed another is left out: it is not a status)."""
    return list(db.session.scalars(
        select(IdeaStatusChange).join(IdeaStatusChange.idea)
        .where(Idea.public.is_(True),
               (IdeaStatusChange.from_status.is_(None))
               | (IdeaStatusChange.from_status != IdeaStatusChange.to_status))
        .order_by(IdeaStatusChange.created_at.desc(), IdeaStatusChange.id.desc())
        .limit(limit)))
