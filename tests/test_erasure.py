"""Deleting an account, or a guest's data through /track: the person's email, name and
phone appear nowhere afterwards (database, uploads, search index, outbox), and nothing
of theirs opens; their cases and ideas stay under a pseudonym."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from portal import clock, search
from portal.accounts import service as accounts
from portal.cases import service as cases
from portal.extensions import db as _db
from portal.ideas import service as ideas
from portal.knowledge import service as knowledge
from portal.models import (
    AuditEvent,
    Case,
    CaseKind,
    DataRequest,
    Idea,
    IdeaVote,
    Role,
    User,
)
from portal.privacy import service as privacy
from portal.search.base import SearchQuery
from portal.staff import service as staff
from portal.storage import inspect_upload
from tests.conftest import TEST_PASSWORD
from tests.test_data_export import PNG

NAME = "Zuriñe Etxeberria Goikoetxea"
EMAIL = "zurine.etxeberria@example.org"
PHONE = "600 123 456"


def _dump(db) -> str:
    """Every row of every table, as text: what a database dump would hold."""
    rows = []
    for table in _db.metadata.sorted_tables:
        rows.extend(repr(tuple(row)) for row in db.session.execute(select(table)))
    return "\n".join(rows).lower()


def _files_under(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in folder.rglob("*") if path.is_file()) \
        if folder.exists() else b""


def _link(message: str, pattern: str) -> str:
    return re.search(r"http://localhost(" + pattern + r"\S*)", message).group(1)


def _found(word: str) -> int:
    return search.backend().search(SearchQuery(text=word, locale="es")).total


def _traces(db, app) -> list[str]:
    """Where the person's email, name or phone number still shows."""
    places = {
        "database": _dump(db).encode(),
        "uploads": _files_under(Path(app.config["UPLOAD_PATH"])).lower(),
        "search index": _files_under(Path(app.config["SEARCH_INDEX_PATH"])).lower(),
        "outbox": _files_under(Path(app.config["OUTBOX_PATH"])).lower(),
    }
    words = [EMAIL, NAME.lower(), "etxeberria", "goikoetxea", PHONE, "600123456"]
    return [f"{word} in the {place}" for place, data in places.items() for word in words
            if word.encode() in data]


def _a_citizen_with_a_history(db, client, make_user, make_department):
    """A signed-in citizen with a case (a file, a reply that greets them, a note with
    their phone, an article built from it), a guest case, an idea with a picture and a
    comment; and another citizen."""
    department = make_department()
    agent = make_user(Role.AGENT, departments=[department])
    editor = make_user(Role.MANAGER, departments=[department])
    citizen = make_user(Role.CITIZEN, email=EMAIL, name=NAME)
    other = make_user(Role.CITIZEN, email="otra@example.org", name="Berta Ruiz")
    case, _new = cases.submit_case(cases.Submission(
        kind=CaseKind.COMPLAINT, subject="Farola apagada en la calle Mayor",
        body=f"Soy {NAME}, llámenme al {PHONE}.", contact_name=NAME, contact_email=EMAIL,
        contact_phone=PHONE, language="es", department_id=department.id,
        location_text="Calle Mayor 3", publish_consent=True,
        files=[("foto.png", PNG)]), citizen)
    guest_case, _new = cases.submit_case(cases.Submission(
        kind=CaseKind.QUESTION, subject="Pregunta sin cuenta", body="¿Horario?",
        contact_name=NAME, contact_email=EMAIL, language="es"))
    db.session.flush()
    staff.reply_to_citizen(agent, case, f"Hola, {NAME}: ya está reparada.", [])
    staff.add_note(agent, case, "Llamada al 600123456, sin respuesta.")
    article = knowledge.create_article(editor, knowledge.ArticleInput(
        title="Farolas apagadas", body=f"Como nos contó {NAME}, se arreglan en dos días.",
        summary="Avisos de alumbrado."), source_case=case)
    knowledge.publish(editor, article)
    idea = ideas.propose(citizen, ideas.Proposal(
        title="Más bancos en la plaza", body=f"Propuesta de {NAME} para los mayores.",
        language="es", image=inspect_upload("banco.png", PNG, 5_000_000)))
    others_idea = ideas.propose(other, ideas.Proposal(
        title="Fuentes de agua", body="En el parque.", language="es"))
    db.session.flush()
    ideas.support(idea, other)
    ideas.support(others_idea, citizen)
    ideas.add_comment(idea, other, f"Muy buena idea, {NAME}.")
    db.session.commit()
    token = accounts.start_session(citizen)  # signed in, with a cookie
    db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = token
    return citizen, case, guest_case, others_idea


