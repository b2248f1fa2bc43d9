"""Friction found in a day of use (issue 11): items 6, 8, 11 and 12's case parts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from portal import clock
from portal.extensions import db as _db
from portal.greetings import opens_with_greeting
from portal.models import Case, CaseKind, CaseLink, CaseStatus, ContactPreference, Role
from portal.staff import service as staff_service
from tests.cases.helpers import case_link, complaint_form, question_form
from tests.cases.test_intake import submit
from tests.staff.helpers import sign_in

NOON = datetime(2026, 11, 16, 11, 0, tzinfo=UTC)


@pytest.fixture
def movilidad(make_department):
    return make_department(slug="movilidad", names={"es": "Movilidad", "en": "Transport"})


@pytest.fixture
def agent(make_user, movilidad):
    return make_user(Role.AGENT, departments=[movilidad], name="Jorge Movilidad")


def _open_case(app, movilidad, kind="complaint", lang="es", **form):
    """A guest sends a case; return its browser (which may see it) and the case."""
    citizen = app.test_client()
    data = (complaint_form if kind == "complaint" else question_form)(
        topic=f"department-{movilidad.id}", **form)
    response = submit(citizen, data, kind=kind, lang=lang)
    reference = re.search(r"/cases/([^/]+)/submitted", response.headers["Location"]).group(1)
    return citizen, _db.session.scalar(_db.select(Case).where(Case.reference == reference))


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# ---------------------------------------------------------------- item 6

def test_one_vocabulary_of_case_states_for_citizen_and_staff(app, db, movilidad, agent):
    from flask_babel import force_locale

    citizen, case = _open_case(app, movilidad)
    staff = sign_in(app, agent)
    english = ["Received", "Being handled", "Waiting for information", "Answered", "Closed"]
    for status, name in zip(CaseStatus, english, strict=True):
        if status is not CaseStatus.NEW:
            staff_service.set_status(agent, case, status, summary="Arreglada la farola.")
            db.session.commit()
        for lang in ("en", "es", "ca", "eu", "gl"):
            with app.test_request_context(), force_locale(lang):
                label = str(status.label)
                assert str(status.staff_label) == label
            if lang == "en":
                assert label == name
            for page in (citizen.get(f"/cases/{case.reference}?lang={lang}").text,
                         staff.get(f"/staff/cases/{case.reference}?lang={lang}").text):
                status_item = re.search(r"<dt>[^<]*</dt><dd><strong[^>]*>([^<]*)</strong>",
                                        page).group(1)
                assert status_item == label, (lang, status)
    # The queue tab is a list, named in the plural; no status is called that.
    assert "Resueltos" not in staff.get(f"/staff/cases/{case.reference}?lang=es").text
    assert "Resueltos" in staff.get("/staff/?queue=resolved&lang=es").text


# ---------------------------------------------------------------- item 8

def test_a_saved_reply_in_the_reply_email_greets_once(app, db, movilidad, agent, outbox):
    _citizen, case = _open_case(app, movilidad, contact_name="Lucía Pérez Gómez")
    greeting = "Hola, Lucía Pérez Gómez:"
    # An old saved reply that greets, filled in as the agent's page does.
    body = staff_service.fill_placeholders(
        "Hola, {name}:\n\nHemos recibido su mensaje ({reference}).\n\nUn saludo.", case, "es")
    staff_service.reply_to_citizen(agent, case, body, [])
    db.session.commit()
    assert outbox()[-1].count(greeting) == 1
    # A message that does not greet gets the email's greeting.
    staff_service.reply_to_citizen(agent, case, "Ya está arreglada.", [])
    db.session.commit()
    assert outbox()[-1].count(greeting) == 1


def test_demo_saved_replies_do_not_greet():
    from portal.demo_cases import CANNED

    for _department, _locale, title, text in CANNED:
        assert not opens_with_greeting(text, "{name}"), title


@pytest.mark.parametrize("text, greets", [
    ("Hola, Lucía:\n\nYa está.", True), ("Kaixo, Lucía:\n\nEginda.", True),
    ("Bon dia,\n\nJa està.", True), ("Lucía Pérez:\nYa está.", True),
    ("Estimada señora:\n...", True), ("Hi ha un error a la factura.", False),
    ("Ya está arreglada la farola, Lucía.", False), ("", False),
])
def test_what_counts_as_a_greeting(text, greets):
    assert opens_with_greeting(text, "Lucía Pérez") is greets


# ---------------------------------------------------------------- item 11

def _come_back(citizen, outbox):
    """Weeks later the browser's grant has lapsed: the citizen opens the emailed link."""
    assert citizen.get(case_link(outbox()[0])).status_code == 302


