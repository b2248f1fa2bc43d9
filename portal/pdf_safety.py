"""Does a PDF carry active content? A walk over every object a PDF reader could reach.

A byte search cannot answer this: names may be written with ``#xx`` escapes
(``/J#61vaScript`` is ``/JavaScript``), and objects may sit compressed inside object
streams or encrypted. pypdf decodes all of that; this module then walks every object
reachable from the trailer (catalogue, document information, pages, annotations, name
trees, the interactive form...) and every object the cross-reference tables list, and
looks for the names that make a document do something when it is opened or touched.
"""

from __future__ import annotations

import io
import logging
from enum import StrEnum

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

# pypdf logs every oddity of a damaged file as a warning, some quoting the file's own
# text: a citizen's document must not end up in our logs. Its errors still do.
logging.getLogger("pypdf").setLevel(logging.ERROR)

# Dictionary keys or name values that mean the document runs code, opens or sends other
# things, or carries other files. pypdf gives names decoded, so escapes do not hide them.
ACTIVE_NAMES = frozenset({
    "/JavaScript", "/JS",  # scripts: an action type, a name tree, an action's code
    "/AA",  # additional actions, run on events (page opened, field focused, closed...)
    "/Launch",  # runs a program or opens another file
    "/ImportData", "/SubmitForm",  # reads a file from the disk, sends data out
    "/EmbeddedFile", "/EmbeddedFiles", "/EF", "/FileAttachment",  # other files inside
    "/XFA",  # XML forms, with their own scripting
    "/RichMedia",  # Flash and other media that carry scripts
})

# Objects read, plus dictionaries and arrays walked. A long real document needs a few
# per page (3,000 blank pages take about 13,000); more than this is a file built to make
# us work (each costs some 20 µs: the cap keeps one upload to about two seconds).
MAX_OBJECTS = 100_000


class PdfProblem(StrEnum):
    """Why a PDF is refused; the values are the upload refusal codes."""

    ACTIVE_CONTENT = "active_content"
    ENCRYPTED = "encrypted"
    DAMAGED = "damaged"


def find_problem(data: bytes) -> PdfProblem | None:
    """``None`` when the PDF is passive, else why it must be refused."""
    # pypdf raises many kinds of exception on hostile or broken files (its own errors,
    # but also ValueError, KeyError, zlib.error, RecursionError...): any of them means
    # we could not read the file, which is all the citizen needs to know.
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                decrypted = reader.decrypt("")
            except Exception:  # an encryption pypdf does not support: we cannot look in
                return PdfProblem.ENCRYPTED
            if not decrypted:
                return PdfProblem.ENCRYPTED
        root = reader.trailer.get("/Root")
        if not isinstance(root.get_object() if root is not None else None, DictionaryObject):
            return PdfProblem.DAMAGED  # no catalogue: no reader can open it
        return _walk(reader)
    except Exception:  # see above
        return PdfProblem.DAMAGED


def _roots(reader: PdfReader) -> list:
    """The trailer, and every object the cross-reference tables list.

    Objects no reference reaches are listed too: a reader that repairs a file may
    find them even though pypdf's reading of the file does not use them.
    """
    roots: list = [reader.trailer]
    for generation, numbers in reader.xref.items():
        roots.extend(IndirectObject(number, generation, reader) for number in numbers)
    roots.extend(IndirectObject(number, 0, reader) for number in reader.xref_objStm)
    return roots


def _walk(reader: PdfReader) -> PdfProblem | None:
    pending = _roots(reader)
    if len(pending) > MAX_OBJECTS:
        return PdfProblem.DAMAGED
    seen: set[tuple[int, int]] = set()
    visited = 0  # objects read from the file, and dictionaries and arrays walked
    while pending:
        if visited > MAX_OBJECTS:
            return PdfProblem.DAMAGED
        item = pending.pop()
        if isinstance(item, IndirectObject):
            key = (item.idnum, item.generation)
            if key in seen:
                continue
            seen.add(key)
            visited += 1
            item = item.get_object()
        if isinstance(item, NameObject):
            if item in ACTIVE_NAMES:
                return PdfProblem.ACTIVE_CONTENT
            continue
        if not isinstance(item, DictionaryObject | ArrayObject):
            continue
        visited += 1
        if isinstance(item, ArrayObject):
            pending.extend(item)
            continue
        # Raw values (dict.items), so that references are followed here, once each.
        for name, value in dict.items(item):
            if name in ACTIVE_NAMES:
                return PdfProblem.ACTIVE_CONTENT
            if name == "/OpenAction" and not _only_goes_to_a_page(value):
                return PdfProblem.ACTIVE_CONTENT
            pending.append(value)
    return None


def _only_goes_to_a_page(value) -> bool:
    """Whether an /OpenAction is just "open at this page".

    That is a destination (an array, or the name of one), or a single GoTo action.
    Any other action on opening (a web address, another file, a chain of actions with
    ``/Next``...) runs without the reader asking for it, so it is refused.
    """
    if isinstance(value, IndirectObject):
        value = value.get_object()
    if not isinstance(value, DictionaryObject):
        return True
    return value.get("/S") == "/GoTo" and "/Next" not in value
