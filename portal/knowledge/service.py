"""The knowledge base: articles grown from resolved cases, their publishing and search.

The database is the truth. The search index follows it after each commit; if there is
no index yet (a fresh deployment) or it was deleted, that first update builds it from
the database. If the index is locked or broken the write still succeeds, the update
waits in ``search_pending`` and is retried, and searches fall back to the database
meanwhile.
"""

from __future__ import annotations

import csv
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

from markupsafe import escape
from sqlalchemy import case as sql_case
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from portal import clock, jobs, mail, search
from portal.audit import audit
from portal.config import LANGUAGES
from portal.extensions import db
from portal.i18n import current_language
from portal.knowledge import redaction
from portal.models import (
    Article,
    ArticleFeedback,
    ArticleStatus,
    Case,
    CaseStatus,
    Department,
    Idea,
    Role,
    SearchPending,
    SuggestionOpen,
    Tag,
    User,
)
from portal.permissions import PermissionDenied
from portal.search import documents
from portal.search.base import (
    Hit,
    IndexMissing,
    SearchBackend,
    SearchQuery,
    SearchResults,
    SearchUnavailable,
)

log = logging.getLogger(__name__)

REVIEW_AFTER = timedelta(days=365)


class KnowledgeError(Exception):
    """Something the editor can put right; ``field`` names the form field."""

    def __init__(self, code: str, field: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.field = field




@dataclass
class ArticleInput:
    title: str
    body: str
    summary: str = ""
    locale: str = "es"
    department_id: int | None = None
    tags: list[str] = field(default_factory=list)
    review_by: date | None = None


# ---------------------------------------------------------------- permissions

def can_edit(user: User) -> bool:
    return user.is_authenticated and user.is_staff


def can_publish(user: User) -> bool:
    return user.is_authenticated and (user.has_role(Role.MANAGER) or (
        user.is_staff and user.can_publish_articles))


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


# ---------------------------------------------------------------- articles

def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:80]


def _tags(names: Iterable[str]) -> list[Tag]:
    tags = []
    for name in names:
        label = name.strip()
        # Both columns hold 64 characters (PostgreSQL refuses more; SQLite kept them).
        slug = slugify(label)[:64].strip("-")
        if not slug or any(tag.slug == slug for tag in tags):
            continue
        tag = db.session.scalar(select(Tag).where(Tag.slug == slug))
        if tag is None:
            tag = Tag(slug=slug, label=label[:64])
            db.session.add(tag)
        tags.append(tag)
    return tags


def _apply(article: Article, data: ArticleInput) -> None:
    if data.locale not in LANGUAGES:
        raise KnowledgeError("locale", field="locale")
    article.title = data.title.strip()
    article.slug = slugify(article.title)
    article.summary = data.summary.strip()
    article.body = data.body
    article.locale = data.locale
    article.department_id = data.department_id
    article.tags = _tags(data.tags)
    article.review_by = data.review_by


def create_article(actor: User, data: ArticleInput, source_case: Case | None = None,
                   translation_of: Article | None = None) -> Article:
    """A draft article (written from scratch, from a case, or as a translation)."""
    _require(can_edit(actor))
    article = Article(author_id=actor.id, status=ArticleStatus.DRAFT)
    _apply(article, data)
    if source_case is not None:
        article.source_cases.append(source_case)
    db.session.add(article)
    db.session.flush()
    if translation_of is not None:
        if translation_of.translation_group is None:
            translation_of.translation_group = translation_of.id
        article.translation_group = translation_of.translation_group
    audit("article.created", actor=actor, target_type="article", target_id=article.id)
    _after_change(article)
    return article


def update_article(actor: User, article: Article, data: ArticleInput) -> None:
    _require(can_edit(actor))
    if article.status is ArticleStatus.PUBLISHED:
        _require(can_publish(actor))  # changing what the public reads is publishing
    _apply(article, data)
    audit("article.updated", actor=actor, target_type="article", target_id=article.id)
    _after_change(article)


