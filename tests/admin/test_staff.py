"""Staff accounts through the administration pages: invite, change, disable."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.accounts import service as accounts
from portal.models import AuditEvent, Role, User


def invitation_link(outbox) -> str:
    message = next(text for text in reversed(outbox()) if "/invitation/" in text)
    return re.search(r"https?://[^/\s]+(/invitation/\S+)", message).group(1)


def test_an_invited_civil_servant_chooses_a_password_and_comes_in(
        app, client, login_as, db, make_department, outbox):
    roads = make_department(slug="movilidad")
    login_as(Role.ADMIN)
    page = client.post("/manage/admin/users/invite?lang=en", data={
        "display_name": "Luis Vial", "email": "Luis@Example.org", "role": "agent",
        "departments": [str(roads.id)], "locale": "gl"})
    assert page.status_code == 302
    person = db.session.scalar(select(User).where(User.email == "luis@example.org"))
    assert (person.role, [item.slug for item in person.departments]) == \
        (Role.AGENT, ["movilidad"])
    assert person.email_verified_at is None
    mail = outbox()[-1]
    assert "Subject: A súa conta de persoal" in mail  # in the language chosen for them
    assert "Luis Vial" in mail

    # Nobody can sign in to it before the link is used.
    assert accounts.authenticate("luis@example.org", "") is None

    newcomer = app.test_client()
    link = invitation_link(outbox)
    assert newcomer.get(link).status_code == 200
    page = newcomer.post(link + "?lang=en", data={"password": "short",
                                                  "password_confirm": "short"})
    assert page.status_code == 400
    page = newcomer.post(link, data={"password": "a long enough password",
                                     "password_confirm": "a long enough password"})
    assert page.status_code == 302 and page.location.endswith("/staff/")
    assert newcomer.get("/staff/").status_code == 200
    # The link worked once.
    assert app.test_client().get(link).status_code == 400
    actions = [event.action for event in db.session.scalars(select(AuditEvent))]
    assert "admin.user_invited" in actions and "user.invitation_accepted" in actions


def test_an_address_with_an_account_is_not_invited_again(client, login_as, make_user):
    make_user(Role.CITIZEN, email="vecina@example.org")
    login_as(Role.ADMIN)
    page = client.post("/manage/admin/users/invite?lang=en", data={
        "display_name": "Vecina", "email": "vecina@example.org", "role": "agent",
        "locale": "es"})
    assert page.status_code == 400
    assert "This address already has an account." in page.get_data(as_text=True)


def test_a_new_invitation_retires_the_earlier_link(app, client, login_as, db, outbox):
    login_as(Role.ADMIN)
    client.post("/manage/admin/users/invite", data={
        "display_name": "Eva", "email": "eva@example.org", "role": "manager",
        "locale": "es"})
    first = invitation_link(outbox)
    person = db.session.scalar(select(User).where(User.email == "eva@example.org"))
    assert client.post(f"/manage/admin/users/{person.id}/invitation").status_code == 302
    second = invitation_link(outbox)
    assert second != first
    assert app.test_client().get(first).status_code == 400
    assert app.test_client().get(second).status_code == 200


def test_disabling_a_civil_servant_ends_their_open_session_at_once(
        app, client, login_as, db, make_user):
    agent = make_user(Role.AGENT, email="agente@example.org")
    theirs = app.test_client()
    token = accounts.start_session(agent)
    db.session.commit()
    with theirs.session_transaction() as session:
        session["_user_id"] = token
    assert theirs.get("/staff/").status_code == 200

    login_as(Role.ADMIN)
    page = client.post(f"/manage/admin/users/{agent.id}", data={"role": "agent"})
    assert page.status_code == 302
    assert db.session.get(User, agent.id).active is False
    # The same cookie, the next request: signed out.
    page = theirs.get("/staff/")
    assert page.status_code == 302 and "/login" in page.location
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.action, event.data["fields"]) == ("admin.user_changed", ["active"])


def test_an_admin_changes_a_role_and_departments_but_not_their_own_access(
        client, login_as, db, make_user, make_department):
    parks = make_department()
    agent = make_user(Role.AGENT)
    admin = login_as(Role.ADMIN)
    page = client.post(f"/manage/admin/users/{agent.id}", data={
        "role": "manager", "departments": [str(parks.id)], "active": "y"})
    assert page.status_code == 302
    db.session.refresh(agent)
    assert agent.role is Role.MANAGER and [item.id for item in agent.departments] == [parks.id]

    page = client.post(f"/manage/admin/users/{admin.id}?lang=en", data={"role": "agent",
                                                                        "active": "y"})
    assert page.status_code == 400
    assert "You cannot take away your own access" in page.get_data(as_text=True)
    page = client.post(f"/manage/admin/users/{admin.id}?lang=en", data={"role": "admin"})
    assert page.status_code == 400
    assert db.session.get(User, admin.id).active is True


def test_citizens_are_not_on_the_staff_pages(client, login_as, make_user):
    citizen = make_user(Role.CITIZEN)
    login_as(Role.ADMIN)
    assert client.get(f"/manage/admin/users/{citizen.id}").status_code == 404
    assert citizen.email not in client.get("/manage/admin/users").get_data(as_text=True)


def test_an_empty_invitation_says_what_is_missing_about_the_person(client, login_as):
    login_as(Role.ADMIN)
    page = client.post("/manage/admin/users/invite?lang=en", data={"role": "agent",
                                                                  "locale": "es"})
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "Enter the person's email address." in html
    assert "Enter the person's name." in html
    assert "Enter your email address." not in html
