"""Remove personal data from case text before it becomes a public knowledge-base article.

A resolved case is a good start for an article, but the citizen's own words carry
their name, DNI, phone, e-mail, address or bank account. :func:`redact` replaces each
of them with a neutral placeholder such as ``[nombre]`` and records what it removed, so
the civil servant reviewing the draft sees every replacement highlighted
(:func:`highlight_html`) and can check that nothing was missed or removed by mistake.

Matches come from two sources:

* Known values the caller takes from the case form (the citizen's name, e-mail, phone
  and address). They are matched case- and accent-insensitively: citizens rarely type
  their own name the same way twice.
* Generic detectors for anything that looks like personal data: e-mail addresses,
  Spanish phone numbers, and DNI, NIE and IBAN numbers whose check characters are
  valid. A wrong check character is much more likely a file or invoice number than a
  typo in an identity document, and removing it would damage the article.

All matching runs on a *folded* copy of the text (compatibility forms, case and
accents removed) and every match is mapped back to the original characters, so
everything that is not personal data is preserved exactly.

Overlapping matches are merged into one replacement covering all of them: there are
never nested placeholders and no fragment of the data is left behind. The merged
replacement takes the kind of its longest match (an e-mail wins over the name inside
it, an IBAN over the digits inside it); on equal length known values win, then the more
specific patterns.

Redaction is repeated until a pass finds nothing new, and text inside placeholders is
never matched, so redacting twice changes nothing: ``redact(redact(x).text)`` returns
the same text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

from markupsafe import Markup, escape

__all__ = [
    "PLACEHOLDERS",
    "Redacted",
    "Replacement",
    "highlight_html",
    "redact",
    "valid_dni",
    "valid_iban",
    "valid_nie",
]

PLACEHOLDERS: dict[str, str] = {
    "name": "[nombre]",
    "email": "[correo electrónico]",
    "phone": "[teléfono]",
    "dni": "[DNI]",
    "nie": "[NIE]",
    "iban": "[IBAN]",
    "address": "[dirección]",
}


@dataclass(frozen=True)
class Replacement:
    """One piece of personal data removed by :func:`redact`.

    ``start`` and ``end`` are offsets in the redacted text, where the placeholder sits.
    """

    kind: str
    original: str
    start: int
    end: int


@dataclass(frozen=True)
class Redacted:
    """The redacted text and its replacements, in order of appearance."""

    text: str
    replacements: tuple[Replacement, ...]


# ---------------------------------------------------------------- check characters

_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_NIE_PREFIXES = "XYZ"

# Shared by the validators (case-insensitive) and the detectors (on folded, lower-case
# text). A DNI is also commonly written with thousands dots: "12.345.678-Z".
_DNI_BODY = r"(?P<number>[0-9]{2}\.?[0-9]{3}\.?[0-9]{3})[ \-]?(?P<letter>[a-z])"
_NIE_BODY = r"(?P<prefix>[xyz])[ \-]?(?P<number>[0-9]{7})[ \-]?(?P<letter>[a-z])"
_IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")

_DNI_SHAPE = re.compile(_DNI_BODY, re.IGNORECASE)
_NIE_SHAPE = re.compile(_NIE_BODY, re.IGNORECASE)


def _check_letter_ok(number: str, letter: str) -> bool:
    return _DNI_LETTERS[int(number) % 23] == letter.upper()


def _nie_ok(prefix: str, number: str, letter: str) -> bool:
    # The NIE prefix stands for a leading digit; then it is checked like a DNI.
    return _check_letter_ok(str(_NIE_PREFIXES.index(prefix.upper())) + number, letter)


def _canonical(value: str) -> str:
    # NFKC turns full-width digits and letters (pasted from some forms) into ASCII.
    return unicodedata.normalize("NFKC", value).strip()


def valid_dni(value: str) -> bool:
    """Whether ``value`` is a DNI (8 digits and a letter) with the right check letter.

    A space or hyphen before the letter, thousands dots and either case are accepted.
    """
    match = _DNI_SHAPE.fullmatch(_canonical(value))
    return bool(match) and _check_letter_ok(match["number"].replace(".", ""), match["letter"])


def valid_nie(value: str) -> bool:
    """Whether ``value`` is a NIE (X, Y or Z, 7 digits, a letter) with the right letter."""
    match = _NIE_SHAPE.fullmatch(_canonical(value))
    return bool(match) and _nie_ok(match["prefix"], match["number"], match["letter"])


def valid_iban(value: str) -> bool:
    """Whether ``value`` is an IBAN of any country that passes the ISO 13616 check.

    Spaces are allowed anywhere (IBANs are usually written in groups of four).
    """
    compact = "".join(_canonical(value).split()).upper()
    if not _IBAN_SHAPE.fullmatch(compact):
        return False
    # Move the country and check digits to the end, turn letters into 10..35, mod 97.
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


# ---------------------------------------------------------------- folding

@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    """One character without compatibility forms, case or accents ("É" -> "e", "º" -> "o").

    May be longer ("ß" -> "ss") or empty (a combining accent on its own).
    """
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", char).casefold())
    return "".join(part for part in decomposed if not unicodedata.combining(part))


def _fold_string(text: str) -> str:
    return "".join(_fold_char(char) for char in text)


@dataclass(frozen=True)
class _Folded:
    """A folded copy of ``source`` that remembers where each folded character came from."""

    source: str
    text: str
    origin: tuple[int, ...]  # origin[i] is the index in source of folded character i

    @classmethod
    def of(cls, source: str) -> _Folded:
        chars: list[str] = []
        origin: list[int] = []
        for index, char in enumerate(source):
            folded = _fold_char(char)
            chars.append(folded)
            origin.extend([index] * len(folded))
        return cls(source, "".join(chars), tuple(origin))

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The source span of ``text[start:end]``, widened to whole source characters.

        Accents written as separate combining characters fold to nothing; those right
        after the match belong to its last letter and are taken along, so no stray
        accent is left next to the placeholder.
        """
        source_end = self.origin[end - 1] + 1
        while source_end < len(self.source) and not _fold_char(self.source[source_end]):
            source_end += 1
        return self.origin[start], source_end


