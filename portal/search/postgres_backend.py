"""PostgreSQL full-text search: the backend for several app servers on one database.

Chosen with ``PORTAL_SEARCH_BACKEND=postgresql``. The documents live in the
``search_documents`` table (migration 0015, PostgreSQL only) next to the rows they are
built from, and are written inside the same transaction (``transactional``): an article
published through one server is found through every other at once, and there is
nothing to rebuild after a crash and nothing pending.

Analysis is PostgreSQL's, per language (the text search configurations of migration
0015): Spanish, English and Portuguese (for Galician) Snowball stemmers, the ``simple``
configuration for Catalan and Basque, each with ``unaccent`` so that ``informacion``
finds ``información``. Title, summary and body are weighted A, B and C (``setweight``)
in one ``tsvector`` with a GIN index. A query is read as Whoosh reads it
(``query_parts``): every word, in the reader's language or in Spanish at
OTHER_LANGUAGE_WEIGHT, as the Whoosh backend does. Snippets come from ``ts_headline``
and are escaped here; "did you mean" picks from the vocabulary table with ``pg_trgm``
and ranks the candidates by edit distance, then by how many documents have the word.
"""

from __future__ import annotations

import functools
import html
import logging
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from markupsafe import Markup
from rapidfuzz.distance import OSA
from sqlalchemy import (
    REAL,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    any_,
    case,
    cast,
    func,
    literal,
    not_,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG, TSVECTOR
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from portal.config import LANGUAGES
from portal.search.base import (
    WORD,
    Hit,
    SearchBackend,
    SearchDocument,
    SearchQuery,
    SearchResults,
    SearchUnavailable,
    query_parts,
)

log = logging.getLogger(__name__)

# The tables of this backend: created by migration 0015 on PostgreSQL only, and not
# models (SQLite has no tsvector), so the schema comparison leaves them out.
TABLES = ("search_documents", "search_vocabulary")
_tables = MetaData()
documents = Table(
    "search_documents", _tables,
    Column("doc_id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("locale", String(8), nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("department", String(100), nullable=False),
    Column("tags", ARRAY(Text), nullable=False),
    Column("published_at", DateTime(timezone=True)),
    Column("words", ARRAY(Text), nullable=False),  # distinct folded words, for spelling
    Column("search", TSVECTOR, nullable=False),  # title A, summary B, body C
    Column("heading", TSVECTOR, nullable=False),  # title A, summary B
)
OTHER_LANGUAGE_WEIGHT = 0.5
# ts_rank's weights for D, C, B, A: a word in the title weighs three times one in the
# body, a word in the summary one and a half times (the Whoosh backend's boosts).
RANK_WEIGHTS = [0.1, 0.33, 0.5, 1.0]
# ts_headline marks the matches with these; the text is escaped and they become <mark>.
START, STOP = "\ue000", "\ue001"
HEADLINE = (f"StartSel={START}, StopSel={STOP}, MaxWords=40, MinWords=15, ShortWord=2, "
            "MaxFragments=2, FragmentDelimiter=\" … \"")
FACET_SAMPLE = 100  # as in the Whoosh backend: facets of the best matches
# Every match is counted up to COUNT_CAP (beyond, the total is "more than"), and at most
# SCAN_LIMIT are ranked: those with the words in their title or summary first (their own
# small tsvector and GIN index), then the newest of the others. Ranking every match of a
# common word read tens of thousands of tsvectors: 0.8 s at 100,000 articles.
COUNT_CAP = 1000
SCAN_LIMIT = 300
SHORTEST_CORRECTED = 4  # folded words this long or shorter are never "corrected"
BATCH = 500  # documents per INSERT when rebuilding


def include_object(item, name, type_, reflected, compare_to) -> bool:
    """For Alembic's comparison of the models with the database: this backend's tables
    are not models, and are left out (migrations/env.py)."""
    return not (type_ == "table" and name in TABLES)


def configuration(locale: str) -> str:
    """The text search configuration of a portal language (migration 0015)."""
    return f"portal_{locale if locale in LANGUAGES else 'es'}"


def fold(word: str) -> str:
    """Lower-cased, without accents: as ``unaccent`` leaves a word."""
    word = word.lower()
    if word.isascii():
        return word
    return "".join(character for character in unicodedata.normalize("NFKD", word)
                   if not unicodedata.combining(character))


def _words(*texts: str) -> list[str]:
    """A document's distinct folded words, for the vocabulary behind "did you mean"."""
    return sorted({fold(word) for value in texts for word in WORD.findall(value)
                   if len(word) > SHORTEST_CORRECTED - 1 and not word.isdigit()})


def _clean(value: str) -> str:
    # The marks ts_headline puts around matches must not occur in the text itself.
    return value.replace(START, "").replace(STOP, "")


_UPSERT = text("""
    INSERT INTO search_documents (doc_id, kind, locale, title, summary, body, url,
                                  department, tags, published_at, words, search, heading)
    SELECT :doc_id, :kind, :locale, :title, :summary, :body, :url, :department,
           CAST(:tags AS text[]), :published_at, CAST(:words AS text[]),
           heading || setweight(to_tsvector(CAST(:config AS regconfig), :body), 'C'), heading
    FROM (SELECT setweight(to_tsvector(CAST(:config AS regconfig), :title), 'A')
                 || setweight(to_tsvector(CAST(:config AS regconfig), :summary), 'B')
                 AS heading) AS parts
    ON CONFLICT (doc_id) DO UPDATE SET
        kind = excluded.kind, locale = excluded.locale, title = excluded.title,
        summary = excluded.summary, body = excluded.body, url = excluded.url,
        department = excluded.department, tags = excluded.tags,
        published_at = excluded.published_at, words = excluded.words,
        search = excluded.search, heading = excluded.heading
""")

# The vocabulary counts the documents that have each word; these keep it in step.
_FORGET_WORDS = text("""
    WITH gone AS (SELECT unnest(words) AS word, count(*) AS documents
                  FROM search_documents WHERE doc_id = ANY(:doc_ids) GROUP BY 1)
    UPDATE search_vocabulary AS vocabulary SET documents = vocabulary.documents - gone.documents
    FROM gone WHERE vocabulary.word = gone.word
""")
_LEARN_WORDS = text("""
    INSERT INTO search_vocabulary (word, documents)
    SELECT word, count(*) FROM search_documents, unnest(words) AS word
    WHERE doc_id = ANY(:doc_ids) GROUP BY word
    ON CONFLICT (word) DO UPDATE SET documents = search_vocabulary.documents
                                                 + excluded.documents
""")


class PostgresBackend(SearchBackend):
    name = "postgresql"
    transactional = True

    def __init__(self, session: Callable[[], Session]) -> None:
        # The session whose transaction the writes join (the app's db.session).
        self._session = session
        self._counts_lock = threading.Lock()
        self.fallbacks = 0
        self.failures = 0

    # ------------------------------------------------------------ writing

    def _execute(self, statement, parameters=None):
        try:
            return self._session().execute(statement, parameters or {})
        except SQLAlchemyError as error:
            raise SearchUnavailable(f"PostgreSQL search: {type(error).__name__}") from error

    @staticmethod
    def _row(document: SearchDocument) -> dict[str, Any]:
        locale = document.locale if document.locale in LANGUAGES else "es"
        title, summary, body = (_clean(document.title), _clean(document.summary),
                                _clean(document.body))
        return {"doc_id": document.doc_id, "kind": document.kind, "locale": locale,
                "title": title, "summary": summary, "body": body, "url": document.url,
                "department": document.department, "tags": list(document.tags),
                "published_at": document.published_at,
                "words": _words(title, summary, body), "config": configuration(locale)}

    def index(self, documents: Iterable[SearchDocument]) -> None:
        rows = [self._row(document) for document in documents]
        if not rows:
            return
        doc_ids = [row["doc_id"] for row in rows]
        self._execute(_FORGET_WORDS, {"doc_ids": doc_ids})
        self._execute(_UPSERT, rows)
        self._execute(_LEARN_WORDS, {"doc_ids": doc_ids})
        self._execute(text("DELETE FROM search_vocabulary WHERE documents <= 0"))

    def delete(self, doc_ids: Iterable[str]) -> None:
        doc_ids = list(doc_ids)
        if not doc_ids:
            return
        self._execute(_FORGET_WORDS, {"doc_ids": doc_ids})
        self._execute(text("DELETE FROM search_documents WHERE doc_id = ANY(:doc_ids)"),
                      {"doc_ids": doc_ids})
        self._execute(text("DELETE FROM search_vocabulary WHERE documents <= 0"))

    def rebuild(self, documents: Iterable[SearchDocument],
                progress: Callable[[int], None] | None = None,
                if_missing: bool = False) -> int | None:
        # The table always exists (a migration made it): there is never an index missing.
        if if_missing:
            return None
        self._execute(text("DELETE FROM search_documents"))
        self._execute(text("DELETE FROM search_vocabulary"))
        count = 0
        for batch in _batches(documents, BATCH):
            self._execute(_UPSERT, [self._row(document) for document in batch])
            count += len(batch)
            if progress:
                progress(len(batch))
        self._execute(text("""
            INSERT INTO search_vocabulary (word, documents)
            SELECT word, count(*) FROM search_documents, unnest(words) AS word GROUP BY word
        """))
        return count

    # ------------------------------------------------------------ searching

    @staticmethod
    def _tsquery(parts: list[str], locale: str, any_word: bool):
        """The query: each part in the reader's language or in Spanish, all of them
        (``&&``) or any (``||``). phraseto_tsquery keeps a phrase's word order and drops
        stop words; a part that is only stop words is an empty query, which PostgreSQL
        leaves out of ``&&`` and ``||`` (and ``numnode`` is 0 when all are)."""
        languages = [locale] + ([] if locale == "es" else ["es"])
        terms = []
        for part in parts:
            choices = [func.phraseto_tsquery(cast(configuration(language), REGCONFIG), part)
                       for language in languages]
            terms.append(functools.reduce(lambda left, right: left.op("||")(right), choices))
        return functools.reduce(lambda left, right: left.op("||" if any_word else "&&")(right),
                                terms)

    def _asked(self, parts: list[str], locale: str, any_word: bool):
        return select(self._tsquery(parts, locale, any_word).label("query")).subquery("asked")

    @staticmethod
    def _filters(query: SearchQuery) -> list:
        conditions = []
        if not {"article", "idea"} <= set(query.kinds):
            conditions.append(documents.c.kind.in_(query.kinds))
        if query.department:
            conditions.append(documents.c.department == query.department)
        if query.tag:
            conditions.append(literal(query.tag.lower()) == any_(documents.c.tags))
        return conditions

    def _where(self, asked, query: SearchQuery, column=None) -> list:
        column = documents.c.search if column is None else column
        return [func.numnode(asked.c.query) > 0, column.op("@@")(asked.c.query),
                *self._filters(query)]

    def _count(self, asked, query: SearchQuery) -> int:
        capped = select(literal(1)).select_from(documents).join(asked, true()).where(
            *self._where(asked, query)).limit(COUNT_CAP).subquery()
        return self._execute(select(func.count()).select_from(capped)).scalar_one()

    def _candidates(self, asked, query: SearchQuery, total: int) -> list[str] | None:
        """The documents to rank when there are more than SCAN_LIMIT (None: all)."""
        if total <= SCAN_LIMIT:
            return None
        heading_rank = func.ts_rank(literal(RANK_WEIGHTS, ARRAY(REAL)), documents.c.heading,
                                    asked.c.query)
        chosen = list(self._execute(select(documents.c.doc_id).select_from(documents).join(
            asked, true()).where(*self._where(asked, query, documents.c.heading)).order_by(
            heading_rank.desc(), documents.c.doc_id).limit(SCAN_LIMIT)).scalars())
        if len(chosen) < SCAN_LIMIT:
            chosen += self._execute(select(documents.c.doc_id).select_from(documents).join(
                asked, true()).where(
                *self._where(asked, query),
                not_(documents.c.heading.op("@@", is_comparison=True)(asked.c.query))
            ).order_by(
                documents.c.published_at.desc().nulls_last(), documents.c.doc_id).limit(
                SCAN_LIMIT - len(chosen))).scalars().all()
        return chosen

    def _ranked(self, asked, query: SearchQuery, locale: str, candidates: list[str] | None):
        """The matches (or ``candidates``), best first, with their score."""
        rank = func.ts_rank(literal(RANK_WEIGHTS, ARRAY(REAL)), documents.c.search,
                            asked.c.query) * case((documents.c.locale == locale, 1.0),
                                                  else_=OTHER_LANGUAGE_WEIGHT)
        conditions = (self._where(asked, query) if candidates is None
                      else [documents.c.doc_id.in_(candidates)])
        return select(documents.c.doc_id, documents.c.published_at, rank.label("score")
                      ).select_from(documents).join(asked, true()).where(*conditions).order_by(
            rank.desc(), documents.c.published_at.desc().nulls_last(), documents.c.doc_id)

    def search(self, query: SearchQuery) -> SearchResults:
        locale = query.locale if query.locale in LANGUAGES else "es"
        # One-letter words are left out, as the Whoosh analyzer leaves them out.
        parts = [part for part in query_parts(query.text) if len(part) > 1]
        page = max(1, query.page)
        if not parts:
            return SearchResults(hits=[], total=0, page=page, per_page=query.per_page)
        try:
            # All the words first; any of them when that finds nothing, as Whoosh does.
            for any_word in (False, True) if len(parts) > 1 else (False,):
                asked = self._asked(parts, locale, any_word)
                total = self._count(asked, query)
                if total:
                    break
            if not total:
                return SearchResults(hits=[], total=0, page=page, per_page=query.per_page,
                                     suggestion=self._suggestion(query.text, locale))
            candidates = self._candidates(asked, query, total)
            reachable = None if candidates is None else len(candidates)
            shown = total if reachable is None else min(total, reachable)
            # A page past the last one (an old link, an edited address) shows the last.
            page = min(page, max(1, -(-shown // query.per_page)))
            wanted = max(page * query.per_page, FACET_SAMPLE)
            top = self._execute(self._ranked(asked, query, locale, candidates).limit(
                wanted)).all()
            scores = {row.doc_id: float(row.score) for row in top}
            page_ids = [row.doc_id for row in top[(page - 1) * query.per_page:
                                                   page * query.per_page]]
            hits = self._hits(asked, page_ids, scores)
            facets = self._facets([row.doc_id for row in top[:FACET_SAMPLE]])
            suggestion = self._suggestion(query.text, locale) if total < 3 else None
        except SearchUnavailable:
            with self._counts_lock:
                self.fallbacks += 1
                self.failures += 1
            log.exception("PostgreSQL search failed; answering from the articles table")
            raise
        return SearchResults(hits=hits, total=total, page=page, per_page=query.per_page,
                             facets=facets, suggestion=suggestion,
                             exact_total=total < COUNT_CAP, reachable=reachable)

    def _hits(self, asked, doc_ids: list[str], scores: dict[str, float]) -> list[Hit]:
        # Headlines only for the page shown: ts_headline reads the whole body.
        headline = func.ts_headline(cast("portal_" + documents.c.locale, REGCONFIG),
                                    documents.c.body, asked.c.query, HEADLINE)
        rows = {row.doc_id: row for row in self._execute(select(
            documents.c.doc_id, documents.c.kind, documents.c.title, documents.c.url,
            documents.c.locale, documents.c.department, documents.c.tags,
            documents.c.summary, headline.label("headline")).select_from(documents).join(
            asked, true()).where(documents.c.doc_id.in_(doc_ids))).all()}
        return [Hit(doc_id=row.doc_id, kind=row.kind, title=row.title, url=row.url,
                    snippet=_snippet(row.headline, row.summary or row.headline),
                    locale=row.locale, department=row.department, tags=tuple(row.tags),
                    score=scores[row.doc_id])
                for row in (rows[doc_id] for doc_id in doc_ids)]

    def _facets(self, doc_ids: list[str]) -> dict[str, dict[str, int]]:
        """Departments and tags among the best ``FACET_SAMPLE`` matches (as Whoosh)."""
        facets: dict[str, dict[str, int]] = {"department": {}, "tags": {}}
        for department, tags in self._execute(select(
                documents.c.department, documents.c.tags).where(
                documents.c.doc_id.in_(doc_ids))).all():
            if department:
                facets["department"][department] = facets["department"].get(department, 0) + 1
            for tag in tags:
                facets["tags"][tag] = facets["tags"].get(tag, 0) + 1
        return facets

    def _suggestion(self, query_text: str, locale: str) -> str | None:
        """Correct the words that are in no document, as the Whoosh backend does: the
        nearest by edit distance (more edits allowed in longer words), then the word
        the most documents have."""
        changed, words = False, []
        for word in WORD.findall(query_text):
            folded = fold(word)
            correction = None
            if len(folded) > SHORTEST_CORRECTED - 1 and not self._known(folded, locale):
                correction = self._correct(folded)
            words.append(correction or word)
            changed = changed or correction is not None
        return " ".join(words) if changed else None

    def _known(self, folded: str, locale: str) -> bool:
        if self._execute(text("SELECT 1 FROM search_vocabulary WHERE word = :word"),
                         {"word": folded}).first():
            return True
        # A form of a word the documents have ("empadronarme"): its stem matches.
        asked = self._asked([folded], locale, any_word=False)
        return bool(self._execute(select(literal(1)).select_from(documents).join(
            asked, true()).where(*self._where(asked, SearchQuery(text=folded))).limit(1)
        ).first())

    def _correct(self, folded: str) -> str | None:
        most = 1 if len(folded) <= 5 else 2
        candidates = self._execute(text("""
            SELECT word, documents FROM search_vocabulary
            WHERE word % :word ORDER BY word <-> :word LIMIT 20
        """), {"word": folded}).all()
        close = [(OSA.distance(folded, word), -documents, word)
                 for word, documents in candidates if word != folded]
        close = [choice for choice in close if choice[0] <= most]
        return min(close)[2] if close else None

    # ------------------------------------------------------------ health

    def status(self) -> dict[str, Any]:
        health: dict[str, Any] = {"backend": self.name}
        try:
            documents = self._execute(text("SELECT count(*) FROM search_documents")).scalar_one()
            health.update(status="ok", documents=documents)
        except SearchUnavailable as error:
            self._session().rollback()
            health.update(status="error", error=str(error))
        with self._counts_lock:
            health.update(degraded=health["status"] != "ok", fallbacks=self.fallbacks,
                          failures=self.failures)
        return health

    def close(self) -> None:
        """Nothing of its own to release: it uses the app's database connections."""


def _snippet(headline: str, fallback: str) -> Markup:
    if START not in headline:
        headline = fallback
    escaped = html.escape(headline, quote=False)
    # Every piece of text was escaped above; only the marks are markup.
    return Markup(escaped.replace(START, "<mark>").replace(STOP, "</mark>"))  # noqa: S704


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch

