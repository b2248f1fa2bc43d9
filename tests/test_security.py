"""Role gates, safe redirects, CSRF and security headers."""

import pytest

from portal.models import Role
from portal.security import safe_next_url


@pytest.mark.parametrize("target", [
    "https://evil.example/", "http://evil.example", "//evil.example", "/\\evil.example",
    "/\\/evil.example", "javascript:alert(1)", "evil.example", "", None, "ftp://x",
    "/path\nLocation: https://evil.example", "\\\\evil.example", " //evil.example",
])
def test_safe_next_url_rejects_other_sites(target):
    assert safe_next_url(target) == "/"


@pytest.mark.parametrize("target", ["/", "/account", "/staff/?page=2", "/kb?q=multa#top"])
def test_safe_next_url_keeps_local_paths(target):
    assert safe_next_url(target) == target


@pytest.mark.parametrize("path", ["/staff/", "/manage/"])
def test_guests_are_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"/login?next={path}")


@pytest.mark.parametrize(("role", "path", "status"), [
    (Role.CITIZEN, "/staff/", 403),
    (Role.CITIZEN, "/manage/", 403),
    (Role.AGENT, "/staff/", 200),
    (Role.AGENT, "/manage/", 403),
    (Role.MANAGER, "/staff/", 200),
    (Role.MANAGER, "/manage/", 200),
    (Role.ADMIN, "/manage/", 200),
])
def test_role_gates(client, login_as, role, path, status):
    login_as(role)
    assert client.get(path).status_code == status


def test_forbidden_page_is_translated(client, login_as):
    login_as(Role.CITIZEN)
    response = client.get("/manage/?lang=en")
    assert response.status_code == 403
    assert "You cannot see this page" in response.text


def test_csrf_is_enforced_when_enabled(make_app, make_user):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        make_user(email="vecina@example.org")
    response = client.post("/login", data={"email": "vecina@example.org",
                                           "password": "correct horse battery staple"})
    assert response.status_code == 400
    response = client.post("/logout")
    assert response.status_code == 400


def test_csrf_token_from_the_form_is_accepted(make_app, make_user):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        make_user(email="vecina@example.org")
    page = client.get("/login").text
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/login", data={"email": "vecina@example.org", "csrf_token": token,
                                           "password": "correct horse battery staple"})
    assert response.status_code == 302


def test_security_headers(client):
    response = client.get("/")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_session_cookie_is_http_only_and_same_site(client, make_user):
    make_user(email="vecina@example.org")
    response = client.post("/login", data={"email": "vecina@example.org",
                                           "password": "correct horse battery staple"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_sign_in_is_rate_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    statuses = [client.post("/login?lang=en", data={"email": "x@example.org",
                                                     "password": "wrong password!"}).status_code
                for _ in range(12)]
    assert statuses[:10] == [200] * 10
    assert statuses[-1] == 429
    assert "Too many attempts" in client.post("/login", data={}).text


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(make_app):
    from flask import request

    for hops, expected in ((0, "10.9.8.7"), (1, "203.0.113.5")):
        app = make_app(PROXY_HOPS=hops)
        app.add_url_rule(f"/_addr{hops}", f"addr{hops}", lambda: request.remote_addr)
        answer = app.test_client().get(f"/_addr{hops}", environ_base={
            "REMOTE_ADDR": "10.9.8.7"}, headers={"X-Forwarded-For": "203.0.113.5"})
        assert answer.text == expected
