"""The merge sequence and the cookie replay of the trust issue, over real HTTP.

The portal runs under gunicorn with two worker processes, as `make run` and production
serve it, so a grant held in one process's memory or in the cookie alone would show.
"""

from __future__ import annotations

import re
import secrets

import pytest

from portal.accounts import service as accounts
from portal.extensions import db
from portal.models import Case, Department, Message, Role
from tests.cases.helpers import png
from tests.conftest import TEST_PASSWORD
from tests.served import Browser, served_portal

pytestmark = pytest.mark.served

FORM = "/cases/new?kind=complaint"
LINK = re.compile(r"http://127\.0\.0\.1:\d+(/cases/\S+\?access=\S+)")


def _complaint(browser: Browser, email: str, subject: str, body: str, topic: str,
               photo: bool = False) -> str:
    fields = {"subject": subject, "topic": topic, "body": body,
              "desired_outcome": "Que lo arreglen.", "contact_name": "Vecina",
              "contact_email": email, "contact_preference": "email", "language": "es",
              "submission_token": secrets.token_urlsafe(16)}
    response = browser.post(FORM, fields, form_page=FORM,
                            files=[("attachments", "ventana.png", png())] if photo else [])
    assert response.status_code == 302, response.text[:2000]
    return re.search(r"/cases/([A-Z0-9-]+)/submitted", response.headers["Location"]).group(1)


def _sign_in(browser: Browser, email: str, password: str = TEST_PASSWORD) -> None:
    response = browser.post("/login", {"email": email, "password": password},
                            form_page="/login")
    assert response.status_code == 302, response.text[:2000]


@pytest.fixture
def portal_with_people(make_app, database_url, tmp_path):
    app = make_app()
    with app.app_context():
        department = Department(slug="alumbrado", names={"es": "Alumbrado",
                                                         "en": "Street lighting"})
        db.session.add(department)
        db.session.flush()
        accounts.create_user("agente@example.org", TEST_PASSWORD, "Agente", Role.AGENT, "es",
                             [department])
        accounts.create_user("lucia@example.org", TEST_PASSWORD, "Lucía", Role.CITIZEN, "es")
        db.session.commit()
        topic = f"department-{department.id}"
    with served_portal(tmp_path, database_url, workers=2) as portal:
        portal.topic = topic
        portal.app = app
        yield portal


def test_a_merge_never_hands_a_stranger_the_neighbours_case(portal_with_people):
    portal = portal_with_people
    neighbour = Browser(portal.url)
    hers = _complaint(neighbour, "vecina@example.org", "Ventana rota",
                      "Vivo sola en el 3º B; os cuento algo privado.", portal.topic,
                      photo=True)
    # She even opens the link we emailed her: her own address is proven on her case.
    assert neighbour.get(LINK.search(portal.outbox()[-1]).group(1)).status_code == 302

    visitor = Browser(portal.url)
    theirs = _complaint(visitor, "vecina@example.org", "Farola", "La farola no va.",
                        portal.topic)

    agent = Browser(portal.url)
    _sign_in(agent, "agente@example.org")
    staff_page = agent.get(f"/staff/cases/{theirs}?lang=en").text
    unverified = staff_page[staff_page.index('id="unverified-title"'):]
    assert "Possibly the same person (not verified)" in unverified and hers in unverified
    own = staff_page[staff_page.index('id="history-title"'):
                     staff_page.index('id="unverified-title"')]
    assert hers not in own

    merge = agent.post(f"/staff/cases/{theirs}/merge?lang=en",
                       {"target": hers, "reason": "Duplicado"},
                       form_page=f"/staff/cases/{theirs}")
    assert merge.status_code == 400
    assert "Only cases of the same citizen can be merged:" in merge.text
    link = agent.post(f"/staff/cases/{theirs}/link", {"target": hers},
                      form_page=f"/staff/cases/{theirs}")
    assert link.status_code == 302

    own_case = visitor.get(f"/cases/{theirs}")
    assert own_case.status_code == 200 and "algo privado" not in own_case.text
    assert visitor.get(f"/cases/{hers}").status_code == 404
    with portal.app.app_context():
        victim = db.session.scalar(db.select(Case).where(Case.reference == hers))
        file_id = victim.attachments[0].id
        assert db.session.scalar(db.select(Case).where(Case.reference == theirs)
                                 ).merged_into_id is None
    assert visitor.get(f"/cases/{hers}/files/{file_id}").status_code == 404


def test_a_copied_cookie_stops_working_at_sign_out_and_password_change(portal_with_people):
    portal = portal_with_people
    reference = _complaint(Browser(portal.url), "lucia@example.org", "Bache",
                           "Un bache enorme en mi calle.", portal.topic)
    link = LINK.search(portal.outbox()[-1]).group(1)

    laptop, phone = Browser(portal.url), Browser(portal.url)
    for browser in (laptop, phone):
        _sign_in(browser, "lucia@example.org")
        assert browser.get(link).status_code == 302
        assert browser.get(f"/cases/{reference}").status_code == 200

    # Sign-out on the laptop: a copy of its cookie taken before opens nothing.
    copied = laptop.cookie()
    laptop.post("/logout", {}, form_page="/account")
    thief = Browser(portal.url)
    thief.set_cookie(copied)
    assert thief.get(f"/cases/{reference}").status_code == 404
    reply = thief.post(f"/cases/{reference}/reply", {"body": "No soy Lucía"},
                       form_page="/track")
    assert reply.status_code == 404

    # A password change on a third browser ends the phone's access, copied or not.
    copied_phone = phone.cookie()
    desk = Browser(portal.url)
    _sign_in(desk, "lucia@example.org")
    changed = desk.post("/account/password", {
        "current_password": TEST_PASSWORD, "password": "otra frase de paso larga",
        "password_confirm": "otra frase de paso larga"}, form_page="/account/password")
    assert changed.status_code == 302
    other = Browser(portal.url)
    other.set_cookie(copied_phone)
    assert other.get(f"/cases/{reference}").status_code == 404
    assert phone.get(f"/cases/{reference}").status_code == 404

    with portal.app.app_context():
        assert db.session.scalar(db.select(db.func.count(Message.id))) == 0


def test_a_new_link_from_track_revokes_the_old_one_across_workers(portal_with_people):
    portal = portal_with_people
    sender = Browser(portal.url)
    reference = _complaint(sender, "maria@example.org", "Ruido", "Ruido cada noche.",
                           portal.topic)
    old_link = LINK.search(portal.outbox()[-1]).group(1)
    copied = sender.cookie()
    asked = Browser(portal.url).post("/track", {"reference": reference,
                                                "email": "maria@example.org"},
                                     form_page="/track")
    assert asked.status_code == 200
    new_link = LINK.search(portal.outbox()[-1]).group(1)
    stranger = Browser(portal.url)
    stranger.set_cookie(copied)
    # Two workers: ask several times, so both processes answer.
    for _ in range(4):
        assert stranger.get(f"/cases/{reference}").status_code == 404
        assert Browser(portal.url).get(old_link).status_code == 404
    owner = Browser(portal.url)
    assert owner.get(new_link).status_code == 302
    assert owner.get(f"/cases/{reference}").status_code == 200
