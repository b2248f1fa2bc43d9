"""Attachments scanned by a real ClamAV daemon (Debian's clamav-daemon), started here with
a local test signature for the EICAR file (no signature download is possible): a clean
file is released, the EICAR file is held in quarantine and never served, and files wait
while the daemon cannot be reached."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.accounts import service as accounts
from portal.cases import service as cases
from portal.extensions import db as _db
from portal.models import Attachment, AuditEvent, CaseKind, Role, ScanStatus
from tests.cases.helpers import CATALOG, NO_PAGES, pdf_document

CLAMD = "/usr/sbin/clamd"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
# The EICAR test string inside an otherwise well-formed PDF, which the portal's own
# checks accept: only the scanner can tell.
INFECTED_PDF = pdf_document(CATALOG, NO_PAGES,
                            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(EICAR), EICAR))
CLEAN_PDF = pdf_document(CATALOG, NO_PAGES, b"<< /Length 5 >>\nstream\nhello\nendstream")


@pytest.fixture(scope="session")
def clamd_socket(tmp_path_factory):
    if not Path(CLAMD).exists():
        if os.environ.get("CI"):
            pytest.fail("CI must run the virus-scanning tests: apt-get install clamav-daemon")
        pytest.skip("ClamAV is not installed (apt-get install clamav-daemon)")
    folder = tmp_path_factory.mktemp("clamd")
    (folder / "db").mkdir()
    # A signature of our own for the EICAR string, anywhere in a file (the official one
    # wants it at the start; ours must also find it inside a PDF).
    (folder / "db" / "portal-test.ndb").write_text(f"Portal.Test.EICAR:0:*:{EICAR.hex()}\n")
    socket_path = folder / "clamd.sock"
    (folder / "clamd.conf").write_text(
        f"LocalSocket {socket_path}\nDatabaseDirectory {folder / 'db'}\nForeground yes\n"
        f"LogFile {folder / 'clamd.log'}\n")
    process = subprocess.Popen([CLAMD, "-c", str(folder / "clamd.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not socket_path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            log = (folder / "clamd.log").read_text(errors="replace") \
                if (folder / "clamd.log").exists() else ""
            process.kill()
            raise RuntimeError(f"clamd did not start:\n{log}")
        time.sleep(0.2)
    yield str(socket_path)
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(folder, ignore_errors=True)


def _agent_client(app, make_user, department):
    agent = make_user(Role.AGENT, departments=[department], locale="en")
    client = app.test_client()
    token = accounts.start_session(agent)
    _db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = token
    return client


def _case_with(department, name: str, data: bytes):
    case, _new = cases.submit_case(cases.Submission(
        kind=CaseKind.COMPLAINT, subject="Documento adjunto", body="Adjunto el documento.",
        contact_name="Ana", contact_email="ana@example.org", language="es",
        department_id=department.id, files=[(name, data)]))
    _db.session.commit()  # the scan runs after the commit
    return case, case.attachments[0]


def test_a_clean_file_is_released_and_the_eicar_file_held(make_app, make_user, make_department,
                                                          clamd_socket):
    app = make_app(CLAMD_SOCKET=clamd_socket)
    with app.app_context():
        department = make_department()
        client = _agent_client(app, make_user, department)
        clean_case, clean = _case_with(department, "informe.pdf", CLEAN_PDF)
        bad_case, bad = _case_with(department, "factura.pdf", INFECTED_PDF)
        _db.session.expire_all()
        assert _db.session.get(Attachment, clean.id).scan_status is ScanStatus.CLEAN
        assert _db.session.get(Attachment, bad.id).scan_status is ScanStatus.INFECTED

        served = client.get(f"/staff/cases/{clean_case.reference}/files/{clean.id}")
        assert served.status_code == 200 and served.data == CLEAN_PDF
        served.close()
        assert client.get(f"/staff/cases/{bad_case.reference}/files/{bad.id}").status_code \
            == 404
        page = client.get(f"/staff/cases/{bad_case.reference}").text
        assert "Withheld: a virus was found in it" in page
        assert f"/files/{bad.id}" not in page
        uploads = Path(app.config["UPLOAD_PATH"])
        assert not (uploads / bad.content_hash[:2] / bad.content_hash).exists()
        assert (uploads / "quarantine" / bad.content_hash).exists()
        entry = _db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "attachment.infected"))
        assert entry.data["found"].startswith("Portal.Test.EICAR")
        assert app.test_client().get("/healthz").get_json()["scanner"]["status"] == "ok"


def test_files_wait_while_the_scanner_is_unreachable(make_app, make_user, make_department,
                                                     clamd_socket, tmp_path):
    app = make_app(CLAMD_SOCKET=str(tmp_path / "no-clamd-here.sock"))
    with app.app_context():
        department = make_department()
        client = _agent_client(app, make_user, department)
        case, waiting = _case_with(department, "informe.pdf", CLEAN_PDF)
        _db.session.expire_all()
        assert _db.session.get(Attachment, waiting.id).scan_status is ScanStatus.PENDING
        url = f"/staff/cases/{case.reference}/files/{waiting.id}"
        assert client.get(url).status_code == 404
        assert "Being checked for viruses" in client.get(f"/staff/cases/{case.reference}").text
        health = app.test_client().get("/healthz").get_json()
        assert health["status"] == "degraded" and health["scanner"]["status"] == "unavailable"
        result = app.test_cli_runner().invoke(args=["portal", "scan"])
        assert result.exit_code == 1 and "1 still waiting" in result.output

        app.config["PORTAL"]["CLAMD_SOCKET"] = clamd_socket  # the daemon is back
        result = app.test_cli_runner().invoke(args=["portal", "scan"])
        assert result.exit_code == 0 and "1 clean" in result.output
        served = client.get(url)
        assert served.status_code == 200
        served.close()


def test_without_a_scanner_files_are_served_at_once(app, db, make_user, make_department):
    department = make_department()
    client = _agent_client(app, make_user, department)
    case, attachment = _case_with(department, "informe.pdf", CLEAN_PDF)
    assert attachment.scan_status is ScanStatus.CLEAN
    served = client.get(f"/staff/cases/{case.reference}/files/{attachment.id}")
    assert served.status_code == 200
    served.close()
    assert app.test_client().get("/healthz").get_json()["scanner"] == {"status": "off"}
