"""Retention: past its kind's period after closing, a case's personal data is anonymised
and its files deleted; old sent mail is purged; ``--dry-run`` changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from portal import clock
from portal.cases import service as cases
from portal.models import (
    AuditEvent,
    Case,
    CaseKind,
    CaseStatus,
    OutboxMessage,
    OutboxStatus,
    Role,
)
from tests.test_data_export import PNG
from tests.test_erasure import _dump

NOW = datetime(2027, 6, 15, 10, tzinfo=UTC)


def _closed_case(db, kind: CaseKind, months_ago: int, name: str, **extra) -> Case:
    closed = NOW - timedelta(days=round(months_ago * 30.5))
    with clock.frozen_at(closed - timedelta(days=10)):
        case, _new = cases.submit_case(cases.Submission(
            kind=kind, subject=f"Caso de {name}", body=f"Me llamo {name}.",
            contact_name=name, contact_email=f"{name.split()[0].lower()}@example.org",
            contact_phone="600 111 222", language="es", **extra))
        db.session.flush()
    case.status = CaseStatus.CLOSED
    case.resolved_at = case.closed_at = closed
    db.session.commit()
    return case


def test_retention_anonymises_exactly_the_cases_past_their_period(db, app, runner,
                                                                   make_user):
    citizen = make_user(Role.CITIZEN, email="dora@example.org", name="Dora Vidal")
    old_question = _closed_case(db, CaseKind.QUESTION, 30, "Amaia Urrutia",
                                files=[("foto.png", PNG)])
    recent_question = _closed_case(db, CaseKind.QUESTION, 20, "Berta Soler")
    recent_complaint = _closed_case(db, CaseKind.COMPLAINT, 30, "Carla Mendez")
    old_complaint = _closed_case(db, CaseKind.COMPLAINT, 61, "Dora Vidal")
    old_complaint.citizen_id = citizen.id
    with clock.frozen_at(NOW - timedelta(days=800)):
        still_open, _new = cases.submit_case(cases.Submission(
            kind=CaseKind.QUESTION, subject="Sin cerrar", body="Pendiente.",
            contact_name="Elena Ros", contact_email="elena@example.org", language="es"))
    db.session.add_all([
        # (besides the receipts of the cases above, all sent long ago)
        OutboxMessage(to_address="amaia@example.org", subject="Antiguo", body_text="x",
                      status=OutboxStatus.SENT, sent_at=NOW - timedelta(days=100)),
        OutboxMessage(to_address="berta@example.org", subject="Reciente", body_text="y",
                      status=OutboxStatus.SENT, sent_at=NOW - timedelta(days=10))])
    db.session.commit()
    uploads = Path(app.config["UPLOAD_PATH"])
    assert len([path for path in uploads.rglob("*") if path.is_file()]) == 1

    with clock.frozen_at(NOW):
        before = _dump(db)
        result = runner.invoke(args=["portal", "retention", "--dry-run"])
        assert result.exit_code == 0, result.output
        assert f"would anonymise {old_question.reference}" in result.output
        assert f"would anonymise {old_complaint.reference}" in result.output
        for kept in (recent_question, recent_complaint, still_open):
            assert kept.reference not in result.output
        assert "2 cases would be anonymised and 6 sent messages purged" in result.output
        db.session.expire_all()
        assert _dump(db) == before

        result = runner.invoke(args=["portal", "retention"])
        assert result.exit_code == 0, result.output
        assert "2 cases anonymised (1 files deleted), 6 sent messages purged" in result.output

    db.session.expire_all()
    for gone in (old_question, old_complaint):
        case = db.session.get(Case, gone.id)
        assert case.anonymised_at is not None and case.contact_email == ""
        assert case.contact_name == "" and case.contact_phone == "" and case.citizen_id is None
        assert "[…]" in case.body and case.attachments == []
    for kept, name in ((recent_question, "Berta Soler"), (recent_complaint, "Carla Mendez"),
                       (still_open, "Elena Ros")):
        assert db.session.get(Case, kept.id).contact_name == name
    dump = _dump(db)
    assert [line for line in dump.splitlines() if "amaia" in line or "urrutia" in line] == []
    assert "berta soler" in dump
    assert [path for path in uploads.rglob("*") if path.is_file()] == []
    assert [row.subject for row in db.session.scalars(select(OutboxMessage))] == ["Reciente"]
    entry = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "retention.applied"))
    assert entry.data["cases"] == 2 and entry.data["outbox"] == 6 and entry.data["files"] == 1

    # A second run finds nothing more to do.
    with clock.frozen_at(NOW):
        result = runner.invoke(args=["portal", "retention", "--dry-run"])
    assert "0 cases would be anonymised and 0 sent messages purged" in result.output
