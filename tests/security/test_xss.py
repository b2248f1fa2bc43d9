"""XSS payloads through every text field a person can fill, then every page that can show
them: nothing comes out as markup, a script, an event handler or a ``javascript:`` link;
no spreadsheet formula in a CSV download; no header added to an email.

The fields are found as tests/security/test_form_fuzz.py finds them: every form the pages
show to an anonymous visitor, a citizen, an agent, a manager and an administrator (case
intake, replies, notes, ideas and comments, the article and report editors, departments
and topics, the deployment's texts, saved replies, search boxes and filters, the account's
name...). Each text field gets the round's payload; a field that refuses it (a slug, a
phone number) gets a shorter one, then a plain value, so the rest of the form is kept.
The rounds: markup (script, attribute break-out, event handlers, template expressions,
Markdown links, in one text), ``javascript:`` alone (and Markdown's every way to write a
link in the long texts), spreadsheet formulas, a line break with a mail header; last, the
markup again through the forms that take something away (transfer, merge, withdraw...).
After each round every page is fetched as each of them: HTML pages, the Atom feeds, the
CSV downloads (the dashboard's tables, the audit log), and the emails written to the
outbox (plain text: no HTML part, and no header but ours).
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import re
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path

import pytest
from werkzeug.datastructures import MultiDict

from portal.accounts import service as accounts
from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus, Role
from tests.security import html_forms, states
from tests.security.html_forms import Field, Form
from tests.security.test_form_fuzz import (
    LAST,
    ROLES,
    Fuzzing,
    current_form,
    group,
    plausible,
    who,
)

# Template injection: evaluated anywhere, it would show this number.
EVALUATED = "13517"  # 7 * 1931
MARKUP = ("<script>alert(1)</script>\"><img src=x onerror=alert(1)><svg onload=alert(1)>"
          "'-alert(1)-'{{7*1931}}${7*1931}[x](javascript:alert(1))")
SHORT = "\"><svg onload=alert(1)>{{7*1931}}"
# Markdown (and HTML inside it) that a sanitiser must not let through as a live link.
MARKDOWN = "\n\n".join([
    "[x](javascript:alert(1))", "[y](JaVaScRiPt:alert(2))", "[z](&#106;avascript:alert(3))",
    "[w]( javascript:alert(4) )", "![i](javascript:alert(5))", "<javascript:alert(6)>",
    "[d](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", "[v](vbscript:msgbox(7))",
    "<a href=\"javascript:alert(8)\">a</a>", "<iframe src=\"javascript:alert(9)\"></iframe>",
    "</textarea><script>alert(10)</script>", "<style>*{x:expression(alert(11))}</style>",
    "<base href=\"//evil.example/\">", "[r][ref]\n\n[ref]: javascript:alert(12)",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(13)\">",
    "{{7*7}} {% raw %}{{7*1931}}{% endraw %}",
])
URL = "javascript:alert(1)"
FORMULAS = ["=HYPERLINK(\"http://x\")", "+1+1", "-1+1", "@SUM(1,1)"]
FORMULA_EMAIL = "=1+1@example.org"
HEADER = "Asunto\r\nBcc: evil@example.org"
TEXT_KINDS = {"text", "search", "textarea"}


def _markup(item: Field, number: int) -> list[str]:
    return [MARKUP + "\n\n" + MARKDOWN, MARKUP, SHORT] if item.kind == "textarea" \
        else [MARKUP, SHORT]


def _links(item: Field, number: int) -> list[str]:
    return [MARKDOWN] if item.kind == "textarea" else [URL]


def _formulas(item: Field, number: int) -> list[str]:
    return [FORMULAS[number % len(FORMULAS)], FORMULAS[0]]


def _header(item: Field, number: int) -> list[str]:
    return [HEADER]


# (name, the payloads to try in a text field, best first; then a plain value)
ROUNDS = [("markup", _markup), ("links", _links), ("formulas", _formulas),
          ("header", _header)]

# ---------------------------------------------------------------- what must not come out

BAD_SCHEMES = ("javascript:", "vbscript:", "data:text/html", "data:image/svg")
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster",
                  "background", "srcdoc", "ping", "cite"}
BAD_TAGS = {"iframe", "frame", "frameset", "object", "embed", "applet", "base"}
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._raw: str | None = None  # inside a script or style: its text

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        text = f"<{tag} {' '.join(f'{k}={v!r}' for k, v in attributes.items())}>"[:200]
        for name, value in attributes.items():
            if name.startswith("on"):
                self.problems.append(f"an event handler: {text}")
            if name in URL_ATTRIBUTES and _INVISIBLE.sub("", value).lower().startswith(
                    BAD_SCHEMES):
                self.problems.append(f"a script address: {text}")
        if tag in BAD_TAGS:
            self.problems.append(f"a {tag}: {text}")
        if tag == "meta" and "javascript:" in _INVISIBLE.sub(
                "", attributes.get("content", "")).lower():
            self.problems.append(f"a refresh to a script: {text}")
        if tag == "script" and attributes.get("src") and \
                not attributes["src"].startswith("/static/"):
            self.problems.append(f"a script from elsewhere: {text}")
        if tag in {"script", "style"}:
            self._raw = ""

    def handle_data(self, data):
        if self._raw is not None:
            self._raw += data

    def handle_endtag(self, tag):
        if tag in {"script", "style"} and self._raw is not None:
            if "alert(" in self._raw or "expression(" in self._raw:
                self.problems.append(f"a {tag} with the payload: {self._raw[:100]!r}")
            self._raw = None


def html_problems(html: str) -> list[str]:
    parser = _Markup()
    parser.feed(html)
    parser.close()
    if EVALUATED in html:
        parser.problems.append("a template expression was evaluated (7*1931 shown)")
    return parser.problems


ATOM = "{http://www.w3.org/2005/Atom}"


def feed_problems(body: bytes) -> list[str]:
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - our own feed, in a test
    except ElementTree.ParseError as error:
        return [f"the feed is not well-formed XML: {error}"]
    problems = []
    for element in root.iter():
        if not element.tag.startswith(ATOM):
            problems.append(f"an element that is not Atom: {element.tag}")
        kind = element.get("type", "text")
        if kind == "html":
            problems += html_problems(element.text or "")
        elif kind == "xhtml":
            problems += html_problems(ElementTree.tostring(element, encoding="unicode"))
    if EVALUATED.encode() in body:
        problems.append("a template expression was evaluated (7*1931 shown)")
    return problems


_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def csv_problems(text: str) -> list[str]:
    """Cells a spreadsheet would run as a formula (a negative number is a number)."""
    return [f"row {number}: {cell!r}" for number, row in enumerate(
        csv.reader(io.StringIO(text.lstrip("\ufeff"))), 1) for cell in row
        if cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.fullmatch(cell)]


MAIL_HEADERS = {"from", "to", "subject", "date", "message-id", "content-type",
                "content-transfer-encoding", "mime-version", "content-language"}


def mail_problems(path: Path) -> list[str]:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    problems = [f"{path.name}: a header {name!r}" for name in message
                if name.lower() not in MAIL_HEADERS]
    for part in message.walk():
        if part.get_content_type() == "text/html":
            problems += [f"{path.name}: {problem}" for problem in
                         html_problems(part.get_content())]
    return problems


def response_problems(response) -> list[str]:
    body = response.get_data()
    if response.mimetype == "text/html":
        return html_problems(body.decode("utf-8", "replace"))
    if response.mimetype in {"application/atom+xml", "application/xml", "text/xml"}:
        return feed_problems(body)
    if response.mimetype == "text/csv":
        return csv_problems(body.decode("utf-8-sig"))
    return []


# ---------------------------------------------------------------- sending the payloads

_ERROR = re.compile(r'<p class="error-message" id="([^"]+)-error"')


def _values(form: Form, built: states.States, chains: dict[str, list[str]],
            levels: dict[str, int]) -> MultiDict:
    sent = MultiDict()
    for item in group(form):
        chain = chains.get(item.name)
        value = chain[levels[item.name]] if chain and levels[item.name] < len(chain) \
            else plausible(item, built)[0]
        if value is not None and item.kind != "file":
            sent.add(item.name, value)
    return sent


_UNIQUE = iter(range(1, 10_000))


def send(client, form: Form, built: states.States, payloads, seen: list[str]) -> str:
    """Send ``form`` with a payload in each text field, the next one (then a plain value)
    in each field that refused it: "taken" (with a payload in it), "refused" or
    "forbidden" (this person may see the form but not use it)."""
    fields = group(form)
    chains = {item.name: payloads(item, number) for number, item in enumerate(fields)
              if item.kind in TEXT_KINDS and item.name != "website"}  # a trap for robots
    if payloads is _formulas:  # addresses too: one a spreadsheet would read as a formula
        chains.update({item.name: [FORMULA_EMAIL] for item in fields if item.kind == "email"})
    with_payload = {name: len(chain) for name, chain in chains.items()}
    # What must be new each time (a department's short name, an invited address).
    number = next(_UNIQUE)
    for item in fields:
        if item.name == "slug" or item.kind == "email":
            chains.setdefault(item.name, []).append(
                f"prueba-{number}" if item.name == "slug" else f"vecina{number}@example.org")
    names = {item.id or item.name: item.name for item in form.fields}
    levels = dict.fromkeys(chains, 0)
    for _attempt in range(5):
        sent = _values(form, built, chains, levels)
        if form.method == "get":
            response = client.get(form.action, query_string=sent)
        else:
            response = client.post(form.action, data=sent, follow_redirects=True)
        html = response.get_data().decode("utf-8", "replace")
        seen += [f"{form.action} answered: {problem}" for problem in
                 response_problems(response)]
        if response.status_code in {403, 404}:
            return "forbidden"
        refused = {names.get(found, found) for found in _ERROR.findall(html)} & set(levels)
        if not refused:
            taken = any(levels[name] < count for name, count in with_payload.items())
            return "taken" if response.status_code < 400 and taken else "refused"
        for name in refused:
            levels[name] += 1
    return "refused"


@pytest.fixture
def xss(app, world, outbox, make_user) -> Fuzzing:
    built = states.build(world, app.test_client(), outbox, make_user)
    # A manager whose name and address a spreadsheet would take for formulas, and who
    # leaves entries in the audit log (which names people by their address).
    odd = make_user(Role.MANAGER, email=FORMULA_EMAIL, name=FORMULAS[0],
                    departments=[world.people["manager"].departments[0]])
    accounts.start_session(odd)
    db.session.commit()
    world.people["odd"] = odd
    return Fuzzing(app, world, built)


def _look_everywhere(xss: Fuzzing, probe: str) -> tuple[list[str], dict[str, str]]:
    """Every page, feed and download as each person (and the searches for ``probe``),
    and every email written: what is wrong, and the pages' text by address."""
    problems: list[str] = []
    pages: dict[str, str] = {}
    searches = [f"/kb?q={probe}", f"/ideas?q={probe}", f"/staff/?q={probe}",
                f"/kb/suggest?q={probe}&for=question&token={probe}"]
    for role in ROLES:
        xss.sign_in(role)
        client = xss.clients[role]
        for url in [*xss.urls[role], *searches]:
            response = client.get(url)
            if response.status_code == 200:
                problems += [f"as {who(role)}, {url}: {problem}"
                             for problem in response_problems(response)]
                pages[f"{who(role)} {url}"] = response.get_data().decode("utf-8", "replace")
            response.close()
    # The audit log and the dashboard's tables as downloads, as the manager with the odd
    # name and address sees them.
    client = xss.app.test_client()
    html_forms.sign_in(client, xss.world.people["odd"])
    for url in ["/manage/audit/audit.csv", *(f"/manage/dashboard.csv?table={table}" for table in
                                             _tables(pages))]:
        response = client.get(url)
        assert response.status_code == 200, url
        problems += [f"{url}: {problem}" for problem in response_problems(response)]
        pages[f"odd {url}"] = response.get_data().decode("utf-8-sig", "replace")
    for path in sorted(Path(xss.app.config["OUTBOX_PATH"]).glob("*.eml")):
        problems += mail_problems(path)
    unsent = db.session.scalar(db.select(db.func.count(OutboxMessage.id)).where(
        OutboxMessage.status != OutboxStatus.SENT))
    if unsent:
        problems.append(f"{unsent} emails could not be written")
    return problems, pages


