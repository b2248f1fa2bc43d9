"""Registration, sign-in, sign-out, sessions and passwords, through the web pages."""

import re

import pytest

from portal.accounts import service
from portal.models import AuditEvent, Role, User, UserSession

PASSWORD = "correct horse battery staple"


def sign_in(client, email, password=PASSWORD, **query):
    return client.post("/login", query_string=query,
                       data={"email": email, "password": password})


def _confirm_link(message: str) -> str:
    return re.search(r"http://localhost(/register/confirm/\S+)", message).group(1)


def test_register_creates_a_citizen_who_confirms_the_address_and_is_welcomed(
        client, db, outbox):
    response = client.post("/register?lang=en", data={
        "display_name": "Lucía Pérez", "email": " Lucia@Example.org ", "password": PASSWORD,
        "password_confirm": PASSWORD, "locale": "gl"})
    assert response.status_code == 200
    assert "Check your email" in response.text
    user = db.session.scalar(db.select(User).where(User.email == "lucia@example.org"))
    assert user.role is Role.CITIZEN
    assert user.locale == "gl"
    assert user.password_hash.startswith("$argon2id$")
    assert user.email_verified_at is None
    assert client.get("/account").status_code == 302  # not signed in yet
    (confirmation,) = outbox()
    assert "To: lucia@example.org" in confirmation
    assert "Content-Language: gl" in confirmation

    link = _confirm_link(confirmation)
    assert client.get(link).status_code == 200
    assert client.post(link, data={"password": PASSWORD}).headers["Location"] == "/account"
    assert "lucia@example.org" in client.get("/account?lang=en").text
    db.session.refresh(user)
    assert user.email_verified_at is not None
    welcome = outbox()[-1]
    assert "To: lucia@example.org" in welcome
    assert "Content-Language: gl" in welcome


@pytest.mark.parametrize(("field", "value", "message"), [
    ("email", "not-an-email", "Enter an email address in the right format"),
    ("email", "", "Enter your email address."),
    ("password", "short pass", "The password must be between 12 and 256 characters."),
    ("display_name", "", "Enter your name."),
    ("display_name", "Ana\x00", "Remove the special characters"),
])
def test_register_errors_are_shown_next_to_the_field_and_input_is_kept(
        client, field, value, message):
    data = {"display_name": "Ana Soler", "email": "ana@example.org", "password": PASSWORD,
            "password_confirm": PASSWORD, "locale": "es"}
    data[field] = value
    if field == "password":
        data["password_confirm"] = value
    response = client.post("/register?lang=en", data=data)
    assert response.status_code == 200
    assert message in response.text
    assert f'id="{field}-error"' in response.text
    assert f'aria-describedby="{field}-error"' in response.text or \
        f'{field}-hint {field}-error' in response.text
    assert 'aria-invalid="true"' in response.text
    assert f'href="#{field}"' in response.text  # the error summary links to the field
    if field != "display_name":
        assert 'value="Ana Soler"' in response.text  # what was typed is kept


def test_register_with_mismatched_passwords(client):
    response = client.post("/register?lang=es", data={
        "display_name": "Ana", "email": "ana@example.org", "password": PASSWORD,
        "password_confirm": PASSWORD + "x", "locale": "es"})
    assert "Las dos contraseñas no coinciden." in response.text


def test_register_twice_with_the_same_email_in_other_case(client, make_user, db, outbox):
    user = make_user(email="ana@example.org", password="the owner's own passphrase")
    response = client.post("/register?lang=en", data={
        "display_name": "Ana", "email": "ANA@example.org", "password": PASSWORD,
        "password_confirm": PASSWORD, "locale": "es"})
    assert response.status_code == 200
    assert "Check your email" in response.text
    assert "already exists" not in response.text
    (message,) = outbox()
    assert "To: ana@example.org" in message
    assert "/login" in message and "/password/forgot" in message
    # The owner's account is untouched: same password, still one account.
    assert service.authenticate("ana@example.org", "the owner's own passphrase").id == user.id
    assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 1


def test_sign_in_and_out(client, make_user):
    make_user(email="ana@example.org")
    response = sign_in(client, "ANA@example.org")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/account").status_code == 302


def test_staff_land_in_the_staff_area(client, make_user):
    make_user(Role.AGENT, email="agent@example.org")
    assert sign_in(client, "agent@example.org").headers["Location"] == "/staff/"


def test_sign_in_follows_a_safe_next_url_only(client, make_user):
    make_user(email="ana@example.org")
    assert sign_in(client, "ana@example.org", next="/account/password")\
        .headers["Location"] == "/account/password"
    client.post("/logout")
    assert sign_in(client, "ana@example.org", next="//evil.example")\
        .headers["Location"] == "/account"


def test_wrong_password_and_unknown_email_get_the_same_answer(client, make_user, db):
    make_user(email="ana@example.org")
    wrong = sign_in(client, "ana@example.org", "not the password", lang="en")
    unknown = sign_in(client, "nobody@example.org", PASSWORD, lang="en")
    assert wrong.status_code == unknown.status_code == 200
    for response in (wrong, unknown):
        assert "The email address or password is not right." in response.text
        assert 'value="ana@example.org"' in wrong.text
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "auth.failed"))


