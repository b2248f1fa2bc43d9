"""The authorisation matrix: every object route as each kind of person. Who may see the
object gets it (200); everyone else gets exactly what they get for a missing object of
the same route — the same 404, or, for the staff areas, the same sign-in redirect or
refusal — so an answer never tells that something exists. Extra posted fields (status,
owner, department, published, role) change nothing."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from portal import clock
from portal.accounts import service as accounts
from portal.cases import service as cases
from portal.extensions import db as _db
from portal.ideas import service as ideas
from portal.knowledge import service as knowledge
from portal.models import (
    Case,
    CasePriority,
    CaseStatus,
    DataRequestKind,
    Idea,
    IdeaStatus,
    Role,
    User,
)
from portal.privacy import service as privacy
from portal.reports import service as reports
from portal.staff import service as staff
from tests.cases.helpers import question_form
from tests.conftest import TEST_PASSWORD
from tests.test_data_export import PNG

PERSONS = ["anonymous", "citizen_a", "citizen_b", "agent_x", "agent_y", "manager_x", "admin",
           "disabled"]
STAFF_X = {"agent_x", "manager_x", "admin"}  # those who see department X's cases
STAFF = {"agent_x", "agent_y", "manager_x", "admin"}
NOTE = "NOTA-INTERNA-RESERVADA"
TITLE = re.compile(r"<title>(.*?)</title>", re.DOTALL)


@pytest.fixture
def matrix(app, db, make_user, make_department):
    x, y = make_department(), make_department()
    people = {
        "citizen_a": make_user(Role.CITIZEN, locale="en"),
        "citizen_b": make_user(Role.CITIZEN, locale="en"),
        "agent_x": make_user(Role.AGENT, departments=[x], locale="en"),
        "agent_y": make_user(Role.AGENT, departments=[y], locale="en"),
        "manager_x": make_user(Role.MANAGER, departments=[x], locale="en"),
        "admin": make_user(Role.ADMIN, locale="en"),
        "disabled": make_user(Role.AGENT, departments=[x], locale="en"),
    }
    a = people["citizen_a"]
    case, _new = cases.submit_case(cases.Submission(
        kind=cases.CaseKind.COMPLAINT, subject="Ruido nocturno", body="Cada noche.",
        contact_name="Ana", contact_email=a.email, language="es", department_id=x.id,
        files=[("foto.png", PNG)]), a)
    _db.session.flush()
    staff.add_note(people["agent_x"], case, NOTE)
    hidden = ideas.propose(a, ideas.Proposal(title="Idea oculta", body="Texto.", language="es"))
    pending = ideas.propose(a, ideas.Proposal(title="Idea pendiente", body="Texto.",
                                              language="es"))
    _db.session.flush()
    ideas.moderate(people["agent_x"], "hide", "Datos personales", hidden)
    pending.awaiting_approval, pending.public = True, False
    manager = people["manager_x"]
    draft_article = knowledge.create_article(manager, knowledge.ArticleInput(
        title="Borrador", body="Sin publicar."))
    period = {"period_start": date(2026, 9, 1), "period_end": date(2026, 11, 30)}
    draft_report = reports.save(manager, None, reports.Draft(
        title="Informe en borrador", summary="Resumen.", body="Texto.", locale="es", **period))
    withdrawn = reports.save(manager, None, reports.Draft(
        title="Informe retirado", summary="Resumen.", body="Texto.", locale="es", **period))
    _db.session.flush()
    reports.publish(manager, withdrawn)
    reports.withdraw(manager, withdrawn, "Cifras erróneas")
    request = privacy.record_request(DataRequestKind.ACCESS, a.email, people["agent_x"], "DNI",
                                     clock.now())
    _db.session.commit()
    clients = {"anonymous": app.test_client()}
    for name, user in people.items():
        client = app.test_client()
        token = accounts.start_session(user)
        _db.session.commit()
        with client.session_transaction() as session:
            session["_user_id"] = token
        clients[name] = client
    # Disabled after signing in: the session is still in the table, the account is not.
    people["disabled"].active = False
    _db.session.commit()
    attachment = case.attachments[0].id
    # (route with the object, the same route with a missing object, who may see it)
    routes = [
        (f"/cases/{case.reference}", "/cases/Q-ZZZZ-ZZZZ", {"citizen_a"}),
        (f"/cases/{case.reference}/files/{attachment}", "/cases/Q-ZZZZ-ZZZZ/files/999999",
         {"citizen_a"}),
        (f"/staff/cases/{case.reference}", "/staff/cases/Q-ZZZZ-ZZZZ", STAFF_X),
        (f"/staff/cases/{case.reference}/files/{attachment}",
         "/staff/cases/Q-ZZZZ-ZZZZ/files/999999", STAFF_X),
        (f"/ideas/{hidden.id}", "/ideas/999999", {"citizen_a"} | STAFF),
        (f"/ideas/{pending.id}", "/ideas/999999", {"citizen_a"} | STAFF),
        (f"/ideas/{hidden.id}/history", "/ideas/999999/history", {"citizen_a"} | STAFF),
        (f"/staff/ideas/{hidden.id}", "/staff/ideas/999999", STAFF),
        (f"/kb/{draft_article.id}", "/kb/999999", set()),
        (f"/staff/kb/{draft_article.id}", "/staff/kb/999999", STAFF),
        (f"/reports/{draft_report.id}", "/reports/999999", set()),
        (f"/reports/{withdrawn.id}", "/reports/999999", set(PERSONS)),  # the public record
        (f"/manage/reports/{draft_report.id}", "/manage/reports/999999",
         {"manager_x", "admin"}),
        (f"/manage/reports/{draft_report.id}/edit", "/manage/reports/999999/edit",
         {"manager_x", "admin"}),
        (f"/manage/privacy/{request.id}", "/manage/privacy/999999", STAFF),
        (f"/manage/admin/users/{people['agent_x'].id}", "/manage/admin/users/999999",
         {"admin"}),
        (f"/manage/admin/departments/{x.id}", "/manage/admin/departments/999999", {"admin"}),
    ]
    return {"people": people, "clients": clients, "routes": routes, "case": case,
            "x": x, "y": y, "hidden": hidden}


def _answer(response, url: str = "", missing: str = "") -> tuple:
    """What an answer tells: its status, where it sends (the sign-in page names the page
    asked for: compared as if the missing one had been), its page's title."""
    title = TITLE.search(response.get_data(as_text=True)) \
        if response.mimetype == "text/html" else None
    return (response.status_code, response.headers.get("Location", "").replace(url, missing),
            title.group(1).strip() if title else "")


