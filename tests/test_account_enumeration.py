"""Nobody learns from the portal whether an email address has an account.

Registration and forgot-password answer with the same page and queue one email on every
path; the email says the rest, to the address's owner only. A self-registered account
is not an account until its address is confirmed with the link sent to it.
"""

from __future__ import annotations

import re

import itsdangerous.timed
import pytest

from portal.accounts import service
from portal.models import User
from tests.conftest import TEST_PASSWORD

OTHER_PASSWORD = "another long passphrase"


def register(client, email, password=TEST_PASSWORD, name="Ana Soler"):
    return client.post("/register?lang=en", data={
        "display_name": name, "email": email, "password": password,
        "password_confirm": password, "locale": "en"})


def without(email: str, page: str) -> str:
    return page.replace(email, "EMAIL")


def confirm_link(message: str) -> str:
    return re.search(r"http://localhost(/register/confirm/\S+)", message).group(1)


def user(db, email: str) -> User:
    db.session.rollback()
    return db.session.scalar(db.select(User).where(User.email == email))


def test_registration_answers_the_same_and_writes_one_email_on_every_path(
        app, make_user, outbox):
    make_user(email="taken@example.org", locale="en")
    register(app.test_client(), "pending@example.org")
    before = len(outbox())

    answers = {}
    for email in ("new@example.org", "taken@example.org", "pending@example.org"):
        response = register(app.test_client(), email)
        assert response.status_code == 200
        answers[email] = without(email, response.get_data(as_text=True))
    assert len(set(answers.values())) == 1
    assert "Check your email" in answers["new@example.org"]

    messages = outbox()[before:]
    assert [re.search(r"^To: (.*)$", message, re.M).group(1) for message in messages] == \
        ["new@example.org", "taken@example.org", "pending@example.org"]
    new, taken, pending = messages
    assert "/register/confirm/" in new and "/register/confirm/" in pending
    assert "/register/confirm/" not in taken
    assert "You already have one" in taken


def test_registering_an_existing_address_changes_nothing_for_its_owner(
        client, make_user, db):
    owner = make_user(email="taken@example.org", name="Ana Soler")
    hash_before = owner.password_hash
    register(client, "Taken@Example.org", password=OTHER_PASSWORD, name="Intruder")
    owner = user(db, "taken@example.org")
    assert (owner.display_name, owner.password_hash) == ("Ana Soler", hash_before)
    assert owner.email_verified_at is not None


def test_the_confirmation_link_confirms_once_and_signs_in(client, db, outbox):
    register(client, "lucia@example.org")
    link = confirm_link(outbox()[-1])
    # Opening the link (as a mail scanner would) confirms nothing by itself.
    assert client.get(link).status_code == 200
    assert user(db, "lucia@example.org").email_verified_at is None

    response = client.post(link, data={"password": TEST_PASSWORD})
    assert response.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200
    assert user(db, "lucia@example.org").email_verified_at is not None

    client.post("/logout")
    again = client.get(link + "?lang=en")
    assert again.status_code == 400
    assert "This link no longer works" in again.text
    assert client.post(link, data={"password": TEST_PASSWORD}).status_code == 400


def test_the_confirmation_link_needs_the_password_chosen_at_registration(
        client, db, outbox):
    register(client, "lucia@example.org")
    link = confirm_link(outbox()[-1])
    response = client.post(link + "?lang=en", data={"password": "not the password at all"})
    assert response.status_code == 200
    assert "The password is not right." in response.text
    assert user(db, "lucia@example.org").email_verified_at is None


def test_the_confirmation_link_expires(client, outbox, monkeypatch):
    register(client, "lucia@example.org")
    link = confirm_link(outbox()[-1])
    real_time = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real_time() + 86401)
    assert client.get(link).status_code == 400
    assert client.post(link, data={"password": TEST_PASSWORD}).status_code == 400


def test_a_tampered_confirmation_link_is_refused(client, outbox):
    register(client, "lucia@example.org")
    assert client.get(confirm_link(outbox()[-1])[:-3] + "abc").status_code == 400


def test_registering_again_before_confirming_replaces_the_pending_details(
        app, db, outbox):
    register(app.test_client(), "lucia@example.org", name="Someone Else")
    first_link = confirm_link(outbox()[-1])
    register(app.test_client(), "lucia@example.org", password=OTHER_PASSWORD,
             name="Lucía Pérez")
    second_link = confirm_link(outbox()[-1])

    browser = app.test_client()
    assert browser.get(first_link).status_code == 400  # the earlier link stopped working
    assert browser.post(second_link, data={"password": OTHER_PASSWORD}).status_code == 302
    lucia = user(db, "lucia@example.org")
    assert lucia.display_name == "Lucía Pérez"
    assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 1


def test_an_unconfirmed_account_cannot_sign_in_and_can_ask_for_a_new_link(
        client, db, outbox):
    register(client, "lucia@example.org")
    right = client.post("/login?lang=en", data={"email": "lucia@example.org",
                                                "password": TEST_PASSWORD})
    assert right.status_code == 200
    assert "You have not confirmed your email address yet." in right.text
    assert client.get("/account").status_code == 302

    wrong = client.post("/login?lang=en", data={"email": "lucia@example.org",
                                                "password": "not the password at all"})
    assert "The email address or password is not right." in wrong.text
    assert "not confirmed" not in wrong.text

    # The button under the first answer sends a new link, which works.
    client.post("/login", data={"email": "lucia@example.org", "password": TEST_PASSWORD})
    sent = len(outbox())
    assert client.post("/register/resend").status_code == 302
    assert len(outbox()) == sent + 1
    link = confirm_link(outbox()[-1])
    assert client.post(link, data={"password": TEST_PASSWORD}).status_code == 302
    assert client.get("/account").status_code == 200


def test_resend_without_a_signed_in_attempt_sends_nothing(client, outbox):
    register(client, "lucia@example.org")
    sent = len(outbox())
    assert client.post("/register/resend").status_code == 302
    assert len(outbox()) == sent


def test_forgot_password_answers_the_same_and_writes_one_email_either_way(
        app, make_user, outbox):
    make_user(email="known@example.org")
    answers = []
    for email in ("known@example.org", "unknown@example.org"):
        response = app.test_client().post("/password/forgot?lang=en", data={"email": email})
        assert response.status_code == 200
        answers.append(without(email, response.get_data(as_text=True)))
    assert answers[0] == answers[1]
    known, unknown = outbox()
    assert "To: known@example.org" in known and "/password/reset/" in known
    assert "To: unknown@example.org" in unknown and "/password/reset/" not in unknown
    assert "there is no active account with it" in unknown


def test_a_reset_link_confirms_an_unconfirmed_address(client, db, outbox):
    register(client, "lucia@example.org")
    client.post("/password/forgot", data={"email": "lucia@example.org"})
    link = re.search(r"http://localhost(/password/reset/\S+)", outbox()[-1]).group(1)
    client.post(link, data={"password": OTHER_PASSWORD, "password_confirm": OTHER_PASSWORD})
    assert user(db, "lucia@example.org").email_verified_at is not None
    assert client.post("/login", data={"email": "lucia@example.org",
                                       "password": OTHER_PASSWORD}).status_code == 302


@pytest.mark.parametrize("verified", [True, False])
def test_create_user_confirms_the_address_unless_told_not_to(app, db, verified):
    made = service.create_user("staff@example.org", TEST_PASSWORD, "Staff", verified=verified)
    assert (made.email_verified_at is not None) is verified
