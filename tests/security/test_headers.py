"""The headers of every response, walking every GET route as each kind of person: the
content security policy and the other protections, no inline script, nothing personal
kept by a cache, and in production settings HSTS and a __Host- session cookie."""

from __future__ import annotations

import re

import pytest

from portal import security
from portal.accounts import service as accounts
from portal.extensions import db
from portal.models import Role
from portal.request_limits import URL_CONVERTERS

ROLES = [None, Role.CITIZEN, Role.AGENT, Role.MANAGER, Role.ADMIN]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*\bnonce=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)


def _get_urls(app, values: dict[str, str]) -> list[tuple[str, str]]:
    """(endpoint, URL) of every GET route, its parts filled with real values."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        urls.append((rule.endpoint, rule.build({name: values[name]
                                                for name in rule.arguments})[1]))
    return sorted(urls)


def _sign_in(client, user) -> None:
    token = accounts.start_session(user)
    db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = token


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.value if role else "anonymous")
def test_every_get_route_sends_the_protections(app, client, world, role):
    if role is not None:
        _sign_in(client, world.people[role.value])
    problems = []
    pages = 0
    for endpoint, url in _get_urls(app, world.values):
        response = client.get(url)
        headers = response.headers
        policy = headers.get("Content-Security-Policy", "")
        for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'",
                          "default-src 'self'"):
            if directive not in policy:
                problems.append(f"{url}: CSP without {directive}")
        if "'unsafe-inline'" in policy or "'unsafe-eval'" in policy:
            problems.append(f"{url}: CSP allows inline or eval")
        for name, value in (("X-Content-Type-Options", "nosniff"),
                            ("Referrer-Policy", "same-origin")):
            if headers.get(name) != value:
                problems.append(f"{url}: {name} is {headers.get(name)!r}")
        if "camera=()" not in headers.get("Permissions-Policy", ""):
            problems.append(f"{url}: no Permissions-Policy")
        public = role is None and security.access_of(app, endpoint) == "public"
        if not public and headers.get("Cache-Control") != "no-store":
            problems.append(f"{url} ({response.status_code}): may be cached: "
                            f"{headers.get('Cache-Control')!r}")
        if response.mimetype == "text/html":
            html = response.get_data(as_text=True)
            pages += response.status_code == 200
            if INLINE_SCRIPT.search(html) or EVENT_HANDLER.search(html):
                problems.append(f"{url}: inline script or event handler")
        response.close()  # a file download holds its file open until then
    assert problems == []
    assert pages >= 20  # the walk reached real pages, not only refusals


def test_a_guests_case_page_is_never_cached(client, world):
    """A guest's browser opens its case through a grant: personal, though anonymous."""
    url = f"/cases/{world.values['reference']}"
    assert client.get(url).headers["Cache-Control"] == "no-store"
    assert client.get("/kb").headers.get("Cache-Control") != "no-store"


def test_production_settings_add_hsts_and_a_host_only_secure_cookie(make_app, make_user):
    app = make_app(SESSION_COOKIE_SECURE=True)
    with app.app_context():
        make_user(email="vecina@example.org")
        client = app.test_client()
        page = client.get("/login", base_url="https://localhost")
        assert page.headers["Strict-Transport-Security"].startswith("max-age=63072000")
        response = client.post("/login", base_url="https://localhost", data={
            "email": "vecina@example.org", "password": "correct horse battery staple"})
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("__Host-ventanilla_session=")
        assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie


def test_every_typed_url_part_has_a_real_value_here(app, world):
    """So that the walk above opens real pages: a new URL part needs a value in the
    ``world`` fixture (tests/security/conftest.py)."""
    parts = {name for rule in app.url_map.iter_rules() if rule.endpoint != "static"
             for name in rule.arguments}
    assert parts - set(world.values) == set()
    assert set(URL_CONVERTERS) == {"int", "reference", "token", "slug"}