def publish(actor: User, article: Article) -> None:
    _require(can_publish(actor))
    article.status = ArticleStatus.PUBLISHED
    article.published_at = article.published_at or clock.now()
    if article.review_by is None:
        article.review_by = (clock.now() + REVIEW_AFTER).date()
    audit("article.published", actor=actor, target_type="article", target_id=article.id)
    _after_change(article)


def archive(actor: User, article: Article) -> None:
    _require(can_publish(actor))
    article.status = ArticleStatus.ARCHIVED
    audit("article.archived", actor=actor, target_type="article", target_id=article.id)
    _after_change(article)


def unpublish_for_withdrawn_consent(case: Case) -> list[Article]:
    """The published articles built from ``case``, back to drafts for an editor's review.

    The citizen has withdrawn the permission to publish their case: whatever was taken
    from it leaves the public site and the search index (after the commit) until an
    editor has rewritten or archived it.
    """
    unpublished = []
    for article in case_articles(case):
        if article.status is ArticleStatus.PUBLISHED:
            article.status = ArticleStatus.DRAFT
            audit("article.unpublished", target_type="article", target_id=article.id,
                  reason="consent_withdrawn", case=case.id)
            _after_change(article)
            unpublished.append(article)
    return unpublished


def case_articles(case: Case) -> list[Article]:
    return list(db.session.scalars(select(Article).where(
        Article.source_cases.any(Case.id == case.id)).order_by(Article.id)))


def translations_of(article: Article) -> list[Article]:
    if article.translation_group is None:
        return []
    return list(db.session.scalars(select(Article).where(
        Article.translation_group == article.translation_group, Article.id != article.id,
        Article.status == ArticleStatus.PUBLISHED).order_by(Article.locale)))


def record_feedback(article: Article, helpful: bool, reason: str = "") -> None:
    """ "Was this helpful?" from a reader."""
    db.session.add(ArticleFeedback(article_id=article.id, helpful=helpful,
                                   reason=reason.strip()[:2000]))
    if helpful:
        article.helpful_yes += 1
    else:
        article.helpful_no += 1


def due_for_review(today: date | None = None) -> list[Article]:
    today = today or clock.now().date()
    return list(db.session.scalars(select(Article).where(
        Article.status == ArticleStatus.PUBLISHED, Article.review_by <= today)
        .order_by(Article.review_by)))


def editor_list() -> list[Article]:
    return list(db.session.scalars(select(Article).order_by(
        sql_case((Article.status == ArticleStatus.DRAFT, 0), else_=1),
        Article.updated_at.desc()).limit(500)))


# ---------------------------------------------------------------- from a case

@dataclass
class CaseDraft:
    data: ArticleInput
    redacted: list[redaction.Redacted]  # what was replaced, to show the editor
    prefilled: bool


def draft_from_case(actor: User, case: Case, placeholders: dict[str, str]) -> CaseDraft:
    """Prefill an article from a resolved case, personal data redacted.

    Without the citizen's consent nothing of the case text is used: the editor starts
    from a blank article that only keeps the department.
    """
    _require(can_edit(actor))
    if case.status not in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
        raise KnowledgeError("not_resolved")
    blank = ArticleInput(title="", body="", locale=case.language,
                         department_id=case.department_id)
    if not case.publish_consent:
        return CaseDraft(blank, [], prefilled=False)
    known = {"names": [case.contact_name] if case.contact_name else [],
             "emails": [case.contact_email] if case.contact_email else [],
             "phones": [case.contact_phone] if case.contact_phone else [],
             "addresses": [case.location_text] if case.location_text else []}
    parts = [redaction.redact(text, placeholders=placeholders, **known)
             for text in (case.subject, case.body, case.resolution_summary)]
    title, question, answer = parts
    body = f"{question.text.strip()}\n\n{answer.text.strip()}".strip()
    data = ArticleInput(title=title.text, summary="", body=body, locale=case.language,
                        department_id=case.department_id)
    return CaseDraft(data, [part for part in parts if part.replacements], prefilled=True)