def test_past_the_reopen_window_the_page_says_why_and_offers_a_linked_case(
        app, db, movilidad, agent, outbox):
    with clock.frozen_at(NOON):
        citizen, case = _open_case(app, movilidad)
        staff_service.set_status(agent, case, CaseStatus.RESOLVED, summary="Reparada.")
        db.session.commit()
    days = app.config["PORTAL"]["REOPEN_DAYS"]
    with clock.frozen_at(NOON + timedelta(days=days - 1)):
        _come_back(citizen, outbox)
        page = citizen.get(f"/cases/{case.reference}?lang=en").text
        assert "Reopen my case" in page and "no longer be reopened" not in page
    with clock.frozen_at(NOON + timedelta(days=days + 1)):
        _past_the_window(app, db, citizen, case, movilidad, agent, days)


def _past_the_window(app, db, citizen, case, movilidad, agent, days):
    """The case page past the reopen window, and the linked case it offers."""
    page = citizen.get(f"/cases/{case.reference}?lang=en").text
    until = (NOON + timedelta(days=days)).strftime("%B %-d, %Y")
    assert f"could be reopened until {until}" in _text(page)
    assert "Reopen my case" not in page
    link = re.search(r'href="(/cases/new\?[^"]*related=[^"]*)"', page).group(1)
    link = link.replace("&amp;", "&")
    assert f"related={case.reference}" in link and "kind=complaint" in link

    # The intake form carries the old reference and says the cases will be linked.
    form = citizen.get(link + "&lang=en").text
    assert f'name="related" type="hidden" value="{case.reference}"' in form
    assert f"linked to your earlier case {case.reference}" in form
    response = submit(citizen, complaint_form(topic=f"department-{movilidad.id}", token="2",
                                              related=case.reference))
    new_reference = re.search(r"/cases/([^/]+)/submitted", response.headers["Location"]).group(1)
    new_case = db.session.scalar(db.select(Case).where(Case.reference == new_reference))
    assert db.session.scalar(db.select(CaseLink).where(
        CaseLink.case_id == new_case.id, CaseLink.related_case_id == case.id)) is not None
    # Staff see the link on both cases.
    staff = sign_in(app, agent)
    assert case.reference in staff.get(f"/staff/cases/{new_reference}?lang=en").text
    assert (f"Linked as related to {new_reference}"
            in staff.get(f"/staff/cases/{case.reference}?lang=en").text)


def test_a_case_nobody_may_see_is_not_linked(app, db, movilidad):
    _owner, case = _open_case(app, movilidad)
    stranger = app.test_client()
    assert "linked to your earlier case" not in stranger.get(
        f"/cases/new?kind=question&related={case.reference}&lang=en").text
    response = submit(stranger, question_form(topic=f"department-{movilidad.id}",
                                              related=case.reference), kind="question")
    assert response.status_code == 302
    assert db.session.scalar(db.select(db.func.count()).select_from(CaseLink)) == 0


