"""A NUL byte (or any odd character) in a request never gives a 500.

PostgreSQL refuses text with NUL in it (psycopg DataError), so on PostgreSQL
``/staff/?q=%00`` and ``/staff/cases/%00`` used to answer 500. ``portal.security``
refuses NUL in the path, the query, the headers and hidden or chosen form values with
the translated 400 page; a text field the person typed into says so next to the field
and keeps the text. Every test here runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.knowledge import service as knowledge
from portal.models import Case, Role
from tests.cases.helpers import complaint_form
from tests.cases.test_intake import submit
from tests.test_i18n import _catalog

# Text a person would never type, and text they might: NUL in all its spellings, other
# control characters, quotes, escapes, numbers too large, dates that do not exist.
ODD = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30),
    st.sampled_from([
        "\x00", "a\x00b", "\x00" * 3, "%00", "%2500", "\x01", "\x7f", "\x1b[31m", "\u202e",
        "\ufeff", "'", '"', "\\", "%", "../..", "*", "?", "#", "&", " ", "\t\n", "🙂", "",
        "-1", "0", "99999999999999999999", "1e309", "NaN", "2024-02-30", "0000-00-00",
        "Q-AAAA-AAAA", "q-0000-0000", "ÑANDÚ", "x" * 300,
    ]),
)

# Numbers for the <int:...> parts of routes: real-looking ones, and ones too large for
# a PostgreSQL integer (or for Python to read as a number at all).
NUMBER = st.one_of(st.integers(min_value=0, max_value=10**12).map(str),
                   st.sampled_from([str(2**31), str(2**63), "9" * 40, "1" * 5000, "٣", "²"]))

SLOW_FIXTURES = settings(
    max_examples=60, deadline=None,
    # The fixtures (app, database, signed-in agent, sample records) are built once for
    # all the examples on purpose: every request here is a GET that changes nothing.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def segment(value: str) -> str:
    """``value`` as one path segment (never empty, so the route still matches)."""
    return quote(value, safe="") or "x"


@pytest.fixture
def records(make_department, make_case, make_user, db):
    """A department, a case in it and a published article, for the URLs to find."""
    department = make_department(slug="movilidad")
    case = make_case(department=department)
    editor = make_user(Role.MANAGER)
    article = knowledge.create_article(editor, knowledge.ArticleInput(
        title="Tarjeta de aparcamiento", body="Se pide en la sede.", summary="", locale="es",
        department_id=department.id, tags=["aparcamiento"]))
    knowledge.publish(editor, article)
    db.session.commit()
    knowledge.reindex()
    return {"department": department, "reference": case.reference, "article": article.id}


def _public(records, value: str, other: str, number: str):
    reference, article = records["reference"], records["article"]
    return [
        (f"/kb/{segment(number)}", {"from": value}),
        (f"/cases/{reference}/files/{segment(number)}", {}),
        ("/", {"lang": value}),
        ("/kb", {"q": value, "page": other, "department": other, "tag": value}),
        ("/kb", {"q": "aparcamiento", "page": value, "department": value, "tag": other}),
        (f"/kb/{article}", {"from": value, "thanks": other}),
        (f"/kb/{article}/{segment(value)}", {"lang": other}),
        ("/kb/suggest", {"q": value, "token": other}),
        ("/track", {"reference": value, "email": other}),
        (f"/cases/{segment(value)}", {"access": other}),
        (f"/cases/{reference}", {"access": value}),
        (f"/cases/{segment(value)}/submitted", {}),
        (f"/cases/{segment(value)}/files/1", {}),
        ("/cases/new", {"kind": value, "subject": other}),
        (f"/password/reset/{segment(value)}", {}),
        (f"/register/confirm/{segment(value)}", {}),
        ("/login", {"next": value}),
    ]


def _staff(records, value: str, other: str, number: str):
    reference = records["reference"]
    return [
        (f"/staff/cases/{reference}/files/{segment(number)}", {}),
        (f"/staff/kb/{segment(number)}", {}),
        (f"/manage/canned/{segment(number)}", {}),
        ("/staff/kb/new", {"translate": number}),
        ("/kb", {"q": value, "page": number}),
        ("/staff/", {"q": value}),
        ("/staff/", {"q": other, "department": value, "kind": other, "status": value,
                     "channel": other, "assignee": value, "created_from": other,
                     "created_to": value, "queue": other, "after": value}),
        ("/staff/", {"queue": "department", "after": value, "created_from": value}),
        (f"/staff/cases/{segment(value)}", {"canned": other}),
        (f"/staff/cases/{reference}", {"canned": value, "lang": other}),
        (f"/staff/cases/{segment(value)}/files/1", {}),
        (f"/staff/kb/from-case/{segment(value)}", {}),
        ("/staff/kb/new", {"translate": value}),
        ("/staff/cases/new", {"kind": value}),
        ("/staff/kb/", {"lang": value}),
    ]


def _check_never_500(client, path, params):
    response = client.get(path, query_string=params)
    assert response.status_code < 500, (path, params, response.text[:800])
    response.close()


@SLOW_FIXTURES
@given(data=st.data(), value=ODD, other=ODD, number=NUMBER)
def test_public_pages_never_give_500(client, records, data, value, other, number):
    path, params = data.draw(st.sampled_from(_public(records, value, other, number)))
    _check_never_500(client, path, params)


@SLOW_FIXTURES
@given(data=st.data(), value=ODD, other=ODD, number=NUMBER)
def test_staff_pages_never_give_500(client, login_as, records, data, value, other, number):
    if not getattr(client, "_signed_in", False):
        # A manager: an agent in the department, who may also open /manage.
        login_as(Role.MANAGER, departments=[records["department"]])
        assert client.get(f"/staff/cases/{records['reference']}").status_code == 200
        client._signed_in = True
    path, params = data.draw(st.sampled_from(_staff(records, value, other, number)))
    _check_never_500(client, path, params)


def _spanish(message: str) -> str:
    return _catalog("es").get(message).string


@pytest.mark.parametrize("url", ["/staff/?q=%00", "/staff/cases/%00", "/staff/cases/Q%00",
                                 "/staff/?department=%00", "/staff/?after=%00"])
def test_nul_in_a_staff_url_is_the_translated_400_page(client, login_as, url):
    login_as(Role.AGENT)
    response = client.get(url)
    assert response.status_code == 400
    assert _spanish("Something in the request was not right") in response.text
    assert "\x00" not in response.text


@pytest.mark.parametrize("url", ["/kb?q=%00", "/kb/1/%00", "/cases/%00", "/track?reference=%00",
                                 "/cases/new?kind=question&subject=%00", "/%00"])
def test_nul_in_a_public_url_is_400(client, url):
    assert client.get(url).status_code == 400


@pytest.mark.parametrize("header", ["User-Agent", "Referer", "Accept-Language", "X-Forwarded-For"])
def test_nul_in_a_header_is_400(client, header):
    assert client.get("/", headers={header: "a\x00b"}).status_code == 400


def test_nul_in_a_text_field_is_a_field_error_that_keeps_the_text(client, db):
    response = submit(client, complaint_form(body="La farola\x00 sigue apagada."), lang="en")
    assert response.status_code == 200
    assert 'id="body-error"' in response.text
    assert "Remove the special characters from this text." in response.text
    assert "La farola" in response.text and "sigue apagada." in response.text
    assert db.session.scalar(db.select(db.func.count(Case.id))) == 0


@pytest.mark.parametrize("field", ["contact_email", "contact_phone", "latitude"])
def test_nul_in_a_checked_short_field_gives_one_message(client, db, field):
    response = submit(client, complaint_form(**{field: "600\x00"}), lang="en")
    assert response.status_code == 200
    assert f'id="{field}-error"' in response.text
    assert response.text.count("Remove the special characters from this text.") == 2  # summary
    assert "in the right format" not in response.text and "valid phone" not in response.text


@pytest.mark.parametrize("field", ["submission_token", "topic", "language", "website",
                                   "contact_preference", "csrf_token", "na\x00me"])
def test_nul_in_a_hidden_or_chosen_value_is_400(client, db, field):
    data = complaint_form()
    data[field] = "x\x00"
    response = submit(client, data, lang="en")
    assert response.status_code == 400
    assert "Something in the request was not right" in response.text
    assert db.session.scalar(db.select(db.func.count(Case.id))) == 0


def test_nul_in_a_staff_form_value_is_400(client, login_as, records):
    login_as(Role.AGENT, departments=[records["department"]])
    response = client.post(f"/staff/cases/{records['reference']}/merge?lang=en",
                           data={"target": "Q-\x00", "version": "1", "last_event": "0"})
    assert response.status_code == 400


@pytest.mark.parametrize("name", ["kind", "status", "channel", "department", "assignee"])
def test_a_queue_filter_of_only_spaces_means_any(client, login_as, name):
    # Found by the test above: Optional() took "  " for empty and let it reach CaseKind().
    login_as(Role.AGENT)
    assert client.get("/staff/", query_string={name: "  "}).status_code == 200


@pytest.mark.parametrize("url", [
    "/kb/2147483648", "/kb/99999999999999999999", "/staff/kb/2147483648",
    "/manage/canned/2147483648", "/staff/kb/new?translate=2147483648",
    "/staff/kb/new?translate=²", "/kb?page=²", "/kb?page=" + "1" * 5000])
def test_numbers_that_cannot_be_ids_are_not_found_or_ignored(client, login_as, url):
    # Found by the tests above: PostgreSQL's integer overflowed (a DataError, 500), and
    # "²".isdigit() let int() fail, as did a number of 5,000 digits.
    login_as(Role.ADMIN)
    assert client.get(url).status_code in {200, 404}


def test_a_submission_token_we_did_not_issue_is_ignored(client, db):
    # Found while fixing the above: a hidden value longer than its column (64) was
    # stored as it came, and PostgreSQL refused it (a 500).
    response = submit(client, complaint_form(token="a" * 100), lang="en")
    assert response.status_code == 302
    assert db.session.scalar(db.select(Case)).submission_token is None
