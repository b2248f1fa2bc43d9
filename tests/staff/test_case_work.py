"""Civil servants work cases: queues, clocks, answers, transfers, merges, history."""

import re
from datetime import UTC, datetime, timedelta

from portal import clock
from portal.models import (
    AuditEvent,
    CannedResponse,
    Case,
    CaseEventKind,
    CaseStatus,
    Channel,
    Role,
)
from tests.cases.helpers import PDF, case_link, complaint_form, files, png
from tests.cases.test_intake import submit
from tests.staff.helpers import MONDAY_MORNING, deadline_cell, guest_case, sign_in


def test_from_queue_to_resolution_with_the_citizen_in_the_loop(app, db, movilidad, make_user,
                                                               outbox):
    agent = make_user(Role.AGENT, departments=[movilidad], name="Jorge Movilidad")
    staff = sign_in(app, agent)
    with clock.frozen_at(MONDAY_MORNING):
        citizen, reference = guest_case(app, movilidad)
        # It appears at once in the department's queue, with the deadline due first:
        # a first answer within 2 working days (Movilidad's target), by Wednesday.
        queue = staff.get("/staff/?queue=department&lang=en").text
    case = db.session.scalar(db.select(Case).where(Case.reference == reference))
    assert reference in queue
    assert deadline_cell(queue, reference) == ["First answer due", "Nov 18, 2026",
                                               "due in 2 working days"]

    # Assign to me.
    page = staff.get(f"/staff/cases/{reference}?lang=en").text
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    assert staff.post(f"/staff/cases/{reference}/assign",
                      data={"assignee": "me", "version": version}).status_code == 302
    assert reference in staff.get("/staff/?queue=mine").text

    # Ask the citizen something: waiting on citizen, clock paused, citizen emailed.
    assert staff.post(f"/staff/cases/{reference}/reply", data={
        "body": "¿En qué número de la calle está exactamente?", "ask_citizen": "y"}
    ).status_code == 302
    db.session.refresh(case)
    assert case.status is CaseStatus.WAITING_ON_CITIZEN and case.paused_at is not None
    assert case.first_responded_at is not None
    assert "¿En qué número de la calle" in outbox()[-1]
    assert reference in staff.get("/staff/?queue=waiting").text

    # The citizen replies through the emailed link, from another browser.
    other_browser = app.test_client()
    other_browser.get(case_link(outbox()[-1]))
    assert "¿En qué número de la calle" in other_browser.get(f"/cases/{reference}").text
    assert other_browser.post(f"/cases/{reference}/reply",
                              data={"body": "En el 12, frente a la farmacia."}
                              ).status_code == 302
    db.session.refresh(case)
    assert case.status is CaseStatus.OPEN and case.paused_at is None

    # Resolve with a summary: the citizen gets it by email and on the case page.
    response = staff.post(f"/staff/cases/{reference}/status", data={
        "status": "resolved", "summary": "Farola reparada el martes."})
    assert response.status_code == 302
    db.session.refresh(case)
    assert case.status is CaseStatus.RESOLVED and case.resolved_at is not None
    assert "Farola reparada el martes." in outbox()[-1]
    assert "Farola reparada el martes." in other_browser.get(f"/cases/{reference}").text

    # The timeline records every step, with who did it.
    kinds = [event.kind for event in case.events]
    assert kinds[0] is CaseEventKind.CREATED
    for kind in (CaseEventKind.ASSIGNED, CaseEventKind.MESSAGE_ADDED,
                 CaseEventKind.STATUS_CHANGED):
        assert kind in kinds
    timeline = staff.get(f"/staff/cases/{reference}?lang=en").text
    assert "Assigned to Jorge Movilidad" in timeline
    assert "Status: Being handled → Waiting for information" in timeline
    # Every staff view of the case is in the audit log.
    assert db.session.scalar(db.select(db.func.count(AuditEvent.id)).where(
        AuditEvent.action == "case.viewed", AuditEvent.actor_id == agent.id)) >= 2


def test_internal_notes_stay_internal(app, db, movilidad, make_user, outbox):
    staff = sign_in(app, make_user(Role.AGENT, departments=[movilidad]))
    citizen, reference = guest_case(app, movilidad)
    mails = len(outbox())
    staff.post(f"/staff/cases/{reference}/note", data={"body": "Vecino ya llamó dos veces."})
    assert len(outbox()) == mails
    assert "Vecino ya llamó" in staff.get(f"/staff/cases/{reference}").text
    assert "Vecino ya llamó" not in citizen.get(f"/cases/{reference}").text


