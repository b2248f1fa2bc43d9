"""Hypothesis over every form and every query parameter, as each kind of person.

The forms are not listed by hand: every GET route of the URL map (and the pages of the
objects in their other states, tests/security/states.py) is opened as an anonymous
visitor, a citizen, an agent, a manager and an administrator, and the ``<form>``s of
the pages are read. Each form is then sent, by one of the people who see it, with
generated values under its own field names (text in every script, control characters,
very long text, numbers, dates, empty, choices that are not offered, repeated and extra
fields, files), mostly with one or two fields wild and the rest filled in properly so
that the service behind the form is reached; after the examples every page is opened
again with what the forms kept. Each GET route gets its query parameters, those its
links and GET forms use and those the code reads, with the same values. Nothing may
answer 5xx, and a page that shows the form again shows each error next to its field.

A walk that finds no form for a POST route fails (a new route is fuzzed, or says why
not). The tests at the end pin what the fuzzing found, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

import portal
from portal.models import Role
from tests.security import html_forms, states
from tests.security.html_forms import Field, Form
from tests.test_data_export import PNG

ROLES = [None, Role.CITIZEN, Role.AGENT, Role.MANAGER, Role.ADMIN]

# Routes that change something but whose form no page shows on a plain GET, with why;
# every other POST route must be found by the walk, or this suite says so.
NOT_ON_A_PAGE = {
    "accounts.resend_confirmation": "shown on the sign-in page only in the answer to a "
                                    "sign-in of an unconfirmed account (a POST); it has no "
                                    "fields: fuzzed by EXTRA_FORMS below",
    "accounts.second_factor_code": "shown only in the answer to the password of an account "
                                   "with a second factor (a POST): fuzzed by EXTRA_FORMS "
                                   "below (without the password before it)",
    "admin.retry_job": "shown only beside a failed job on /manage/admin/jobs, and jobs "
                       "run from Redis only with PORTAL_REDIS_URL (tests/test_jobs_rq.py "
                       "sends it): fuzzed by EXTRA_FORMS below",
}
EXTRA_FORMS = {"accounts.resend_confirmation": [Field(name="csrf_token", kind="hidden")],
               "accounts.second_factor_code": [Field(name="code", kind="text")],
               "admin.retry_job": [Field(name="job_id", kind="hidden")]}

# Run last in each example, as they take away what the others act on (the session, the
# case, the idea, the request...); every page is opened again before its forms are sent.
LAST = ("/logout", "/erase", "/delete", "/withdraw", "/merge", "/transfer", "/archive",
        "/remove", "/moderate", "/status")

# Names that must never let a person set what is not theirs to set (the matrix test
# checks the rows are unchanged; here they only must not break anything).
MASS_ASSIGNMENT = ["status", "role", "department", "department_id", "published", "owner",
                   "author_id", "citizen_id", "assignee", "id", "is_admin", "active",
                   "email_verified_at", "reference", "version", "csrf_token", "lang"]

# The query parameters the code reads (request.args.get("...")), found in the source so
# that a new one is fuzzed without being added here.
_ARGS = re.compile(r"""request\.args\.get(?:list)?\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")
READ_ARGS = sorted({name for path in Path(portal.__file__).parent.rglob("*.py")
                    for name in _ARGS.findall(path.read_text(encoding="utf-8"))})

UNICODE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                  max_size=40)
ODD = st.sampled_from([
    "", " ", "\t\n", "\r\n", "\x00", "a\x00b", "%00", "\x01", "\x07", "\x1b[31m", "\x7f",
    "\u202e", "\ufeff", "\u200b", "\u2028", "\uffff", "\ufffe", "\U0010ffff", "🙂", "ÑANDÚ",
    "İ", "ß", "'", '"', "\\", "%", "%s%n",
    "../../etc/passwd", "*", "?", "#", "&", "<b>", "' OR 1=1 --", "{{7*7}}", "${7*7}",
    "javascript:alert(1)", "http://x", "//evil.example", "/\\evil.example", "null", "None",
    "true", "on", "[]", "{}", "Q-AAAA-AAAA", "q-0000-0000", "C-0000-0000", "@", "a@b",
    "@example.org", "x@" + "y" * 300 + ".org"])