def test_after_deleting_the_account_the_citizen_appears_nowhere(
        db, app, client, make_user, make_department, outbox):
    citizen, case, guest_case, supported = _a_citizen_with_a_history(
        db, client, make_user, make_department)
    mails = outbox()
    case_link = _link(next(m for m in mails if guest_case.reference in m), "/cases/")
    accounts.request_password_reset(EMAIL, "es")
    db.session.commit()
    reset_link = _link(outbox()[-1], "/password/reset/")
    # Before: the traces are there, so the checks below would see them.
    assert _found("Etxeberria") >= 1
    assert "etxeberria in the database" in _traces(db, app)
    assert "etxeberria in the outbox" in _traces(db, app)
    assert client.get("/account").status_code == 200
    assert client.get(reset_link).status_code == 200
    uploads = Path(app.config["UPLOAD_PATH"])
    # The case's photo and the idea's picture: the same bytes, kept once.
    assert len([path for path in uploads.rglob("*") if path.is_file()]) == 1

    page = client.get("/account/delete")
    assert "2 casos" in page.text
    response = client.post("/account/delete", data={"current_password": TEST_PASSWORD,
                                                    "understood": "y"})
    assert response.status_code == 302

    assert _traces(db, app) == []
    assert [path for path in uploads.rglob("*") if path.is_file()] == []
    assert _found("Etxeberria") == 0
    # Nothing of theirs opens: the saved cookie, the emailed case link, the reset link.
    assert client.get("/account").status_code == 302
    assert client.get(case_link).status_code == 404
    assert client.get(reset_link).status_code == 400
    assert client.post("/login", data={"email": EMAIL, "password": TEST_PASSWORD}) \
        .status_code == 200  # the sign-in form again, with its error

    # The records stay, under a pseudonym; the supports still count.
    user = db.session.get(User, citizen.id)
    assert user.anonymised and not user.active
    assert user.display_name.startswith("anon-") and user.display_name in user.email
    kept = db.session.get(Case, case.id)
    assert kept.contact_name == user.display_name and kept.contact_email == ""
    assert kept.anonymised_at is not None and kept.attachments == []
    assert "[…]" in kept.body and "Farola apagada" in kept.subject
    assert db.session.get(Idea, supported.id).vote_count == 1
    assert db.session.scalar(select(func.count()).select_from(IdeaVote)) == 2
    entry = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "privacy.erased"))
    assert entry.data["cases"] == 2 and entry.data["ideas"] == 1
    assert db.session.scalar(select(DataRequest.subject_pseudonym)) == user.display_name


def test_a_wrong_password_or_no_tick_deletes_nothing(db, client, login_as):
    citizen = login_as(Role.CITIZEN, email=EMAIL, name=NAME)
    response = client.post("/account/delete", data={"current_password": "wrong password",
                                                    "understood": "y"})
    assert response.status_code == 200 and "La contraseña no es correcta" in response.text
    response = client.post("/account/delete", data={"current_password": TEST_PASSWORD})
    assert "Marque la casilla" in response.text
    assert db.session.get(User, citizen.id).email == EMAIL


def test_staff_close_their_accounts_through_an_administrator(db, client, login_as):
    agent = login_as(Role.AGENT)
    page = client.get("/account/delete")
    assert "administrador" in page.text and "current_password" not in page.text
    client.post("/account/delete", data={"current_password": TEST_PASSWORD, "understood": "y"})
    assert db.session.get(User, agent.id).active