def test_transfer_keeps_everything_tells_the_citizen_and_moves_access(
        app, db, movilidad, hacienda, make_user, outbox):
    old_agent = sign_in(app, make_user(Role.AGENT, departments=[movilidad]))
    new_agent = sign_in(app, make_user(Role.AGENT, departments=[hacienda]))
    citizen, reference = guest_case(app, movilidad)
    citizen.post(f"/cases/{reference}/reply", data={"body": "Más datos", "attachments": files(
        (png(), "foto.png"))}, content_type="multipart/form-data")
    case = db.session.scalar(db.select(Case).where(Case.reference == reference))
    messages, attachments = len(case.messages), len(case.attachments)
    assert new_agent.get(f"/staff/cases/{reference}").status_code == 404

    missing_reason = old_agent.post(f"/staff/cases/{reference}/transfer?lang=en",
                                    data={"department": hacienda.id, "reason": ""})
    assert missing_reason.status_code == 400
    assert "Give a reason for the transfer." in missing_reason.text

    response = old_agent.post(f"/staff/cases/{reference}/transfer",
                              data={"department": hacienda.id,
                                    "reason": "Es una tasa municipal."})
    assert response.status_code == 302
    db.session.refresh(case)
    assert case.department_id == hacienda.id
    assert (len(case.messages), len(case.attachments)) == (messages, attachments)
    assert "Hacienda" in outbox()[-1]
    assert old_agent.get(f"/staff/cases/{reference}").status_code == 404
    page = new_agent.get(f"/staff/cases/{reference}?lang=en")
    assert page.status_code == 200
    assert "Es una tasa municipal." in page.text and "foto.png" in page.text


def test_merge_moves_messages_files_and_followers_and_redirects(app, db, movilidad, make_user,
                                                                outbox):
    agent = make_user(Role.AGENT, departments=[movilidad])
    staff = sign_in(app, agent)
    citizen_user = make_user(Role.CITIZEN, email="maria@example.org")
    citizen = sign_in(app, citizen_user)
    first = submit(citizen, complaint_form(topic=f"department-{movilidad.id}", token="a"),
                   attachments=[(PDF, "a.pdf")])
    second = submit(citizen, complaint_form(topic=f"department-{movilidad.id}", token="b",
                                            subject="Otra vez la farola"),
                    attachments=[(png(), "b.png")])
    duplicate, target = (re.search(r"/cases/([^/]+)/", r.headers["Location"]).group(1)
                         for r in (first, second))
    citizen.post(f"/cases/{duplicate}/reply", data={"body": "Sigue igual."})

    response = staff.post(f"/staff/cases/{duplicate}/merge",
                          data={"target": target.lower(), "reason": "Duplicado"})
    assert response.status_code == 302
    merged = db.session.scalar(db.select(Case).where(Case.reference == duplicate))
    kept = db.session.scalar(db.select(Case).where(Case.reference == target))
    assert merged.merged_into_id == kept.id and merged.status is CaseStatus.CLOSED
    assert merged.messages == []
    assert {item.original_name for item in kept.attachments} == {"a.pdf", "b.png"}
    bodies = [message.body for message in kept.messages]
    assert "Sigue igual." in bodies and merged.body in bodies
    assert citizen_user in kept.followers
    assert target in outbox()[-1]
    # The merged case redirects, for staff and for the citizen.
    redirect = staff.get(f"/staff/cases/{duplicate}")
    assert redirect.status_code == 302 and redirect.headers["Location"].endswith(target)
    citizen_redirect = citizen.get(f"/cases/{duplicate}")
    assert citizen_redirect.status_code == 302
    assert citizen_redirect.headers["Location"].endswith(target)


def test_merge_refuses_another_citizens_case(app, db, movilidad, make_user):
    staff = sign_in(app, make_user(Role.AGENT, departments=[movilidad]))
    _, first = guest_case(app, movilidad)
    _, second = guest_case(app, movilidad, contact_email="someone.else@example.org",
                           token="other")
    response = staff.post(f"/staff/cases/{first}/merge?lang=en", data={"target": second})
    assert response.status_code == 400
    assert "Only cases of the same citizen can be merged:" in response.text


