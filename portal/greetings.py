"""Does a message already greet its reader? Used so a reply email greets only once.

The reply email opens with "Hello <name>," in the case's language. An agent's message
(typed, or a saved reply with ``{name}``) may open with its own greeting; then the
email's own would be the second "Hola, Lucía:" in a row, so the email leaves it out.
"""

from __future__ import annotations

import re
import unicodedata

# Openings of a greeting line in the five languages (compared without accents, lower
# case). A first line counts as a greeting when it starts with one of these words, or
# when it is short, names the citizen and ends like a salutation ("Lucía:", "Lucía,").
_GREETING_WORDS = (
    # Not "hi": the Catalan "Hi ha..." ("there is") opens many a sentence.
    "hola", "hello", "dear", "good morning", "good afternoon",
    "buenos dias", "buenas tardes", "estimado", "estimada", "estimados", "apreciado",
    "apreciada", "bon dia", "bona tarda", "benvolgut", "benvolguda", "benvolguts",
    "kaixo", "egun on", "arratsalde on", "agurgarri", "ola", "bos dias", "boas tardes",
    "querido", "querida",
)


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).lower()


def opens_with_greeting(body: str, name: str = "") -> bool:
    """Whether the first non-empty line of ``body`` is a greeting (to ``name`` or anyone)."""
    first = next((line.strip() for line in body.splitlines() if line.strip()), "")
    if not first or len(first) > 80:
        return False
    plain = _plain(first)
    if any(plain == word or re.match(rf"{re.escape(word)}\b", plain)
           for word in _GREETING_WORDS):
        return True
    return bool(name.strip()) and _plain(name.strip()) in plain and plain[-1] in ":,"
