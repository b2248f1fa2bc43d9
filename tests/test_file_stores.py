"""The file store interface (portal/file_stores.py): the contract every store passes, and
the portal working on a store that is not a folder, so no code reaches around it.

A later S3-compatible store joins ``STORES`` and must pass the same contract.
"""

from __future__ import annotations

import errno
import io
import os
import re
import time
import zipfile
from pathlib import Path

import pytest

from portal import file_stores, storage
from portal.accounts import export
from portal.file_stores import FolderStore, check_key
from portal.models import Case
from portal.privacy import service as privacy
from tests.cases.helpers import PDF, case_link, complaint_form, png
from tests.cases.test_intake import submit

KEPT = re.compile(r'name="kept" value="([^"]+)"')


class MemoryStore:
    """Bytes in a dict: the smallest store that keeps the contract, and one that
    touches no disk, as an object store would not."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, float]] = {}

    def put(self, key: str, data: bytes) -> None:
        self.objects[check_key(key)] = (bytes(data), time.time())

    def get(self, key: str) -> bytes:
        try:
            return self.objects[check_key(key)][0]
        except KeyError:
            raise FileNotFoundError(errno.ENOENT, "no such key", key) from None

    def exists(self, key: str) -> bool:
        return check_key(key) in self.objects

    def delete(self, key: str) -> None:
        self.objects.pop(check_key(key), None)

    def keys_older_than(self, prefix: str, cutoff: float):
        return [key for key, (_data, written) in list(self.objects.items())
                if key.startswith(prefix) and written < cutoff]

    def describe(self) -> str:
        return "memory"

    def age(self, key: str, seconds: float) -> None:
        data, written = self.objects[key]
        self.objects[key] = (data, written - seconds)


STORES = ["folder", "memory"]


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    if request.param == "folder":
        folder = FolderStore(tmp_path / "files")
        folder.age = lambda key, seconds: os.utime(
            folder.root / key, (time.time() - seconds, time.time() - seconds))
        return folder
    return MemoryStore()


# ---------------------------------------------------------------- the contract

def test_what_is_put_is_got_back_and_a_second_put_replaces_it(store):
    store.put("ab/abc", b"first")
    assert store.exists("ab/abc") and store.get("ab/abc") == b"first"
    store.put("ab/abc", b"second, longer")
    assert store.get("ab/abc") == b"second, longer"
    store.put("empty", b"")
    assert store.get("empty") == b""


def test_a_missing_key_is_not_found_and_deleting_it_is_harmless(store):
    assert not store.exists("kept/nothing.bin")
    with pytest.raises(FileNotFoundError):
        store.get("kept/nothing.bin")
    store.delete("kept/nothing.bin")
    store.put("kept/something.bin", b"x")
    store.delete("kept/something.bin")
    assert not store.exists("kept/something.bin")
    with pytest.raises(FileNotFoundError):
        store.get("kept/something.bin")


def test_old_keys_are_listed_by_prefix(store):
    store.put("kept/old.bin", b"1")
    store.put("kept/new.bin", b"2")
    store.put("ab/old-but-not-kept", b"3")
    store.age("kept/old.bin", 7200)
    store.age("ab/old-but-not-kept", 7200)
    assert sorted(store.keys_older_than("kept/", time.time() - 3600)) == ["kept/old.bin"]
    assert sorted(store.keys_older_than("kept/", time.time() + 60)) == [
        "kept/new.bin", "kept/old.bin"]
    assert list(store.keys_older_than("nothing/", time.time())) == []


@pytest.mark.parametrize("key", ["../secret", "/etc/passwd", "ab/../../x", "", "a//b",
                                 ".hidden", "ab/.upload-tmp", "a\\b", "a b"])
def test_keys_that_could_leave_the_store_are_refused(store, key):
    for operation in (lambda: store.put(key, b"x"), lambda: store.get(key),
                      lambda: store.exists(key), lambda: store.delete(key)):
        with pytest.raises(ValueError):
            operation()


def test_store_describes_itself_without_file_names(store):
    store.put("ab/" + "a" * 64, b"x")
    assert "a" * 64 not in store.describe()


# ---------------------------------------------------------------- the folder store

def test_a_failed_write_leaves_neither_the_file_nor_a_temporary_one(tmp_path, monkeypatch):
    folder = FolderStore(tmp_path / "files")
    folder.put("ab/abc", b"old")

    def disk_full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError) as failure:
        folder.put("ab/abc", b"new")
    assert failure.value.errno == errno.ENOSPC
    assert folder.get("ab/abc") == b"old"  # the old bytes, whole
    assert sorted(path.name for path in (tmp_path / "files").rglob("*")) == ["ab", "abc"]


def test_the_upload_path_setting_moves_the_files(make_app, tmp_path):
    shared = tmp_path / "shared-volume"
    app = make_app(UPLOAD_PATH=str(shared))
    with app.app_context():
        assert app.config["UPLOAD_PATH"] == str(shared)
        assert file_stores.file_store().describe() == str(shared)
        response = submit(app.test_client(), complaint_form(),
                          attachments=[(png(), "foto.png")])
        assert response.status_code == 302
        assert len([path for path in shared.rglob("*") if path.is_file()]) == 1
        assert not list((tmp_path / "instance" / "uploads").rglob("*"))


# ---------------------------------------------------------------- the portal on another store

@pytest.fixture
def memory_app(app):
    memory = MemoryStore()
    app.extensions["portal.file_store"] = memory
    yield app, memory
    # Nothing was written around the interface.
    assert [path for path in Path(app.config["UPLOAD_PATH"]).rglob("*")
            if path.is_file()] == []


def test_intake_download_export_and_erasure_go_through_the_store(memory_app, db, outbox):
    app, memory = memory_app
    client = app.test_client()
    # A form sent back with an error holds its files in the store…
    first = submit(client, complaint_form(contact_email="maria@@example"), lang="en",
                   attachments=[(png(), "foto.png"), (PDF, "informe.pdf")])
    assert first.status_code == 200 and "Kept: foto.png" in first.text
    tokens = KEPT.findall(first.text)
    assert sorted(key for key in memory.objects if key.startswith("kept/")) == sorted(
        f"kept/{token}{suffix}" for token in tokens for suffix in (".bin", ".json"))
    # …and the resend attaches them without choosing them again.
    sent = client.post("/cases/new?kind=complaint&lang=en",
                       data={**complaint_form(), "kept": tokens},
                       content_type="multipart/form-data")
    assert sent.status_code == 302
    case = db.session.scalar(db.select(Case))
    assert len(case.attachments) == 2
    assert not [key for key in memory.objects if key.startswith("kept/")]
    pdf = next(item for item in case.attachments if item.content_type == "application/pdf")
    assert memory.get(storage.key_for(pdf.content_hash)) == PDF

    # The citizen downloads the file from the store, with its length and an ETag.
    browser = app.test_client()
    page = browser.get(browser.get(case_link(outbox()[0])).headers["Location"])
    assert page.status_code == 200
    download = browser.get(f"/cases/{case.reference}/files/{pdf.id}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Length"] == str(len(PDF))
    assert download.headers["ETag"].strip('"') == pdf.content_hash
    again = browser.get(f"/cases/{case.reference}/files/{pdf.id}",
                        headers={"If-None-Match": download.headers["ETag"]})
    assert again.status_code == 304

    # The copy of their data carries the files, read from the store.
    archive = zipfile.ZipFile(io.BytesIO(export.build_zip(None, case.contact_email)))
    assert any(name.endswith("informe.pdf") and archive.read(name) == PDF
               for name in archive.namelist())

    # Erasure deletes them from the store; a download then finds nothing.
    privacy.erase(case.contact_email)
    db.session.commit()
    assert memory.objects == {}
    assert browser.get(f"/cases/{case.reference}/files/{pdf.id}").status_code == 404


def test_a_rolled_back_submission_leaves_nothing_in_the_store(memory_app, db, monkeypatch):
    app, memory = memory_app
    from portal.cases import service

    real_submit = service.submit_case

    def submit_then_crash(*args, **kwargs):
        real_submit(*args, **kwargs)
        assert memory.objects, "the files were written before the commit"
        raise RuntimeError("power cut before commit")

    monkeypatch.setattr(service, "submit_case", submit_then_crash)
    response = submit(app.test_client(), complaint_form(), lang="en",
                      attachments=[(png(), "a.png"), (PDF, "b.pdf")])
    assert response.status_code == 500
    assert memory.objects == {}
    assert db.session.scalar(db.select(db.func.count(Case.id))) == 0


def test_a_store_that_cannot_be_written_gets_the_citizen_a_message_not_a_500(
        memory_app, db, monkeypatch, caplog):
    app, memory = memory_app

    def refuse(_key, _data):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(memory, "put", refuse)
    response = submit(app.test_client(), complaint_form(), lang="en",
                      attachments=[(png(), "a.png")])
    assert response.status_code == 200
    assert "We could not save your files just now" in response.text
    assert any("cannot write uploads to memory (EROFS)" in record.getMessage()
               for record in caplog.records)
    assert db.session.scalar(db.select(db.func.count(Case.id))) == 0
