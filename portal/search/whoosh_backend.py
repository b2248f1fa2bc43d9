"""Whoosh, the embedded default search backend. Only this module imports whoosh.

Per-language analysis: text is lower-cased and accent-folded (so ``informacion`` finds
``información``), stop words are dropped and words are stemmed with the language's
Snowball stemmer where Whoosh has one (Spanish, English; Galician uses the Portuguese
one, its nearest relative; Catalan and Basque are folded but not stemmed). Each
language has its own title and body fields; a query is analysed like the fields it
searches: the reader's language first, then Spanish, the language most content is in.

Speed (DESIGN.md §3): opening a searcher copies index files, so each thread keeps one
and only opens a new one when the index has changed; the bulk writer indexes in one
segment with a large memory buffer.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape
from whoosh import highlight, index, scoring
from whoosh.analysis import CharsetFilter, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema
from whoosh.lang import stemmer_for_language, stopwords_for_language
from whoosh.qparser import AndGroup, MultifieldParser, OrGroup
from whoosh.query import And, Or, Term
from whoosh.support.charset import accent_map
from whoosh.writing import LockError

from portal.search.base import (
    Hit,
    SearchBackend,
    SearchDocument,
    SearchQuery,
    SearchResults,
    SearchUnavailable,
)

log = logging.getLogger(__name__)

LANGUAGES = ("es", "en", "ca", "eu", "gl")
# Whoosh's Snowball stemmer used for each portal language (None: fold only).
STEMMERS = {"es": "es", "en": "en", "gl": "pt", "ca": None, "eu": None}
TITLE_BOOST = 3.0
SUMMARY_BOOST = 1.5
OTHER_LANGUAGE_WEIGHT = 0.5
WORD = re.compile(r"\w+", re.UNICODE)
RETRY_AFTER = 30.0  # seconds
FACET_SAMPLE = 200  # facets count the departments and tags of the best matches
SNIPPET_SOURCE = 2000  # characters of each body kept for highlighted snippets


def fold(text: str) -> str:
    return text.lower().translate(accent_map)


def analyzer_for(language: str):
    chain = RegexTokenizer() | LowercaseFilter() | CharsetFilter(accent_map)
    stem_language = STEMMERS[language]
    if stem_language:
        stop_words = [fold(word) for word in stopwords_for_language(stem_language)]
        chain = chain | StopFilter(stoplist=stop_words, minsize=2) | StemFilter(
            stemfn=stemmer_for_language(stem_language), cachesize=100_000)
    return chain


def build_schema() -> Schema:
    fields: dict[str, Any] = {
        "doc_id": ID(stored=True, unique=True),
        "kind": ID(stored=True),
        "locale": ID(stored=True),
        "department": ID(stored=True, sortable=True),
        "tags": KEYWORD(stored=True, commas=True, lowercase=True, scorable=False),
        # The same tags as one column value: facets read columns, not stored documents.
        "tag_list": ID(sortable=True),
        "url": STORED,
        "title": STORED,
        "body": STORED,
        "summary": STORED,
        # Unstemmed, folded words of every document: the vocabulary for "did you mean".
        "spell": TEXT(analyzer=RegexTokenizer() | LowercaseFilter() | CharsetFilter(accent_map),
                      spelling=True, phrase=False),
    }
    for language in LANGUAGES:
        analyzer = analyzer_for(language)
        fields[f"title_{language}"] = TEXT(analyzer=analyzer, field_boost=TITLE_BOOST)
        fields[f"summary_{language}"] = TEXT(analyzer=analyzer, field_boost=SUMMARY_BOOST)
        fields[f"body_{language}"] = TEXT(analyzer=analyzer)
    return Schema(**fields)


class _Marks(highlight.Formatter):
    """Escaped snippet text with <mark> around the words that matched."""

    between = " … "

    def format_token(self, text, token, replace=False):
        return f"<mark>{escape(highlight.get_text(text, token, replace))}</mark>"

    def format_fragment(self, fragment, replace=False):
        output = []
        index_ = fragment.startchar
        text = fragment.text
        for token in fragment.matches:
            if token.startchar < index_:
                continue
            output.append(str(escape(text[index_:token.startchar])))
            output.append(self.format_token(text, token, replace))
            index_ = token.endchar
        output.append(str(escape(text[index_:fragment.endchar])))
        return "".join(output)


def _clean_query(text: str) -> str:
    """Keep words and double-quoted phrases; drop query syntax a citizen never means."""
    phrases = re.findall(r'"([^"]+)"', text)
    rest = re.sub(r'"[^"]*"', " ", text)
    words = WORD.findall(rest)
    parts = [f'"{" ".join(WORD.findall(phrase))}"' for phrase in phrases
             if WORD.findall(phrase)]
    return " ".join(parts + words)


class WhooshBackend(SearchBackend):
    name = "whoosh"

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.schema = build_schema()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._index = None
        # After a failure, wait before touching the files again: a damaged segment leaks
        # a file handle inside Whoosh on every attempt to open it.
        self._failed_at: float | None = None

    # ------------------------------------------------------------ index files

    def _open(self):
        with self._lock:
            if self._index is None:
                if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_AFTER:
                    raise SearchUnavailable("recently failed")
                try:
                    if not index.exists_in(self.path):
                        raise SearchUnavailable("missing")
                    self._index = index.open_dir(self.path, schema=self.schema)
                    self._failed_at = None
                except SearchUnavailable:
                    raise
                except Exception as error:  # corrupt files raise plain struct/OS errors
                    self._failed_at = time.monotonic()
                    raise SearchUnavailable(type(error).__name__) from error
            return self._index

    def _searcher(self):
        searcher = getattr(self._local, "searcher", None)
        try:
            if searcher is None:
                searcher = self._open().searcher(weighting=scoring.BM25F())
            elif not searcher.up_to_date():
                # Not searcher.refresh(): it reuses segment readers by segment id and so
                # misses deletions made in a segment it already had open.
                searcher.close()
                searcher = self._open().searcher(weighting=scoring.BM25F())
        except SearchUnavailable:
            raise
        except Exception as error:
            self.close()
            self._failed_at = time.monotonic()
            raise SearchUnavailable(type(error).__name__) from error
        self._local.searcher = searcher
        return searcher

    def close(self) -> None:
        searcher = getattr(self._local, "searcher", None)
        if searcher is not None:
            searcher.close()
            self._local.searcher = None
        with self._lock:
            if self._index is not None:
                self._index.close()
                self._index = None

    # ------------------------------------------------------------ writing

    def _fields(self, document: SearchDocument) -> dict[str, Any]:
        language = document.locale if document.locale in LANGUAGES else "es"
        return {
            "doc_id": document.doc_id, "kind": document.kind, "locale": language,
            "department": document.department or "", "tags": ",".join(document.tags),
            "tag_list": ",".join(document.tags),
            # Only the start of the body is kept for snippets: reading stored fields is
            # a large part of the cost of a results page.
            "url": document.url, "title": document.title, "body": document.body[:SNIPPET_SOURCE],
            "summary": document.summary,
            "spell": f"{document.title} {document.summary} {document.body}",
            f"title_{language}": document.title,
            f"summary_{language}": document.summary,
            f"body_{language}": document.body,
        }

    def index(self, documents: Iterable[SearchDocument]) -> None:
        try:
            writer = self._open().writer(timeout=5.0)
        except LockError as error:
            raise SearchUnavailable("locked") from error
        try:
            for document in documents:
                writer.update_document(**self._fields(document))
            writer.commit()
        except BaseException:
            writer.cancel()
            raise

    def delete(self, doc_ids: Iterable[str]) -> None:
        try:
            writer = self._open().writer(timeout=5.0)
        except LockError as error:
            raise SearchUnavailable("locked") from error
        for doc_id in doc_ids:
            writer.delete_by_term("doc_id", doc_id)
        writer.commit()

    def rebuild(self, documents: Iterable[SearchDocument],
                progress: Callable[[int], None] | None = None) -> int:
        """Build a fresh index beside the old one, then swap it in."""
        self.close()
        self._failed_at = None
        fresh = self.path.with_name(self.path.name + ".new")
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        new_index = index.create_in(fresh, self.schema)
        # One segment, a big buffer, no merging: several times faster than the default.
        writer = new_index.writer(limitmb=256, procs=1, multisegment=False)
        count = 0
        for document in documents:
            writer.add_document(**self._fields(document))
            count += 1
            if progress is not None:
                progress(1)
        writer.commit(optimize=False)
        new_index.close()
        old = self.path.with_name(self.path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.path.exists():
            self.path.rename(old)
        fresh.rename(self.path)
        shutil.rmtree(old, ignore_errors=True)
        return count

    # ------------------------------------------------------------ reading

    def _parser(self, locale: str, group=AndGroup) -> MultifieldParser:
        languages = [locale] + ([] if locale == "es" else ["es"])
        fields, boosts = [], {}
        for position, language in enumerate(languages):
            weight = 1.0 if position == 0 else OTHER_LANGUAGE_WEIGHT
            for name, boost in (("title", TITLE_BOOST), ("summary", SUMMARY_BOOST),
                                ("body", 1.0)):
                fields.append(f"{name}_{language}")
                boosts[f"{name}_{language}"] = boost * weight
        return MultifieldParser(fields, self.schema, fieldboosts=boosts, group=group)

    def _filter(self, query: SearchQuery):
        """None when nothing narrows the search: a filter costs time in proportion to the
        index size, and every document is an article or an idea."""
        terms = []
        if not {"article", "idea"} <= set(query.kinds):
            terms.append(Or([Term("kind", kind) for kind in query.kinds]))
        if query.department:
            terms.append(Term("department", query.department))
        if query.tag:
            terms.append(Term("tags", query.tag.lower()))
        return And(terms) if terms else None

    def _suggestion(self, searcher, text: str, parser) -> str | None:
        """Correct the words that match nothing at all, even once stemmed."""
        corrector = searcher.corrector("spell")
        changed = False
        words = []
        for word in WORD.findall(text):
            folded = fold(word)
            unknown = (len(folded) > 3 and not searcher.reader().frequency("spell", folded)
                       and searcher.search(parser.parse(word), limit=1).is_empty())
            if unknown:
                suggestions = corrector.suggest(folded, limit=1, maxdist=2)
                if suggestions:
                    words.append(suggestions[0])
                    changed = True
                    continue
            words.append(word)
        return " ".join(words) if changed else None

    def search(self, query: SearchQuery) -> SearchResults:
        locale = query.locale if query.locale in LANGUAGES else "es"
        text = _clean_query(query.text)
        if not text:
            return SearchResults(hits=[], total=0, page=1, per_page=query.per_page)
        try:
            searcher = self._searcher()
            page = max(1, query.page)
            wanted = page * query.per_page
            # All the words first (fast: intersections, few matches); any of them when
            # that finds nothing, so a long question still gets the closest answers.
            for group in (AndGroup, OrGroup.factory(0.9)):
                parser = self._parser(locale, group)
                results = searcher.search(parser.parse(text), filter=self._filter(query),
                                          limit=max(wanted, FACET_SAMPLE))
                if not results.is_empty():
                    break
            results.fragmenter = highlight.ContextFragmenter(maxchars=220, surround=60)
            results.formatter = _Marks()
            hits = []
            for hit in results[(page - 1) * query.per_page: wanted]:
                language = hit["locale"]
                # Our formatter escapes every piece of text it emits (see _Marks).
                snippet = Markup(hit.highlights(f"body_{language}", text=hit["body"],  # noqa: S704
                                                top=2)) or escape(hit["summary"] or
                                                                   hit["body"][:200])
                hits.append(Hit(
                    doc_id=hit["doc_id"], kind=hit["kind"], title=hit["title"], url=hit["url"],
                    snippet=snippet, locale=language, department=hit["department"],
                    tags=tuple(tag for tag in hit["tags"].split(",") if tag),
                    score=hit.score or 0.0))
            total = len(results)
            # Offer a correction only when the words found little: a rare but right
            # word ("empadronarme") should not be second-guessed.
            suggestion = self._suggestion(searcher, query.text, parser) if total < 3 else None
            return SearchResults(hits=hits, total=total, page=page, per_page=query.per_page,
                                 facets=self._facets(results), suggestion=suggestion)
        except SearchUnavailable:
            raise
        except Exception as error:  # a damaged segment surfaces as struct.error and kin
            log.warning("search index unavailable: %s", type(error).__name__)
            self.close()
            self._failed_at = time.monotonic()
            raise SearchUnavailable(type(error).__name__) from error

    @staticmethod
    def _facets(results) -> dict[str, dict[str, int]]:
        """Departments and tags among the best ``FACET_SAMPLE`` matches.

        Counting every match (tens of thousands for a common word) cost ten times the
        search itself; the best few hundred are what a reader narrows down anyway.
        """
        reader = results.searcher.reader()
        department_column = reader.column_reader("department")
        tag_column = reader.column_reader("tag_list")
        departments: dict[str, int] = {}
        tags: dict[str, int] = {}
        for _score, docnum in results.top_n[:FACET_SAMPLE]:
            department = department_column[docnum]
            if department:
                departments[department] = departments.get(department, 0) + 1
            for tag in filter(None, tag_column[docnum].split(",")):
                tags[tag] = tags.get(tag, 0) + 1
        return {"department": departments, "tags": tags}

    def status(self) -> dict[str, Any]:
        if not index.exists_in(self.path):
            return {"backend": self.name, "status": "missing"}
        try:
            documents = self._searcher().doc_count()
        except SearchUnavailable as error:
            return {"backend": self.name, "status": "error", "error": str(error)}
        return {"backend": self.name, "status": "ok", "documents": documents}