# ---------------------------------------------------------------- generic detectors
# They run on folded text: lower case, full-width digits as ASCII, no accents, non-breaking or
# other unusual spaces already turned into plain spaces.

_EMAIL = re.compile(
    r"(?<![\w.%+\-])"                  # start at the beginning of the address
    r"[\w.%+\-]+@(?:[^\W_][\w\-]*\.)+[^\W\d_]{2,}"
    r"(?![\w\-])"
)

_PHONE_SEPARATOR = r"[ .\-]"
_SPANISH_PREFIX = rf"(?:(?:\+|00)34|\((?:\+|00)34\)){_PHONE_SEPARATOR}?"
_PHONE = re.compile(
    # Not the tail of a longer number ("1 600 123 456", "+1 600...", an account number).
    rf"(?<![\d+])(?<!\d{_PHONE_SEPARATOR})"
    rf"(?:{_SPANISH_PREFIX})?[6-9](?:{_PHONE_SEPARATOR}?[0-9]){{8}}"
    # Not the head of a longer number, nor an amount such as "900.000.000,00 €".
    rf"(?![ .,\-]?\d)(?!\s?(?:€|eur\b|euros?\b))"
)

_DNI = re.compile(r"(?<!\d)" + _DNI_BODY + r"(?![^\W\d_])")
_NIE = re.compile(r"(?<![^\W\d_])" + _NIE_BODY + r"(?![^\W\d_])")

# An IBAN may start wherever two letters and two digits begin a word; it runs on as one
# block, or as groups of four separated by single spaces (the last group shorter).
_IBAN_START = re.compile(r"(?<![^\W_])(?=[a-z]{2}[0-9]{2})")
_IBAN_RUN = re.compile(r"[a-z]{2}[0-9]{2}[a-z0-9]*(?: [a-z0-9]+){0,8}")
_ALNUM_RUN = re.compile(r"[a-z0-9]+")

_FoundSpans = Iterator[tuple[int, int]]


def _find_emails(folded: str) -> _FoundSpans:
    for match in _EMAIL.finditer(folded):
        yield match.span()