def test_session_cookie_copied_before_sign_out_is_rejected_after_it(app, make_user):
    make_user(email="ana@example.org")
    browser = app.test_client()
    sign_in(browser, "ana@example.org")
    stolen = browser.get_cookie("ventanilla_session").value
    browser.post("/logout")

    thief = app.test_client()
    thief.set_cookie("ventanilla_session", stolen)
    response = thief.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_password_change_signs_out_other_devices_but_not_this_one(app, make_user, db, outbox):
    user = make_user(email="ana@example.org")
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, "ana@example.org")
    sign_in(phone, "ana@example.org")
    new_password = "a brand new long passphrase"
    response = laptop.post("/account/password", data={
        "current_password": PASSWORD, "password": new_password,
        "password_confirm": new_password})
    assert response.status_code == 302
    assert laptop.get("/account").status_code == 200
    assert phone.get("/account").status_code == 302
    assert service.authenticate("ana@example.org", new_password).id == user.id
    assert "Subject:" in outbox()[-1]


def test_password_change_needs_the_current_password(client, login_as):
    login_as(Role.CITIZEN)
    response = client.post("/account/password?lang=en", data={
        "current_password": "wrong wrong wrong", "password": "another long passphrase",
        "password_confirm": "another long passphrase"})
    assert response.status_code == 200
    assert "The current password is not right." in response.text


def test_end_other_sessions(app, make_user, db):
    user = make_user(email="ana@example.org")
    first, second = app.test_client(), app.test_client()
    sign_in(first, "ana@example.org")
    sign_in(second, "ana@example.org")
    assert "2 devices" in first.get("/account?lang=en").text
    first.post("/account/sessions/end-others")
    assert first.get("/account").status_code == 200
    assert second.get("/account").status_code == 302
    assert service.active_session_count(user) == 1


def _reset_link(message: str) -> str:
    return re.search(r"http://localhost(/password/reset/\S+)", message).group(1)


def test_password_reset_by_single_use_link(client, make_user, outbox):
    make_user(email="ana@example.org", locale="en")
    response = client.post("/password/forgot?lang=en", data={"email": "ana@example.org"})
    assert "Check your email" in response.text
    (message,) = outbox()
    assert "Choose a new password" in message
    link = _reset_link(message)

    new_password = "my new reset passphrase"
    assert client.get(link).status_code == 200
    response = client.post(link, data={"password": new_password,
                                       "password_confirm": new_password})
    assert response.status_code == 302
    assert sign_in(client, "ana@example.org", new_password).status_code == 302

    # The same link a second time: it no longer works.
    again = client.get(link + "?lang=en")
    assert again.status_code == 400
    assert "This link no longer works" in again.text


def test_password_reset_signs_out_every_session(app, make_user, db, outbox):
    user = make_user(email="ana@example.org")
    device = app.test_client()
    sign_in(device, "ana@example.org")
    app.test_client().post("/password/forgot", data={"email": "ana@example.org"})
    link = _reset_link(outbox()[-1])
    app.test_client().post(link, data={"password": "reset passphrase 1",
                                       "password_confirm": "reset passphrase 1"})
    assert device.get("/account").status_code == 302
    assert db.session.scalar(db.select(db.func.count()).select_from(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None))) == 0


def test_password_reset_link_expires(client, make_user, outbox, monkeypatch):
    make_user(email="ana@example.org")
    client.post("/password/forgot", data={"email": "ana@example.org"})
    link = _reset_link(outbox()[-1])
    import itsdangerous.timed

    real_time = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real_time() + 3601)
    assert client.get(link).status_code == 400


def test_password_reset_for_an_unknown_email_says_there_is_no_account(client, outbox):
    response = client.post("/password/forgot?lang=en", data={"email": "Nobody@example.org"})
    assert response.status_code == 200
    assert "Check your email" in response.text
    (message,) = outbox()
    assert "To: nobody@example.org" in message
    assert "Content-Language: en" in message
    assert "/register" in message
    assert "/password/reset/" not in message


def test_tampered_reset_link_is_refused(client, make_user, outbox):
    make_user(email="ana@example.org")
    client.post("/password/forgot", data={"email": "ana@example.org"})
    link = _reset_link(outbox()[-1])
    assert client.get(link[:-3] + "abc").status_code == 400


def test_account_preferences_change_language(client, login_as, db):
    user = login_as(Role.CITIZEN)
    response = client.post("/account", data={"display_name": "Nuevo Nombre", "locale": "eu"})
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.locale == "eu"
    assert user.display_name == "Nuevo Nombre"
    assert '<html lang="eu">' in client.get("/account").text


def test_inactive_user_cannot_sign_in_and_is_signed_out(client, login_as, db):
    user = login_as(Role.CITIZEN)
    user.active = False
    db.session.commit()
    assert client.get("/account").status_code == 302
    assert sign_in(client, user.email).status_code == 200
