"""Whoosh, the embedded default search backend. Only this module imports whoosh.

Per-language analysis: text is lower-cased and accent-folded (so ``informacion`` finds
``información``), stop words are dropped and words are stemmed with the language's
Snowball stemmer where Whoosh has one (Spanish, English; Galician uses the Portuguese
one, its nearest relative; Catalan and Basque are folded but not stemmed). Each
language has two fields: ``text`` holds title, summary and body in one posting list,
the title's words weighing TITLE_BOOST times a body word's (BM25F: fields are weighted
before the term frequency saturates), and ``heading`` holds title and summary alone for
the first tier of bounded scoring. A query is analysed like the fields it searches: the
reader's language first, then Spanish, the language most content is in.

Speed (README.md, Architecture): opening a searcher copies index files, so each thread keeps one
and only opens a new one when the index has changed. Whoosh steps through posting lists
in Python, so matching is done here instead: documents are found with set operations on
decoded posting lists (kept in memory for the current state of the index) and scored
with BM25F from the same lists; Whoosh's matchers only check phrases. The bulk writer
indexes in several processes with a large memory buffer, and positions are written so
that a block read for its document numbers alone is cheap (_PostingsWriter).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import heapq
import html
import logging
import os
import re
import shutil
import threading
import time
import traceback
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape
from rapidfuzz import process
from rapidfuzz.distance import OSA
from whoosh import index, scoring
from whoosh.analysis import DelimitedAttributeFilter, SpaceSeparatedTokenizer, Token, Tokenizer
from whoosh.analysis.tokenizers import default_pattern as TOKEN
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3Codec, W3LeafMatcher, W3PostingsWriter
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema
from whoosh.index import EmptyIndexError
from whoosh.lang import stemmer_for_language, stopwords_for_language
from whoosh.matching import ReadTooFar
from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import ReaderClosed
from whoosh.support.charset import accent_map
from whoosh.util.numeric import byte_to_length
from whoosh.writing import LockError

from portal.config import LANGUAGES
from portal.search.base import (
    Hit,
    IndexMissing,
    SearchBackend,
    SearchDocument,
    SearchQuery,
    SearchResults,
    SearchUnavailable,
    query_parts,
)

log = logging.getLogger(__name__)

# Whoosh's Snowball stemmer used for each portal language (None: fold only).
STEMMERS = {"es": "es", "en": "en", "gl": "pt", "ca": None, "eu": None}
TITLE_BOOST = 3.0
SUMMARY_BOOST = 1.5
# In the ``text`` field's value, title, summary and body are separated by this character;
# the analyzer gives each word its part's weight.
PART = "\x1e"
PART_BOOSTS = (TITLE_BOOST, SUMMARY_BOOST, 1.0)
OTHER_LANGUAGE_WEIGHT = 0.5
WORD = re.compile(r"\w+", re.UNICODE)
WHOLE = re.compile(r"\A.*\Z", re.DOTALL)  # the whole value as one token (tokenize=False)
RETRY_AFTER = 30.0  # seconds
# A failure of the fast path keeps /healthz "degraded" for this long (seconds).
FAILURE_WINDOW = 300.0
# Whoosh names an index's table of contents "_MAIN_<generation>.toc" (TOC._filename);
# the newest one tells which index is on disk (see WhooshBackend._stamp).
TOC_FILE = re.compile(r"_MAIN_([0-9]+)\.toc")
FACET_SAMPLE = 100  # facets count the departments and tags of the best matches
# Every match is counted, but at most this many are scored: those with the words in
# their title or summary first, then the others (search).
SCAN_LIMIT = 300
BM25_K1, BM25_B = 1.2, 0.75  # Whoosh's defaults
PHRASE_BATCH = 50  # documents checked for a phrase at a time, beyond SCAN_LIMIT
POSTINGS_CACHE = 4_000_000  # postings kept decoded: a number and a weight, 8 bytes each
SNIPPET_SOURCE = 2000  # characters of each body kept for highlighted snippets
SNIPPET_CONTEXT = 70  # characters shown on each side of a marked word
SNIPPET_LENGTH = 240  # at most this many characters in one passage
SNIPPET_PASSAGES = 2
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


# Folded stop words of each language that has a stemmer (the others keep every word).
STOP_WORDS = {language: frozenset(fold(word) for word in stopwords_for_language(stemmer))
              if stemmer else frozenset() for language, stemmer in STEMMERS.items()}


class LanguageAnalyzer(Tokenizer):
    """Words, lower-cased and accent-folded, stop words dropped and stemmed, in one pass.

    The same tokens as ``RegexTokenizer | LowercaseFilter | CharsetFilter(accent_map) |
    StopFilter(minsize=2) | StemFilter``, positions renumbered past stop words as
    StopFilter does; fused because passing each token through five generators was most
    of the cost of indexing. Languages without a stemmer are folded only. In a value
    made of parts separated by ``PART`` (title, summary, body) each word weighs its
    part's ``PART_BOOSTS``.
    """

    def __init__(self, language: str) -> None:
        self.language = language
        stem_language = STEMMERS[language]
        self.is_morph = stem_language is not None
        self._stops = STOP_WORDS[language]
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
        parts = [index_ for index_, char in enumerate(value) if char == PART
                 ] if PART in value else None
        matches = (TOKEN if tokenize else WHOLE).finditer(value)
        for number, match in enumerate(matches):
            original = match.group(0)
            text = fold(original)
            stopped = stemming and (len(text) < 2 or text in stops)
            if stopped and removestops:
                continue
            token.stopped = stopped
            token.text = text if stopped or not stemming else self._stem(text)
            token.boost = 1.0 if parts is None else PART_BOOSTS[
                min(bisect_right(parts, match.start()), len(PART_BOOSTS) - 1)]
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


def _blocks(matcher: W3LeafMatcher) -> Iterator[tuple[tuple[int, ...], Any]]:
    """The document numbers and weights of a posting list, a block (up to 128) at a time."""
    while not matcher._atend:
        if matcher._ids is None:
            matcher._read_ids()
        if matcher._weights is None:
            matcher._read_weights()
        yield matcher._ids, matcher._weights
        matcher._next_block()


def _all_postings(matcher) -> tuple[list[int], list[float]]:
    """Document numbers and weights from any matcher (short lists kept in the lexicon)."""
    ids, weights = [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        matcher.next()
    return ids, weights


class _LeafMatcher(W3LeafMatcher):
    """Whoosh's posting-list reader, except that ``skip_to`` finds its place within a
    block by binary search; Whoosh steps one posting at a time, and an intersection of
    two long lists calls ``skip_to`` for every candidate."""

    def skip_to(self, targetid):
        if not self.is_active():
            raise ReadTooFar
        if targetid <= self.id():
            return
        while targetid > self._maxid:  # the block's last id
            self._next_block()
            if self._atend:
                return
        if self._ids is None:
            self._read_ids()
        self._i = bisect_left(self._ids, targetid, self._i)

    def _read_ids(self):
        if self._data is None:
            self._read_data()
        ids = self._data[0]
        # Stored as differences; accumulate() adds them up in C.
        self._ids = ids if self._byteids else tuple(accumulate(ids))

    def _read_values(self):
        if self._data is None:
            self._read_data()
        values = self._data[2]
        if not (isinstance(values, tuple) and len(values) == 2
                and isinstance(values[0], array)):
            return super()._read_values()
        lengths, packed = values  # written by _PostingsWriter
        ends = tuple(accumulate(lengths))
        self._values = tuple(packed[end - length:end]
                             for end, length in zip(ends, lengths, strict=True))


class _PostingsWriter(W3PostingsWriter):
    """Whoosh's posting writer, except that a block's values (a word's positions in each
    document) are written as one bytes object and their lengths, not as a tuple of one
    bytes object per document: a block read for its document numbers alone (most are)
    then unpickles five times faster."""

    def _mini_values(self):
        fixed = self._format.fixed_value_size()
        if fixed is not None and fixed >= 0:
            return super()._mini_values()
        return array("I", map(len, self._values)), b"".join(self._values)


class Codec(W3Codec):
    """Whoosh's codec, writing postings with ``_PostingsWriter`` and reading them with
    ``_LeafMatcher``. Segments remember the codec that wrote them, so an index keeps
    using it; segments of Whoosh's own codec are still read as Whoosh reads them."""

    def postings_writer(self, dbfile, byteids=False):
        return _PostingsWriter(dbfile, blocklimit=self._blocklimit, byteids=byteids,
                               compression=self._compression,
                               inlinelimit=self._inlinelimit)

    def postings_reader(self, dbfile, terminfo, format_, term=None, scorer=None):
        if terminfo.is_inlined():
            return super().postings_reader(dbfile, terminfo, format_, term, scorer)
        offset, length = terminfo.extent()
        return _LeafMatcher(dbfile, offset, length, format_, term=term, scorer=scorer)


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
        fields[f"heading_{language}"] = TEXT(analyzer=analyzer)
        fields[f"text_{language}"] = TEXT(analyzer=analyzer)
    return Schema(**fields)