def _find_phones(folded: str) -> _FoundSpans:
    for match in _PHONE.finditer(folded):
        yield match.span()


def _find_dnis(folded: str) -> _FoundSpans:
    for match in _DNI.finditer(folded):
        if _check_letter_ok(match["number"].replace(".", ""), match["letter"]):
            yield match.span()


def _find_nies(folded: str) -> _FoundSpans:
    for match in _NIE.finditer(folded):
        if _nie_ok(match["prefix"], match["number"], match["letter"]):
            yield match.span()


def _find_ibans(folded: str) -> _FoundSpans:
    for start in _IBAN_START.finditer(folded):
        end = _iban_end(folded, start.start())
        if end is not None:
            yield start.start(), end


def _iban_end(folded: str, start: int) -> int | None:
    """Where the longest valid IBAN starting at ``start`` ends, if there is one.

    The text after an IBAN may look like one more group ("... 1332 en"), so shorter
    readings are tried until one passes the check.
    """
    run = _IBAN_RUN.match(folded, start)
    if run is None:
        return None
    groups = list(_ALNUM_RUN.finditer(folded, start, run.end()))
    for count in range(len(groups), 0, -1):
        chosen = [group.group() for group in groups[:count]]
        grouped_in_fours = all(len(group) == 4 for group in chosen[:-1]) and len(chosen[-1]) <= 4
        if count > 1 and not grouped_in_fours:
            continue
        end = groups[count - 1].end()
        if end < len(folded) and folded[end].isalnum():
            continue  # the last group runs on into a word
        if valid_iban("".join(chosen)):
            return end
    return None


# In order of specificity: on equal length the earlier kind names the replacement.
_GENERIC_FINDERS: tuple[tuple[str, Callable[[str], _FoundSpans]], ...] = (
    ("iban", _find_ibans),
    ("email", _find_emails),
    ("nie", _find_nies),
    ("dni", _find_dnis),
    ("phone", _find_phones),
)
_KNOWN_RANK = 0  # known values beat every generic pattern on equal length


# ---------------------------------------------------------------- known values

_LETTERS = r"[^\W\d_]"
_MIN_NAME_WORD = 3
_MIN_ADDRESS_PART = 6
_MIN_PHONE_DIGITS = 6  # shorter "phones" would remove ordinary numbers from the text


def _edge_guard(char: str, *, before: bool) -> str:
    """Refuse a neighbour of the same class as the needle's edge character.

    So a name is not found inside a longer word ("García" in "Garcíanos") nor a number
    inside a longer number, but "Ana" is still found in "Ana600123456".
    """
    if char.isdigit():
        neighbour = r"\d"
    elif char.isalpha():
        neighbour = _LETTERS
    else:
        return ""
    return f"(?<!{neighbour})" if before else f"(?!{neighbour})"


def _text_pattern(needle: str) -> str:
    """A folded needle as a pattern: whole words only, any run of spaces between words."""
    body = r"\s+".join(re.escape(word) for word in needle.split())
    return _edge_guard(needle[0], before=True) + body + _edge_guard(needle[-1], before=False)


def _name_needles(name: str) -> Iterator[str]:
    folded = _fold_string(name).strip()
    if folded:
        yield folded
    # Each word on its own too: a citizen signs "María García" or is called "Sra. López".
    # Shorter words ("de", "la", "Li") would also remove ordinary words from the text.
    for word in re.findall(_LETTERS + "+", folded):
        if len(word) >= _MIN_NAME_WORD:
            yield word


def _address_needles(address: str) -> Iterator[str]:
    for line in address.splitlines():
        folded = _fold_string(line).strip()
        if folded:
            yield folded
        # "Calle Mayor 12, 3º B" is often written without the floor, or the floor first.
        for part in folded.split(","):
            if len(part.strip()) >= _MIN_ADDRESS_PART:
                yield part.strip()