# ---------------------------------------------------------------- indexing

def _doc_id(article: Article) -> str:
    return f"article:{article.id}"


def _after_change(article: Article) -> None:
    index_changed(_doc_id(article))


def index_changed(doc_id: str, rewritten: bool = False) -> None:
    """The document ``doc_id`` (``"article:12"``, ``"idea:3"``) changed in this
    transaction: bring the search index in step with it.

    A transactional backend (PostgreSQL) is written just before the commit, inside it;
    Whoosh after the commit. ``rewritten``: personal data was cut out of it, and no trace
    of the old text may stay (Whoosh keeps a replaced document's words in its segments
    until they merge, so its whole index is rebuilt).
    """
    if search.backend().transactional:
        jobs.before_commit_collect(_sync_in_transaction, doc_id)
    elif rewritten:
        jobs.after_commit_collect(_rebuild_after_erasure, doc_id)
    else:
        jobs.after_commit_collect(sync_index, doc_id)


def _sync_in_transaction(doc_ids: list[str]) -> None:
    with mail.url_context():  # documents carry their URL
        documents = [(doc_id, _load_document(db.session, doc_id))
                     for doc_id in sorted(doc_ids)]
    _update_index(search.backend(),
                  [document for _doc_id, document in documents if document],
                  [doc_id for doc_id, document in documents if document is None])


def _rebuild_after_erasure(_doc_ids: list[str]) -> None:
    with Session(db.engine) as session, mail.url_context():
        search.backend().rebuild(public_documents(session))


def _load_document(session: Session, doc_id: str):
    kind, _colon, number = doc_id.partition(":")
    model = {"article": Article, "idea": Idea}.get(kind)
    row = session.get(model, int(number)) if model and number.isdigit() else None
    if row is None:
        return None
    return documents.article_document(row) if kind == "article" else \
        documents.idea_document(row)


def sync_index(doc_ids: list[str]) -> None:
    """Bring these documents (and any earlier failures) up to date in the index."""
    with Session(db.engine) as session, mail.url_context():
        pending = set(session.scalars(select(SearchPending.doc_id)))
        wanted = sorted(pending | set(doc_ids))
        to_index, to_delete = [], []
        for doc_id in wanted:
            document = _load_document(session, doc_id)
            (to_index.append(document) if document else to_delete.append(doc_id))
        backend = search.backend()
        try:
            try:
                _update_index(backend, to_index, to_delete)
            except IndexMissing:
                # A fresh deployment, or a deleted index: build it from the database,
                # which holds this change already (this runs after the commit).
                built = backend.rebuild(public_documents(session), if_missing=True)
                if built is None:  # another process built it meanwhile
                    _update_index(backend, to_index, to_delete)
                else:
                    log.info("search index built: %d documents", built)
        except (SearchUnavailable, OSError) as error:
            log.warning("index update postponed (%s): %d documents", error, len(wanted))
            for doc_id in wanted:
                row = session.get(SearchPending, doc_id) or SearchPending(doc_id=doc_id)
                row.attempts = (row.attempts or 0) + 1
                session.add(row)
            session.commit()
            return
        if pending:
            session.execute(delete(SearchPending).where(SearchPending.doc_id.in_(pending)))
            session.commit()


def _update_index(backend: SearchBackend, to_index: list, to_delete: list[str]) -> None:
    if to_index:
        backend.index(to_index)
    if to_delete:
        backend.delete(to_delete)


def public_documents(session: Session | None = None) -> Iterable:
    """Every document the public index should hold."""
    session = session or db.session
    for article in session.scalars(select(Article).where(
            Article.status == ArticleStatus.PUBLISHED).execution_options(yield_per=500)):
        document = documents.article_document(article)
        if document is not None:
            yield document
    for idea in session.scalars(select(Idea).execution_options(yield_per=500)):
        document = documents.idea_document(idea)
        if document is not None:
            yield document


