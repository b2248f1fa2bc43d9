"""A form body that would cost too much to parse is refused with 413, before any view.

Werkzeug caps multipart forms (``MAX_FORM_MEMORY_SIZE`` per text field,
``MAX_FORM_PARTS``); ``portal.request_limits`` caps urlencoded bodies too. The longest
real forms must still go through.
"""

from __future__ import annotations

import io
from urllib.parse import urlencode

import pytest

from portal.models import Article, Case, Role
from tests.cases.helpers import complaint_form
from tests.test_i18n import _catalog

FIELDS = 2_400_000


@pytest.fixture(scope="module")
def flood() -> bytes:
    """24 MB of urlencoded form: 2.4 million fields of ten bytes (under MAX_CONTENT_LENGTH)."""
    body = b"ab=123456&" * FIELDS
    assert len(body) == 24_000_000
    return body


def _multipart(fields: list[tuple[str, str]]) -> tuple[bytes, str]:
    """A multipart body built here: the test client spools large ones to a temporary
    file that it never closes (a ResourceWarning)."""
    boundary = "----limits-test-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
             for name, value in fields]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _spanish(message: str) -> str:
    return _catalog("es").get(message).string


@pytest.mark.parametrize("path", ["/", "/cases/new?kind=question"])
@pytest.mark.parametrize("csrf", [True, False], ids=["csrf on", "csrf off"])
def test_a_urlencoded_flood_is_refused_with_413(make_app, flood, path, csrf):
    # With CSRF on (as deployed) the CSRF check is what reads the form first; with it
    # off, the NUL-byte check does. Either way the body is refused before it is split.
    client = make_app(WTF_CSRF_ENABLED=csrf).test_client()
    response = client.post(path, data=flood, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert _spanish("The files are too large") in response.text
    assert '<html lang="es">' in response.text


def test_a_urlencoded_body_without_a_length_is_read_only_up_to_the_limit(make_app, flood):
    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    stream = io.BytesIO(flood)
    response = client.post("/cases/new?kind=question&lang=en", input_stream=stream,
                           content_type="application/x-www-form-urlencoded",
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    assert "The files are too large" in response.text
    assert stream.tell() <= 1024 * 1024 + 1  # MAX_FORM_MEMORY_SIZE, plus the byte that tells


def test_too_many_urlencoded_fields_are_refused_even_in_a_small_body(client):
    body = b"&".join(b"f%d=1" % number for number in range(600))
    assert len(body) < 5000
    response = client.post("/cases/new?kind=question&lang=en", data=body,
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413


def test_multipart_with_too_many_parts_is_refused(client):
    body, content_type = _multipart([(f"field{number}", "x") for number in range(600)])
    response = client.post("/cases/new?kind=question&lang=en", data=body,
                           content_type=content_type)
    assert response.status_code == 413
    assert "The files are too large" in response.text


def test_multipart_with_a_text_part_too_large_to_keep_in_memory_is_refused(client):
    body, content_type = _multipart([("subject", "Hola"), ("body", "a" * (1024 * 1024 + 1))])
    response = client.post("/cases/new?kind=question&lang=en", data=body,
                           content_type=content_type)
    assert response.status_code == 413


# The longest text in each of our languages' worst case: Catalan and Galician accents
# take two bytes in UTF-8, six percent-encoded; an emoji takes four, twelve encoded.
LONG_TEXTS = {
    "catalan": "Col·legi públic: sol·licitud d'adequació de l'àrea de jocs. ",
    "basque": "Udaletxeko zerbitzuari buruzko kexa: ordutegia ez da egokia. ",
    "galician": "Solicitude de información sobre a recollida do lixo na rúa. ",
    "emoji": "🙂",
}


def _fill(text: str, length: int) -> str:
    return (text * (length // len(text) + 1))[:length]


@pytest.mark.parametrize("text", LONG_TEXTS.values(), ids=LONG_TEXTS.keys())
@pytest.mark.parametrize("encoding", ["application/x-www-form-urlencoded",
                                      "multipart/form-data"])
def test_the_longest_legitimate_case_still_goes_through(make_app, db, text, encoding):
    client = make_app(WTF_CSRF_ENABLED=False).test_client()
    data = complaint_form(
        subject=_fill(text, 200), body=_fill(text, 10_000), desired_outcome=_fill(text, 2000),
        location_text=_fill(text, 300), contact_name=_fill(text, 120),
        contact_phone="+34 600 123 456", latitude="40.4168", longitude="-3.7038")
    if encoding == "multipart/form-data":
        body, content_type = _multipart(list(data.items()))
    else:
        body, content_type = urlencode(data).encode(), encoding
    response = client.post("/cases/new?kind=complaint&lang=en", data=body,
                           content_type=content_type)
    assert response.status_code == 302, response.text[:500]
    case = db.session.scalar(db.select(Case))
    assert len(case.body) == 10_000


def test_the_longest_knowledge_base_article_still_goes_through(client, login_as, db):
    login_as(Role.AGENT)
    body = _fill(LONG_TEXTS["emoji"], 50_000)  # the worst case: 600 KB percent-encoded
    response = client.post("/staff/kb/new", data={
        "title": _fill(LONG_TEXTS["catalan"], 200), "summary": _fill(LONG_TEXTS["basque"], 500),
        "body": body, "locale": "ca", "tags": _fill(LONG_TEXTS["galician"], 300)[:300]})
    assert response.status_code == 302, response.text[:500]
    assert db.session.scalar(db.select(Article)).body == body
