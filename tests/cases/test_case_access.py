"""Who may open a guest's case: grants kept on the server, revoked when they must be.

Items 3, 4 and 5 of the trust issue: a typed email address is not an identity (so a
merge never hands a stranger a case), a copied cookie stops working at sign-out,
password change and a new emailed link, and no page with a case on it is cacheable.
"""

from __future__ import annotations

import re

import pytest

from portal.models import Case, CaseGrant, CaseLink, Message, Role
from tests.cases.helpers import case_link, complaint_form, png
from tests.cases.test_intake import submit
from tests.conftest import TEST_PASSWORD

REFERENCE = re.compile(r"/cases/([A-Z0-9-]+)/submitted")


def _send(client, **form) -> str:
    response = submit(client, complaint_form(**form), attachments=[(png(), "foto.png")])
    assert response.status_code == 302, response.text
    return REFERENCE.search(response.headers["Location"]).group(1)


def _case(db, reference: str) -> Case:
    return db.session.scalar(db.select(Case).where(Case.reference == reference))


def _cookie(client) -> str:
    return client.get_cookie("ventanilla_session").value


def _with_cookie(app, value: str):
    other = app.test_client()
    other.set_cookie("ventanilla_session", value)
    return other


def _sign_in(client, email: str, password: str = TEST_PASSWORD):
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 302, response.text
    return response


# ---------------------------------------------------------------- item 4: grants

def test_the_cookie_holds_no_case_references_only_a_random_browser_key(app, db, client):
    reference = _send(client)
    with client.session_transaction() as session:
        assert reference not in repr(dict(session))
        assert len(session["browser"]) >= 40
    grant = db.session.scalar(db.select(CaseGrant))
    assert grant.case_id == _case(db, reference).id
    assert len(grant.browser_hash) == 64  # a hash: the key itself is not stored


def test_sign_out_ends_the_access_of_a_copied_cookie(app, db, client, make_user):
    make_user(Role.CITIZEN, email="lucia@example.org")
    _sign_in(client, "lucia@example.org")
    # A case she sent as a guest earlier, opened from the link in her email.
    guest = app.test_client()
    reference = _send(guest, contact_email="lucia@example.org", token="guest")
    from tests.conftest import read_eml  # noqa: F401  (the outbox fixture reads these)

    token = case_link_for(app, reference)
    assert client.get(f"/cases/{reference}?access={token}").status_code == 302
    assert client.get(f"/cases/{reference}").status_code == 200
    copied = _cookie(client)

    client.post("/logout")
    thief = _with_cookie(app, copied)
    assert thief.get(f"/cases/{reference}").status_code == 404
    reply = thief.post(f"/cases/{reference}/reply", data={"body": "Soy otra persona"})
    assert reply.status_code == 404
    assert db.session.scalar(db.select(db.func.count(Message.id))) == 0


def case_link_for(app, reference: str) -> str:
    from portal.cases import service

    with app.test_request_context():
        return service.case_link_token(
            service.db.session.scalar(service.select(Case).where(Case.reference == reference)))


def test_a_password_change_ends_the_access_of_other_browsers(app, db, make_user):
    make_user(Role.CITIZEN, email="lucia@example.org")
    guest = app.test_client()
    reference = _send(guest, contact_email="lucia@example.org")
    laptop, phone = app.test_client(), app.test_client()
    token = case_link_for(app, reference)
    for browser in (laptop, phone):
        _sign_in(browser, "lucia@example.org")
        browser.get(f"/cases/{reference}?access={token}")
        assert browser.get(f"/cases/{reference}").status_code == 200
    copied = _cookie(phone)

    changed = laptop.post("/account/password", data={
        "current_password": TEST_PASSWORD, "password": "a brand new passphrase",
        "password_confirm": "a brand new passphrase"})
    assert changed.status_code == 302
    assert laptop.get(f"/cases/{reference}").status_code == 200  # the browser she used
    assert _with_cookie(app, copied).get(f"/cases/{reference}").status_code == 404


def test_a_disabled_account_loses_the_cases_it_opened_from_links(app, db, make_user):
    user = make_user(Role.CITIZEN, email="lucia@example.org")
    reference = _send(app.test_client(), contact_email="lucia@example.org")
    browser = app.test_client()
    _sign_in(browser, "lucia@example.org")
    browser.get(f"/cases/{reference}?access={case_link_for(app, reference)}")
    copied = _cookie(browser)
    user.active = False
    db.session.commit()
    assert _with_cookie(app, copied).get(f"/cases/{reference}").status_code == 404


def test_asking_for_a_new_link_revokes_every_earlier_link_and_grant(app, db, client, outbox):
    reference = _send(client)
    old_link = case_link(outbox()[-1])
    copied = _cookie(client)
    someone = app.test_client()
    assert someone.get(old_link).status_code == 302  # e.g. a forwarded email

    response = app.test_client().post("/track", data={"reference": reference,
                                                      "email": "maria@example.org"})
    assert response.status_code == 200
    new_link = case_link(outbox()[-1])
    assert new_link != old_link
    assert app.test_client().get(old_link).status_code == 404
    assert someone.get(f"/cases/{reference}").status_code == 404
    assert _with_cookie(app, copied).get(f"/cases/{reference}").status_code == 404
    owner = app.test_client()
    assert owner.get(new_link).status_code == 302
    assert owner.get(f"/cases/{reference}").status_code == 200


