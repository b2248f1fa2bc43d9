"""How a topic tag is shown: a readable label in the reader's language, never a slug.

Editors type tags in the article's language ("vehículos", "ora"); most read well as
typed, with a capital. Acronyms do not: "ora" or "zbe" means nothing to most readers,
and nothing at all in another language. Those the knowledge base uses get a translated
label here; add one when a new acronym tag appears.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

# Translators: topic tags of the knowledge base; keep the acronym in brackets.
ACRONYMS = {
    "ibi": _l("Property tax (IBI)"),
    "ite": _l("Building inspection (ITE)"),
    "ivtm": _l("Vehicle tax (IVTM)"),
    "ora": _l("Regulated parking (ORA)"),
    "vmp": _l("Personal mobility vehicles (VMP)"),
    "zbe": _l("Low-emission zone (ZBE)"),
}


def tag_label(slug: str, stored_label: str = "") -> str:
    """The label to show for a tag: translated for a known acronym, else as typed."""
    if slug in ACRONYMS:
        return str(ACRONYMS[slug])
    text = (stored_label or slug.replace("-", " ")).strip()
    return text[:1].upper() + text[1:]