@pytest.mark.parametrize("person", PERSONS)
def test_every_object_route_answers_each_person_as_it_should(matrix, person):
    client = matrix["clients"][person]
    wrong = []
    for url, missing, allowed in matrix["routes"]:
        response = client.get(url)
        if person in allowed:
            if response.status_code != 200:
                wrong.append(f"{url}: {response.status_code}, should open")
        else:
            absent = client.get(missing)
            if _answer(response, url, missing) != _answer(absent):
                wrong.append(f"{url}: {_answer(response, url, missing)} but missing: "
                             f"{_answer(absent)}")
            absent.close()
            if response.status_code == 200:
                wrong.append(f"{url}: opened")
        if person not in STAFF and NOTE.encode() in response.get_data():
            wrong.append(f"{url}: shows the internal note")
        response.close()
    assert wrong == []


def test_a_manager_reads_only_the_audit_of_their_departments(matrix):
    other, _new = cases.submit_case(cases.Submission(
        kind=cases.CaseKind.QUESTION, subject="Otra", body="Texto.", contact_name="Eva",
        contact_email="eva@example.org", language="es", department_id=matrix["y"].id))
    _db.session.commit()
    matrix["clients"]["agent_y"].get(f"/staff/cases/{other.reference}")
    matrix["clients"]["agent_x"].get(f"/staff/cases/{matrix['case'].reference}")
    log = matrix["clients"]["manager_x"].get("/manage/audit/?action=case.viewed").text
    assert matrix["case"].reference in log or str(matrix["case"].id) in log
    assert other.reference not in log and f">{matrix['people']['agent_y'].display_name}<" \
        not in log
    assert matrix["clients"]["agent_x"].get("/manage/audit/").status_code == 403


