"""A citizen sends a question or complaint, with files, and follows it to its answer."""

import io
import re

import pytest
from PIL import Image

from portal.models import (
    Attachment,
    Case,
    CaseEventKind,
    CaseKind,
    CaseStatus,
    Category,
    Role,
)
from tests.cases.helpers import (
    PDF,
    REFERENCE,
    case_link,
    complaint_form,
    files,
    jpeg_with_exif,
    png,
    question_form,
)


def submit(client, data, kind="complaint", attachments=(), lang="es"):
    payload = dict(data)
    if attachments:
        payload["attachments"] = files(*attachments)
    return client.post(f"/cases/new?kind={kind}&lang={lang}", data=payload,
                       content_type="multipart/form-data")


def test_guest_complaint_with_photo_and_pdf(client, db, outbox, app):
    response = submit(client, complaint_form(),
                      attachments=[(jpeg_with_exif(), "farola.jpg"), (PDF, "informe.pdf")])
    assert response.status_code == 302
    reference = REFERENCE.search(response.headers["Location"]).group(0)
    assert reference.startswith("C-")

    confirmation = client.get(response.headers["Location"] + "?lang=en")
    assert reference in confirmation.text
    assert "What happens next" in confirmation.text
    assert "working day" in confirmation.text

    case = db.session.scalar(db.select(Case).where(Case.reference == reference))
    assert case.kind is CaseKind.COMPLAINT
    assert case.status is CaseStatus.NEW
    assert case.department is None  # "I don't know": triage
    assert case.first_response_due_at > case.created_at
    assert case.publish_consent is False
    assert [event.kind for event in case.events] == [CaseEventKind.CREATED]
    assert sorted(item.content_type for item in case.attachments) == [
        "application/pdf", "image/jpeg"]

    # The confirmation email has a link that opens the case in another browser.
    (message,) = outbox()
    assert reference in message
    link = case_link(message)
    other_browser = app.test_client()
    opened = other_browser.get(link)
    assert opened.status_code == 302  # the token is dropped from the address
    page = other_browser.get(opened.headers["Location"] + "?lang=en")
    assert page.status_code == 200
    assert "Farola rota en la calle Mayor" in page.text
    assert "farola.jpg" in page.text and "informe.pdf" in page.text

    # The photo served back has no EXIF at all, and is served as a download.
    photo = next(item for item in case.attachments if item.content_type == "image/jpeg")
    download = other_browser.get(f"/cases/{reference}/files/{photo.id}")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert b"SpyCam" not in download.data
    assert not Image.open(io.BytesIO(download.data)).getexif()
    download.close()


def test_question_goes_to_the_chosen_category_and_department(client, db, make_department):
    from portal.models import Category

    department = make_department(slug="movilidad", first_response_days=3)
    category = Category(department_id=department.id, slug="aparcamiento",
                        names={"es": "Aparcamiento"})
    db.session.add(category)
    db.session.commit()
    form = client.get("/cases/new?kind=question").text
    assert f'value="category-{category.id}"' in form
    response = submit(client, question_form(topic=f"category-{category.id}"), kind="question")
    assert response.status_code == 302
    case = db.session.scalar(db.select(Case))
    assert case.kind is CaseKind.QUESTION
    assert case.reference.startswith("Q-")
    assert case.department_id == department.id and case.category_id == category.id


def test_consent_is_recorded_with_its_wording_version_and_time(client, db):
    submit(client, complaint_form(publish_consent="y"))
    case = db.session.scalar(db.select(Case))
    assert case.publish_consent is True
    assert case.publish_consent_version == "kb-consent-2026-11"
    assert case.publish_consent_at is not None


def test_consent_box_starts_unticked(client):
    form = client.get("/cases/new?kind=question").text
    checkbox = re.search(r'<input[^>]*name="publish_consent"[^>]*>', form).group(0)
    assert "checked" not in checkbox


def test_signed_in_citizen_gets_prefilled_contact_and_a_case_list(client, login_as, db):
    user = login_as(Role.CITIZEN, email="ana@example.org", name="Ana Soler")
    form = client.get("/cases/new?kind=question").text
    assert 'value="ana@example.org"' in form and 'value="Ana Soler"' in form
    response = submit(client, question_form(contact_name="", contact_email=""), kind="question")
    assert response.status_code == 302
    case = db.session.scalar(db.select(Case))
    assert case.citizen_id == user.id
    assert case.contact_email == "ana@example.org"
    listing = client.get("/account/cases?lang=en")
    assert case.reference in listing.text
    # The owner sees the case without any link.
    assert client.get(f"/cases/{case.reference}").status_code == 200


def test_double_submit_of_the_same_form_creates_one_case(client, db):
    data = complaint_form(token="same")
    first = submit(client, data)
    second = submit(client, data)
    assert first.headers["Location"] == second.headers["Location"]
    assert db.session.scalar(db.select(db.func.count(Case.id))) == 1