def reindex(progress: Callable[[int], None] | None = None) -> int:
    """Rebuild the index from the database; return how many documents it holds."""
    # Only the updates pending before the rebuild reads the database are in it; one
    # postponed while it runs stays pending.
    pending = list(db.session.scalars(select(SearchPending.doc_id)))
    with mail.url_context():
        count = search.backend().rebuild(public_documents(), progress)
    if pending:
        db.session.execute(delete(SearchPending).where(SearchPending.doc_id.in_(pending)))
    db.session.commit()
    return count


def index_is_missing() -> bool:
    """Whether there is no usable index (none, damaged, or from an earlier version); an
    empty one, on a deployment with no articles yet, is in place."""
    return search.backend().status()["status"] != "ok"


# ---------------------------------------------------------------- searching

def search_articles(query: SearchQuery) -> SearchResults:
    """Search the index; if it cannot answer, search the database instead."""
    try:
        return search.backend().search(query)
    except SearchUnavailable:
        return database_search(query)


def database_search(query: SearchQuery) -> SearchResults:
    """A plain, slower search of published articles (fallback)."""
    words = [word.lower() for word in re.findall(r"\w+", query.text)][:8]
    if not words:
        return SearchResults(hits=[], total=0, page=1, per_page=query.per_page, fallback=True)
    haystack = func.lower(Article.title + " " + Article.summary + " " + Article.body)
    conditions = [Article.status == ArticleStatus.PUBLISHED,
                  *[haystack.like(f"%{word}%") for word in words]]
    if query.department:
        conditions.append(Article.department.has(Department.slug == query.department))
    if query.tag:
        conditions.append(Article.tags.any(Tag.slug == query.tag))
    in_title = or_(*[func.lower(Article.title).like(f"%{word}%") for word in words])
    base = select(Article).where(*conditions)
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    page = max(1, query.page)
    rows = db.session.scalars(base.order_by(
        sql_case((in_title, 0), else_=1), (Article.locale != query.locale),
        Article.published_at.desc()).offset((page - 1) * query.per_page)
        .limit(query.per_page)).all()
    with mail.url_context():
        hits = [Hit(doc_id=_doc_id(row), kind="article", title=row.title,
                    url=documents.article_document(row).url,
                    snippet=escape(row.summary or row.body[:200]), locale=row.locale,
                    department=row.department.slug if row.department else "",
                    tags=tuple(tag.slug for tag in row.tags), score=0.0) for row in rows]
    return SearchResults(hits=hits, total=total, page=page, per_page=query.per_page,
                         fallback=True)


# ---------------------------------------------------------------- suggestions

def suggestion_opened(form_token: str, article: Article) -> None:
    if form_token:
        db.session.add(SuggestionOpen(form_token=form_token[:64], article_id=article.id))


def form_submitted(form_token: str | None) -> None:
    """The citizen sent their question after all: the suggestions did not answer it."""
    if form_token:
        db.session.execute(SuggestionOpen.__table__.update().where(
            SuggestionOpen.form_token == form_token).values(submitted=True))


def deflection_figures(since: date | None = None) -> dict[str, int]:
    """Suggestions opened, and how many of those questions were never sent."""
    query = select(SuggestionOpen.form_token, func.max(
        sql_case((SuggestionOpen.submitted, 1), else_=0)))
    if since is not None:
        query = query.where(SuggestionOpen.opened_at >= since)
    rows = db.session.execute(query.group_by(SuggestionOpen.form_token)).all()
    return {"forms": len(rows), "answered": sum(1 for _token, sent in rows if not sent)}


# ---------------------------------------------------------------- importing a FAQ