def _phone_pattern(phone: str) -> str | None:
    """A known phone, whatever its grouping and with or without the +34/0034 prefix."""
    folded = _fold_string(phone).strip()
    digits = "".join(re.findall(r"[0-9]", folded))
    prefix = _SPANISH_PREFIX
    if folded.startswith(("+", "00", "(+", "(00")):
        digits = digits.removeprefix("00")
        if digits.startswith("34"):
            digits = digits[2:]
        else:  # a foreign number: keep its country code, the + or 00 is optional
            prefix = r"(?:\+|00)"
    if len(digits) < _MIN_PHONE_DIGITS:
        return None
    body = f"{_PHONE_SEPARATOR}?".join(digits)
    return rf"(?<![\d+])(?:{prefix})?{body}(?!\d)"


def _values(argument: str, values: Iterable[str]) -> list[str]:
    # A bare string would be iterated letter by letter and redact every "a" in the text.
    if isinstance(values, str):
        raise TypeError(f"{argument} must be an iterable of strings, not a string")
    return [value for value in values if value and value.strip()]


def _known_patterns(*, names: Iterable[str], emails: Iterable[str], phones: Iterable[str],
                    addresses: Iterable[str]) -> list[tuple[re.Pattern[str], str]]:
    patterns: dict[str, str] = {}  # pattern -> kind; also drops duplicates
    for name in _values("names", names):
        for needle in _name_needles(name):
            patterns.setdefault(_text_pattern(needle), "name")
    for email in _values("emails", emails):
        needle = _fold_string(email).strip()
        if needle:
            patterns.setdefault(_text_pattern(needle), "email")
    for phone in _values("phones", phones):
        pattern = _phone_pattern(phone)
        if pattern:
            patterns.setdefault(pattern, "phone")
    for address in _values("addresses", addresses):
        for needle in _address_needles(address):
            patterns.setdefault(_text_pattern(needle), "address")
    return [(re.compile(pattern), kind) for pattern, kind in patterns.items()]


# ---------------------------------------------------------------- spans

@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    kind: str
    rank: int  # on equal length the lower rank names the replacement

    @property
    def length(self) -> int:
        return self.end - self.start


def _find_all(text: str, known: list[tuple[re.Pattern[str], str]]) -> Iterator[_Span]:
    """Every match of every detector in ``text``, possibly overlapping."""
    folded = _Folded.of(text)
    for pattern, kind in known:
        for match in pattern.finditer(folded.text):
            yield _Span(*folded.source_span(*match.span()), kind, _KNOWN_RANK)
    for rank, (kind, finder) in enumerate(_GENERIC_FINDERS, start=_KNOWN_RANK + 1):
        for start, end in finder(folded.text):
            yield _Span(*folded.source_span(start, end), kind, rank)


def _union(cluster: list[_Span]) -> _Span:
    best = min(cluster, key=lambda span: (-span.length, span.rank))
    return _Span(min(span.start for span in cluster), max(span.end for span in cluster),
                 best.kind, best.rank)


def _merge(spans: Iterable[_Span]) -> list[_Span]:
    """Non-overlapping spans: each group of overlapping spans becomes their union."""
    merged: list[_Span] = []
    cluster: list[_Span] = []
    for span in sorted(spans, key=lambda span: (span.start, -span.end)):
        if cluster and span.start >= max(member.end for member in cluster):
            merged.append(_union(cluster))
            cluster = []
        cluster.append(span)
    if cluster:
        merged.append(_union(cluster))
    return merged


_SAME_LINE_SPACE = re.compile(r"[^\S\r\n]*")


def _join_names(spans: list[_Span], source: str) -> list[_Span]:
    """One placeholder for "María García" rather than "[nombre] [nombre]"."""
    joined: list[_Span] = []
    for span in spans:
        previous = joined[-1] if joined else None
        if (previous and previous.kind == span.kind == "name"
                and _SAME_LINE_SPACE.fullmatch(source, previous.end, span.start)):
            joined[-1] = _Span(previous.start, span.end, "name", previous.rank)
        else:
            joined.append(span)
    return joined


# ---------------------------------------------------------------- redaction

