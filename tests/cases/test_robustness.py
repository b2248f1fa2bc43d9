"""Nothing accepted is lost, nothing half-done is left: concurrency and injected faults."""

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import pytest

from portal.cases import service
from portal.file_stores import FolderStore
from portal.models import Attachment, Case, CaseKind
from tests.cases.helpers import PDF, complaint_form, png
from tests.cases.test_intake import submit


def test_fifty_concurrent_submissions_all_land_with_distinct_references(app, db, outbox):
    def send(number: int) -> int:
        client = app.test_client()
        data = complaint_form(token=f"concurrent-{number}", subject=f"Aviso {number}")
        return submit(client, data, attachments=[(png((8 + number, 8)), f"{number}.png")]
                      ).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(send, range(50)))
    assert statuses == [302] * 50
    references = db.session.scalars(db.select(Case.reference)).all()
    assert len(references) == len(set(references)) == 50
    assert db.session.scalar(db.select(db.func.count(Attachment.id))) == 50
    stored = [path for path in Path(app.config["UPLOAD_PATH"]).rglob("*") if path.is_file()]
    assert len(stored) == 50
    # Each citizen is told once, with their own reference.
    confirmations = outbox()
    assert len(confirmations) == 50
    assert sorted(reference for reference in references
                  if sum(reference in message for message in confirmations) == 1
                  ) == sorted(references)


def _files_on_disk(app):
    return [path for path in Path(app.config["UPLOAD_PATH"]).rglob("*") if path.is_file()]


def test_failure_after_the_file_write_and_before_commit_leaves_nothing(app, db):
    client = app.test_client()
    real_submit = service.submit_case

    def submit_then_crash(*args, **kwargs):
        real_submit(*args, **kwargs)
        assert _files_on_disk(app), "the files were written before the commit"
        raise RuntimeError("power cut before commit")

    with mock.patch.object(service, "submit_case", submit_then_crash):
        response = submit(client, complaint_form(), lang="en",
                          attachments=[(png(), "a.png"), (PDF, "b.pdf")])
    assert response.status_code == 500
    assert db.session.scalar(db.select(db.func.count(Case.id))) == 0
    assert db.session.scalar(db.select(db.func.count(Attachment.id))) == 0
    assert _files_on_disk(app) == []


def test_failed_commit_removes_new_files_but_keeps_files_other_cases_use(app, db):
    client = app.test_client()
    assert submit(client, complaint_form(token="first"),
                  attachments=[(PDF, "shared.pdf")]).status_code == 302
    kept = _files_on_disk(app)
    assert len(kept) == 1

    with mock.patch("portal.cases.routes.db.session.commit",
                    side_effect=RuntimeError("database gone")):
        response = submit(client, complaint_form(token="second"),
                          attachments=[(PDF, "same.pdf"), (png(), "new.png")])
    assert response.status_code == 500
    assert _files_on_disk(app) == kept  # the shared file stays, the new one went
    assert db.session.scalar(db.select(db.func.count(Case.id))) == 1


def _full_disk(fd, *args, **kwargs):
    import errno
    import os as real_os

    real_os.close(fd)
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_gives_an_error_by_the_files_and_keeps_the_text(app, db, caplog):
    client = app.test_client()
    form = complaint_form(subject="Farola rota junto al colegio")
    with mock.patch("portal.file_stores.os.fdopen", _full_disk):
        response = submit(client, form, lang="en", attachments=[(png(), "a.png")])
    assert response.status_code == 200
    page = response.text
    assert "We could not save your files just now, so your message has not been sent" in page
    assert 'id="attachments-error"' in page  # next to the files field
    assert "Farola rota junto al colegio" in page and "dos semanas apagada" in page
    assert db.session.scalar(db.select(db.func.count(Case.id))) == 0
    assert _files_on_disk(app) == []
    # The log says which disk is full, for whoever can free space (and no personal data).
    assert any(app.config["UPLOAD_PATH"] in record.getMessage() and "ENOSPC" in
               record.getMessage() for record in caplog.records)
    assert "María" not in caplog.text


def test_disk_full_when_the_case_is_stored_keeps_the_held_file_for_a_resend(app, db):
    client = app.test_client()
    first = submit(client, complaint_form(contact_email="not-an-email"), lang="en",
                   attachments=[(png(), "farola.png")])
    token = re.search(r'name="kept" value="([^"]+)"', first.text).group(1)
    form = complaint_form(kept=token)
    real_put = FolderStore.put

    def full_store(self, key, data):
        if not key.startswith("kept/"):
            raise OSError(28, "No space left on device")
        real_put(self, key, data)

    with mock.patch.object(FolderStore, "put", full_store):
        second = submit(client, form, lang="en")
    assert second.status_code == 200
    assert "We could not save your files just now" in second.text
    assert "Kept: farola.png" in second.text
    assert db.session.scalar(db.select(db.func.count(Case.id))) == 0

    third = submit(client, form, lang="en")  # space again: the same form goes through
    assert third.status_code == 302
    case = db.session.scalar(db.select(Case))
    assert [item.original_name for item in case.attachments] == ["farola.png"]


@pytest.mark.parametrize("kind", list(CaseKind))
def test_references_look_right_and_are_unique(app, db, kind):
    from portal.cases import references

    made = {references.new_reference(kind) for _ in range(2000)}
    assert len(made) == 2000
    assert all(references.looks_valid(reference) for reference in made)
    assert references.normalise(" c-7k3m 9xqo ") == "C-7K3M-9XQ0"


def test_case_creation_is_rate_limited_per_email(make_app, db):
    app = make_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    statuses = [submit(client, complaint_form(token=str(number))).status_code
                for number in range(11)]
    assert statuses == [302] * 10 + [429]
    # Another address from the same place can still write (up to the per-address limit).
    assert submit(client, complaint_form(token="x", contact_email="other@example.org")
                  ).status_code == 302


def test_track_is_rate_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    statuses = [client.post("/track", data={"reference": "C-0000-0000",
                                            "email": "a@example.org"}).status_code
                for _ in range(6)]
    assert statuses == [200] * 5 + [429]