def test_after_a_reopen_the_earlier_answer_stays_in_the_conversation(app, db, movilidad,
                                                                     agent):
    with clock.frozen_at(NOON):
        citizen, case = _open_case(app, movilidad)
        staff_service.set_status(agent, case, CaseStatus.RESOLVED,
                                 summary="Hemos cambiado la bombilla de la farola.")
        db.session.commit()
    with clock.frozen_at(NOON + timedelta(days=2)):
        assert citizen.post(f"/cases/{case.reference}/reopen",
                            data={"reason": "Sigue apagada por la noche."}).status_code == 302
        page = _text(citizen.get(f"/cases/{case.reference}?lang=en").text)
    return_visit = clock.frozen_at(NOON + timedelta(days=3))
    db.session.refresh(case)
    assert case.status is CaseStatus.OPEN
    conversation = page[page.index("Conversation"):]
    answer = conversation.index("Hemos cambiado la bombilla de la farola.")
    assert "Our answer of 11/16/26, 12:00 PM, before you reopened the case" in conversation
    assert answer < conversation.index("Sigue apagada por la noche.")
    # Answered again: the new answer stands on its own, the earlier one stays in place.
    with return_visit:
        staff_service.set_status(agent, case, CaseStatus.RESOLVED, summary="Farola nueva.")
        db.session.commit()
        page = _text(citizen.get(f"/cases/{case.reference}?lang=en").text)
    assert "Our answer Farola nueva." in page
    assert page.count("Hemos cambiado la bombilla de la farola.") == 1
    assert page.count("Farola nueva.") == 1


# ---------------------------------------------------------------- item 12 (cases)

@pytest.mark.parametrize("kind, lang, expected", [
    ("complaint", "en", ["about your complaint “", "Your complaint C-"]),
    ("question", "en", ["about your question “", "Your question Q-"]),
    ("complaint", "es", ["su queja «", "Se ha respondido a su queja"]),
    ("question", "es", ["su consulta «", "Se ha respondido a su consulta"]),
    ("complaint", "eu", ["zure «Farola rota en la calle Mayor» kexa", "kexari erantzun zaio"]),
    ("question", "gl", ["sobre a súa consulta «", "Respondeuse á súa consulta"]),
])
def test_mails_name_the_kind_of_case(app, db, movilidad, agent, outbox, kind, lang,
                                     expected):
    _citizen, case = _open_case(app, movilidad, kind=kind, lang=lang, language=lang,
                                subject="Farola rota en la calle Mayor")
    staff_service.reply_to_citizen(agent, case, "Vamos a revisarla.", [])
    staff_service.set_status(agent, case, CaseStatus.RESOLVED, summary="Reparada.")
    db.session.commit()
    mails = "\n".join(outbox())
    assert "consulta o queja" not in mails and "kontsulta edo kexa" not in mails
    assert "consulta ou queixa" not in mails
    for text in expected:
        assert text in mails


def test_staff_case_page_names_the_contact_preference_as_its_own_item(app, db, movilidad,
                                                                      agent):
    _citizen, case = _open_case(app, movilidad)
    case.contact_preference = ContactPreference.EMAIL
    db.session.commit()
    page = _text(sign_in(app, agent).get(f"/staff/cases/{case.reference}?lang=es").text)
    assert "prefiere Por correo" not in page
    assert "Cómo prefiere que contactemos con ella Por correo electrónico" in page
    assert "Idioma de la persona interesada Español" in page


def test_reference_is_kept_whole(app, db, movilidad, login_as, client):
    user = login_as(Role.CITIZEN)
    case = Case(reference="Q-5RPA-D8DD", kind=CaseKind.QUESTION, subject="Farola",
                body="Apagada", contact_name="Ana", contact_email=user.email,
                citizen_id=user.id, language="es")
    db.session.add(case)
    db.session.commit()
    page = client.get("/account/cases?lang=en").text
    assert 'class="table table-stack"' in page
    assert '<a href="/cases/Q-5RPA-D8DD" class="reference">Q-5RPA-D8DD</a>' in page
    assert 'data-label="Status">Received</td>' in page