class _Draft:
    """The source text with ``hits`` replaced, and where each output character came from."""

    def __init__(self, source: str, hits: list[_Span], labels: Mapping[str, str]) -> None:
        self._pieces: list[str] = []
        # For each output character, the source span it stands for: the character itself,
        # or the whole hit when it belongs to a placeholder.
        self.source_starts: list[int] = []
        self.source_ends: list[int] = []
        replacements: list[Replacement] = []
        position = 0
        for hit in hits:
            self._copy(source, position, hit.start)
            offset = len(self.source_starts)
            label = labels[hit.kind]
            replacements.append(Replacement(hit.kind, source[hit.start:hit.end],
                                            offset, offset + len(label)))
            self._pieces.append(label)
            self.source_starts.extend([hit.start] * len(label))
            self.source_ends.extend([hit.end] * len(label))
            position = hit.end
        self._copy(source, position, len(source))
        self.text = "".join(self._pieces)
        self.replacements = tuple(replacements)

    def _copy(self, source: str, start: int, end: int) -> None:
        self._pieces.append(source[start:end])
        self.source_starts.extend(range(start, end))
        self.source_ends.extend(range(start + 1, end + 1))

    def to_source(self, span: _Span) -> _Span:
        return _Span(self.source_starts[span.start], self.source_ends[span.end - 1],
                     span.kind, span.rank)


def _placeholder_mask(text: str, labels: Iterable[str]) -> list[bool]:
    """Which characters belong to a placeholder, whether ours or already in the input.

    Occurrences may overlap, so every one is marked: a placeholder must never be
    partly matched again.
    """
    mask = [False] * len(text)
    for label in {label for label in labels if label}:
        found = text.find(label)
        while found != -1:
            mask[found:found + len(label)] = [True] * len(label)
            found = text.find(label, found + 1)
    return mask


def _labels(overrides: Mapping[str, str] | None) -> dict[str, str]:
    labels = dict(PLACEHOLDERS)
    if overrides:
        unknown = set(overrides) - set(labels)
        if unknown:
            raise ValueError(f"unknown placeholder kinds: {', '.join(sorted(unknown))}")
        labels.update(overrides)
    return labels


def redact(text: str, *, names: Iterable[str] = (), emails: Iterable[str] = (),
           phones: Iterable[str] = (), addresses: Iterable[str] = (),
           placeholders: Mapping[str, str] | None = None) -> Redacted:
    """Replace personal data in ``text`` with placeholders.

    ``names``, ``emails``, ``phones`` and ``addresses`` are the citizen's own data from
    the case; anything else that looks like an e-mail, a Spanish phone number or a
    valid DNI, NIE or IBAN is removed as well. ``placeholders`` overrides some or all of
    :data:`PLACEHOLDERS` (for instance with labels in the article's language).
    """
    labels = _labels(placeholders)
    known = _known_patterns(names=names, emails=emails, phones=phones, addresses=addresses)
    hits: list[_Span] = []
    # Replacing a match can uncover another: "600 123 456" right after an IBAN is only
    # seen as a phone once the IBAN's last digits are gone. So search again until a pass
    # finds nothing new, which is also what makes redacting twice a no-op. Every pass
    # covers at least one more source character, so the loop ends.
    while True:
        draft = _Draft(text, hits, labels)
        in_placeholder = _placeholder_mask(draft.text, labels.values())
        fresh = [draft.to_source(span) for span in _find_all(draft.text, known)
                 if not all(in_placeholder[span.start:span.end])]
        if not fresh:
            return Redacted(draft.text, draft.replacements)
        hits = _join_names(_merge([*hits, *fresh]), text)


# ---------------------------------------------------------------- review

_MARK = Markup('<mark class="redacted" title="{kind}">{label}</mark>')


def highlight_html(redacted: Redacted) -> Markup:
    """The redacted text as HTML with each placeholder in a ``<mark>``; the rest escaped."""
    parts: list[Markup] = []
    position = 0
    for replacement in sorted(redacted.replacements, key=lambda item: item.start):
        parts.append(escape(redacted.text[position:replacement.start]))
        parts.append(_MARK.format(kind=replacement.kind,
                                  label=redacted.text[replacement.start:replacement.end]))
        position = replacement.end
    parts.append(escape(redacted.text[position:]))
    return Markup("").join(parts)
