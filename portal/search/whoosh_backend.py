"""Whoosh, the embedded default search backend. Only this module imports whoosh.

Per-language analysis: text is lower-cased and accent-folded (so ``informacion`` finds
``información``), stop words are dropped and words are stemmed with the language's
Snowball stemmer where Whoosh has one (Spanish, English; Galician uses the Portuguese
one, its nearest relative; Catalan and Basque are folded but not stemmed). Each
language has its own title and body fields; a query is analysed like the fields it
searches: the reader's language first, then Spanish, the language most content is in.

Speed (DESIGN.md §3): opening a searcher copies index files, so each thread keeps one
and only opens a new one when the index has changed; the bulk writer indexes in several
processes with a large memory buffer; a very common word gets bounded scoring (search).
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape
from whoosh import highlight, index, scoring
from whoosh.analysis import DelimitedAttributeFilter, SpaceSeparatedTokenizer, Token, Tokenizer
from whoosh.analysis.tokenizers import default_pattern as TOKEN
from whoosh.codec.whoosh3 import W3Codec
from whoosh.collectors import WrappingCollector
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
WHOLE = re.compile(r"\A.*\Z", re.DOTALL)  # the whole value as one token (tokenize=False)
RETRY_AFTER = 30.0  # seconds
FACET_SAMPLE = 100  # facets count the departments and tags of the best matches
# Up to this many possible matches every one is scored and counted; beyond it, scoring
# is bounded to the first SCAN_LIMIT matches of the titles, then of the bodies.
EXACT_LIMIT = 2000
SCAN_LIMIT = 500
SNIPPET_SOURCE = 2000  # characters of each body kept for highlighted snippets
VOCABULARY = "vocabulary"  # the kind of the entries that hold shared spelling words
# Posting blocks are left uncompressed: zlib cost more time writing and reading them than
# the disk it saved was worth.
COMPRESSION = 0
VOCABULARY_CHUNK = 5000  # words per vocabulary entry
# Bulk indexing runs in this many processes, each writing its own segment.
BULK_PROCESSES = max(1, min(4, os.cpu_count() or 1))
BULK_MEMORY_MB = 1024  # per process: postings sorted in memory, not in temporary runs


def fold(text: str) -> str:
    text = text.lower()
    return text if text.isascii() else text.translate(accent_map)


class LanguageAnalyzer(Tokenizer):
    """Words, lower-cased and accent-folded, stop words dropped and stemmed, in one pass.

    The same tokens as ``RegexTokenizer | LowercaseFilter | CharsetFilter(accent_map) |
    StopFilter(minsize=2) | StemFilter``, positions renumbered past stop words as
    StopFilter does; fused because passing each token through five generators was most
    of the cost of indexing. Languages without a stemmer are folded only.
    """

    def __init__(self, language: str) -> None:
        self.language = language
        stem_language = STEMMERS[language]
        self.is_morph = stem_language is not None
        self._stops = frozenset(fold(word) for word in stopwords_for_language(stem_language)
                                ) if stem_language else frozenset()
        self._stemmer = stemmer_for_language(stem_language) if stem_language else None
        self._stems: dict[str, str] = {}

    def __eq__(self, other) -> bool:
        return self.__class__ is other.__class__ and self.language == other.language

    def __hash__(self) -> int:
        return hash((self.__class__, self.language))

    def __getstate__(self) -> dict[str, Any]:
        # Whoosh pickles the schema into the index; the stem cache stays out of it.
        return {"language": self.language}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["language"])

    def _stem(self, word: str) -> str:
        stem = self._stems.get(word)
        if stem is None:
            if len(self._stems) > 200_000:
                self._stems.clear()
            stem = self._stems[word] = self._stemmer(word)
        return stem

    def __call__(self, value, positions=False, chars=False, keeporiginal=False,
                 removestops=True, start_pos=0, start_char=0, tokenize=True, mode="",
                 **kwargs):
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        stops = self._stops
        stemming = self._stemmer is not None
        position = None
        matches = (TOKEN if tokenize else WHOLE).finditer(value)
        for number, match in enumerate(matches):
            original = match.group(0)
            text = fold(original)
            stopped = stemming and (len(text) < 2 or text in stops)
            if stopped and removestops:
                continue
            token.stopped = stopped
            token.text = text if stopped or not stemming else self._stem(text)
            token.boost = 1.0
            if keeporiginal:
                token.original = original
            if positions:
                if stopped or not stemming:
                    token.pos = start_pos + number
                else:  # numbered as StopFilter renumbers: one after the last kept word
                    position = start_pos + number if position is None else position + 1
                    token.pos = position
            if chars:
                token.startchar = start_char + match.start()
                token.endchar = start_char + match.end()
            yield token


# The spelling vocabulary: folded words with their counts as "word^count", so that a
# whole corpus's vocabulary can be stored in a few documents (see rebuild).
SPELLING_ANALYZER = SpaceSeparatedTokenizer() | DelimitedAttributeFilter("^", "boost", 1.0, float)


def vocabulary(*texts: str) -> Counter[str]:
    """Folded words and how often each occurs (words are folded once each, not the text)."""
    words: Counter[str] = Counter()
    for word, count in Counter(WORD.findall(" ".join(texts).lower())).items():
        words[word if word.isascii() else word.translate(accent_map)] += count
    return words


def spelling_value(words: Counter[str] | list[tuple[str, int]]) -> str:
    items = words.items() if isinstance(words, Counter) else words
    return " ".join(f"{word}^{count}" for word, count in items)


def build_schema() -> Schema:
    fields: dict[str, Any] = {
        "doc_id": ID(stored=True, unique=True),
        "kind": ID(stored=True),
        "locale": STORED,
        "department": ID(stored=True, sortable=True),
        "tags": KEYWORD(stored=True, commas=True, lowercase=True, scorable=False),
        # The same tags as one column value: facets read columns, not stored documents.
        "tag_list": ID(sortable=True),
        "url": STORED,
        "title": STORED,
        "body": STORED,
        "summary": STORED,
        # Unstemmed, folded words with their counts: the vocabulary for "did you mean".
        "spell": TEXT(analyzer=SPELLING_ANALYZER, spelling=True, phrase=False),
    }
    for language in LANGUAGES:
        analyzer = LanguageAnalyzer(language)
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


class _Bounded(WrappingCollector):
    """Stops collecting after ``most`` matches (counted across segments)."""

    def __init__(self, child, most: int) -> None:
        super().__init__(child)
        self.most = most
        self.collected = 0

    def collect_matches(self):
        for sub_docnum in self.child.matches():
            self.child.collect(sub_docnum)
            self.collected += 1
            if self.collected >= self.most:
                break


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

    def _fields(self, document: SearchDocument, spelling: str | None = None) -> dict[str, Any]:
        """The stored and indexed fields of ``document``; by default its words join the
        spelling vocabulary (rebuild stores that vocabulary separately)."""
        language = document.locale if document.locale in LANGUAGES else "es"
        if spelling is None:
            spelling = spelling_value(vocabulary(document.title, document.summary,
                                                 document.body))
        return {
            "doc_id": document.doc_id, "kind": document.kind, "locale": language,
            "department": document.department or "", "tags": ",".join(document.tags),
            "tag_list": ",".join(document.tags),
            # Only the start of the body is kept for snippets: reading stored fields is
            # a large part of the cost of a results page.
            "url": document.url, "title": document.title, "body": document.body[:SNIPPET_SOURCE],
            "summary": document.summary, "spell": spelling,
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
        """Build a fresh index beside the old one, then swap it in.

        Documents are indexed by ``BULK_PROCESSES`` processes, one segment each. The
        spelling vocabulary is stored once for the whole corpus, not once per document
        (that was half of all postings), in a few "vocabulary" entries; like a spelling
        checker's minimum frequency, it keeps only words that two or more documents use,
        so a word found in just one article (often a typo, or a name) is never offered.
        """
        self.close()
        self._failed_at = None
        fresh = self.path.with_name(self.path.name + ".new")
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        new_index = index.create_in(fresh, self.schema)
        writer = new_index.writer(procs=BULK_PROCESSES, multisegment=True, batchsize=500,
                                  limitmb=BULK_MEMORY_MB, codec=W3Codec(compression=COMPRESSION))
        count = 0
        users: Counter[str] = Counter()  # word -> how many documents use it
        frequency: Counter[str] = Counter()
        try:
            for document in documents:
                # The writer's processes index while this one counts words.
                writer.add_document(**self._fields(document, spelling=""))
                words = vocabulary(document.title, document.summary, document.body)
                users.update(words.keys())
                frequency.update(words)
                count += 1
                if progress is not None:
                    progress(1)
            shared = sorted((word, frequency[word]) for word, used in users.items()
                            if used > 1)
            for start in range(0, len(shared), VOCABULARY_CHUNK):
                writer.add_document(doc_id=f"vocabulary:{start // VOCABULARY_CHUNK}",
                                    kind=VOCABULARY,
                                    spell=spelling_value(shared[start:start + VOCABULARY_CHUNK]))
            writer.commit(optimize=False)
        except BaseException:
            writer.cancel()
            raise
        finally:
            new_index.close()
        old = self.path.with_name(self.path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.path.exists():
            self.path.rename(old)
        fresh.rename(self.path)
        shutil.rmtree(old, ignore_errors=True)
        return count

    # ------------------------------------------------------------ reading

    def _parser(self, locale: str, group=AndGroup,
                names=("title", "summary", "body")) -> MultifieldParser:
        languages = [locale] + ([] if locale == "es" else ["es"])
        boost_of = {"title": TITLE_BOOST, "summary": SUMMARY_BOOST, "body": 1.0}
        fields, boosts = [], {}
        for position, language in enumerate(languages):
            weight = 1.0 if position == 0 else OTHER_LANGUAGE_WEIGHT
            for name in names:
                fields.append(f"{name}_{language}")
                boosts[f"{name}_{language}"] = boost_of[name] * weight
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

    def _known(self, searcher, word: str, locale: str) -> bool:
        """Whether ``word`` is in the index: as written (folded) or, stemmed, in a field
        the search looks at. Lexicon look-ups only; no search."""
        reader = searcher.reader()
        if reader.frequency("spell", fold(word)):
            return True
        for language in {locale, "es"}:
            analyzer = self.schema[f"body_{language}"].analyzer
            for token in analyzer(word):
                if any(reader.doc_frequency(f"{name}_{language}", token.text)
                       for name in ("title", "summary", "body")):
                    return True
        return False

    def _suggestion(self, searcher, text: str, locale: str) -> str | None:
        """Correct the words that match nothing at all, even once stemmed."""
        corrector = searcher.corrector("spell")
        changed = False
        words = []
        for word in WORD.findall(text):
            folded = fold(word)
            if len(folded) > 3 and not self._known(searcher, word, locale):
                suggestions = corrector.suggest(folded, limit=1, maxdist=2)
                if suggestions:
                    words.append(suggestions[0])
                    changed = True
                    continue
            words.append(word)
        return " ".join(words) if changed else None

    def _exact(self, searcher, parsed, query: SearchQuery, limit: int):
        """The best ``limit`` matches [(score, docnum)] and how many match in all."""
        # Every match is scored anyway, so the collector counts them as it goes instead
        # of running the query a second time for the total.
        results = searcher.search(parsed, filter=self._filter(query), limit=limit,
                                  optimize=False)
        return results.top_n, len(results)

    def _bounded(self, searcher, parsed, query: SearchQuery, limit: int):
        """The best ``limit`` of the first ``SCAN_LIMIT`` matches [(score, docnum)]."""
        collector = _Bounded(searcher.collector(limit=limit, filter=self._filter(query)),
                             SCAN_LIMIT)
        searcher.search_with_collector(parsed, collector)
        return collector.results().top_n

    def search(self, query: SearchQuery) -> SearchResults:
        """Ranked, highlighted, faceted results.

        Up to ``EXACT_LIMIT`` possible matches every match is scored, counted and
        faceted. Beyond that (a common word in a large index) scoring is bounded, the
        way search engines do it at scale: title and summary matches first (short
        lists, and the best answers), then body matches until ``SCAN_LIMIT`` matches
        have been scored; the total is then an estimate.
        """
        locale = query.locale if query.locale in LANGUAGES else "es"
        text = _clean_query(query.text)
        if not text:
            return SearchResults(hits=[], total=0, page=1, per_page=query.per_page)
        try:
            searcher = self._searcher()
            page = max(1, query.page)
            wanted = page * query.per_page
            sample = max(wanted, FACET_SAMPLE)
            top: list[tuple[float, int]] = []
            total, reachable = 0, None
            # All the words first (fast: intersections, few matches); any of them when
            # that finds nothing, so a long question still gets the closest answers.
            for group in (AndGroup, OrGroup.factory(0.9)):
                parsed = self._parser(locale, group).parse(text)
                estimate = parsed.estimate_size(searcher.reader())
                if estimate <= EXACT_LIMIT:
                    top, total = self._exact(searcher, parsed, query, sample)
                else:
                    heading = self._parser(locale, group, names=("title", "summary"))
                    top = self._bounded(searcher, heading.parse(text), query, sample)
                    if len(top) < wanted:
                        seen = {docnum for _score, docnum in top}
                        more = self._bounded(searcher, parsed, query, wanted + len(seen))
                        top += [item for item in more if item[1] not in seen]
                    total = max(len(top), self._estimate(searcher, parsed, group))
                    reachable = min(total, SCAN_LIMIT)
                if top:
                    break
            hits = [self._hit(searcher, score, docnum, text)
                    for score, docnum in top[(page - 1) * query.per_page: wanted]]
            # Offer a correction only when the words found little: a rare but right
            # word ("empadronarme") should not be second-guessed.
            suggestion = self._suggestion(searcher, query.text, locale) if total < 3 else None
            return SearchResults(hits=hits, total=total, page=page, per_page=query.per_page,
                                 facets=self._facets(searcher, top[:sample]),
                                 suggestion=suggestion, exact_total=reachable is None,
                                 reachable=reachable)
        except SearchUnavailable:
            raise
        except Exception as error:  # a damaged segment surfaces as struct.error and kin
            log.warning("search index unavailable: %s", type(error).__name__)
            self.close()
            self._failed_at = time.monotonic()
            raise SearchUnavailable(type(error).__name__) from error

    @staticmethod
    def _documents(searcher) -> int:
        # Vocabulary entries are written only by rebuild, never deleted one by one, so
        # their term count is exact.
        return searcher.doc_count() - searcher.doc_frequency("kind", VOCABULARY)

    def _estimate(self, searcher, parsed, group) -> int:
        """Matches expected, the words taken as independent: the product of their shares
        of the index for "all of the words", their sum (capped) for "any of them"."""
        reader = searcher.reader()
        documents = max(1, self._documents(searcher))
        # A word is an Or over the fields searched; the query, an And or Or of words.
        words = [parsed]
        if isinstance(parsed, And | Or) and any(isinstance(sub, Or) for sub in parsed.subqueries):
            words = parsed.subqueries

        def share(word) -> float:
            fields = word.subqueries if isinstance(word, Or) else [word]
            return min(1.0, max(field.estimate_size(reader) for field in fields) / documents)

        shares = [share(word) for word in words]
        if group is AndGroup:
            return int(documents * math.prod(shares))
        return int(documents * min(1.0, sum(shares)))

    def _hit(self, searcher, score: float, docnum: int, text: str) -> Hit:
        stored = searcher.stored_fields(docnum)
        language = stored["locale"]
        snippet = self._snippet(stored, text, language)
        return Hit(doc_id=stored["doc_id"], kind=stored["kind"], title=stored["title"],
                   url=stored["url"], snippet=snippet, locale=language,
                   department=stored["department"],
                   tags=tuple(tag for tag in stored["tags"].split(",") if tag),
                   score=score or 0.0)

    def _snippet(self, stored: dict, text: str, language: str) -> Markup:
        """The passages of the body around the query's words, the words marked."""
        field = f"body_{language}"
        words = {token.text for token in self.schema[field].analyzer(text)}
        fragments = highlight.highlight(
            stored["body"], frozenset(words), self.schema[field].analyzer,
            highlight.ContextFragmenter(maxchars=220, surround=60), _Marks(), top=2,
            scorer=highlight.BasicFragmentScorer())
        # Our formatter escapes every piece of text it emits (see _Marks).
        return (Markup(fragments) if fragments  # noqa: S704
                else escape(stored["summary"] or stored["body"][:200]))

    @staticmethod
    def _facets(searcher, top) -> dict[str, dict[str, int]]:
        """Departments and tags among the best ``FACET_SAMPLE`` matches.

        Counting every match (tens of thousands for a common word) cost ten times the
        search itself; the best hundred are what a reader narrows down anyway.
        """
        reader = searcher.reader()
        department_column = reader.column_reader("department")
        tag_column = reader.column_reader("tag_list")
        departments: dict[str, int] = {}
        tags: dict[str, int] = {}
        for _score, docnum in top:
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
            documents = self._documents(self._searcher())
        except SearchUnavailable as error:
            return {"backend": self.name, "status": "error", "error": str(error)}
        return {"backend": self.name, "status": "ok", "documents": documents}
