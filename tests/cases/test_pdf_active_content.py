"""PDFs that would run or carry something are refused, however their names are written.

The corpus is built here, by hand: each dangerous sample hides its marker from a byte
search (``#xx`` name escapes, a compressed object stream), so only a real parser finds
it. The benign samples must still be accepted.
"""

from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from portal import pdf_safety
from portal.pdf_safety import PdfProblem
from portal.storage import UploadRejected, inspect_upload
from tests.cases.helpers import CATALOG, NO_PAGES, pdf_document, question_form
from tests.cases.test_intake import submit

MAX_BYTES = 10 * 1024 * 1024

ONE_PAGE = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
TEXT = b"BT /F1 18 Tf 72 720 Td (Solicitud de licencia de obra) Tj ET"
CONTENTS = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(TEXT), TEXT)


def page(extra: bytes = b"") -> bytes:
    return (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> %s >>" % extra)


def text_pdf(catalog_extra: bytes = b"", page_extra: bytes = b"", *more: bytes) -> bytes:
    """One page of text; objects 6 and up are ``more``."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R %s >>" % catalog_extra
    return pdf_document(catalog, ONE_PAGE, page(page_extra), CONTENTS, FONT, *more)


def link(action: bytes) -> bytes:
    return b"/Annots [<< /Type /Annot /Subtype /Link /Rect [72 700 300 730] /A %s >>]" % action


def with_object_stream(*objects: bytes) -> bytes:
    """A PDF 1.5 whose objects 1.. all sit compressed in one object stream.

    The object stream is the object after them, the cross-reference stream the last;
    nothing but those two is readable without inflating the stream.
    """
    count = len(objects)
    stream_number, xref_number = count + 1, count + 2
    bodies, header, position = b"", [], 0
    for number, body in enumerate(objects, 1):
        header.append(b"%d %d" % (number, position))
        bodies += body + b"\n"
        position = len(bodies)
    header_bytes = b" ".join(header) + b"\n"
    packed = zlib.compress(header_bytes + bodies)
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    stream_offset = len(out)
    out += (b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\n"
            b"stream\n" % (stream_number, count, len(header_bytes), len(packed)))
    out += packed + b"\nendstream\nendobj\n"
    xref_offset = len(out)
    rows = [b"\x00" + (0).to_bytes(4, "big") + (65535).to_bytes(2, "big")]
    rows += [b"\x02" + stream_number.to_bytes(4, "big") + index.to_bytes(2, "big")
             for index in range(count)]
    rows += [b"\x01" + stream_offset.to_bytes(4, "big") + b"\x00\x00",
             b"\x01" + xref_offset.to_bytes(4, "big") + b"\x00\x00"]
    table = b"".join(rows)
    out += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Length %d >>\n"
            b"stream\n" % (xref_number, xref_number + 1, len(table)))
    out += table + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_offset
    return bytes(out)


def written_by_pypdf(*, user_password: str | None = None,
                     open_action: DictionaryObject | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    if open_action is not None:
        writer._root_object[NameObject("/OpenAction")] = open_action
    if user_password is not None:
        writer.encrypt(user_password=user_password, owner_password="propietario",
                       algorithm="AES-128")
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def pillow_pdf() -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (60, 40), (240, 240, 240)).save(output, "PDF")
    return output.getvalue()


JS_ACTION = b"<< /S /J#61vaScript /J#53 (app.alert\\(1\\)) >>"

ACTIVE = {
    "plain JavaScript name tree": text_pdf(
        b"/Names << /JavaScript << /Names [(a) << /S /JavaScript /JS (app.alert(1)) >>] >> >>"),
    "escaped /S /J#61vaScript on a link": text_pdf(b"", link(JS_ACTION)),
    "escaped /L#61unch": text_pdf(b"", link(b"<< /S /L#61unch /F (cmd.exe) >>")),
    "escaped /J#53 key alone": text_pdf(b"", link(b"<< /S /Named /N /NextPage /J#53 (x) >>")),
    "OpenAction with JavaScript": text_pdf(b"/OpenAction " + JS_ACTION),
    "OpenAction opening a web address": text_pdf(
        b"/OpenAction << /S /URI /URI (https://tracker.example/open) >>"),
    "OpenAction GoTo chained to another action": text_pdf(
        b"/OpenAction << /S /GoTo /D [3 0 R /Fit] /Next << /S /URI /URI (https://x.example) >> >>"),
    "page additional action (/AA)": text_pdf(
        b"", b"/AA << /O << /S /URI /URI (https://tracker.example/page) >> >>"),
    "escaped /A#41 on a field": text_pdf(
        b"/AcroForm << /Fields [6 0 R] >>", b"/Annots [6 0 R]",
        b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (a) /Rect [0 0 9 9] /P 3 0 R "
        b"/A#41 << /F << /S /ResetForm >> >> >>"),
    "embedded file, escaped": text_pdf(
        b"/Names << /Embedded#46iles << /Names [(factura.exe) 6 0 R] >> >>", b"",
        b"<< /Type /Filespec /F (factura.exe) /E#46 << /F 7 0 R >> >>",
        b"<< /Type /Embedded#46ile /Length 2 >>\nstream\nMZ\nendstream"),
    "file attachment annotation": text_pdf(
        b"", b"/Annots [<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 9 9] /FS 6 0 R >>]",
        b"<< /Type /Filespec /F (x.bin) >>"),
    "XFA form, escaped": text_pdf(b"/AcroForm << /Fields [] /#58FA 6 0 R >>", b"",
                                  b"<< /Length 7 >>\nstream\n<xdp/>\nendstream"),
    "RichMedia annotation, escaped": text_pdf(
        b"", b"/Annots [<< /Type /Annot /Subtype /Rich#4dedia /Rect [0 0 9 9] >>]"),
    "ImportData action": text_pdf(b"", link(b"<< /S /ImportD#61ta /F (C:/secret.fdf) >>")),
    "SubmitForm action": text_pdf(
        b"", link(b"<< /S /Submit#46orm /F << /FS /URL /F (https://x.example) >> >>")),
    "JavaScript inside a compressed object stream": with_object_stream(
        b"<< /Type /Catalog /Pages 2 0 R /Names << /JavaScript << /Names [(a) 3 0 R] >> >> >>",
        NO_PAGES,
        b"<< /S /JavaScript /JS (app.launchURL\\('https://x.example'\\)) >>"),
    "JavaScript in an object no reference reaches": text_pdf(
        b"", b"", b"<< /S /J#61vaScript /JS (this.print\\(\\)) >>"),
}

BENIGN = {
    "no pages (the fixture used across the suite)": pdf_document(CATALOG, NO_PAGES),
    "a page of text": text_pdf(),
    "a link to a web address": text_pdf(b"", link(b"<< /S /URI /URI (https://sede.example) >>")),
    "open at a destination": text_pdf(b"/OpenAction [3 0 R /Fit]"),
    "open with a GoTo action": text_pdf(b"/OpenAction << /S /GoTo /D [3 0 R /XYZ 0 842 0] >>"),
    "a compressed object stream": with_object_stream(CATALOG, NO_PAGES),
    "written by pypdf": written_by_pypdf(),
    "written by Pillow": pillow_pdf(),
    "restrictions only (empty user password, AES)": written_by_pypdf(user_password=""),
}


def _refusal(data: bytes) -> str | None:
    try:
        inspect_upload("documento.pdf", data, MAX_BYTES)
    except UploadRejected as error:
        assert error.filename == "documento.pdf"
        return error.code
    return None


@pytest.mark.parametrize("data", ACTIVE.values(), ids=ACTIVE.keys())
def test_active_content_is_refused(data):
    assert _refusal(data) == "active_content"
    # The parser finds it on its own, not just the byte search in front of it.
    assert pdf_safety.find_problem(data) is PdfProblem.ACTIVE_CONTENT


@pytest.mark.parametrize("data", BENIGN.values(), ids=BENIGN.keys())
def test_passive_documents_are_accepted(data):
    assert _refusal(data) is None


def test_escaped_samples_hide_from_a_byte_search():
    # Otherwise the corpus would not prove that the parser is needed.
    from portal.storage import _ACTIVE_MARKERS

    for name in ("escaped /S /J#61vaScript on a link", "escaped /L#61unch",
                 "embedded file, escaped", "XFA form, escaped",
                 "JavaScript inside a compressed object stream"):
        assert not _ACTIVE_MARKERS.search(ACTIVE[name]), name


def test_javascript_in_an_encrypted_document_with_an_empty_password_is_found():
    action = DictionaryObject({NameObject("/S"): NameObject("/JavaScript"),
                               NameObject("/JS"): TextStringObject("app.alert(1)")})
    data = written_by_pypdf(user_password="", open_action=action)
    assert pdf_safety.find_problem(data) is PdfProblem.ACTIVE_CONTENT


def test_a_document_that_needs_a_password_is_refused_as_encrypted():
    assert _refusal(written_by_pypdf(user_password="secreto")) == "encrypted"


@pytest.mark.parametrize("data", [
    b"%PDF-1.4\nnothing a parser can read\n%%EOF\n",
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog " + b"[" * 5000 + b"\n%%EOF\n",  # no end
    pdf_document(CATALOG, NO_PAGES, trailer=b"/Root 9 0 R"),  # a root that is not there
], ids=["garbage", "arrays that never end", "missing root"])
def test_unreadable_documents_are_refused_as_damaged(data):
    assert _refusal(data) == "damaged"


def test_too_many_objects_is_refused_as_damaged(monkeypatch):
    monkeypatch.setattr(pdf_safety, "MAX_OBJECTS", 50)
    many = [b"<< /Type /Annot /Subtype /Text /Rect [0 0 9 9] >>"] * 60
    refs = b" ".join(b"%d 0 R" % number for number in range(6, 66))
    data = text_pdf(b"", b"/Annots [" + refs + b"]", *many)
    assert _refusal(data) == "damaged"
    monkeypatch.setattr(pdf_safety, "MAX_OBJECTS", 10_000)
    assert _refusal(data) is None


def test_the_intake_form_names_the_refused_pdf_next_to_the_files_field(client, db):
    from tests.test_i18n import _catalog

    message = _catalog("es").get(
        "%(name)s contains active content (scripts or embedded files) and cannot be "
        "accepted.").string % {"name": "recibo.pdf"}
    response = submit(client, question_form(), kind="question", lang="es",
                      attachments=[(ACTIVE["escaped /S /J#61vaScript on a link"], "recibo.pdf")])
    assert response.status_code == 200
    assert 'id="attachments-error"' in response.text
    assert message in response.text
    assert 'value="¿Cómo pido la tarjeta de aparcamiento?"' in response.text


def test_the_intake_form_asks_for_a_copy_without_a_password(client, db):
    response = submit(client, question_form(), kind="question", lang="en",
                      attachments=[(written_by_pypdf(user_password="secreto"), "nomina.pdf")])
    assert response.status_code == 200
    assert 'id="attachments-error"' in response.text
    assert ("nomina.pdf is protected with a password. Attach a copy without a password."
            in response.text)