def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """``key: value`` lines between a first and a second line of ``---``, then the body."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text
    try:
        end = next(number for number, line in enumerate(lines[1:], start=1)
                   if line.strip() == "---")
    except StopIteration:
        return {}, text
    meta = {}
    for line in lines[1:end]:
        key, _colon, value = line.partition(":")
        if key.strip():
            meta[key.strip().lower()] = value.strip()
    return meta, "\n".join(lines[end + 1:]).strip()


def _read_faq(path: Path) -> Iterable[dict[str, str]]:
    if path.is_dir():
        for file in sorted(path.glob("*.md")):
            meta, body = _front_matter(file.read_text(encoding="utf-8"))
            yield {**meta, "body": body, "source": file.name}
    elif path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                yield {**{key.strip().lower(): (value or "").strip()
                          for key, value in row.items() if key}, "source": f"line {number}"}
    else:
        raise KnowledgeError("import_format")


def import_faq(actor: User, path: Path) -> tuple[int, int, list[str]]:
    """Import and publish a FAQ; return (imported, skipped as already there, problems)."""
    departments = {department.slug: department.id
                   for department in db.session.scalars(select(Department))}
    groups: dict[str, int] = {}
    imported, skipped, problems = 0, 0, []
    for entry in _read_faq(path):
        title, body = entry.get("title", ""), entry.get("body", "")
        locale = entry.get("locale", "es") or "es"
        if not title or not body or locale not in LANGUAGES:
            problems.append(entry["source"])
            continue
        existing = db.session.scalar(select(Article).where(
            Article.slug == slugify(title), Article.locale == locale))
        key = entry.get("translation_key", "")
        if existing is not None:
            skipped += 1
            if key:
                groups.setdefault(key, existing.translation_group or existing.id)
            continue
        review_by = None
        if entry.get("review_by"):
            try:
                review_by = date.fromisoformat(entry["review_by"])
            except ValueError:
                problems.append(entry["source"])
        article = create_article(actor, ArticleInput(
            title=title, body=body, summary=entry.get("summary", ""), locale=locale,
            department_id=departments.get(entry.get("department", "")),
            tags=[tag for tag in entry.get("tags", "").split(",") if tag.strip()],
            review_by=review_by))
        if key:
            article.translation_group = groups.setdefault(key, article.id)
        publish(actor, article)
        imported += 1
    return imported, skipped, problems


# ---------------------------------------------------------------- suggestions

# A suggestion interrupts someone writing to us, so it must be a plausible answer, not
# merely the best of a bad lot: a streetlight complaint once got the recycling guide.
# A hit is shown when its score (the backend's BM25F) reaches SUGGESTION_MIN_SCORE and
# is close to the best hit's (SUGGESTION_NEAR_BEST of it); at most SUGGESTION_LIMIT.
# Tuned on tests/knowledge/test_suggestion_relevance.py (citizens' texts against the
# demo knowledge base), which prints the share of useful suggestions; retune there
# if the scoring changes. The floor is absolute, so it depends on the scale of the
# backend's scores (and, through the IDF, loosely on the size of the knowledge base).
# A knowledge base of a few dozen articles gives every word a small IDF, so its scores
# stay far below the floor: there only the near-best rule applies, until the base has
# SUGGESTION_FLOOR_FROM published articles (the demo has 72).
SUGGESTION_MIN_SCORE = 12.0
SUGGESTION_NEAR_BEST = 0.85
SUGGESTION_LIMIT = 3
SUGGESTION_FLOOR_FROM = 50


def plausible_hits(hits, published: int | None = None):
    """The hits good enough to suggest while someone writes (see above)."""
    if not hits:
        return []
    floor = SUGGESTION_NEAR_BEST * max(hit.score for hit in hits)
    if published is None or published >= SUGGESTION_FLOOR_FROM:
        floor = max(SUGGESTION_MIN_SCORE, floor)
    return [hit for hit in hits if hit.score >= floor][:SUGGESTION_LIMIT]


def suggestions_for(text: str, limit: int = 5) -> SearchResults | None:
    """Plausible answers for what a citizen is typing (None: too little typed yet)."""
    if len(text.strip()) < 3:
        return None
    results = search_articles(SearchQuery(text=text, locale=current_language(), per_page=limit))
    published = db.session.scalar(select(func.count()).select_from(Article).where(
        Article.status == ArticleStatus.PUBLISHED))
    return replace(results, hits=plausible_hits(results.hits, published))
