"""A citizen downloads everything held about them: every row that refers to them, found by
walking the schema's foreign keys to ``users`` (and the contact-email columns), and
nothing about anyone else."""

from __future__ import annotations

import io
import json
import zipfile

from sqlalchemy import or_, select

from portal.accounts import export
from portal.accounts import service as accounts
from portal.cases import service as cases
from portal.extensions import db as _db
from portal.ideas import service as ideas
from portal.models import CaseKind, Role
from portal.staff import service as staff
from portal.storage import inspect_upload
from tests.conftest import TEST_PASSWORD

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
       b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe"
       b"\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")


def _a_life_on_the_portal(db, make_user, make_department, citizen, other):
    """Cases (signed in, and as a guest with the same address), a conversation with a
    file and an internal note, a rating, an idea with a picture, supports, comments,
    a flag and follows; the other citizen does the same things beside them."""
    department = make_department()
    agent = make_user(Role.AGENT, departments=[department])
    accounts.start_session(citizen)  # a sign-in: a session and an audit entry
    mine, _new = cases.submit_case(cases.Submission(
        kind=CaseKind.COMPLAINT, subject="Mi farola", body="Texto de Ana.",
        contact_name="Ana Pérez", contact_email=citizen.email, language="es",
        department_id=department.id, files=[("foto.png", PNG)]), citizen)
    as_guest, _new = cases.submit_case(cases.Submission(
        kind=CaseKind.QUESTION, subject="Pregunta de invitada", body="Sin cuenta.",
        contact_name="Ana", contact_email=citizen.email, language="es"))
    theirs, _new = cases.submit_case(cases.Submission(
        kind=CaseKind.QUESTION, subject="Caso de Berta", body="Texto de Berta.",
        contact_name="Berta Ruiz", contact_email=other.email, language="es"), other)
    db.session.flush()
    staff.reply_to_citizen(agent, mine, "Respuesta del ayuntamiento.", [])
    staff.add_note(agent, mine, "Nota interna secreta.")
    cases.add_citizen_message(mine, "Gracias.", [], citizen)
    idea = ideas.propose(citizen, ideas.Proposal(
        title="Más bancos", body="En la plaza.", language="es",
        image=inspect_upload("banco.png", PNG, 5_000_000)))
    others_idea = ideas.propose(other, ideas.Proposal(title="Idea de Berta",
                                                      body="Otra cosa.", language="es"))
    db.session.flush()
    ideas.support(others_idea, citizen)
    ideas.follow(others_idea, citizen)
    ideas.add_comment(others_idea, citizen, "Comentario de Ana.")
    ideas.add_comment(idea, other, "Comentario de Berta.")
    ideas.flag(citizen, "Es ofensivo.", idea=others_idea)
    db.session.commit()
    return mine, as_guest, theirs


def test_the_export_holds_every_row_that_refers_to_the_citizen(db, make_user, make_department):
    citizen = make_user(Role.CITIZEN, email="ana@example.org", name="Ana Pérez")
    other = make_user(Role.CITIZEN, email="berta@example.org", name="Berta Ruiz")
    _a_life_on_the_portal(db, make_user, make_department, citizen, other)
    found = export.collect(citizen)

    checked = set()
    for name, table in _db.metadata.tables.items():
        columns = [column for column in table.columns
                   if any(key.column.table.name == "users" for key in column.foreign_keys)]
        conditions = [column == citizen.id for column in columns]
        if name == "users":
            conditions = [table.c.id == citizen.id]
        if "contact_email" in table.c and name == "cases":
            conditions.append(table.c.contact_email == citizen.email)
        if not conditions:
            continue
        query = select(table).where(or_(*conditions))
        if name == "messages":
            query = query.where(table.c.internal.is_(False))
        keys = [column.name for column in table.primary_key.columns]
        expected = {tuple(row._mapping[key] for key in keys)
                    for row in db.session.execute(query)}
        exported = {tuple(row[key] for key in keys) for row in found.get(name, [])}
        assert expected <= exported, f"{name}: rows {expected - exported} not exported"
        if expected:
            checked.add(name)
    # The walk found something to check in every kind of thing the citizen did.
    assert checked >= {"users", "cases", "messages", "ideas", "idea_votes", "idea_follows",
                       "comments", "flags", "case_followers", "audit_events",
                       "user_sessions"}


def test_nothing_about_anyone_else_and_no_internal_note(db, make_user, make_department):
    citizen = make_user(Role.CITIZEN, email="ana@example.org", name="Ana Pérez")
    other = make_user(Role.CITIZEN, email="berta@example.org", name="Berta Ruiz")
    mine, as_guest, _theirs = _a_life_on_the_portal(db, make_user, make_department,
                                                    citizen, other)
    text = json.dumps(export.collect(citizen), ensure_ascii=False)
    for theirs in ("berta@example.org", "Berta Ruiz", "Texto de Berta", "Comentario de Berta",
                   "Nota interna secreta", TEST_PASSWORD, "password_hash"):
        assert theirs not in text, theirs
    for ours in ("Texto de Ana.", "Respuesta del ayuntamiento.", "Gracias.", "Sin cuenta.",
                 "Comentario de Ana.", mine.reference, as_guest.reference):
        assert ours in text, ours


def test_the_citizen_downloads_a_zip_with_their_files(client, login_as, db, make_user,
                                                      make_department):
    citizen = login_as(Role.CITIZEN, email="ana@example.org")
    other = make_user(Role.CITIZEN, email="berta@example.org")
    _a_life_on_the_portal(db, make_user, make_department, citizen, other)
    assert "Download my data" in client.get("/account/data?lang=en").get_data(as_text=True)
    assert client.get("/account/data/download").status_code == 405  # a POST, with its token
    response = client.post("/account/data/download")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    assert "data.json" in names
    assert any(name.endswith("foto.png") for name in names)
    assert any(name.startswith("files/ideas-") for name in names)
    data = json.loads(archive.read("data.json"))
    assert data["account"] == "ana@example.org"
    events = [row["action"] for row in data["tables"]["audit_events"]]
    assert "user.data_exported" not in events  # the log entry is written after the export
    from portal.models import AuditEvent
    assert db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "user.data_exported", AuditEvent.actor_id == citizen.id))


def test_signed_out_visitors_are_asked_to_sign_in(client):
    assert client.get("/account/data").status_code == 302
    assert client.post("/account/data/download").status_code in (302, 400)
