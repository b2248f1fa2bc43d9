"""The ``world`` of tests/security/conftest.py, plus the objects in the other states
that show the rest of the forms: an answered case of the citizen (rate, reopen, withdraw
consent), a draft article and a draft report (publish, edit), an erasure request, an
invited member of staff, a rising theme on the dashboard, a holiday this year, an idea the
citizen supports and one they may still edit, a second session, a second factor (the
manager's, and that of the member of staff the administrator edits), and the emailed
links (invitation, address confirmation, a guest's data, a moved support)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlsplit

import pyotp
from flask import current_app
from werkzeug.exceptions import HTTPException

from portal import clock
from portal.accounts import second_factor
from portal.accounts import service as accounts
from portal.admin import service as admin
from portal.cases import service as cases
from portal.extensions import db
from portal.ideas import service as ideas
from portal.knowledge import service as knowledge
from portal.models import CaseKind, CaseStatus, DataRequestKind, Department, Role
from portal.privacy import service as privacy
from portal.reports import service as reports
from portal.staff import service as staff
from tests.security.conftest import World

LINK = re.compile(r"http://localhost(/[^\s<>\"']+)")


@dataclass
class States:
    world: World
    urls: list[str] = field(default_factory=list)  # pages that show the other forms
    tokens: dict[str, str] = field(default_factory=dict)  # endpoint -> a genuine token
    known: list[str] = field(default_factory=list)  # real values a person might type
    typed: dict[str, str] = field(default_factory=dict)  # field name -> a value it takes


def _tokens(outbox, since: int) -> dict[str, str]:
    """endpoint -> the token of the links in the emails written since ``since``."""
    adapter = current_app.url_map.bind("localhost")
    found = {}
    for link in (link for text in outbox()[since:] for link in LINK.findall(text)):
        try:
            endpoint, arguments = adapter.match(urlsplit(link).path)
        except HTTPException:
            continue
        if "token" in arguments:
            found.setdefault(endpoint, arguments["token"])
    return found


def build(world: World, client, outbox, make_user) -> States:
    """Add the other states to ``world`` (the request to /track/data goes through
    ``client``, anonymous)."""
    people = world.people
    citizen, agent, manager = people["citizen"], people["agent"], people["manager"]
    department = db.session.get(Department, int(world.values["department_id"]))
    states = States(world=world)

    # A second department, for transfers, and a member of staff for the administrator's
    # edit form (not the agent whose pages the other walks use).
    second = Department(slug="hacienda", names={"es": "Hacienda", "en": "Finance"})
    db.session.add(second)
    spare = make_user(Role.AGENT, departments=[department], name="Ramón Suplente")
    world.values["user_id"] = str(spare.id)

    # The citizen's answered case, with consent to publish: rate, reopen, withdraw.
    answered, _new = cases.submit_case(cases.Submission(
        kind=CaseKind.QUESTION, subject="Horario del registro", body="¿Abre por la tarde?",
        contact_name="Ana Soler", contact_email=citizen.email, language="es",
        department_id=department.id, publish_consent=True), citizen)
    db.session.flush()
    staff.reply_to_citizen(agent, answered, "Abre de 9 a 14.", [])
    staff.set_status(agent, answered, CaseStatus.RESOLVED, summary="Horario de mañana.")
    # Two more complaints of this month about the same thing: a rising theme.
    complaints = []
    for subject in ("Farola apagada en la plaza", "Otra farola apagada"):
        complaints.append(cases.submit_case(cases.Submission(
            kind=CaseKind.COMPLAINT, subject=subject, body="Sin luz por la noche.",
            contact_name="Luis Gil", contact_email="luis@example.org", language="es",
            department_id=department.id), None)[0])

    draft_article = knowledge.create_article(manager, knowledge.ArticleInput(
        title="Cita previa", body="Se pide en la sede electrónica.", summary="Cita."))
    draft_report = reports.save(manager, None, reports.Draft(
        title="Informe de invierno", summary="En preparación.", body="Borrador.",
        locale="es", period_start=date(2026, 12, 1), period_end=date(2027, 2, 28)))
    erasure = privacy.record_request(DataRequestKind.ERASURE, "luis@example.org", agent,
                                     "DNI", clock.now())
    admin.add_holiday(people["admin"], date(clock.now().year, 12, 26), "San Esteban")

    other = make_user(Role.CITIZEN, name="Pilar Vecina")
    supported = ideas.propose(other, ideas.Proposal(
        title="Fuentes en el parque", body="Agua potable.", language="es"))
    editable = ideas.propose(citizen, ideas.Proposal(
        title="Aparcabicis en la biblioteca", body="No hay ninguno.", language="es"))
    db.session.flush()
    ideas.support(supported, citizen)
    accounts.start_session(citizen)  # signed in elsewhere too: "sign out everywhere else"
    for person in (manager, spare):  # renew the codes, turn it off; reset by the admin
        secret = second_factor.new_secret()
        second_factor.turn_on(person, secret, pyotp.TOTP(secret).at(clock.now()))
    unconfirmed = accounts.create_user("nueva@example.org", "una clave muy larga 123",
                                       "Nueva Vecina", Role.CITIZEN, "es", [], verified=False)
    db.session.commit()

    before = len(outbox())
    admin.invite(people["admin"], email="invitada@example.org", display_name="Iris Invitada",
                 role=Role.AGENT, locale="es", departments=[department])
    db.session.commit()
    client.post("/track/data", data={"email": "ana@example.org"})
    states.tokens = _tokens(outbox, before)  # the invitation's, the guest's data's
    states.tokens["ideas.moved_support"] = ideas.moved_support_token(citizen, supported,
                                                                     editable)
    states.tokens["accounts.confirm_email"] = accounts.email_confirmation_token(unconfirmed)

    states.urls = [
        f"/cases/{answered.reference}", f"/staff/cases/{answered.reference}",
        f"/staff/kb/from-case/{answered.reference}",
        f"/staff/kb/{draft_article.id}", f"/manage/reports/{draft_report.id}",
        f"/manage/reports/{draft_report.id}/edit", f"/manage/privacy/{erasure.id}",
        f"/ideas/{supported.id}", f"/ideas/{editable.id}", f"/ideas/{editable.id}/edit",
        "/manage/admin/users", "/manage/admin/holidays",
        *(current_app.url_map.bind("localhost").build(endpoint, {"token": token})
          for endpoint, token in sorted(states.tokens.items())),
    ]
    # An open case to link to, an idea to link a case to.
    states.typed = {"target": complaints[0].reference, "idea": str(supported.id)}
    states.known = sorted({
        world.values["reference"], answered.reference, "ana@example.org", citizen.email,
        agent.email, str(supported.id), str(editable.id), str(department.id), str(second.id),
        str(spare.id), "es", "en", "resolved", "closed", "name", "merge", "dismiss", "on",
        "1", "2", "true", "Farola apagada"})
    return states