def _tables(pages: dict[str, str]) -> set[str]:
    return {match for html in pages.values()
            for match in re.findall(r"/manage/dashboard\.csv\?[^\"']*table=([a-z_]+)", html)}


def test_the_checks_see_what_they_look_for():
    """The checks themselves, on what an unescaped payload would look like."""
    assert html_problems("<p>&lt;script&gt;alert(1)&lt;/script&gt; &#34;&gt;</p>") == []
    for bad in ["<script>alert(1)</script>", '<img src=x onerror="alert(1)">',
                "<svg onload=alert(1)>", '<a href=" JaVa\tScRiPt:alert(1)">x</a>',
                '<a href="&#106;avascript:alert(1)">x</a>', "<iframe src=x></iframe>",
                f"<p>{EVALUATED}</p>", '<form action="javascript:alert(1)"></form>']:
        assert html_problems(bad), bad
    assert csv_problems('a,-3,2.5\r\n"\'=HYPERLINK(""x"")",b\r\n') == []
    assert csv_problems('"=HYPERLINK(""x"")",b\r\n-1+1,@x\r\n') == [
        "row 1: '=HYPERLINK(\"x\")'", "row 2: '-1+1'", "row 2: '@x'"]
    assert feed_problems(b"<feed xmlns='http://www.w3.org/2005/Atom'><title type='html'>"
                         b"&lt;script&gt;alert(1)&lt;/script&gt;</title></feed>")
    assert feed_problems(b"<feed xmlns='http://www.w3.org/2005/Atom'><title>&lt;script&gt;"
                         b"</title></feed>") == []