def test_signing_in_keeps_the_cases_of_this_browser_under_a_new_key(app, db, client,
                                                                   make_user):
    make_user(Role.CITIZEN, email="lucia@example.org")
    reference = _send(client, contact_email="otra@example.org")
    before = _cookie(client)
    _sign_in(client, "lucia@example.org")
    assert client.get(f"/cases/{reference}").status_code == 200
    # The key the browser had before signing in (which someone may have planted or
    # copied) no longer opens anything.
    assert _with_cookie(app, before).get(f"/cases/{reference}").status_code == 404


# ---------------------------------------------------------------- item 5: caching

def test_every_page_with_a_case_or_personal_data_is_no_store(app, db, client, outbox):
    reference = _send(client)
    case = _case(db, reference)
    link = case_link(outbox()[-1])
    anonymous = app.test_client()
    pages = [
        client.get(f"/cases/{reference}/submitted"),
        client.get(f"/cases/{reference}"),
        anonymous.get(link),
        client.get(f"/cases/{reference}/files/{case.attachments[0].id}"),
        client.get("/cases/new?kind=question"),
        submit(client, complaint_form(contact_email="nope", token="x")),
        client.post("/track", data={"reference": reference, "email": "maria@example.org"}),
    ]
    for response in pages:
        response.close()
        assert response.headers["Cache-Control"] == "no-store", response.request.path


# ---------------------------------------------------------------- item 3: merges

@pytest.fixture
def agent(app, make_user, make_department):
    department = make_department(slug="alumbrado")
    user = make_user(Role.AGENT, departments=[department], email="agente@example.org")
    staff = app.test_client()
    _sign_in(staff, "agente@example.org")
    staff.department = department
    staff.user = user
    return staff


def test_a_typed_address_is_not_an_identity_cases_cannot_be_merged(app, db, agent, outbox):
    topic = f"department-{agent.department.id}"
    neighbour = app.test_client()
    hers = _send(neighbour, topic=topic, token="hers", subject="Mi ventana rota",
                 body="Vivo en el 3º B y os cuento algo privado.",
                 contact_email="vecina@example.org")
    neighbour.get(case_link(outbox()[-1]))  # she opens her link: her address is proven
    visitor = app.test_client()
    theirs = _send(visitor, topic=topic, token="theirs", subject="Farola",
                   contact_email="vecina@example.org")

    page = agent.get(f"/staff/cases/{theirs}?lang=en").text
    own = page[page.index('id="history-title"'):page.index('id="unverified-title"')]
    unverified = page[page.index('id="unverified-title"'):page.index('id="related-title"')]
    assert "Possibly the same person (not verified)" in unverified
    assert hers in unverified and hers not in own

    for source, target in ((theirs, hers), (hers, theirs)):
        refused = agent.post(f"/staff/cases/{source}/merge?lang=en", data={"target": target})
        assert refused.status_code == 400
        assert "Only cases of the same citizen can be merged:" in refused.text
    assert _case(db, theirs).merged_into_id is None

    linked = agent.post(f"/staff/cases/{theirs}/link", data={"target": hers})
    assert linked.status_code == 302
    assert db.session.scalar(db.select(db.func.count()).select_from(CaseLink)) == 1
    assert hers in agent.get(f"/staff/cases/{theirs}?lang=en").text

    # The visitor still sees only their own case, and nothing of hers.
    own_page = visitor.get(f"/cases/{theirs}")
    assert own_page.status_code == 200 and "algo privado" not in own_page.text
    assert visitor.get(f"/cases/{hers}").status_code == 404
    file_id = _case(db, hers).attachments[0].id
    assert visitor.get(f"/cases/{hers}/files/{file_id}").status_code == 404


def test_cases_with_an_address_proven_on_both_merge_and_grant_nothing_new(app, db, agent,
                                                                        outbox):
    topic = f"department-{agent.department.id}"
    first_browser = app.test_client()
    first = _send(first_browser, topic=topic, token="1")
    first_link = case_link(outbox()[-1])
    second = _send(app.test_client(), topic=topic, token="2", subject="Otra vez")
    second_link = case_link(outbox()[-1])
    mailbox = app.test_client()
    for link in (first_link, second_link):
        mailbox.get(link)

    merged = agent.post(f"/staff/cases/{first}/merge", data={"target": second})
    assert merged.status_code == 302
    assert _case(db, first).merged_into_id == _case(db, second).id
    # Whoever opened both links is taken to the joined case ...
    redirect = mailbox.get(f"/cases/{first}")
    assert redirect.status_code == 302 and redirect.headers["Location"].endswith(second)
    # ... but the browser that only sent the first case is not handed the second: it is
    # told that a link was emailed.
    page = first_browser.get(f"/cases/{first}?lang=en")
    assert page.status_code == 200 and "joined with another one" in page.text
    assert first_browser.get(f"/cases/{second}").status_code == 404


def test_the_same_account_merges_without_any_link(app, db, agent, make_user):
    make_user(Role.CITIZEN, email="lucia@example.org")
    citizen = app.test_client()
    _sign_in(citizen, "lucia@example.org")
    topic = f"department-{agent.department.id}"
    first, second = _send(citizen, topic=topic, token="a"), _send(citizen, topic=topic,
                                                                   token="b")
    assert agent.post(f"/staff/cases/{first}/merge", data={"target": second}
                      ).status_code == 302
    assert citizen.get(f"/cases/{first}").headers["Location"].endswith(second)