def test_the_citizens_whole_history_across_departments(app, db, movilidad, hacienda,
                                                       make_user):
    agent = make_user(Role.AGENT, departments=[movilidad])
    staff = sign_in(app, agent)
    _, first = guest_case(app, movilidad, token="1")
    _, elsewhere = guest_case(app, hacienda, token="2", subject="Recibo del IBI duplicado")
    page = staff.get(f"/staff/cases/{first}?lang=en").text
    assert elsewhere in page and "Recibo del IBI duplicado" in page
    # Shown, but not a link: the agent cannot open Hacienda's case.
    assert f'href="/staff/cases/{elsewhere}"' not in page


def test_two_agents_editing_one_case(app, db, movilidad, make_user):
    first = sign_in(app, make_user(Role.AGENT, departments=[movilidad], name="Primera"))
    second = sign_in(app, make_user(Role.AGENT, departments=[movilidad], name="Segunda"))
    _, reference = guest_case(app, movilidad)
    page = second.get(f"/staff/cases/{reference}").text
    stale_version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    stale_event = re.search(r'name="last_event" type="hidden" value="(\d+)"', page).group(1)

    first.post(f"/staff/cases/{reference}/priority", data={"priority": "urgent"})
    response = second.post(f"/staff/cases/{reference}/note?lang=en", data={
        "body": "Mi nota que no debe perderse", "version": stale_version,
        "last_event": stale_event})
    assert response.status_code == 409
    assert "This case changed while you were working on it" in response.text
    assert "Priority: Normal → Urgent" in response.text
    assert "Mi nota que no debe perderse" in response.text  # what was typed is kept
    case = db.session.scalar(db.select(Case).where(Case.reference == reference))
    assert all(message.body != "Mi nota que no debe perderse" for message in case.messages)


def test_canned_responses_fill_placeholders_without_javascript(app, db, movilidad, make_user):
    staff = sign_in(app, make_user(Role.AGENT, departments=[movilidad]))
    _, reference = guest_case(app, movilidad)
    canned = CannedResponse(title="Acuse", locale="es",
                            body="Hola, {name}: su referencia es {reference}.")
    db.session.add(canned)
    db.session.commit()
    page = staff.get(f"/staff/cases/{reference}?canned={canned.id}").text
    assert f"Hola, María García: su referencia es {reference}." in page


def test_managers_edit_canned_responses_agents_cannot(app, db, make_user, movilidad):
    manager = sign_in(app, make_user(Role.MANAGER))
    response = manager.post("/manage/canned", data={
        "title": "Horario", "body": "Abrimos de 9 a 14, {name}.", "locale": "es",
        "department": str(movilidad.id)})
    assert response.status_code == 302
    item = db.session.scalar(db.select(CannedResponse))
    assert item.department_id == movilidad.id
    manager.post(f"/manage/canned/{item.id}", data={
        "title": "Horario de verano", "body": "De 8 a 13.", "locale": "es", "department": ""})
    db.session.refresh(item)
    assert item.title == "Horario de verano" and item.department_id is None
    agent = sign_in(app, make_user(Role.AGENT, departments=[movilidad]))
    assert agent.post(f"/manage/canned/{item.id}/delete").status_code == 403
    assert manager.post(f"/manage/canned/{item.id}/delete").status_code == 302
    assert db.session.scalar(db.select(db.func.count(CannedResponse.id))) == 0


def test_staff_record_a_phone_case(app, db, movilidad, make_user, outbox):
    staff = sign_in(app, make_user(Role.AGENT, departments=[movilidad]))
    response = staff.post("/staff/cases/new", data={
        "channel": "phone", "kind": "question", "subject": "Semáforo averiado",
        "topic": f"department-{movilidad.id}", "body": "Llama un vecino.",
        "contact_name": "Rosa Martín", "contact_email": "", "contact_phone": "600 123 456",
        "contact_preference": "phone", "language": "es"})
    assert response.status_code == 302
    case = db.session.scalar(db.select(Case))
    assert case.channel is Channel.PHONE and case.contact_phone == "600 123 456"
    assert outbox() == []  # no email address given, nothing sent
    assert case.reference in staff.get("/staff/?queue=department").text


