"""What citizens keep raising: words and two-word phrases of the period's complaints and
ideas that rose the most against the previous period.

Texts are analysed as search analyses them (``LanguageAnalyzer``: the language's stop
words dropped, accents folded, words stemmed), so "farolas", "farola" and "Farolas"
are one theme. A term counts once per case or idea (how many raised it, not how often
one text repeats it). The rise is the count now minus the count the previous period
would give at the same volume, so a busier month does not make every word "rise".
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from portal.audit import audit
from portal.extensions import db
from portal.models import Case, CaseKind, Idea, User
from portal.models import Theme as ThemeRow
from portal.search.whoosh_backend import LanguageAnalyzer
from portal.stats import figures

# Enough texts for a council's month; beyond it, the most recent are read (the
# dashboard says so). A maintained table of terms is the path for larger volumes.
MAX_TEXTS = 2000
MIN_COUNT = 2  # a theme is raised by at least two different people's texts
SOURCES_SHOWN = 10


@dataclass
class Source:
    kind: str  # "case" or "idea"
    key: str  # the case reference or the idea number
    title: str


@dataclass
class Theme:
    term: str  # the stemmed term (or two, joined by a space)
    label: str  # the commonest way it was written
    count: int
    previous: int
    rise: float
    sources: list[Source] = field(default_factory=list)


_ANALYZERS: dict[str, LanguageAnalyzer] = {}


def _analyzer(language: str) -> LanguageAnalyzer:
    if language not in _ANALYZERS:
        try:
            _ANALYZERS[language] = LanguageAnalyzer(language)
        except KeyError:
            _ANALYZERS[language] = LanguageAnalyzer("es")
    return _ANALYZERS[language]


def terms_of(text: str, language: str) -> dict[str, str]:
    """{term: as written} for the words of a text and the pairs of words written next to
    each other (only spaces between: no stop word, punctuation or line in between)."""
    found: dict[str, str] = {}
    previous = None
    for token in _analyzer(language)(text, keeporiginal=True, chars=True):
        word = token.original.lower()
        if len(token.text) < 3 or token.text.isdigit():
            previous = None
            continue
        found.setdefault(token.text, word)
        if previous is not None and previous[0] != token.text \
                and not text[previous[2]:token.startchar].strip(" "):
            found.setdefault(f"{previous[0]} {token.text}", f"{previous[1]} {word}")
        previous = (token.text, word, token.endchar)
    return found


def _texts(period: figures.Period, department_ids: Iterable[int] | None):
    start, end = period.bounds()
    cases = (select(Case.reference, Case.subject, Case.body, Case.language)
             .where(Case.kind == CaseKind.COMPLAINT, Case.created_at >= start,
                    Case.created_at < end, Case.merged_into_id.is_(None))
             .order_by(Case.created_at.desc()).limit(MAX_TEXTS))
    ideas = (select(Idea.id, Idea.title, Idea.body, Idea.language)
             .where(Idea.created_at >= start, Idea.created_at < end,
                    Idea.duplicate_of_id.is_(None))
             .order_by(Idea.created_at.desc()).limit(MAX_TEXTS))
    if department_ids is not None:
        department_ids = list(department_ids)
        cases = cases.where(Case.department_id.in_(department_ids))
        ideas = ideas.where(Idea.department_id.in_(department_ids))
    for reference, subject, body, language in db.session.execute(cases):
        yield Source("case", reference, subject), f"{subject}\n{body}", language
    for number, title, body, language in db.session.execute(ideas):
        yield Source("idea", str(number), title), f"{title}\n{body}", language


def _analysed(period: figures.Period, department_ids):
    """[(source, {term: as written})] for the period's complaints and ideas."""
    return [(source, terms_of(text, language))
            for source, text, language in _texts(period, department_ids)]


@dataclass
class NamedTheme:
    theme: ThemeRow
    count: int
    previous: int
    sources: list[Source] = field(default_factory=list)


@dataclass
class Themes:
    rising: list[Theme]
    named: list[NamedTheme]


def compute(period: figures.Period, department_ids: Iterable[int] | None = None,
            limit: int = 10) -> Themes:
    """The rising terms of ``period`` (leaving out those already named or dismissed),
    and every named theme counted now and in the period before."""
    if department_ids is not None:
        department_ids = list(department_ids)
    texts_now = _analysed(period, department_ids)
    texts_before = _analysed(period.previous(), department_ids)
    saved = list(db.session.scalars(select(ThemeRow).order_by(ThemeRow.name, ThemeRow.id)))
    taken = {term for theme in saved for term in theme.terms}

    named = []
    for theme in saved:
        if theme.dismissed:
            continue
        terms = set(theme.terms)
        matching = [source for source, found in texts_now if terms & found.keys()]
        named.append(NamedTheme(theme, len(matching), sum(
            1 for _source, found in texts_before if terms & found.keys()),
            matching[:SOURCES_SHOWN]))

    now: Counter[str] = Counter()
    written: dict[str, Counter[str]] = defaultdict(Counter)
    sources: dict[str, list[Source]] = defaultdict(list)
    for source, found in texts_now:
        for term, form in found.items():
            now[term] += 1
            written[term][form] += 1
            if len(sources[term]) < SOURCES_SHOWN:
                sources[term].append(source)
    before: Counter[str] = Counter()
    for _source, found in texts_before:
        before.update(found.keys())
    scale = len(texts_now) / len(texts_before) if texts_before else 0.0
    candidates = [
        Theme(term=term, label=written[term].most_common(1)[0][0], count=count,
              previous=before[term], rise=count - before[term] * scale,
              sources=sources[term])
        for term, count in now.items() if count >= MIN_COUNT and term not in taken]
    candidates = [theme for theme in candidates if theme.rise > 0]
    # A phrase says more than its words: a word whose every text is one of its phrases'
    # texts is left out in favour of the phrase.
    phrases = {theme.term: theme for theme in candidates if " " in theme.term}
    covered = {word for phrase, theme in phrases.items() for word in phrase.split()
               if now[word] <= theme.count}
    candidates = [theme for theme in candidates if theme.term not in covered]
    candidates.sort(key=lambda theme: (-theme.rise, -theme.count, theme.term))
    return Themes(rising=candidates[:limit], named=named)


def rising(period: figures.Period, department_ids: Iterable[int] | None = None,
           limit: int = 10) -> list[Theme]:
    """The terms that rose the most in ``period`` against the period before it."""
    return compute(period, department_ids, limit).rising


# ---------------------------------------------------------------- a manager's decisions

def name(actor: User, term: str, label: str) -> ThemeRow:
    """Name a suggested term: from now on it is counted in every period as a theme."""
    theme = ThemeRow(name=label.strip(), terms=[term], created_by_id=actor.id)
    db.session.add(theme)
    db.session.flush()
    audit("theme.named", actor=actor, target_type="theme", target_id=theme.id)
    return theme


def merge(actor: User, term: str, theme: ThemeRow) -> None:
    """Count a suggested term as part of a named theme."""
    if term not in theme.terms:
        theme.terms = [*theme.terms, term]
    audit("theme.merged", actor=actor, target_type="theme", target_id=theme.id)


def dismiss(actor: User, term: str) -> ThemeRow:
    """Stop suggesting a term (kept, so it is not suggested again)."""
    theme = ThemeRow(name="", terms=[term], dismissed=True, created_by_id=actor.id)
    db.session.add(theme)
    db.session.flush()
    audit("theme.dismissed", actor=actor, target_type="theme", target_id=theme.id)
    return theme
