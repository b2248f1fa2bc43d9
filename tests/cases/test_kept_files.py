"""A citizen's files are never silently dropped (item 1 of the trust issue).

Files that pass their checks are held on the server when the form goes back to the
citizen — a validation error, the "check for answers" step, a removed file — and listed
as kept; a refused file is named in the error.
"""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta
from pathlib import Path

from portal import storage
from portal.models import Case
from tests.cases.helpers import PDF, complaint_form, files, png
from tests.cases.test_intake import submit

KEPT = re.compile(r'name="kept" value="([^"]+)"')


def _kept_on_disk(app) -> list[Path]:
    return sorted((Path(app.config["UPLOAD_PATH"]) / "kept").glob("*.bin"))


def _only_case(db) -> Case:
    return db.session.scalar(db.select(Case))


def test_a_validation_error_keeps_the_photo_and_the_resend_attaches_it(app, db, client):
    first = submit(client, complaint_form(contact_email="maria@@example"), lang="en",
                   attachments=[(png(), "foto.png"), (PDF, "informe.pdf")])
    assert first.status_code == 200
    assert "Enter an email address in the right format" in first.text
    assert "Kept: foto.png" in first.text and "Kept: informe.pdf" in first.text
    tokens = KEPT.findall(first.text)
    assert len(tokens) == 2 and len(_kept_on_disk(app)) == 2

    second = submit(client, complaint_form(kept=tokens))
    assert second.status_code == 302
    case = _only_case(db)
    assert sorted(item.original_name for item in case.attachments) == ["foto.png",
                                                                       "informe.pdf"]
    assert _kept_on_disk(app) == []  # attached now: no longer held


def test_the_check_step_keeps_the_photo(app, db, client):
    checked = submit(client, complaint_form(check="1"), lang="en",
                     attachments=[(png(), "foto.png")])
    assert checked.status_code == 200 and "Kept: foto.png" in checked.text
    sent = submit(client, complaint_form(kept=KEPT.findall(checked.text)))
    assert sent.status_code == 302
    assert [item.original_name for item in _only_case(db).attachments] == ["foto.png"]


def test_files_kept_over_two_tries_add_up_and_can_be_removed(app, db, client):
    first = submit(client, complaint_form(contact_email="bad"), lang="en",
                   attachments=[(png(), "uno.png")])
    second = submit(client, complaint_form(contact_email="bad", kept=KEPT.findall(first.text)),
                    lang="en", attachments=[(png((12, 12)), "dos.png")])
    assert "Kept: uno.png" in second.text and "Kept: dos.png" in second.text
    tokens = KEPT.findall(second.text)
    # "Remove" is a button named remove_kept carrying the file's token.
    removed = submit(client, complaint_form(kept=tokens, remove_kept=tokens[0]), lang="en")
    assert "Kept: uno.png" not in removed.text and "Kept: dos.png" in removed.text
    assert len(_kept_on_disk(app)) == 1
    sent = submit(client, complaint_form(kept=KEPT.findall(removed.text)))
    assert sent.status_code == 302
    assert [item.original_name for item in _only_case(db).attachments] == ["dos.png"]


def test_a_refused_file_is_named_and_the_good_one_is_kept(app, db, client):
    response = submit(client, complaint_form(), lang="en",
                      attachments=[(b"MZ\x90\x00 not a picture", "foto.jpg"),
                                   (png(), "plano.png")])
    assert response.status_code == 200  # nothing sent: the citizen decides what to do
    assert "foto.jpg is not really the type of file its name says." in response.text
    assert 'id="attachments-error"' in response.text
    assert "Kept: plano.png" in response.text and "Kept: foto.jpg" not in response.text
    assert db.session.scalar(db.select(db.func.count(Case.id))) == 0


def test_enter_sends_the_form_the_first_button_is_send(client):
    page = client.get("/cases/new?kind=complaint&lang=en").text
    form = page[page.index("<form method=\"post\""):]
    first_button = re.search(r"<button[^>]*>([^<]*)</button>", form)
    assert 'type="submit"' in first_button.group(0)
    assert 'name="check"' not in first_button.group(0)
    assert first_button.group(1).strip() == "Send"


def test_kept_tokens_are_unguessable_and_bogus_ones_are_ignored(app, db, client):
    submit(client, complaint_form(contact_email="bad"), attachments=[(png(), "foto.png")])
    (token_file,) = _kept_on_disk(app)
    assert len(token_file.stem) >= 32
    sent = submit(client, complaint_form(kept=["../../secret_key", "x" * 40,
                                               token_file.stem[:-1] + "A"]))
    assert sent.status_code == 302
    assert _only_case(db).attachments == []


def test_files_of_a_form_never_sent_are_purged(app, db, client):
    submit(client, complaint_form(contact_email="bad"), attachments=[(png(), "foto.png")])
    (held,) = _kept_on_disk(app)
    with app.test_request_context():
        assert storage.purge_kept() == 0  # still fresh
        old = time.time() - timedelta(hours=7).total_seconds()
        os.utime(held, (old, old))
        assert storage.purge_kept() == 1  # UPLOAD_KEEP_HOURS is 6
    assert list((Path(app.config["UPLOAD_PATH"]) / "kept").iterdir()) == []


def test_a_reply_sent_back_keeps_its_file(app, db, client):
    assert submit(client, complaint_form()).status_code == 302
    reference = _only_case(db).reference
    empty = client.post(f"/cases/{reference}/reply?lang=en",
                        data={"body": "", "attachments": files((png(), "otra.png"))},
                        content_type="multipart/form-data")
    assert empty.status_code == 400 and "Kept: otra.png" in empty.text
    sent = client.post(f"/cases/{reference}/reply",
                       data={"body": "Os mando otra foto.", "kept": KEPT.findall(empty.text)},
                       content_type="multipart/form-data")
    assert sent.status_code == 302
    (message,) = _only_case(db).messages
    assert [item.original_name for item in message.attachments] == ["otra.png"]


def test_a_staff_reply_sent_back_keeps_its_file(app, db, make_user, make_department):
    from portal.accounts import service as accounts
    from portal.models import Role

    department = make_department()
    agent = make_user(Role.AGENT, departments=[department])
    citizen = app.test_client()
    submit(citizen, complaint_form(topic=f"department-{department.id}"))
    reference = _only_case(db).reference
    staff = app.test_client()
    token = accounts.start_session(agent)
    db.session.commit()
    with staff.session_transaction() as session:
        session["_user_id"] = token
    empty = staff.post(f"/staff/cases/{reference}/reply?lang=en",
                       data={"body": "", "attachments": files((PDF, "respuesta.pdf"))},
                       content_type="multipart/form-data")
    assert empty.status_code == 400 and "Kept: respuesta.pdf" in empty.text
    sent = staff.post(f"/staff/cases/{reference}/reply",
                      data={"body": "Adjunto la respuesta.", "kept": KEPT.findall(empty.text)},
                      content_type="multipart/form-data")
    assert sent.status_code == 302
    (message,) = _only_case(db).messages
    assert [item.original_name for item in message.attachments] == ["respuesta.pdf"]