def test_triage_queue_and_agents_see_only_their_departments(app, db, movilidad, hacienda,
                                                            make_user):
    citizen = app.test_client()
    submit(citizen, complaint_form(token="t", subject="No sé a quién"))
    _, hacienda_case = guest_case(app, hacienda)
    staff = sign_in(app, make_user(Role.AGENT, departments=[movilidad]))
    triage = staff.get("/staff/?queue=triage").text
    assert "No sé a quién" in triage
    assert hacienda_case not in staff.get("/staff/?queue=department").text
    assert staff.get(f"/staff/cases/{hacienda_case}").status_code == 404
    manager = sign_in(app, make_user(Role.MANAGER))
    assert manager.get(f"/staff/cases/{hacienda_case}").status_code == 200


def test_filters_search_and_keyset_pagination(app, db, movilidad, make_user, make_case):
    staff = sign_in(app, make_user(Role.AGENT, departments=[movilidad]))
    now = clock.now()
    for number in range(30):
        make_case(department_id=movilidad.id, subject=f"Asunto {number:02d}",
                  resolution_due_at=now + timedelta(days=number % 7, minutes=number),
                  channel=Channel.PHONE if number % 3 == 0 else Channel.WEB)
    first = staff.get("/staff/?queue=department").text
    cursor = re.search(r'after=([\w-]+)', first).group(1)
    second = staff.get(f"/staff/?queue=department&after={cursor}").text
    seen_first = set(re.findall(r"Asunto \d\d", first))
    seen_second = set(re.findall(r"Asunto \d\d", second))
    assert len(seen_first) == 25 and len(seen_second) == 5
    assert not seen_first & seen_second
    phone = staff.get("/staff/?queue=department&channel=phone").text
    assert len(set(re.findall(r"Asunto \d\d", phone))) == 10
    found = staff.get("/staff/?queue=department&q=asunto+07").text
    assert set(re.findall(r"Asunto \d\d", found)) == {"Asunto 07"}
    bad = staff.get("/staff/?queue=department&created_from=yesterday&after=%%%")
    assert bad.status_code == 200


def test_queue_counts(app, db, movilidad, make_user, make_case):
    agent = make_user(Role.AGENT, departments=[movilidad])
    now = clock.now()
    make_case(department_id=movilidad.id, resolution_due_at=now - timedelta(days=1))
    make_case(department_id=movilidad.id, resolution_due_at=now + timedelta(hours=5),
              assignee_id=agent.id, status=CaseStatus.OPEN)
    make_case(department_id=movilidad.id, status=CaseStatus.WAITING_ON_CITIZEN,
              resolution_due_at=now + timedelta(days=5))
    make_case(department_id=None, resolution_due_at=now + timedelta(days=5))
    make_case(department_id=movilidad.id, status=CaseStatus.RESOLVED,
              resolution_due_at=now)
    from portal.staff import service

    counts = service.queue_counts(agent)
    assert counts == {"mine": 1, "department": 1, "triage": 1, "waiting": 1, "due_soon": 1,
                      "overdue": 1, "resolved": 1}


def test_clock_shows_overdue(app, db, movilidad, make_user, make_case):
    staff = sign_in(app, make_user(Role.AGENT, departments=[movilidad]))
    with clock.frozen_at(datetime(2026, 11, 30, 10, 0, tzinfo=UTC)):
        make_case(department_id=movilidad.id,
                  resolution_due_at=datetime(2026, 11, 24, 22, 59, 59, tzinfo=UTC))
        page = staff.get("/staff/?queue=overdue&lang=en").text
    assert "4 working days overdue" in page


def test_resolving_needs_a_summary(app, db, movilidad, make_user):
    staff = sign_in(app, make_user(Role.AGENT, departments=[movilidad]))
    _, reference = guest_case(app, movilidad)
    response = staff.post(f"/staff/cases/{reference}/status?lang=en",
                          data={"status": "resolved", "summary": ""})
    assert response.status_code == 400
    assert "Write a resolution summary: the citizen receives it." in response.text
    case = db.session.scalar(db.select(Case).where(Case.reference == reference))
    assert case.status is CaseStatus.NEW


def test_timeline_shows_names_not_codes(app, db, movilidad, hacienda, make_user):
    staff = sign_in(app, make_user(Role.MANAGER))
    _, reference = guest_case(app, movilidad)
    staff.post(f"/staff/cases/{reference}/priority", data={"priority": "high"})
    staff.post(f"/staff/cases/{reference}/transfer",
               data={"department": hacienda.id, "reason": "Es un impuesto."})
    page = staff.get(f"/staff/cases/{reference}?lang=en").text
    assert "Priority: Normal → High" in page
    assert "Transferred from Transport to Finance" in page
    assert "prefers By email" in page or "By email" in page
