"""The forms and links of a page, read with the standard library's HTML parser, and the
walk that finds every form a person of each role can see.

The fuzzing and XSS suites post to what the pages offer (the form's own action and
field names), not to a hand-kept list, so a new form is fuzzed without anyone adding it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

from portal.accounts import second_factor
from portal.accounts import service as accounts
from portal.extensions import db


@dataclass
class Field:
    name: str
    kind: str  # an input's type, or "textarea", "select", "submit"
    value: str = ""
    options: list[str] = field(default_factory=list)  # select options, radio/checkbox values
    checked: bool = False
    id: str = ""


@dataclass
class Form:
    page: str  # the page it was found on (path and query)
    action: str  # path and query, as the browser would send it
    method: str  # "get" or "post"
    multipart: bool
    fields: list[Field]

    @property
    def path(self) -> str:
        return urlsplit(self.action).path

    @property
    def key(self) -> tuple:
        """Forms that send the same names to the same place are one form to fuzz."""
        return (self.method, self.action, tuple(sorted({item.name for item in self.fields})))


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[dict, list[Field]]] = []
        self.links: list[str] = []
        self._form: list[Field] | None = None
        self._select: Field | None = None
        self._option: dict | None = None
        self._option_text = ""
        self._textarea: Field | None = None

    def handle_starttag(self, tag, attrs):
        attributes = {name: value if value is not None else "" for name, value in attrs}
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        elif tag == "form":
            self._form = []
            self.forms.append((attributes, self._form))
        elif self._form is None:
            return
        elif tag in {"input", "button"} and attributes.get("name"):
            kind = attributes.get("type", "text" if tag == "input" else "submit").lower()
            self._form.append(Field(
                name=attributes["name"], kind=kind, value=attributes.get("value", ""),
                options=[attributes.get("value", "on")] if kind in {"checkbox", "radio"} else [],
                checked="checked" in attributes, id=attributes.get("id", "")))
        elif tag == "select" and attributes.get("name"):
            self._select = Field(name=attributes["name"], kind="select",
                                 id=attributes.get("id", ""))
            self._form.append(self._select)
        elif tag == "option" and self._select is not None:
            self._option = attributes
            self._option_text = ""
        elif tag == "textarea" and attributes.get("name"):
            self._textarea = Field(name=attributes["name"], kind="textarea",
                                   id=attributes.get("id", ""))
            self._form.append(self._textarea)

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea.value += data
        if self._option is not None:
            self._option_text += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            if self._textarea is not None:
                # As browsers read it: line ends as LF, less the one after the start tag.
                value = self._textarea.value.replace("\r\n", "\n")
                self._textarea.value = value[1:] if value.startswith("\n") else value
            self._textarea = None
        elif tag == "option" and self._option is not None and self._select is not None:
            value = self._option.get("value", self._option_text.strip())
            self._select.options.append(value)
            if "selected" in self._option and not self._select.value:
                self._select.value = value
            self._option = None


def _local(base: str, href: str) -> str | None:
    """``href`` as a path and query on this site, or None for another site or a fragment."""
    url = urlsplit(urljoin("http://localhost" + base, href))
    if url.scheme not in {"http", "https"} or url.hostname != "localhost":
        return None
    return url.path + (f"?{url.query}" if url.query else "")


def parse(page: str, html: str) -> tuple[list[Form], list[str]]:
    """The forms and the local links of ``html``, found at the path ``page``."""
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    forms = []
    for attributes, fields in parser.forms:
        action = _local(page, attributes.get("action") or page)
        if action is None:
            continue
        forms.append(Form(page=page, action=action,
                          method=(attributes.get("method") or "get").lower(),
                          multipart=attributes.get("enctype", "") == "multipart/form-data",
                          fields=fields))
    links = [link for href in parser.links if (link := _local(page, href))]
    return forms, links


def query_values(url: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        found.setdefault(name, set()).add(value)
    return found


def sign_in(client, user) -> None:
    """A real server-side session for ``user`` in ``client``'s cookie (with the second
    factor given, for someone who has one)."""
    token = accounts.start_session(user, second_factor=second_factor.is_on(user))
    db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = token
        session["_fresh"] = True


def get_urls(app, values: dict[str, str], tokens: dict[str, str] | None = None) -> list[str]:
    """Every GET route of the URL map, its parts filled with the real ``values`` (and a
    token of the right kind for each endpoint that has one in ``tokens``)."""
    urls = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        parts = {name: values[name] for name in rule.arguments}
        if "token" in parts and tokens and rule.endpoint in tokens:
            parts["token"] = tokens[rule.endpoint]
        urls.append(rule.build(parts)[1])
    return urls


def _add(queries: dict, path: str, found: dict[str, set[str]]) -> bool:
    """Merge ``found`` into what is known of ``path``'s query; True if a name is new."""
    known = queries.setdefault(path, {})
    new = not set(found) <= set(known)
    for name, values in found.items():
        known.setdefault(name, set()).update(values)
    return new