LONG = st.sampled_from([201, 1001, 10_001, 60_001]).flatmap(
    lambda size: st.sampled_from(["x" * size, "ñ" * size, "a " * (size // 2),
                                  "línea\n" * (size // 6), "<b>" * (size // 3)]))
NUMBER = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["2147483647", "2147483648", "-2147483649", "9" * 40, "1" * 5000, "٣",
                     "²", "0x10", "1_000", "+1", " 1 ", "1e309", "NaN", "-0", "0.5"]))
DATE = st.one_of(
    st.dates().map(date.isoformat),
    st.sampled_from(["2024-02-30", "0000-00-00", "0001-01-01", "9999-12-31", "31/12/2024",
                     "2024-1-1", "2024-13-01", "today", "2024-12-31T25:00", "99999-01-01"]))
ANYTHING = st.one_of(UNICODE, ODD, LONG, NUMBER, DATE)

FUZZ = settings(
    max_examples=6, deadline=None,
    # Built once for all the examples on purpose: the database with one of everything,
    # the signed-in people and the forms their pages show.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
    # Each example sends every form; a failure names the form and what was sent, and
    # shrinking would replay the whole walk hundreds of times.
    phases=[Phase.explicit, Phase.reuse, Phase.generate])


class Fuzzing:
    """The people signed in, each in their own browser, the forms and queries their pages
    offer, and who sees each of them."""

    def __init__(self, app, world, built: states.States) -> None:
        self.app, self.world, self.states = app, world, built
        self.clients = {role: app.test_client() for role in ROLES}
        self.forms: list[Form] = []  # one of each, as the first person who saw it saw it
        self.seen_by: dict[tuple, list[Role | None]] = {}  # form key -> who sees it
        self.queries: dict[str, dict[str, set[str]]] = {}  # path -> names -> values seen
        self.opened_by: dict[str, list[Role | None]] = {}  # path -> who opened it
        self.urls: dict[Role | None, list[str]] = {}  # what each role opens, to look again
        for role in ROLES:
            self.sign_in(role)
            urls = html_forms.get_urls(app, world.values, built.tokens) + built.urls
            found = html_forms.walk(self.clients[role], urls)
            self.urls[role] = urls + sorted(found.links - set(urls))
            for form in found.forms:
                if form.key not in self.seen_by:
                    self.forms.append(form)
                self.seen_by.setdefault(form.key, []).append(role)
            for path in {urlsplit(url).path for url in found.pages} | set(found.queries):
                self.opened_by.setdefault(path, []).append(role)
            for path, names in found.queries.items():
                for name, values in names.items():
                    self.queries.setdefault(path, {}).setdefault(name, set()).update(values)
        adapter = app.url_map.bind("localhost")
        self.extra = [Form(page="/login", action=adapter.build(endpoint), method="post",
                           multipart=False, fields=fields)
                      for endpoint, fields in EXTRA_FORMS.items()]
        for form in self.extra:
            self.forms.append(form)
            self.seen_by[form.key] = [None]

    def sign_in(self, role: Role | None) -> None:
        """A fresh session: a form sent before (sign out, end the other sessions) may
        have ended the last one."""
        if role is not None:
            html_forms.sign_in(self.clients[role], self.world.people[role.value])

    def endpoint(self, form: Form) -> str | None:
        return self.endpoint_of(self.app.url_map.bind("localhost"), form.path,
                                form.method.upper())

    @staticmethod
    def endpoint_of(adapter, url: str, method: str = "GET") -> str | None:
        try:
            return adapter.match(urlsplit(url).path, method=method)[0]
        except HTTPException:  # no route (or not for this method): None says so
            return None


@pytest.fixture
def fuzzing(app, world, outbox, make_user) -> Fuzzing:
    return Fuzzing(app, world, states.build(world, app.test_client(), outbox, make_user))


def test_every_form_that_changes_something_is_found(fuzzing):
    """The walk reaches a form for every POST route: a new route that no page offers
    fails here, until one of the states shows it or NOT_ON_A_PAGE says why."""
    found = {fuzzing.endpoint(form) for form in fuzzing.forms if form.method == "post"}
    wanted = {rule.endpoint for rule in fuzzing.app.url_map.iter_rules()
              if "POST" in rule.methods}
    missing = sorted(wanted - found - set(NOT_ON_A_PAGE))
    assert missing == [], ("no page shows a form for these routes: put the object in the "
                           "state that shows it in tests/security/states.py, or say why in "
                           f"NOT_ON_A_PAGE: {missing}")
    assert None not in found, "a form posts to an address that is no route"
    assert len(fuzzing.forms) >= 80


# ---------------------------------------------------------------- values

def _value(item: Field, known: list[str]) -> st.SearchStrategy[str]:
    choices = [st.sampled_from(item.options)] if item.options else []
    kept = [st.just(item.value)] if item.value else []
    own = [st.sampled_from(known)]
    if item.kind == "hidden":
        # Mostly what the page put there (a version, a token), so the rest gets checked;
        # else often a number (an id, a version: past PostgreSQL's integer too).
        return st.one_of(*kept * 4, NUMBER, ANYTHING, *own)
    if item.kind in {"select", "radio", "checkbox", "submit"}:
        return st.one_of(*choices * 3, ANYTHING, *own)
    if item.kind == "date":
        return st.one_of(DATE, DATE, ANYTHING, *kept)
    if item.kind == "number":
        return st.one_of(NUMBER, NUMBER, ANYTHING, *kept)
    return st.one_of(ANYTHING, *kept, *own, *choices)


def _files(draw) -> list[tuple[io.BytesIO, str]]:
    count = draw(st.integers(min_value=0, max_value=7))
    names = st.one_of(st.sampled_from(["foto.png", "a.pdf", "x.jpg", ".png", "a" * 300 + ".png",
                                       "../../x.png", "nul\x00.png", "ñ.PNG"]), UNICODE)
    contents = st.one_of(st.just(PNG), st.binary(max_size=512),
                         st.just(b"%PDF-1.4\n<script>alert(1)</script>"))
    return [(io.BytesIO(draw(contents)), draw(names) or "x") for _ in range(count)]


# What a person filling the form in properly would type, by the field's name or type:
# most examples send this with one or two fields wild, so that they get past the checks
# of the rest and reach the service behind the form.
PLAUSIBLE_BY_NAME = {"slug": "prueba-uno", "latitude": "40.4168", "longitude": "-3.7038",
                     "contact_phone": "600123123", "phone": "600123123", "tags": "luz, calle",
                     "website": ""}  # website: the intake's trap for robots, left empty
PLAUSIBLE_BY_KIND = {"email": "vecina@example.org", "date": "2027-01-15", "number": "3",
                     "password": "una clave larga y nueva 2027", "url": "https://example.org",
                     "tel": "600123123", "textarea": "Texto de prueba con bastante detalle.",
                     "text": "Prueba", "search": "farola", "checkbox": "y"}


def plausible(item: Field, states_: states.States) -> list[str | None]:
    """What a person filling the form in properly would send in ``item``, best first
    (None: nothing, as for a button not pressed)."""
    for name, value in PLAUSIBLE_BY_NAME.items():
        if item.name == name or item.name.endswith(f"-{name}"):
            return [value]
    if item.kind == "hidden" or (item.value and item.kind not in {"checkbox", "radio"}):
        return [item.value]
    if item.kind == "submit":  # Enter in a field (no button: the default), or a button
        return [None, *item.options]
    if item.options:
        return [option for option in item.options if option] or item.options
    if item.name in states_.typed:
        return [states_.typed[item.name], *states_.known]
    return [PLAUSIBLE_BY_KIND.get(item.kind, "Prueba")]


def group(form: Form) -> list[Field]:
    """The form's fields by name: a group of radios or of boxes is one field."""
    grouped: dict[str, list[Field]] = {}
    for item in form.fields:
        grouped.setdefault(item.name, []).append(item)
    return [Field(name=name, kind=items[0].kind, value=items[0].value,
                  options=[option for each in items for option in (each.options or (
                      [each.value] if each.kind == "submit" and each.value else []))])
            for name, items in grouped.items()]


@st.composite
def form_data(draw, form: Form, built: states.States) -> MultiDict:
    known = built.known
    fields = group(form)
    wild = draw(st.sampled_from(["all", "some", "some"]))
    chosen = set(range(len(fields))) if wild == "all" else set(draw(st.lists(
        st.integers(0, max(len(fields) - 1, 0)), max_size=2)))
    sent = MultiDict()
    for number, item in enumerate(fields):
        if item.kind == "file":
            if form.multipart:
                for upload in _files(draw):
                    sent.add(item.name, upload)
            continue
        if number not in chosen:
            value = draw(st.sampled_from(plausible(item, built)))
            if value is not None:
                sent.add(item.name, value)
            continue
        how = draw(st.sampled_from(["one"] * 6 + ["none", "several"]))
        if how == "none":
            continue
        for _ in range(1 if how == "one" else draw(st.integers(2, 4))):
            sent.add(item.name, draw(_value(item, known)))
    extra = draw(st.dictionaries(st.one_of(st.sampled_from(MASS_ASSIGNMENT), UNICODE),
                                 ANYTHING, max_size=3 if wild == "all" else 1))
    for name, value in extra.items():
        sent.add(name or "x", value)
    return sent


@st.composite
def query(draw, names: dict[str, set[str]], known: list[str]) -> MultiDict:
    sent = MultiDict()
    others = draw(st.lists(st.sampled_from(READ_ARGS), max_size=2, unique=True))
    for name in [*names, *others]:
        seen = sorted(value for value in names.get(name, ()) if value)
        how = draw(st.sampled_from(["one"] * 6 + ["none", "several"]))
        if how == "none":
            continue
        value = st.one_of(*[st.sampled_from(seen)] * 2 * bool(seen), ANYTHING,
                          st.sampled_from(known))
        for _ in range(1 if how == "one" else draw(st.integers(2, 3))):
            sent.add(name, draw(value))
    return sent


# ---------------------------------------------------------------- checks

def _brief(data: MultiDict) -> str:
    return repr([(name, value[:100] if isinstance(value, str) else "<file>")
                 for name, value in data.items(multi=True)])[:1500]


def _check(response, what: str, data: MultiDict) -> None:
    assert response.status_code < 500, (
        f"{what} answered {response.status_code} to {_brief(data)}\n"
        + response.get_data(as_text=True)[:800])
    if response.status_code in {200, 400} and response.mimetype == "text/html":
        problems = html_forms.misplaced_errors(response.get_data(as_text=True))
        assert problems == [], f"{what} with {_brief(data)}: {problems}"
    response.close()


def current_form(client, form: Form) -> Form | None:
    """The form as its page shows it now, or None if the page no longer shows it."""
    page = client.get(form.page)
    found = html_forms.parse(form.page, page.get_data(as_text=True))[0] \
        if page.status_code == 200 else []
    page.close()
    return next((each for each in found if each.key == form.key), None)


def refresh_hidden(sent: MultiDict, form: Form, current: Form) -> None:
    now = {item.name: item.value for item in current.fields if item.kind == "hidden"}
    for item in form.fields:
        if item.kind == "hidden" and item.name in now and item.value != now[item.name]:
            sent.setlist(item.name, [now[item.name] if value == item.value else value
                                     for value in sent.getlist(item.name)])


def who(role: Role | None) -> str:
    return role.value if role else "anonymous"


def _last(form: Form) -> bool:
    return form.path.endswith(LAST)


def _send_every_form(fuzzing: Fuzzing, data) -> None:
    for role in ROLES:
        fuzzing.sign_in(role)
    for form in sorted(fuzzing.forms, key=_last):
        # Sent by one of those who see it (an agent, a manager, an administrator may
        # each get further), with values drawn from the form as first found, so that
        # the same choices give the same values whatever the state of the database
        # (Hypothesis insists on it).
        role = data.draw(st.sampled_from(fuzzing.seen_by[form.key]))
        client = fuzzing.clients[role]
        sent = data.draw(form_data(form, fuzzing.states), label=f"{who(role)} {form.action}")
        if form not in fuzzing.extra:
            # The page again: a form that went (a transferred case, a withdrawn idea) is
            # not sent, and hidden values that moved on (a case's version) are sent as
            # they are now.
            current = current_form(client, form)
            if current is None:
                continue
            refresh_hidden(sent, form, current)
        name = f"as {who(role)}: {form.method.upper()} {form.action}"
        if form.method == "get":
            response = client.get(form.action, query_string=sent)
        else:
            response = client.post(form.action, data=sent, content_type="multipart/form-data"
                                   if form.multipart else None)
        _check(response, name, sent)


def test_no_form_ever_fails_nor_what_it_kept(fuzzing):
    """Every form, and then every page (feeds and downloads too) with what the forms
    kept: stored text must not break a page later (a feed that cannot hold a character,
    a CSV, a search result)."""

    @FUZZ
    @given(data=st.data())
    def send_every_form(data):
        _send_every_form(fuzzing, data)

    send_every_form()
    adapter = fuzzing.app.url_map.bind("localhost")
    for role in ROLES:
        fuzzing.sign_in(role)
        client = fuzzing.clients[role]
        todo, seen, followed = list(fuzzing.urls[role]), set(), Counter()
        while todo:
            url = todo.pop(0)
            if url in seen:
                continue
            seen.add(url)
            response = client.get(url)
            if response.status_code == 200 and response.mimetype == "text/html" and \
                    url in fuzzing.urls[role]:
                # One step further: what the forms made (an idea, a case, a file) is
                # reached through the lists that show it; a few of each kind.
                for link in html_forms.parse(url, response.get_data(as_text=True))[1]:
                    endpoint = fuzzing.endpoint_of(adapter, link)
                    if endpoint and link not in seen and followed[endpoint] < 4:
                        followed[endpoint] += 1
                        todo.append(link)
            _check(response, f"as {who(role)}: GET {url} afterwards", MultiDict())


@settings(FUZZ, max_examples=10)  # a GET each: cheaper than the forms
@given(data=st.data())
def test_no_query_ever_fails(fuzzing, data):
    for role in ROLES:
        fuzzing.sign_in(role)
    for path, roles in sorted(fuzzing.opened_by.items()):
        role = data.draw(st.sampled_from(roles))
        sent = data.draw(query(fuzzing.queries.get(path, {}), fuzzing.states.known),
                         label=f"{who(role)} GET {path}")
        response = fuzzing.clients[role].get(path, query_string=sent)
        _check(response, f"as {who(role)}: GET {path}", sent)


# ---------------------------------------------------------------- found by the fuzzing

def _signed_in(app, user):
    client = app.test_client()
    html_forms.sign_in(client, user)
    return client


def test_a_multipart_field_whose_name_has_a_line_break_is_400(client):
    # Werkzeug names such a part None, and the NUL check in portal.security failed on
    # it with a TypeError (a 500).
    response = client.post("/cases/new?kind=question", data={"a\r\nb": "x", "body": "y"},
                           content_type="multipart/form-data")
    assert response.status_code == 400


@pytest.mark.parametrize(("who_", "url"), [
    ("admin", "/manage/admin/topics/new?department=2147483648"),
    ("admin", "/manage/audit/?before=2147483648"),
    ("manager", "/manage/audit/?before=99999999999999999999"),
])
def test_an_id_past_postgresqls_integer_in_a_query_is_ignored(app, world, who_, url):
    # Found on PostgreSQL: the query failed with "integer out of range" (a 500).
    assert _signed_in(app, world.people[who_]).get(url).status_code == 200


def test_a_stale_case_form_with_an_event_id_past_postgresqls_integer_is_409(app, world):
    # Found on PostgreSQL: the events since that id were looked up as it came (a 500).
    client = _signed_in(app, world.people["agent"])
    response = client.post(f"/staff/cases/{world.values['reference']}/note",
                           data={"version": "999", "last_event": "2147483648", "body": "Nota"})
    assert response.status_code == 409


@pytest.mark.parametrize("number", ["²", "#2147483648", "#99999999999999999999"])
def test_an_idea_number_that_cannot_be_one_finds_nothing(app, world, number):
    # "²".isdigit() is true and int("²") fails; a larger number failed on PostgreSQL.
    client = _signed_in(app, world.people["manager"])
    response = client.post("/manage/reports/new", data={
        "action": "find_ideas", "idea_query": number, "title": "Informe"})
    assert response.status_code == 200


def test_saving_an_article_without_its_tags_field_keeps_the_tags(app, world, db):
    # WTForms filled the missing field with the article's Tag rows, and the view split
    # them as text (a 500).
    from portal.models import Article

    client = _signed_in(app, world.people["manager"])
    article = db.session.get(Article, int(world.values["article_id"]))
    tags = sorted(tag.label for tag in article.tags)
    response = client.post(f"/staff/kb/{article.id}", data={
        "title": "Farolas apagadas", "summary": "Alumbrado.", "body": "Se reparan en dos días.",
        "locale": "es", "department": ""})
    assert response.status_code in {200, 302}
    db.session.expire_all()
    assert sorted(tag.label for tag in db.session.get(Article, article.id).tags) == tags


def test_a_department_that_is_not_offered_is_an_error_next_to_the_list(app, world):
    # The list of departments showed no error, and the summary linked to #departments,
    # which was not on the page.
    client = _signed_in(app, world.people["admin"])
    response = client.post("/manage/admin/users/invite?lang=en", data={
        "display_name": "Iris", "email": "iris@example.org", "role": "agent",
        "departments": "x", "locale": "es"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="departments-error"' in html and 'href="#departments"' in html
    assert html_forms.misplaced_errors(html) == []


def test_merging_a_theme_when_there_is_no_named_theme_is_not_offered(app, world, outbox,
                                                                     make_user):
    # "Add it to a named theme" was offered with no list to choose from; chosen, its
    # error was for a field that was not on the page.
    states.build(world, app.test_client(), outbox, make_user)  # a rising theme
    client = _signed_in(app, world.people["manager"])
    page = client.get("/manage/?lang=en").get_data(as_text=True)
    assert 'name="term"' in page and 'value="merge"' not in page
    form = next(form for form in html_forms.parse("/manage/", page)[0]
                if form.path == "/manage/themes")
    data = {item.name: item.value for item in form.fields if item.kind == "hidden"}
    term = next(item for item in form.fields if item.name == "term").options[0]
    response = client.post("/manage/themes?lang=en", data={**data, "term": term,
                                                            "action": "merge"})
    assert response.status_code == 400
    assert html_forms.misplaced_errors(response.get_data(as_text=True)) == []
    assert 'id="action-error"' in response.get_data(as_text=True)


def test_the_staff_list_with_an_invited_person_renders_without_csrf(app, world):
    # {{ form.csrf_token(id=false) }} is a call on an undefined field when CSRF is off.
    from portal.admin import service as admin
    from portal.extensions import db

    admin.invite(world.people["admin"], email="nueva@example.org", display_name="Nueva",
                 role=Role.AGENT, locale="es", departments=[])
    db.session.commit()
    response = _signed_in(app, world.people["admin"]).get("/manage/admin/users")
    assert response.status_code == 200
    assert "/invitation" in response.get_data(as_text=True)