def test_extra_fields_posted_by_a_citizen_change_nothing(matrix):
    case, a = matrix["case"], matrix["people"]["citizen_a"]
    client = matrix["clients"]["citizen_a"]
    before = (case.status, case.department_id, case.assignee_id, case.priority,
              case.citizen_id, case.publish_consent)
    client.post(f"/cases/{case.reference}/reply", data={
        "body": "Sigue igual.", "status": "closed", "department_id": matrix["y"].id,
        "assignee_id": matrix["people"]["agent_y"].id, "priority": "urgent",
        "citizen_id": matrix["people"]["citizen_b"].id, "publish_consent": "y"})
    _db.session.expire_all()
    case = _db.session.get(Case, case.id)
    assert (case.status in (CaseStatus.NEW, CaseStatus.OPEN), case.department_id,
            case.assignee_id, case.priority, case.citizen_id, case.publish_consent) == \
        (True, *before[1:])
    assert case.priority is CasePriority.NORMAL

    client.post("/account", data={"display_name": "Ana", "locale": "es", "role": "admin",
                                  "email": "otra@example.org", "active": "n",
                                  "can_publish_articles": "y"})
    _db.session.expire_all()
    user = _db.session.get(User, a.id)
    assert (user.role, user.email, user.active, user.can_publish_articles) == \
        (Role.CITIZEN, a.email, True, False)


def test_extra_fields_change_nothing_on_registration_ideas_or_intake(matrix, client):
    client.post("/register", data={
        "display_name": "Nueva", "email": "nueva@example.org", "password": TEST_PASSWORD,
        "password_confirm": TEST_PASSWORD, "locale": "es", "role": "admin",
        "email_verified_at": "2026-01-01", "active": "y"})
    user = _db.session.scalar(select(User).where(User.email == "nueva@example.org"))
    assert user.role is Role.CITIZEN and user.email_verified_at is None

    author = matrix["clients"]["citizen_a"]
    idea = ideas.propose(matrix["people"]["citizen_a"], ideas.Proposal(
        title="Bancos nuevos", body="En la plaza.", language="es"))
    _db.session.commit()
    author.post(f"/ideas/{idea.id}/edit", data={
        "title": "Bancos nuevos y fuentes", "body": "En la plaza.", "status": "implemented",
        "vote_count": "999", "public": "n", "hidden": "y", "author_id": "1",
        "official_response": "Hecho."})
    _db.session.expire_all()
    idea = _db.session.get(Idea, idea.id)
    assert idea.title == "Bancos nuevos y fuentes"  # the edit itself went through
    assert (idea.status, idea.vote_count, idea.public, idea.hidden, idea.official_response,
            idea.author_id) == (IdeaStatus.SUBMITTED, 0, True, False, "",
                                matrix["people"]["citizen_a"].id)

    client.post("/cases/new?kind=question", data=question_form(
        contact_email="luis@example.org", status="resolved", priority="urgent",
        assignee_id=matrix["people"]["agent_x"].id, citizen_id="1", channel="counter",
        department_id=matrix["y"].id, reference="Q-0000-0000"))
    new = _db.session.scalar(select(Case).where(Case.contact_email == "luis@example.org"))
    assert new is not None
    assert (new.status, new.priority, new.assignee_id, new.citizen_id, new.channel.value,
            new.department_id) == (CaseStatus.NEW, CasePriority.NORMAL, None, None, "web", None)
    assert new.reference != "Q-0000-0000"


def test_a_hidden_comment_is_read_only_by_its_author_and_staff(matrix):
    """On a public idea, a comment hidden by moderation says so to everyone; its text
    only its author and the moderators read."""
    people = matrix["people"]
    idea = ideas.propose(people["citizen_a"], ideas.Proposal(
        title="Fuentes en el parque", body="Dos fuentes.", language="es"))
    _db.session.flush()
    comment = ideas.add_comment(idea, people["citizen_b"], "COMENTARIO-OCULTO-DE-B")
    _db.session.flush()
    ideas.moderate(people["agent_x"], "hide", "Insultos", idea, comment)
    _db.session.commit()
    readers = {"citizen_b"} | STAFF
    for person in PERSONS:
        page = matrix["clients"][person].get(f"/ideas/{idea.id}")
        assert page.status_code == 200
        assert ("COMENTARIO-OCULTO-DE-B" in page.text) is (person in readers), person