# Every character that folds to a given one ("e": "e", "é", "É", "ë", ...), so that a
# snippet finds its words in the body as written, without folding the whole body first
# (folding 2,000 characters cost more than the rest of a hit).
_SAME_FOLD: dict[str, str] = {}
for _code, _folded in accent_map.items():
    if isinstance(_folded, str) and len(_folded) == 1:
        _SAME_FOLD[_folded] = _SAME_FOLD.get(_folded, _folded) + chr(_code)


@functools.lru_cache(maxsize=512)
def _word_starts(beginnings: tuple[str, ...]) -> re.Pattern:
    """Words of a body that begin, accents and case aside, like one of ``beginnings``."""
    def letter(character: str) -> str:
        same = "".join(sorted({*_SAME_FOLD.get(character, ""), character, character.upper()}))
        return f"[{re.escape(same)}]" if len(same) > 1 else re.escape(character)
    # Explicit classes, not re.IGNORECASE, which made the scan a third slower.
    options = "|".join("".join(map(letter, beginning)) for beginning in beginnings)
    return re.compile(rf"\b(?:{options})\w*")


def snippet(body: str, words: frozenset[str], analyzer, fallback: str) -> Markup:
    """Up to ``SNIPPET_PASSAGES`` passages of ``body`` around the first of its words whose
    analysed form is in ``words``, those words in <mark>; every piece of text escaped.

    Reading stops at the last word needed, so a long body costs no more than its start;
    a word is only analysed (stemmed) when it begins like one of ``words``, as a stem
    begins its word.
    """
    if not words:  # every query word was a stop word in this document's language
        return escape(fallback)
    passages: list[list[int]] = []  # [start, end, start of a mark, end of it, ...]
    beginnings = tuple(sorted({word[:3] for word in words}))
    known: dict[str, bool] = {}  # a word of the body -> whether it is a query word
    for match in _word_starts(beginnings).finditer(body):
        word = match.group(0)
        wanted = known.get(word)
        if wanted is None:
            wanted = known[word] = any(token.text in words for token in analyzer(word))
        if not wanted:
            continue
        start, end = match.span()
        if passages and end - passages[-1][0] <= SNIPPET_LENGTH - 2 * SNIPPET_CONTEXT:
            passages[-1][1] = end
            passages[-1] += [start, end]
        elif len(passages) < SNIPPET_PASSAGES:
            passages.append([start, end, start, end])
        else:
            break
    if not passages:
        return escape(fallback)
    # Built as escaped plain text and marked safe once (a Markup per piece cost more
    # than finding the words).
    output: list[str] = []
    for first, last, *marks in passages:
        # Widen to whole words around the marks, SNIPPET_CONTEXT characters each side.
        start = max(0, first - SNIPPET_CONTEXT)
        if start:
            space = body.find(" ", start, first)
            start = space + 1 if space != -1 else start
            output.append("… " if not output else " … ")
        elif output:
            output.append(" … ")
        end = min(len(body), last + SNIPPET_CONTEXT)
        if end < len(body):
            space = body.rfind(" ", last, end)
            end = space if space != -1 else end
        position = start
        for mark_start, mark_end in zip(marks[::2], marks[1::2], strict=True):
            output += [html.escape(body[position:mark_start]), "<mark>",
                       html.escape(body[mark_start:mark_end]), "</mark>"]
            position = mark_end
        output.append(html.escape(body[position:end]))
    if end < len(body):
        output.append(" …")
    snippet = "".join(output)
    return Markup(snippet)  # noqa: S704 - every piece of text escaped above  # nosec B704