def test_a_guest_downloads_and_erases_their_data_through_an_emailed_link(
        db, app, client, outbox, make_case):
    case, _new = cases.submit_case(cases.Submission(
        kind=CaseKind.QUESTION, subject="Pregunta de una invitada", body=f"Soy {NAME}.",
        contact_name=NAME, contact_email=EMAIL, contact_phone=PHONE, language="es"))
    db.session.commit()
    case_link = _link(outbox()[-1], "/cases/")
    make_case(contact_email="otra@example.org", contact_name="Berta Ruiz")

    response = client.post("/track/data", data={"email": EMAIL.upper()})
    assert EMAIL.upper() in response.text
    link = _link(outbox()[-1], "/track/data/")
    page = client.get(link)
    assert "1 caso" in page.text

    archive = client.post(f"{link}/download")
    assert archive.mimetype == "application/zip"
    data = json.loads(zipfile.ZipFile(io.BytesIO(archive.data)).read("data.json"))
    assert [row["reference"] for row in data["tables"]["cases"]] == [case.reference]
    assert "Berta" not in json.dumps(data)

    refused = client.post(f"{link}/erase", data={})
    assert refused.status_code == 400 and "Marque la casilla" in refused.text
    done = client.post(f"{link}/erase", data={"understood": "y"})
    assert done.status_code == 200 and "1 caso" in done.text
    assert _traces(db, app) == []
    assert client.get(case_link).status_code == 404
    assert "Berta Ruiz" in _dump(db).replace("berta ruiz", "Berta Ruiz")
    assert "No tenemos casos" in client.get(link).text


def test_an_unknown_address_gets_the_same_page_and_no_mail(db, client, outbox):
    response = client.post("/track/data", data={"email": "nadie@example.org"})
    assert "nadie@example.org" in response.text
    assert outbox() == []
    assert client.get("/track/data/forged-token").status_code == 404


def test_staff_record_a_counter_request_and_carry_it_out(db, app, client, login_as, outbox):
    cases.submit_case(cases.Submission(
        kind=CaseKind.COMPLAINT, subject="Ruido en la calle", body=f"Firmado: {NAME}.",
        contact_name=NAME, contact_email=EMAIL, contact_phone=PHONE, language="es"))
    db.session.commit()
    agent = login_as(Role.AGENT)
    with clock.frozen_at(datetime(2026, 1, 31, 10, tzinfo=UTC)):
        missing = client.post("/manage/privacy/", data={"kind": "erasure", "email": ""})
        assert "Escriba el correo electrónico de la persona" in missing.text
        assert "Indique cómo comprobó quién es la persona" in missing.text
        response = client.post("/manage/privacy/", data={
            "kind": "erasure", "email": EMAIL, "identity_checked": "DNI mostrado",
            "received_on": "2026-01-31"})
        assert response.status_code == 302
        request = db.session.scalar(select(DataRequest))
        # One month: the last day of February for a request of 31 January.
        assert clock.now().date().replace(month=2, day=28) == \
            request.due_at.astimezone(privacy.sla.local_zone()).date()
        listing = client.get("/manage/privacy/")
        assert EMAIL in listing.text and "28 feb 2026" in listing.text
    page = client.get(f"/manage/privacy/{request.id}")
    assert "1 caso" in page.text
    response = client.post(f"/manage/privacy/{request.id}/erase", data={"understood": "y"})
    assert response.status_code == 302
    request = db.session.get(DataRequest, request.id)
    assert request.completed_at is not None and request.subject_email == ""
    assert request.completed_by_id == agent.id
    assert _traces(db, app) == []
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"privacy.request_recorded", "privacy.erased", "privacy.request_completed"} <= actions


def test_a_counter_request_for_a_copy_hands_over_the_zip(db, client, login_as):
    cases.submit_case(cases.Submission(
        kind=CaseKind.QUESTION, subject="Horario", body="¿A qué hora abren?",
        contact_name=NAME, contact_email=EMAIL, language="es"))
    db.session.commit()
    login_as(Role.AGENT)
    client.post("/manage/privacy/", data={"kind": "access", "email": EMAIL,
                                          "identity_checked": "DNI", "received_on": "2026-01-05"})
    request = db.session.scalar(select(DataRequest))
    archive = client.post(f"/manage/privacy/{request.id}/download")
    data = json.loads(zipfile.ZipFile(io.BytesIO(archive.data)).read("data.json"))
    assert data["tables"]["cases"][0]["contact_email"] == EMAIL
    assert db.session.get(DataRequest, request.id).completed_at is not None
    assert client.post(f"/manage/privacy/{request.id}/download").status_code == 404


def test_citizens_and_visitors_cannot_reach_the_counter_pages(client, login_as):
    assert client.get("/manage/privacy/").status_code == 302
    login_as(Role.CITIZEN)
    assert client.get("/manage/privacy/").status_code == 403
