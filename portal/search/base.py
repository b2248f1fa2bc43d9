"""The search interface every backend implements, and the values it speaks in.

The rest of the portal imports only this module. Documents carry only public fields
(published articles and public ideas); private case text never reaches an index.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markupsafe import Markup

WORD = re.compile(r"\w+", re.UNICODE)


def query_parts(text: str) -> list[str]:
    """The words and double-quoted phrases of ``text``; any other query syntax a citizen
    never means (operators, wildcards, field names) is dropped. Every backend reads a
    query this way."""
    phrases = [" ".join(WORD.findall(phrase)) for phrase in re.findall(r'"([^"]+)"', text)]
    return [phrase for phrase in phrases if phrase] + WORD.findall(re.sub(r'"[^"]*"', " ", text))


@dataclass(frozen=True)
class SearchDocument:
    """One public thing to find. ``doc_id`` is ``"<kind>:<id>"``, e.g. ``"article:12"``."""

    doc_id: str
    kind: str  # "article" or "idea"
    title: str
    body: str
    locale: str
    url: str
    summary: str = ""
    department: str = ""  # slug
    tags: tuple[str, ...] = ()
    published_at: datetime | None = None


@dataclass(frozen=True)
class SearchQuery:
    text: str
    locale: str = "es"
    department: str = ""
    tag: str = ""
    kinds: tuple[str, ...] = ("article", "idea")
    page: int = 1
    per_page: int = 10


@dataclass(frozen=True)
class Hit:
    doc_id: str
    kind: str
    title: str
    url: str
    snippet: Markup  # escaped text with <mark> around the matches
    locale: str
    department: str
    tags: tuple[str, ...]
    score: float


@dataclass
class SearchResults:
    hits: list[Hit]
    total: int
    page: int
    per_page: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    suggestion: str | None = None  # "did you mean"
    fallback: bool = False  # answered by the database because the index is unavailable
    exact_total: bool = True  # False: ``total`` is an estimate (a very common phrase)
    reachable: int | None = None  # results the pages can show, when fewer than ``total``

    @property
    def pages(self) -> int:
        shown = self.total if self.reachable is None else min(self.total, self.reachable)
        return max(1, -(-shown // self.per_page))


class SearchUnavailable(Exception):
    """The index cannot answer (missing, locked, corrupt); callers fall back."""


class IndexMissing(SearchUnavailable):
    """There is no index yet (a fresh deployment) or it was deleted: rebuild it."""


class SearchBackend(ABC):
    """A public search index."""

    name: str = "abstract"
    # True: ``index`` and ``delete`` write inside the caller's database transaction, so
    # the index changes exactly when the rows it is built from commit (PostgreSQL). False:
    # they write elsewhere, and run after the commit (Whoosh).
    transactional: bool = False

    @abstractmethod
    def index(self, documents: Iterable[SearchDocument]) -> None:
        """Add or replace documents."""

    @abstractmethod
    def delete(self, doc_ids: Iterable[str]) -> None:
        """Remove documents (unknown ids are ignored)."""

    @abstractmethod
    def rebuild(self, documents: Iterable[SearchDocument],
                progress: Callable[[int], None] | None = None,
                if_missing: bool = False) -> int | None:
        """Replace the whole index with ``documents``; return how many were indexed.

        With ``if_missing``, build only when there is no index, checked so that two
        processes never build it twice at once; None (and ``documents`` unread) when
        there is one. Searches in running processes pick up the new index.
        """

    @abstractmethod
    def search(self, query: SearchQuery) -> SearchResults:
        """Ranked, highlighted, faceted results; raises ``SearchUnavailable``
        (``IndexMissing`` when there is no index). ``index`` and ``delete`` raise them
        too."""

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """Health for ``/healthz``: ``{"backend": name, "status": "ok" | "missing" | "error",
        "degraded": bool, "fallbacks": int, "failures": int}``.

        ``status`` is the state of the index (an empty one is "ok", with ``"documents":
        0``). ``degraded`` is true while searches are answered by the fallback: the index
        cannot answer, or the fast path raised within the last few minutes. ``fallbacks``
        counts the searches this process could not answer from the index, ``failures``
        those where the fast path raised (each is logged with its traceback).
        """

    @abstractmethod
    def close(self) -> None:
        """Release files and searchers (tests, reindex)."""