class WhooshBackend(SearchBackend):
    name = "whoosh"

    def __init__(self, path: str, results_cache: int = 1000) -> None:
        self.path = Path(path)
        # Pages of results kept for the current state of the index (0: none); a commit
        # changes the state, so a page is never older than the index.
        self.results_cache = results_cache
        self._results: OrderedDict[tuple, SearchResults] = OrderedDict()
        self.schema = build_schema()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._index = None
        self._spelling_cache: _Spelling | None = None
        self._postings_cache: OrderedDict[tuple, tuple[array, array]] = OrderedDict()
        self._postings_size = 0
        self._lengths_cache: OrderedDict[tuple, list[tuple[int, bytes]]] = OrderedDict()
        # After a failure, wait before touching the same files again: a damaged segment
        # leaks a file handle inside Whoosh on every attempt to open it.
        self._failed_at: float | None = None
        self._failed_stamp: tuple | None = None
        # For /healthz, per process: searches answered by the fallback, failures of the
        # fast path, and the last failure (when, what).
        self._counts_lock = threading.Lock()
        self.fallbacks = 0
        self.failures = 0
        self._last_failure: tuple[float, str, tuple | None] | None = None  # when, what, stamp

    # ------------------------------------------------------------ index files

    def _stamp(self) -> tuple[int, int, int] | None:
        """Which index is on disk, or None when there is none: the generation of its
        newest table of contents, and that file's inode and modification time.

        A commit makes a new generation. A rebuild (by this process or any other) puts
        a new directory in place, whose generation can equal the old one's; its table
        of contents is a new file all the same. Reading this costs a directory listing
        and one stat, as Whoosh's own ``up_to_date`` costs a listing.
        """
        for _attempt in range(3):
            newest = None
            try:
                with os.scandir(self.path) as entries:
                    for entry in entries:
                        match = TOC_FILE.fullmatch(entry.name)
                        if match and (newest is None or int(match[1]) > newest[0]):
                            newest = (int(match[1]), entry)
                if newest is None:
                    return None
                info = newest[1].stat()
                return newest[0], info.st_ino, info.st_mtime_ns
            except (FileNotFoundError, NotADirectoryError):
                if not self.path.is_dir():
                    return None
                # A commit cleaned up that file, or a rebuild swapped the directory,
                # while it was being read: look again.
        return None

    def _failure(self, error: BaseException, where: str) -> SearchUnavailable:
        """Log ``error`` with its traceback and count it; the caller raises the returned
        SearchUnavailable, and searches fall back to the database.

        The fast path catches broadly because a damaged segment raises plain
        ``struct.error`` or ``OSError``; but so does a bug, or a Whoosh internal that an
        upgrade changed, so every failure is loud: logged, counted on /healthz, and
        failing the test during which it happens (tests/conftest.py).
        """
        log.error("search index failed (%s), answering from the database: %s", where,
                  type(error).__name__, exc_info=error, extra={"search_failure": True})
        # A record kept by a handler keeps the traceback, whose frames hold the file a
        # damaged segment leaves open inside Whoosh: let go of their locals now.
        traceback.clear_frames(error.__traceback__)
        now, stamp = time.monotonic(), self._stamp()
        with self._counts_lock:
            self.failures += 1
            self._last_failure = (now, type(error).__name__, stamp)
        self._failed_at, self._failed_stamp = now, stamp
        return SearchUnavailable(type(error).__name__)

    def _open(self):
        with self._lock:
            if self._stamp() is None:
                if self._index is not None:
                    self._index.close()
                    self._index = None
                raise IndexMissing("missing")
            if self._index is None:
                # Wait before trying the same damaged files again; a rebuilt index (a
                # new stamp) is tried at once.
                if (self._failed_at is not None
                        and time.monotonic() - self._failed_at < RETRY_AFTER
                        and self._stamp() == self._failed_stamp):
                    raise SearchUnavailable("recently failed")
                try:
                    written = index.open_dir(self.path)
                    outdated = set(written.schema.names()) != set(self.schema.names())
                    written.close()
                    if outdated:  # by an earlier version: its fields would match nothing
                        raise SearchUnavailable("outdated")
                    self._index = index.open_dir(self.path, schema=self.schema)
                    self._failed_at = None
                except SearchUnavailable:
                    raise
                except EmptyIndexError as error:  # deleted since _stamp looked
                    raise IndexMissing("missing") from error
                except Exception as error:  # corrupt files raise plain struct/OS errors
                    raise self._failure(error, "opening the index") from error
            return self._index

    def _searcher(self):
        """This thread's searcher, reopened when the index on disk has changed."""
        stamp = self._stamp()
        searcher = getattr(self._local, "searcher", None)
        if searcher is not None and stamp is not None and stamp == self._local.stamp:
            return searcher
        # A commit, a rebuild by any process, or a deleted index: let go of the old
        # searcher, whose files may be gone. (Not searcher.refresh(): it reuses segment
        # readers by segment id and so misses deletions made in a segment it had open.)
        self._release_searcher()
        try:
            searcher = self._open().searcher(weighting=scoring.BM25F())
        except SearchUnavailable:
            raise
        except EmptyIndexError as error:
            raise IndexMissing("missing") from error
        except Exception as error:
            self.close()
            raise self._failure(error, "opening a searcher") from error
        self._local.searcher = searcher
        self._local.stamp = stamp
        # What the index holds: its segments and how many deletions each has. The
        # caches of decoded postings and of results are valid for one state only. An
        # empty index has one reader and no segment.
        self._local.state = tuple(
            (leaf.segment().segment_id(), leaf.segment().deleted_count())
            for leaf, _offset in searcher.reader().leaf_readers()
            if leaf.segment() is not None)
        return searcher

    def _release_searcher(self) -> None:
        searcher = getattr(self._local, "searcher", None)
        self._local.searcher = None
        self._local.columns = None
        if searcher is not None:
            try:
                searcher.close()
            except (ReaderClosed, OSError):  # closed already, or its files are gone
                log.debug("releasing a stale searcher", exc_info=True)

    def close(self) -> None:
        self._release_searcher()
        with self._lock:
            if self._index is not None:
                self._index.close()
                self._index = None
            self._postings_cache.clear()
            self._postings_size = 0
            self._results.clear()
            self._lengths_cache.clear()
            self._spelling_cache = None

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
            f"heading_{language}": f"{document.title}\n{document.summary}",
            f"text_{language}": PART.join((document.title, document.summary, document.body)),
        }

    def _writer(self):
        """A writer of the index; IndexMissing when there is none to write to."""
        try:
            return self._open().writer(timeout=5.0, codec=Codec(compression=COMPRESSION))
        except LockError as error:
            raise SearchUnavailable("locked") from error

    def index(self, documents: Iterable[SearchDocument]) -> None:
        writer = self._writer()
        try:
            for document in documents:
                writer.update_document(**self._fields(document))
            writer.commit()
        except BaseException:
            writer.cancel()
            raise

    def delete(self, doc_ids: Iterable[str]) -> None:
        writer = self._writer()
        try:
            for doc_id in doc_ids:
                writer.delete_by_term("doc_id", doc_id)
            writer.commit()
        except BaseException:
            writer.cancel()
            raise

    @contextlib.contextmanager
    def _rebuilding(self) -> Iterator[None]:
        """One rebuild at a time, across threads and processes (a lock file beside the
        index): two first writes must not build the index twice over each other."""
        lock = self.path.with_name(self.path.name + ".lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def rebuild(self, documents: Iterable[SearchDocument],
                progress: Callable[[int], None] | None = None,
                if_missing: bool = False) -> int | None:
        """Build a fresh index beside the old one, then swap it in; with ``if_missing``
        only when there is no index (None when there is one: ``documents`` is not read).

        Documents are indexed by ``BULK_PROCESSES`` processes, one segment each. The
        spelling vocabulary is stored once for the whole corpus, not once per document
        (that was half of all postings), in a few "vocabulary" entries; like a spelling
        checker's minimum frequency, it keeps only words that two or more documents use,
        so a word found in just one article (often a typo, or a name) is never offered.
        Searchers of this and other processes notice the new index at their next search.
        """
        with self._rebuilding():
            if if_missing and self._stamp() is not None:
                return None
            return self._rebuild(documents, progress)

    def _rebuild(self, documents: Iterable[SearchDocument],
                 progress: Callable[[int], None] | None) -> int:
        self.close()
        self._failed_at = None
        fresh = self.path.with_name(self.path.name + ".new")  # under the rebuild lock
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        new_index = index.create_in(fresh, self.schema)
        writer = new_index.writer(procs=BULK_PROCESSES, multisegment=True, batchsize=500,
                                  limitmb=BULK_MEMORY_MB, codec=Codec(compression=COMPRESSION))
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
            new_index.close()
            shutil.rmtree(fresh, ignore_errors=True)
            raise
        new_index.close()
        old = self.path.with_name(self.path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.path.exists():
            self.path.rename(old)
        fresh.rename(self.path)
        shutil.rmtree(old, ignore_errors=True)
        return count

    # ------------------------------------------------------------ reading

    def _words(self, parts: list[str], locale: str) -> list[list[tuple[str, tuple, float]]]:
        """Each word or phrase as it is looked for: [(language, stems, boost)], the
        reader's language first and, at OTHER_LANGUAGE_WEIGHT, Spanish. Parts that are
        only stop words are left out."""
        languages = [locale] + ([] if locale == "es" else ["es"])
        words = []
        for part in parts:
            choices = []
            for position, language in enumerate(languages):
                stems = tuple(token.text
                              for token in self.schema[f"text_{language}"].analyzer(part))
                if stems:
                    choices.append((language, stems,
                                    1.0 if position == 0 else OTHER_LANGUAGE_WEIGHT))
            if choices:
                words.append(choices)
        return words

    def _filter_ids(self, reader, query: SearchQuery) -> set[int] | None:
        """The documents the filters allow, or None when nothing narrows the search."""
        allowed = None
        if not {"article", "idea"} <= set(query.kinds):
            allowed = set().union(*(self._ids(reader, "kind", kind) for kind in query.kinds))
        for field, value in (("department", query.department), ("tags", query.tag.lower())):
            if value:
                ids = self._ids(reader, field, value)
                allowed = set(ids) if allowed is None else allowed.intersection(ids)
        return allowed

    def _known(self, reader, word: str, locale: str) -> bool:
        """Whether ``word`` is in the index: as written (folded) or, stemmed, in a field
        the search looks at. Lexicon look-ups only; no search."""
        if reader.frequency("spell", fold(word)):
            return True
        for language in {locale, "es"}:
            for token in self.schema[f"text_{language}"].analyzer(word):
                if reader.doc_frequency(f"text_{language}", token.text):
                    return True
        return False

    def _spelling(self, reader) -> _Spelling:
        with self._lock:
            if self._spelling_cache is None or self._spelling_cache.state != self._local.state:
                self._spelling_cache = _Spelling(reader, self._local.state)
            return self._spelling_cache

    def _suggestion(self, searcher, text: str, locale: str) -> str | None:
        """Correct the words that match nothing at all, even once stemmed."""
        reader = searcher.reader()
        changed = False
        words = []
        for word in WORD.findall(text):
            folded = fold(word)
            if len(folded) > 3 and not self._known(reader, word, locale):
                correction = self._spelling(reader).correct(folded, reader, locale)
                if correction:
                    words.append(correction)
                    changed = True
                    continue
            words.append(word)
        return " ".join(words) if changed else None

    def _postings(self, reader, field: str, text: str) -> tuple[array, array]:
        """The numbers of the live documents that have ``text`` in ``field``, in order,
        and the word's weight in each (its frequency, title words counting more).

        Decoded a block at a time and kept (least recently used first out, at most
        POSTINGS_CACHE numbers) for this state of the index: the common words of a
        knowledge base come back in query after query.
        """
        key = (self._local.state, field, text)  # the state of this thread's searcher
        with self._lock:
            postings = self._postings_cache.get(key)
            if postings is not None:
                self._postings_cache.move_to_end(key)
                return postings
        ids, weights = array("i"), array("f")
        for leaf, offset in reader.leaf_readers():
            if (field, text) not in leaf:
                continue
            matcher = leaf.postings(field, text)
            deleted: frozenset[int] = frozenset()
            if isinstance(matcher, FilterMatcher):  # Whoosh's way of hiding deletions
                deleted, matcher = leaf.deleted_docs_set, matcher.child
            blocks = (_blocks(matcher) if isinstance(matcher, W3LeafMatcher)
                      else [_all_postings(matcher)])
            for block_ids, block_weights in blocks:
                if deleted:
                    kept = [index_ for index_, docnum in enumerate(block_ids)
                            if docnum not in deleted]
                    block_ids = [block_ids[index_] for index_ in kept]
                    block_weights = [block_weights[index_] for index_ in kept]
                ids.extend(map(offset.__add__, block_ids) if offset else block_ids)
                weights.extend(block_weights)
        with self._lock:
            if key not in self._postings_cache:  # another thread may have read it too
                self._postings_size += len(ids)
            self._postings_cache[key] = (ids, weights)
            while self._postings_size > POSTINGS_CACHE and len(self._postings_cache) > 1:
                self._postings_size -= len(self._postings_cache.popitem(last=False)[1][0])
        return ids, weights

    def _ids(self, reader, field: str, text: str) -> array:
        return self._postings(reader, field, text)[0]

    def _candidates(self, reader, words, field: str, any_word: bool) -> set[int]:
        """Documents with all (or any) of ``words`` in ``field``: set operations on the
        decoded posting lists, run in C, instead of Whoosh stepping through them in
        Python. A phrase's documents have all its words; the phrase itself is checked
        when the documents are scored."""
        def documents(choices) -> Iterable[int]:
            """The documents of one word or phrase, in any of its languages."""
            found_in: list[Iterable[int]] = []
            for language, stems, _boost in choices:
                lists = sorted((self._ids(reader, f"{field}_{language}", stem)
                                for stem in set(stems)), key=len)
                found_in.append(set(lists[0]).intersection(*lists[1:]) if len(lists) > 1
                                else lists[0])
            return found_in[0] if len(found_in) == 1 else set().union(*found_in)

        if any_word:
            return set().union(*(documents(choices) for choices in words))
        # The rarest word first; the others are only read through, not made into sets.
        found: set[int] | None = None
        for choices in sorted(words, key=lambda choices: min(
                reader.doc_frequency(f"{field}_{language}", stems[0])
                for language, stems, _boost in choices)):
            found = set(documents(choices)) if found is None else found.intersection(
                documents(choices))
            if not found:
                break
        return found or set()

    @staticmethod
    def _verify(searcher, words, any_word: bool, docnums: list[int]) -> list[int]:
        """Those of ``docnums`` (in order) where each phrase's words stand together (any
        of the words and phrases, with ``any_word``). Positions are read only for these
        documents; Whoosh's phrase matcher works out the spans of every document it
        passes on its way."""
        leaves = list(searcher.reader().leaf_readers())
        starts = [offset for _leaf, offset in leaves]
        matchers: dict[tuple, Any] = {}  # (segment, field, stem) -> a matcher going forward

        def posting(segment: int, field: str, stem: str, local: int):
            key = (segment, field, stem)
            if key not in matchers:
                leaf = leaves[segment][0]
                matcher = leaf.postings(field, stem) if (field, stem) in leaf else None
                # Deleted documents are never candidates: no need to hide them.
                matchers[key] = matcher.child if isinstance(matcher, FilterMatcher) else matcher
            matcher = matchers[key]
            if matcher is not None and matcher.is_active() and matcher.id() < local:
                matcher.skip_to(local)
            if matcher is not None and matcher.is_active() and matcher.id() == local:
                return matcher
            return None

        def has(choice, segment: int, local: int) -> bool:
            language, stems, _boost = choice
            found = [posting(segment, f"text_{language}", stem, local) for stem in stems]
            if None in found:
                return False
            if len(stems) == 1:
                return True
            first, *rest = [matcher.value_as("positions") for matcher in found]
            rest = [set(positions) for positions in rest]
            return any(all(start + step in positions for step, positions in enumerate(rest, 1))
                       for start in first)

        kept = []
        for docnum in docnums:
            segment = bisect_right(starts, docnum) - 1
            local = docnum - starts[segment]
            checks = (any(has(choice, segment, local) for choice in choices) for choices in words)
            if any(checks) if any_word else all(checks):
                kept.append(docnum)
        return kept

    def _lengths(self, reader, field: str) -> list[tuple[int, bytes]]:
        """[(first docnum, one byte per document)] per segment: the field's length in each
        document, as Whoosh stores it (decode with byte_to_length). Read whole, once per
        state of the index: asking Whoosh document by document was most of scoring."""
        key = (self._local.state, field)
        with self._lock:
            tables = self._lengths_cache.get(key)
        if tables is None:
            tables = []
            for leaf, offset in reader.leaf_readers():
                # Whoosh has no public way to read a whole length column.
                column = leaf._perdoc._cached_reader(f"_{field}_len", LENGTHS_COLUMN)
                tables.append((offset, column._dbfile.get(column._basepos, column._count)
                               if column is not None else b""))
            with self._lock:
                self._lengths_cache[key] = tables
                if len(self._lengths_cache) > 2 * len(LANGUAGES):
                    self._lengths_cache.popitem(last=False)
        return tables

    def _score(self, searcher, words, docnums: list[int]) -> list[tuple[float, int]]:
        """[(BM25 score, docnum)] of documents that have the words.

        The weights come from the decoded posting lists (see _postings); with Whoosh's
        matchers each document cost a dozen Python calls per word.
        """
        reader = searcher.reader()
        terms = []
        for choices in words:
            for language, stems, boost in choices:
                field = f"text_{language}"
                average = searcher.avg_field_length(field) or 1
                lengths = self._lengths(reader, field)
                for stem in set(stems):
                    ids, weights = self._postings(reader, field, stem)
                    terms.append((ids, weights, boost * searcher.idf(field, stem), average,
                                  lengths))
        starts = [offset for offset, _table in terms[0][4]] if terms else []
        scored = []
        for docnum in docnums:
            score = 0.0
            segment = bisect_right(starts, docnum) - 1
            for ids, weights, idf, average, lengths in terms:
                position = bisect_left(ids, docnum)
                if position < len(ids) and ids[position] == docnum:
                    frequency = weights[position]
                    offset, table = lengths[segment]
                    stored = table[docnum - offset] if docnum - offset < len(table) else 0
                    length = byte_to_length(stored) if stored else 1
                    score += idf * frequency * (BM25_K1 + 1) / (
                        frequency + BM25_K1 * (1 - BM25_B + BM25_B * length / average))
            scored.append((score, docnum))
        return scored

    def search(self, query: SearchQuery) -> SearchResults:
        """Ranked, highlighted, faceted results.

        The matching documents are found and counted with set operations on posting
        lists; up to ``SCAN_LIMIT`` of them are scored (BM25F). When more match (a
        common word in a large index), scoring is bounded, the way search engines do it
        at scale: the documents with the words in their title or summary are scored
        first, then the others until ``SCAN_LIMIT`` have been.
        """
        locale = query.locale if query.locale in LANGUAGES else "es"
        parts = query_parts(query.text)
        words = self._words(parts, locale)
        page = max(1, query.page)
        if not words:
            return SearchResults(hits=[], total=0, page=page, per_page=query.per_page)
        try:
            searcher = self._searcher()
            key = (self._local.state, query)
            with self._lock:
                cached = self._results.get(key)
                if cached is not None:
                    self._results.move_to_end(key)
                    return cached  # shared: callers only read results
            reader = searcher.reader()
            allowed = self._filter_ids(reader, query)
            top: list[tuple[float, int]] = []
            total, exact, reachable = 0, True, None
            # All the words first; any of them when that finds nothing, so a long
            # question still gets the closest answers.
            for any_word in (False, True) if len(words) > 1 else (False,):
                candidates = self._candidates(reader, words, "text", any_word)
                if allowed is not None:
                    candidates &= allowed
                if candidates:
                    top, total, exact, reachable = self._rank(searcher, words, any_word,
                                                              candidates)
                    if top:
                        break
            # A page past the last one (an old link, an edited address) shows the last.
            page = min(page, max(1, -(-len(top) // query.per_page)))
            wanted = page * query.per_page
            marked: dict[str, frozenset[str]] = {}  # per language: the words to mark
            hits = [self._hit(searcher, score, docnum, parts, marked)
                    for score, docnum in top[(page - 1) * query.per_page: wanted]]
            # Offer a correction only when the words found little: a rare but right
            # word ("empadronarme") should not be second-guessed.
            suggestion = self._suggestion(searcher, query.text, locale) if total < 3 else None
            results = SearchResults(hits=hits, total=total, page=page, per_page=query.per_page,
                                    facets=self._facets(searcher, top[:max(wanted, FACET_SAMPLE)]),
                                    suggestion=suggestion, exact_total=exact, reachable=reachable)
            if self.results_cache:
                with self._lock:
                    self._results[key] = results
                    if len(self._results) > self.results_cache:
                        self._results.popitem(last=False)
            return results
        except SearchUnavailable:
            self._fell_back()
            raise
        except Exception as error:  # a damaged segment surfaces as struct.error and kin
            self.close()
            self._fell_back()
            raise self._failure(error, "search") from error

    def _fell_back(self) -> None:
        with self._counts_lock:
            self.fallbacks += 1

    def _rank(self, searcher, words, any_word: bool, candidates: set[int]):
        """(top [(score, docnum)], total, whether the total is exact, how many can be
        shown when fewer than the total)."""
        phrase = any(len(stems) > 1 for choices in words for _language, stems, _boost in choices)

        def score(docnums: list[int]) -> list[tuple[float, int]]:
            return sorted(self._score(searcher, words, docnums), reverse=True)

        if len(candidates) <= SCAN_LIMIT:
            docnums = sorted(candidates)
            top = score(self._verify(searcher, words, any_word, docnums) if phrase
                        else docnums)
            return top, len(top), True, None
        # The documents with the words in their title or summary first, then the others,
        # each in index order (the order the articles were indexed in).
        heading = candidates & self._candidates(searcher.reader(), words, "heading", any_word)
        tiers = [heapq.nsmallest(SCAN_LIMIT, heading)]
        if len(tiers[0]) < SCAN_LIMIT:
            tiers.append(heapq.nsmallest(SCAN_LIMIT - len(tiers[0]), candidates - heading))
        if not phrase:
            top = [hit for tier in tiers for hit in score(sorted(tier))]
            return top, len(candidates), True, len(top)
        # A phrase is checked a batch at a time, until the facets have their sample; the
        # total is then estimated from the share of the checked documents that have it.
        top, checked = [], 0
        for tier in tiers:
            found: list[int] = []
            for start in range(0, len(tier), PHRASE_BATCH):
                batch = sorted(tier[start:start + PHRASE_BATCH])
                checked += len(batch)
                found += self._verify(searcher, words, any_word, batch)
                if len(top) + len(found) >= FACET_SAMPLE:
                    break
            top += score(found)
            if len(top) >= FACET_SAMPLE:
                break
        return top, round(len(top) / checked * len(candidates)), False, len(top)

    @staticmethod
    def _documents(searcher) -> int:
        # Vocabulary entries are written only by rebuild, never deleted one by one, so
        # their term count is exact.
        return searcher.doc_count() - searcher.doc_frequency("kind", VOCABULARY)

    def _hit(self, searcher, score: float, docnum: int, parts: list[str],
             marked: dict[str, frozenset[str]]) -> Hit:
        stored = searcher.stored_fields(docnum)
        language = stored["locale"]
        analyzer = self.schema[f"text_{language}"].analyzer
        if language not in marked:  # the query's words, analysed like this document
            marked[language] = frozenset(token.text for part in parts
                                         for token in analyzer(part))
        return Hit(doc_id=stored["doc_id"], kind=stored["kind"], title=stored["title"],
                   url=stored["url"],
                   snippet=snippet(stored["body"], marked[language], analyzer,
                                   stored["summary"] or stored["body"][:200]),
                   locale=language, department=stored["department"],
                   tags=tuple(tag for tag in stored["tags"].split(",") if tag),
                   score=score or 0.0)

    def _facets(self, searcher, top) -> dict[str, dict[str, int]]:
        """Departments and tags among the best ``FACET_SAMPLE`` matches.

        Counting every match (tens of thousands for a common word) cost ten times the
        search itself; the best hundred are what a reader narrows down anyway.
        """
        if not top:  # nothing to count (and an empty index has no columns to read)
            return {"department": {}, "tags": {}}
        columns = getattr(self._local, "columns", None)
        if columns is None or columns[0] is not searcher:
            reader = searcher.reader()
            columns = self._local.columns = (searcher, reader.column_reader("department"),
                                             reader.column_reader("tag_list"))
        _searcher, department_column, tag_column = columns
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
        health: dict[str, Any] = {"backend": self.name}
        try:
            health.update(status="ok", documents=self._documents(self._searcher()))
        except IndexMissing:
            health.update(status="missing")
        except SearchUnavailable as error:
            health.update(status="error", error=str(error))
        except Exception as error:  # as in search: loud, and never a failing health check
            self.close()
            health.update(status="error", error=str(self._failure(error, "status")))
        with self._counts_lock:
            last = self._last_failure
        # A failure of the index now on disk, within the last FAILURE_WINDOW seconds (one
        # of an index since rebuilt is history; a bug fails again with the new one).
        recent = (last is not None and time.monotonic() - last[0] < FAILURE_WINDOW
                  and last[2] == self._stamp())
        with self._counts_lock:
            health.update(degraded=health["status"] != "ok" or recent,
                          fallbacks=self.fallbacks, failures=self.failures)
        if last is not None:
            health["last_failure"] = {"error": last[1],
                                      "seconds_ago": round(time.monotonic() - last[0])}
        return health


class _Spelling:
    """The spelling vocabulary of one state of the index, for "did you mean".

    Whoosh's own corrector walks the whole lexicon through a Python automaton (a second
    and more per word at 100,000 articles) and ranks by frequency alone, so "haer" became
    "ha" rather than "hacer". Here the words are held in memory by first letter and
    compared with rapidfuzz; the closest word wins, then the most frequent.
    """

    def __init__(self, reader, state: tuple) -> None:
        self.state = state
        self.words = [word.decode("utf-8") for word in reader.lexicon("spell")]
        self.by_letter: dict[str, list[str]] = {}
        for word in self.words:
            self.by_letter.setdefault(word[0], []).append(word)

    def correct(self, word: str, reader, locale: str) -> str | None:
        # Edits allowed grow with the word, as in Elasticsearch's "AUTO" fuzziness. Most
        # misspellings keep the first letter (Lucene's spell checker assumes it), so
        # those words are compared first and the whole vocabulary only if none is close.
        most = 1 if len(word) <= 5 else 2
        stops = STOP_WORDS[locale] | STOP_WORDS["es"]
        for words in (self.by_letter.get(word[0], []), self.words):
            close = [(distance, candidate) for candidate, distance, _index in process.extract(
                word, words, scorer=OSA.distance, score_cutoff=most, limit=None)
                if candidate != word and candidate not in stops]
            if close:
                nearest = min(distance for distance, _candidate in close)
                return max((candidate for distance, candidate in close if distance == nearest),
                           key=lambda candidate: (reader.frequency("spell", candidate),
                                                  candidate))
        return None