def test_no_payload_comes_out_anywhere(xss):
    problems, _pages = _look_everywhere(xss, "alert")
    assert problems == [], "before any payload, the pages already look wrong:\n" + \
        "\n".join(problems)
    taken: dict[str, list[str]] = {}
    for name, payloads in ROUNDS + [("markup, the forms that take things away", _markup)]:
        last_round = name.startswith("markup, ")
        seen: list[str] = []
        taken[name] = []
        for role in ROLES:
            xss.sign_in(role)
        for form in xss.forms:
            if form.path.endswith(LAST) != last_round or form.path.endswith(
                    ("/logout", "/delete")) or not any(
                    item.kind in TEXT_KINDS for item in form.fields):
                continue
            for role in xss.seen_by[form.key]:  # the first who may use it
                client = xss.clients[role]
                current = current_form(client, form) if form.method == "post" else form
                if current is None:
                    continue
                outcome = send(client, current, xss.states, payloads, seen)
                if outcome == "taken":
                    taken[name].append(f"{who(role)} {form.method} {form.action}")
                if outcome != "forbidden":
                    break
        problems, pages = _look_everywhere(xss, "HYPERLINK" if name == "formulas" else "alert")
        assert seen + problems == [], f"round {name!r}:\n" + "\n".join(seen + problems)
        if name == "markup":
            shown = [page for page, html in pages.items() if "&lt;svg onload=alert(1)&gt;" in html]
            assert len(taken[name]) >= 40 and len(shown) >= 40, (taken[name], shown)
        if name == "formulas":
            # The odd address (the audit log's "Person") and the departments and topics
            # renamed to formulas (the dashboard's tables) reach the downloads, each cell
            # neutralised with a leading apostrophe. No download shows a person's name.
            downloads = " ".join(html for page, html in pages.items() if ".csv" in page)
            assert f"'{FORMULA_EMAIL}" in downloads
            assert "'=HYPERLINK" in downloads
            assert FORMULAS[0] not in downloads.replace(f"'{FORMULAS[0]}", "")
    assert len(taken["markup, the forms that take things away"]) >= 5, taken


# ---------------------------------------------------------------- found by the rounds

def test_a_line_break_in_a_title_adds_no_header_and_the_email_still_goes(app, world, db):
    # Found by the "header" round: a title with a line break (a text field keeps it) in
    # an email's subject made the message unsendable: the email package refuses it in a
    # header, so it stayed in the outbox, never delivered.
    from portal.ideas import service as ideas
    from portal.models import IdeaStatus

    idea = ideas.propose(world.people["citizen"], ideas.Proposal(
        title=HEADER, body="Más bancos.", language="es"))
    db.session.commit()
    ideas.change_status(world.people["manager"], idea, IdeaStatus.UNDER_REVIEW)
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count(OutboxMessage.id)).where(
        OutboxMessage.status != OutboxStatus.SENT)) == 0
    written = sorted(Path(app.config["OUTBOX_PATH"]).glob("*.eml"))
    assert written and all(mail_problems(path) == [] for path in written)
    message = email.message_from_bytes(written[-1].read_bytes(), policy=email.policy.default)
    assert "Asunto Bcc: evil@example.org" in message["Subject"]