def test_honeypot_keeps_nothing(client, db, outbox):
    response = submit(client, complaint_form(website="http://spam.example"))
    assert response.status_code == 200
    assert db.session.scalar(db.select(db.func.count(Case.id))) == 0
    assert outbox() == []


def test_unknown_kind_is_404(client):
    assert client.get("/cases/new?kind=praise").status_code == 404


# ---------------------------------------------------------------- access

def _guest_case(client, db):
    response = submit(client, complaint_form())
    return db.session.scalar(db.select(Case)), response


def test_others_get_the_same_404_as_a_missing_case(client, app, db, make_user):
    case, _ = _guest_case(client, db)
    assert client.get(f"/cases/{case.reference}").status_code == 200  # the sender's browser

    stranger = app.test_client()
    other_citizen = app.test_client()
    make_user(email="other@example.org")
    other_citizen.post("/login", data={"email": "other@example.org",
                                       "password": "correct horse battery staple"})
    for browser in (stranger, other_citizen):
        missing = browser.get("/cases/C-ZZZZ-ZZZZ?lang=en")
        response = browser.get(f"/cases/{case.reference}?lang=en")
        assert response.status_code == 404
        # Identical but for the address itself (in the language switcher's links).
        assert response.text.replace(case.reference, "C-ZZZZ-ZZZZ") == missing.text
    assert stranger.get("/cases/not-a-reference").status_code == 404
    assert stranger.get(f"/cases/{case.reference}?access=forged").status_code == 404
    attachment_free = stranger.get(f"/cases/{case.reference}/files/1")
    assert attachment_free.status_code == 404


def test_link_for_one_case_does_not_open_another(client, app, db, outbox):
    submit(client, complaint_form(token="a"))
    submit(client, complaint_form(token="b", contact_email="other@example.org"))
    first, second = db.session.scalars(db.select(Case).order_by(Case.id)).all()
    link = case_link(outbox()[0])
    token = link.split("access=")[1]
    stranger = app.test_client()
    assert stranger.get(f"/cases/{second.reference}?access={token}").status_code == 404


def test_track_answers_the_same_and_mails_only_on_a_match(client, app, db, outbox):
    case, _ = _guest_case(client, db)
    stranger = app.test_client()
    match = stranger.post("/track?lang=en", data={"reference": case.reference.lower(),
                                                   "email": "MARIA@example.org"})
    mails_after_match = len(outbox())
    mismatch = stranger.post("/track?lang=en", data={"reference": case.reference,
                                                      "email": "someone@example.org"})
    missing = stranger.post("/track?lang=en", data={"reference": "C-0000-0000",
                                                     "email": "maria@example.org"})
    assert mails_after_match == 2  # confirmation + the fresh link
    assert len(outbox()) == 2
    normalise = lambda text: text.replace("MARIA@example.org", "X").replace(  # noqa: E731
        "someone@example.org", "X").replace("maria@example.org", "X")
    assert match.status_code == mismatch.status_code == missing.status_code == 200
    assert normalise(match.text) == normalise(mismatch.text) == normalise(missing.text)
    fresh = case_link(outbox()[-1])
    assert stranger.get(fresh).status_code == 302


# ---------------------------------------------------------------- conversation

