"""Staff's second factor (TOTP with recovery codes), the idle timeout of staff sessions
and the sign-in history on /account."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from portal import clock
from portal.accounts import export
from portal.models import AuditEvent, Role, User
from tests.conftest import TEST_PASSWORD

KEY = re.compile(r'<p class="secret-key"><code>([A-Z2-7 ]+)</code></p>')


def _sign_in(client, email: str, password: str = TEST_PASSWORD):
    return client.post("/login?lang=en", data={"email": email, "password": password})


def _enrol(client) -> tuple[str, list[str]]:
    """Set up the second factor from the page, as the person would with their app."""
    page = client.get("/account/second-factor").text
    assert "<svg" in page and 'role="img"' in page  # the QR code, drawn here
    secret = KEY.search(page).group(1).replace(" ", "")
    done = client.post("/account/second-factor", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([0-9A-Z]{4}-[0-9A-Z]{4})</code></li>", done.text)
    assert len(codes) == 10
    return secret, codes


@pytest.fixture
def agent(make_user, make_department):
    return make_user(Role.AGENT, email="agente@example.org", departments=[make_department()],
                     locale="en")


def test_an_agent_turns_it_on_and_then_signs_in_with_a_code(app, db, client, agent):
    _sign_in(client, agent.email)
    other = app.test_client()  # another browser, signed in before
    _sign_in(other, agent.email)
    assert other.get("/staff/").status_code == 200

    wrong = client.post("/account/second-factor", data={"code": "000000"})
    assert "The code is not right" in wrong.text
    secret, _codes = _enrol(client)
    assert client.get("/staff/").status_code == 200  # this session gave the code
    assert other.get("/staff/").status_code == 302  # the other one had the password only
    user = db.session.get(User, agent.id)
    assert user.totp_enabled_at is not None and secret not in user.totp_secret

    client.post("/logout")
    later = clock.now() + timedelta(seconds=30)  # the enrolment's code is used up
    with clock.frozen_at(later):
        response = _sign_in(client, agent.email)
        assert response.headers["Location"] == "/login/code"
        assert client.get("/staff/").status_code == 302  # not signed in yet
        code = pyotp.TOTP(secret).at(later)
        response = client.post("/login/code", data={"code": code})
        assert response.status_code == 302 and response.headers["Location"] == "/staff/"
        assert client.get("/staff/").status_code == 200

        # The same code a second time is refused, even with the right password first.
        thief = app.test_client()
        _sign_in(thief, agent.email)
        refused = thief.post("/login/code", data={"code": code})
        assert "The code is not right" in refused.text
        assert thief.get("/staff/").status_code == 302


def test_a_recovery_code_works_once_and_wrong_codes_end_the_attempt(app, db, client, agent):
    _sign_in(client, agent.email)
    _secret, codes = _enrol(client)
    client.post("/logout")
    _sign_in(client, agent.email)
    assert client.post("/login/code", data={"code": codes[0].lower()}).status_code == 302
    assert len(db.session.get(User, agent.id).recovery_code_hashes) == 9
    client.post("/logout")
    _sign_in(client, agent.email)
    for _attempt in range(4):  # the used one is refused, four times
        assert "The code is not right" in client.post(
            "/login/code", data={"code": codes[0]}).text
    assert client.post("/login/code", data={"code": codes[1]}).headers["Location"] == "/staff/"
    client.post("/logout")
    _sign_in(client, agent.email)
    for _attempt in range(5):
        response = client.post("/login/code", data={"code": "123456"})
    assert response.headers["Location"] == "/login"
    assert client.post("/login/code", data={"code": codes[2]}).headers["Location"] == "/login"
    failures = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "auth.second_factor_failed"))
    assert len(list(failures)) >= 9


def test_when_required_staff_cannot_reach_the_staff_area_without_it(make_app, make_user,
                                                                     make_department):
    app = make_app(STAFF_SECOND_FACTOR_REQUIRED=True)
    with app.app_context():
        department = make_department()
        make_user(Role.AGENT, email="agente@example.org", departments=[department],
                  locale="en")
        make_user(Role.CITIZEN, email="vecina@example.org", locale="en")
        client = app.test_client()
        response = _sign_in(client, "agente@example.org")
        assert response.headers["Location"] == "/account/second-factor"
        for path in ("/staff/", "/staff/kb/", "/manage/privacy/"):
            assert client.get(path).headers["Location"] == "/account/second-factor"
        page = client.get("/account/second-factor").text
        assert "asks every member of staff" in page
        _enrol(client)
        assert client.get("/staff/").status_code == 200
        off = client.post("/account/second-factor/off", data={"code": "000000"})
        assert off.status_code == 400

        citizen = app.test_client()
        assert _sign_in(citizen, "vecina@example.org").headers["Location"] == "/account"
        assert citizen.get("/account/second-factor").status_code == 404


def test_an_administrator_resets_it_and_the_sessions_end(app, db, client, agent, make_user):
    _sign_in(client, agent.email)
    _enrol(client)
    admin = make_user(Role.ADMIN, locale="en")
    from portal.accounts import service as accounts

    admin_client = app.test_client()
    token = accounts.start_session(admin, second_factor=False)
    db.session.commit()
    with admin_client.session_transaction() as session:
        session["_user_id"] = token
    page = admin_client.get(f"/manage/admin/users/{agent.id}")
    assert "Reset the second factor" in page.text
    response = admin_client.post(f"/manage/admin/users/{agent.id}/second-factor/reset")
    assert response.status_code == 302
    assert client.get("/staff/").status_code == 302  # the agent's cookie opens nothing now
    user = db.session.get(User, agent.id)
    assert user.totp_enabled_at is None and user.totp_secret == ""
    assert db.session.scalar(select(AuditEvent.action).where(
        AuditEvent.action == "admin.second_factor_reset")) is not None


def test_a_staff_session_ends_after_the_idle_time(app, db, client, agent):
    _sign_in(client, agent.email)
    assert client.get("/staff/").status_code == 200
    start = clock.now()
    with clock.frozen_at(start + timedelta(minutes=29)):
        page = client.get("/staff/")
        assert page.status_code == 200
        assert "Without activity, this staff session ends at" in page.text
    with clock.frozen_at(start + timedelta(minutes=58)):  # 29 after the last request
        assert client.get("/staff/").status_code == 200
    with clock.frozen_at(start + timedelta(minutes=89)):
        response = client.get("/staff/")
        assert response.status_code == 302 and "/login" in response.headers["Location"]
        login = client.get(response.headers["Location"])
        assert "signed out after 30 minutes without activity" in login.text
        assert client.get("/account").status_code == 302


def test_a_citizen_session_has_no_idle_timeout(client, login_as):
    login_as(Role.CITIZEN)
    with clock.frozen_at(clock.now() + timedelta(hours=5)):
        assert client.get("/account").status_code == 200


def test_the_account_page_shows_the_latest_sign_ins(app, client, agent):
    _sign_in(client, agent.email, "wrong password, not mine")
    _sign_in(client, agent.email)
    page = client.get("/account").text
    assert "Your latest sign-ins" in page
    assert "Wrong password" in page and "Signed in" in page
    assert "127.0.0.1" in page


def test_the_secret_and_recovery_codes_are_never_exported(db, client, agent):
    _sign_in(client, agent.email)
    _enrol(client)
    row = export.collect(db.session.get(User, agent.id))["users"][0]
    assert "totp_secret" not in row and "recovery_code_hashes" not in row
