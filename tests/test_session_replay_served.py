"""A copy of a session cookie, replayed over real HTTP against gunicorn (two worker
processes), opens nothing once its owner signed out, changed the password, was disabled
or had the second factor reset."""

from __future__ import annotations

import re

import pyotp
import pytest

from portal.accounts import service as accounts
from portal.extensions import db
from portal.models import Department, Role
from tests.conftest import TEST_PASSWORD
from tests.served import Browser, served_portal

pytestmark = pytest.mark.served

NEW_PASSWORD = "another long passphrase 42"


@pytest.fixture
def portal(make_app, database_url, tmp_path):
    app = make_app()
    with app.app_context():
        department = Department(slug="alumbrado", names={"es": "Alumbrado"})
        db.session.add(department)
        db.session.flush()
        agent = accounts.create_user("agente@example.org", TEST_PASSWORD, "Agente", Role.AGENT,
                                     "en", [department])
        accounts.create_user("admin@example.org", TEST_PASSWORD, "Admin", Role.ADMIN, "en")
        db.session.commit()
        ids = {"agent": agent.id, "department": department.id}
    with served_portal(tmp_path, database_url, workers=2) as served:
        served.ids = ids
        yield served


def _signed_in(portal, email: str) -> Browser:
    browser = Browser(portal.url)
    response = browser.post("/login", {"email": email, "password": TEST_PASSWORD},
                            form_page="/login")
    assert response.status_code == 302, response.text[:500]
    return browser


def _thief_with(portal, browser: Browser) -> Browser:
    thief = Browser(portal.url)
    thief.set_cookie(browser.cookie())
    assert thief.get("/staff/").status_code == 200  # the copy works, for now
    return thief


def _refused(thief: Browser) -> bool:
    for path in ("/staff/", "/account"):
        response = thief.get(path)
        if response.status_code != 302 or "/login" not in response.headers["Location"]:
            return False
    return True


def test_after_signing_out(portal):
    agent = _signed_in(portal, "agente@example.org")
    thief = _thief_with(portal, agent)
    agent.post("/logout", {}, form_page="/account")
    assert _refused(thief)


def test_after_a_password_change_on_another_device(portal):
    laptop = _signed_in(portal, "agente@example.org")
    phone = _signed_in(portal, "agente@example.org")
    thief = _thief_with(portal, phone)
    response = laptop.post("/account/password", {
        "current_password": TEST_PASSWORD, "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD}, form_page="/account/password")
    assert response.status_code == 302
    assert laptop.get("/staff/").status_code == 200  # the device that changed it stays in
    assert _refused(thief)


def test_after_the_account_is_disabled(portal):
    agent = _signed_in(portal, "agente@example.org")
    thief = _thief_with(portal, agent)
    admin = _signed_in(portal, "admin@example.org")
    page = f"/manage/admin/users/{portal.ids['agent']}"
    response = admin.post(page, {"role": "agent", "departments": str(portal.ids["department"])},
                          form_page=page)  # "Can sign in" unticked
    assert response.status_code == 302, response.text[:2000]
    assert _refused(thief)


def test_after_the_second_factor_is_reset(portal):
    agent = _signed_in(portal, "agente@example.org")
    setup = agent.get("/account/second-factor").text
    secret = re.search(r'<p class="secret-key"><code>([A-Z2-7 ]+)</code>', setup).group(1)
    response = agent.post("/account/second-factor",
                          {"code": pyotp.TOTP(secret.replace(" ", "")).now()},
                          form_page="/account/second-factor")
    assert response.status_code == 200 and "recovery-codes" in response.text
    thief = _thief_with(portal, agent)
    admin = _signed_in(portal, "admin@example.org")
    page = f"/manage/admin/users/{portal.ids['agent']}"
    response = admin.post(f"{page}/second-factor/reset", {}, form_page=page)
    assert response.status_code == 302
    assert _refused(thief)
