"""The portal served by gunicorn with several worker processes, for tests over real HTTP.

Some faults only show between processes: a rate limit counted in each worker's memory,
a grant kept in one worker, two deliverers picking the same email. ``served_portal``
starts ``gunicorn wsgi:app`` on a free loopback port with its own instance folder and
database, waits until ``/healthz`` answers, and stops it (by process group) at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import BASE_CONFIG, read_eml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


@dataclass
class ServedPortal:
    url: str
    instance: Path
    database_url: str
    log: Path

    def outbox(self) -> list[str]:
        """The .eml messages the file outbox wrote so far, oldest first."""
        return [read_eml(path) for path in sorted((self.instance / "outbox").glob("*.eml"))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _environment(instance: Path, database_url: str, url: str,
                 settings: Mapping[str, object]) -> dict[str, str]:
    environ = {name: value for name, value in os.environ.items()
               if not name.startswith("PORTAL_")}
    values = {key: value for key, value in BASE_CONFIG.items()
              if key not in {"TESTING", "WTF_CSRF_ENABLED", "RATELIMIT_ENABLED"}}
    values.update({"INSTANCE_PATH": str(instance), "DATABASE_URL": database_url,
                   "BASE_URL": url, "RATELIMIT_ENABLED": False})
    values.update(settings)
    for key, value in values.items():
        environ[f"PORTAL_{key}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return environ


@contextmanager
def served_portal(tmp_path: Path, database_url: str, workers: int = 2,
                  **settings: object) -> Iterator[ServedPortal]:
    """Serve the portal on ``database_url`` with ``workers`` processes and ``settings``."""
    instance = tmp_path / "served-instance"
    instance.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "gunicorn.log"
    command = [str(GUNICORN), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
               "--threads", "4", "--graceful-timeout", "5", "--chdir", str(PROJECT_ROOT),
               # One shared control socket in $HOME would couple parallel test servers.
               "--no-control-socket",
               "wsgi:app"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   env=_environment(instance, database_url, url, settings))
    try:
        _wait_until_up(url, process, log)
        yield ServedPortal(url=url, instance=instance, database_url=database_url, log=log)
    finally:
        _stop(process)


def _wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer in 30 s:\n{log.read_text(errors='replace')}")


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def sqlite_copy(template: Path, tmp_path: Path) -> str:
    """A fresh copy of the migrated SQLite template, as a database URL."""
    path = tmp_path / "served.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


class Response:
    def __init__(self, status: int, headers, body: bytes) -> None:
        self.status_code = status
        self.headers = headers
        self.content = body
        self.text = body.decode("utf-8", errors="replace")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # let the test see each 302 and its Location


class Browser:
    """A person at a browser over real HTTP: a cookie jar, forms with their CSRF token.

    ``cookie()``/``set_cookie()`` copy the session cookie, as someone who got hold of
    it would.
    """

    COOKIE = "ventanilla_session"

    def __init__(self, base_url: str) -> None:
        import http.cookiejar

        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirects())

    def request(self, method: str, path: str, data: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> Response:
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers=dict(headers or {}))
        try:
            with self._opener.open(request, timeout=30) as answer:
                return Response(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers, error.read())

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def csrf_token(self, path: str) -> str:
        """Open the page with the form and read its CSRF token, as a browser would."""
        import re

        page = self.get(path)
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
        if match is None:
            raise AssertionError(f"no CSRF token on {path} ({page.status_code})")
        return match.group(1)

    def post(self, path: str, fields: Mapping[str, str], form_page: str | None = None,
             files: list[tuple[str, str, bytes]] = ()) -> Response:
        """Send a form (multipart when ``files`` are given: (field, filename, bytes))."""
        import uuid
        from urllib.parse import urlencode

        fields = dict(fields)
        if form_page is not None:
            fields["csrf_token"] = self.csrf_token(form_page)
        if not files:
            return self.request("POST", path, urlencode(fields).encode(),
                                {"Content-Type": "application/x-www-form-urlencoded"})
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
                         f"\r\n\r\n{value}\r\n".encode())
        for name, filename, data in files:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                         f'filename="{filename}"\r\nContent-Type: application/octet-stream'
                         "\r\n\r\n".encode() + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.request("POST", path, body,
                            {"Content-Type": f"multipart/form-data; boundary={boundary}"})

    def cookie(self) -> str:
        return next(item.value for item in self.jar if item.name == self.COOKIE)

    def set_cookie(self, value: str) -> None:
        """Replace this browser's session cookie by a copied one."""
        import http.cookiejar

        self.jar.clear()
        self.jar.set_cookie(http.cookiejar.Cookie(
            0, self.COOKIE, value, None, False, "127.0.0.1", False, False, "/", True,
            False, None, True, None, None, {}))
