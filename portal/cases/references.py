"""Case references like ``Q-7K3M-9XQD``: short, readable aloud, and not guessable.

Crockford's base-32 alphabet leaves out I, L, O and U, so a reference read over the
phone is not mistaken. Eight random characters give 32⁸ ≈ 10¹² references; a reference
alone never opens a case (that needs the emailed link or the owner's account), and it
is still too sparse to enumerate.
"""

from __future__ import annotations

import re
import secrets

from portal.models import CaseKind

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = {CaseKind.QUESTION: "Q", CaseKind.COMPLAINT: "C"}
PATTERN = re.compile(r"^[QC]-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def new_reference(kind: CaseKind) -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{PREFIX[kind]}-{body[:4]}-{body[4:]}"


def normalise(text: str) -> str:
    """Accept what people type: any case, spaces, O for 0, I/L for 1, missing dashes."""
    cleaned = re.sub(r"[\s\-_.]", "", text.upper())
    if len(cleaned) != 9:
        return cleaned
    prefix, body = cleaned[0], cleaned[1:].translate(str.maketrans("OIL", "011"))
    return f"{prefix}-{body[:4]}-{body[4:]}"


def looks_valid(reference: str) -> bool:
    return bool(PATTERN.match(reference))