def test_citizen_replies_with_a_file_and_a_waiting_case_goes_back_to_the_queue(client, db):
    case, _ = _guest_case(client, db)
    case.status = CaseStatus.WAITING_ON_CITIZEN
    db.session.commit()
    response = client.post(f"/cases/{case.reference}/reply",
                           data={"body": "Adjunto otra foto.",
                                 "attachments": files((png(), "otra.png"))},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    db.session.refresh(case)
    assert case.status is CaseStatus.OPEN
    assert case.messages[-1].body == "Adjunto otra foto."
    assert case.messages[-1].attachments[0].original_name == "otra.png"
    kinds = [event.kind for event in case.events]
    assert CaseEventKind.MESSAGE_ADDED in kinds and CaseEventKind.STATUS_CHANGED in kinds
    page = client.get(f"/cases/{case.reference}")
    assert "Adjunto otra foto." in page.text and "otra.png" in page.text


def test_internal_notes_never_reach_the_citizen(client, db):
    from portal.models import Message

    case, _ = _guest_case(client, db)
    db.session.add(Message(case_id=case.id, body="Nota interna: vecino conflictivo",
                           internal=True, from_staff=True))
    db.session.add(Message(case_id=case.id, body="Hola, estamos en ello.", from_staff=True))
    db.session.commit()
    page = client.get(f"/cases/{case.reference}").text
    assert "Nota interna" not in page
    assert "estamos en ello" in page


def _resolve(db, case, days_ago=0):
    from datetime import timedelta

    from portal import clock

    case.status = CaseStatus.RESOLVED
    case.resolved_at = clock.now() - timedelta(days=days_ago)
    case.resolution_summary = "La farola se reparó el martes."
    db.session.commit()


def test_rating_an_answered_case(client, db):
    case, _ = _guest_case(client, db)
    assert "Rate our answer" not in client.get(f"/cases/{case.reference}?lang=en").text
    _resolve(db, case)
    page = client.get(f"/cases/{case.reference}?lang=en").text
    assert "Rate our answer" in page and "La farola se reparó el martes." in page
    assert "Reply" not in re.findall(r"<h2[^>]*>([^<]*)</h2>", page)
    response = client.post(f"/cases/{case.reference}/rate",
                           data={"score": "4", "comment": "Rápido, gracias."})
    assert response.status_code == 302
    db.session.refresh(case)
    assert case.satisfaction == 4 and case.satisfaction_comment == "Rápido, gracias."
    assert case.events[-1].kind is CaseEventKind.RATED
    again = client.post(f"/cases/{case.reference}/rate?lang=en", data={"score": "1"})
    assert again.status_code == 400
    db.session.refresh(case)
    assert case.satisfaction == 4


def test_rating_needs_a_score_from_one_to_five(client, db):
    case, _ = _guest_case(client, db)
    _resolve(db, case)
    response = client.post(f"/cases/{case.reference}/rate?lang=en", data={"score": "9"})
    assert response.status_code == 400
    assert "Choose a rating from 1 to 5." in response.text or "Not a valid choice" in \
        response.text


def test_reopen_within_thirty_days(client, db):
    case, _ = _guest_case(client, db)
    _resolve(db, case, days_ago=29)
    response = client.post(f"/cases/{case.reference}/reopen",
                           data={"reason": "Sigue apagada."})
    assert response.status_code == 302
    db.session.refresh(case)
    assert case.status is CaseStatus.OPEN
    assert case.events[-1].kind is CaseEventKind.REOPENED
    assert case.messages[-1].body == "Sigue apagada."


def test_a_reopened_closed_case_goes_through_the_life_cycle(client, db, make_user):
    """Reopen, staff replies and closing all pass through change_status, which keeps
    the closed time in step and writes the history (issue 11, item 17)."""
    from portal.cases import service as cases
    from portal.staff import service as staff

    case, _ = _guest_case(client, db)
    agent = make_user(email="agente@example.org", role=Role.ADMIN)
    _resolve(db, case, days_ago=2)
    staff.set_status(agent, case, CaseStatus.CLOSED)
    db.session.commit()
    assert case.closed_at is not None
    cases.reopen_case(case, "Sigue apagada.")
    db.session.commit()
    reopened = case.events[-1]
    assert (reopened.kind, reopened.from_value, reopened.to_value) == (
        CaseEventKind.REOPENED, "closed", "open")
    assert case.closed_at is None and case.resolution_due_at > case.resolved_at

    staff.set_status(agent, case, CaseStatus.CLOSED)
    staff.reply_to_citizen(agent, case, "La revisamos de nuevo.", [])
    db.session.commit()
    assert case.status is CaseStatus.OPEN and case.closed_at is None


def test_no_reopen_after_thirty_days(client, db):
    case, _ = _guest_case(client, db)
    _resolve(db, case, days_ago=31)
    page = client.get(f"/cases/{case.reference}?lang=en").text
    assert "Reopen my case" not in page  # no form, and the page says why
    assert "That time has passed, so it can no longer be reopened." in page
    response = client.post(f"/cases/{case.reference}/reopen?lang=en",
                           data={"reason": "Sigue apagada."})
    assert response.status_code == 400
    db.session.refresh(case)
    assert case.status is CaseStatus.RESOLVED


@pytest.mark.parametrize("language", ["es", "en", "ca", "eu", "gl"])
def test_confirmation_mail_is_in_the_chosen_language(client, outbox, language):
    from tests.test_i18n import _catalog

    submit(client, complaint_form(language=language))
    expected = _catalog(language).get("Follow your complaint, reply and add documents here:").string
    assert expected in outbox()[0]


def test_attachment_rows_match_files_on_disk(client, db, app):
    from pathlib import Path

    submit(client, complaint_form(), attachments=[(png(), "a.png"), (PDF, "b.pdf")])
    stored = {path.name for path in Path(app.config["UPLOAD_PATH"]).rglob("*")
              if path.is_file()}
    rows = set(db.session.scalars(db.select(Attachment.content_hash)))
    assert stored == rows and len(rows) == 2


def test_a_category_added_after_the_form_was_shown_is_offered_and_accepted(
        app, client, db, make_department):
    # The topics are kept between requests: a change must show, and be accepted, at once.
    department = make_department(names={"es": "Movilidad", "en": "Transport"})
    assert "Bicicletas" not in client.get("/cases/new?kind=question").text
    category = Category(department=department, slug="bicis",
                        names={"es": "Bicicletas", "en": "Bicycles"})
    db.session.add(category)
    db.session.commit()
    assert "Bicicletas" in app.test_client().get("/cases/new?kind=question").text
    response = submit(app.test_client(), question_form(topic=f"category-{category.id}"),
                      kind="question")
    assert response.status_code == 302
    assert db.session.scalar(db.select(Case)).category_id == category.id