@dataclass
class Walk:
    forms: list[Form]
    queries: dict[str, dict[str, set[str]]]  # path -> its query's names -> values seen
    pages: dict[str, str]  # path and query -> HTML, of every page that answered 200
    links: set[str]  # the local links with a query (other than the language's alone)


def walk(client, urls: list[str], follow_links: bool = True) -> Walk:
    """GET ``urls`` (and, once, the local links with a query that they show), and collect
    their forms and the query parameters (with the values) their links and GET forms use."""
    forms: dict[tuple, Form] = {}
    queries: dict[str, dict[str, set[str]]] = {}
    pages: dict[str, str] = {}
    with_query: set[str] = set()
    seen: set[str] = set()
    todo = list(urls)
    extra: list[str] = []
    while todo:
        url = todo.pop(0)
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        if response.status_code != 200 or response.mimetype != "text/html":
            response.close()
            continue
        html = response.get_data(as_text=True)
        pages[url] = html
        found, links = parse(url, html)
        for form in found:
            forms.setdefault(form.key, form)
            if form.method == "get":
                _add(queries, form.path, {
                    item.name: {item.value, *item.options} for item in form.fields
                    if item.kind != "submit" or item.value})
        for link in links:
            if "?" in link and set(query_values(link)) != {"lang"}:
                with_query.add(link)
            if "?" in link and _add(queries, urlsplit(link).path, query_values(link)) \
                    and follow_links:
                extra.append(link)
        if not todo and follow_links:
            # One step further: the pages behind the links with a query (a filtered
            # queue, a page of results), for their own forms and links.
            todo, extra = extra, []
            follow_links = False
    return Walk(forms=list(forms.values()), queries=queries, pages=pages, links=with_query)


_BOXES = {"div", "fieldset"}  # what may be a "field" (both always have their end tag)


class _ErrorParser(HTMLParser):
    """Where each field's error message is, against the field itself: the macros of
    portal/templates/macros/forms.html put ``<p class="error-message" id="X-error">``
    inside the ``div.field`` that holds the control with ``id="X"`` (or is it, for a group
    of radios or boxes; reports/edit.html uses a ``fieldset.field``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._divs: list[tuple[int | None, bool]] = []  # (field number, in a summary)
        self._fields = 0
        # id -> the div.field(s) it is in (an id used twice is the HTML checker's concern;
        # here each form's error must be in the div.field of its own control)
        self.ids: dict[str, set[int | None]] = {}
        self.errors: dict[str, int | None] = {}  # X of X-error -> the div.field it is in
        self.summary_links: list[str] = []

    def _field(self) -> int | None:
        return self._divs[-1][0] if self._divs else None

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        classes = attributes.get("class", "").split()
        if tag in _BOXES:
            in_summary = ("error-summary" in classes) or bool(self._divs and self._divs[-1][1])
            if "field" in classes:
                self._fields += 1
                self._divs.append((self._fields, in_summary))
            else:
                self._divs.append((self._field(), in_summary))
        if attributes.get("id"):
            self.ids.setdefault(attributes["id"], set()).add(self._field())
        if tag == "p" and "error-message" in classes and attributes.get("id", "").endswith(
                "-error"):
            self.errors[attributes["id"][:-len("-error")]] = self._field()
        if tag == "a" and self._divs and self._divs[-1][1] and \
                attributes.get("href", "").startswith("#"):
            self.summary_links.append(attributes["href"][1:])

    def handle_endtag(self, tag):
        if tag in _BOXES and self._divs:
            self._divs.pop()


def misplaced_errors(html: str) -> list[str]:
    """What is wrong with where a page puts its field errors (empty: all in place)."""
    parser = _ErrorParser()
    parser.feed(html)
    parser.close()
    problems = []
    for name, place in parser.errors.items():
        if place is None:
            problems.append(f"the error of {name!r} is not inside a .field")
        elif place not in parser.ids.get(name, set()):
            problems.append(f"the error of {name!r} is not in the .field of the control with "
                            f"id={name!r}")
    for target in parser.summary_links:
        if target not in parser.ids:
            problems.append(f"the error summary links to #{target}, which is not on the page")
    return problems
