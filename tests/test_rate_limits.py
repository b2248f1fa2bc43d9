"""Rate limits mean what they say in every deployment shape.

With PORTAL_REDIS_URL, every worker process counts in Redis: served by two gunicorn
workers, sign-in lets exactly 10 POSTs a minute through and registration exactly 5.
Without Redis, counts live in one process's memory, so ``portal.gunicorn_conf`` refuses
to serve with more than one worker. If Redis stops answering, limits are still applied
(in memory) and nothing fails.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from portal import gunicorn_conf
from tests.conftest import IN_CI, TEST_PASSWORD
from tests.served import free_port, served_portal

PROJECT_ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
# A database of our own on the test machines' Redis, and a key prefix of our own in it.
REDIS_URL = "redis://127.0.0.1:6379/11"


@pytest.fixture
def redis_prefix():
    """A fresh key prefix in REDIS_URL; its keys are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError:
        if IN_CI:
            pytest.fail("CI must run the Redis tests: Redis on 127.0.0.1:6379")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    prefix = f"ventanilla-test-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"*{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


class Browser:
    """One visitor with its own cookies; each request on a new connection."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()))

    def csrf_token(self, path: str) -> str:
        with self.opener.open(f"{self.base_url}{path}", timeout=30) as response:
            html = response.read().decode()
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)

    def post(self, path: str, data: dict[str, str]) -> int:
        body = urllib.parse.urlencode(data).encode()
        try:
            with self.opener.open(f"{self.base_url}{path}", data=body, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


def sign_in_statuses(portal, count: int) -> list[int]:
    browser = Browser(portal.url)
    token = browser.csrf_token("/login")
    # A different unknown address each time, so only the network address limit applies.
    return [browser.post("/login", {"csrf_token": token, "password": "a wrong password",
                                    "email": f"visitor{number}@example.org"})
            for number in range(count)]


def registration_statuses(portal, count: int) -> list[int]:
    browser = Browser(portal.url)
    token = browser.csrf_token("/register")
    return [browser.post("/register", {
        "csrf_token": token, "display_name": "Ana Soler", "email": f"ana{number}@example.org",
        "password": TEST_PASSWORD, "password_confirm": TEST_PASSWORD, "locale": "es"})
        for number in range(count)]


def test_two_workers_sharing_redis_keep_the_declared_limits(
        app, database_url, tmp_path, redis_prefix):
    # ``app`` is there to empty PostgreSQL afterwards.
    with served_portal(tmp_path, database_url, workers=2, RATELIMIT_ENABLED=True,
                       REDIS_URL=REDIS_URL, RATELIMIT_KEY_PREFIX=redis_prefix) as portal:
        # Declared: sign-in 10 per minute, registration 5 per minute (per network address).
        assert sign_in_statuses(portal, 13) == [200] * 10 + [429] * 3
        assert registration_statuses(portal, 7) == [200] * 5 + [429] * 2


def test_limits_still_apply_and_nothing_fails_when_redis_stops_answering(
        app, database_url, tmp_path):
    nobody_listens = f"redis://127.0.0.1:{free_port()}/0"
    with served_portal(tmp_path, database_url, workers=1, RATELIMIT_ENABLED=True,
                       REDIS_URL=nobody_listens) as portal:
        # Without the in-memory fallback every one of these would be a 500.
        assert sign_in_statuses(portal, 11) == [200] * 10 + [429]


# ------------------------------------------------------------------ without Redis

def test_the_gunicorn_configuration_refuses_two_workers_without_redis():
    problem = gunicorn_conf.limits_problem(2, {})
    assert "PORTAL_REDIS_URL" in problem
    assert "one worker" in problem
    assert gunicorn_conf.limits_problem(1, {}) is None
    assert gunicorn_conf.limits_problem(4, {"PORTAL_REDIS_URL": REDIS_URL}) is None
    assert gunicorn_conf.limits_problem(4, {"PORTAL_RATELIMIT_ENABLED": "false"}) is None


class FakeArbiter:
    """What gunicorn's hook receives: its settings, its log and the worker count."""

    def __init__(self, env=None) -> None:
        self.cfg = type("Config", (), {"env": env or {}})()
        self.log = logging.getLogger("gunicorn.error")
        self._count = None

    @property
    def num_workers(self):
        return self._count

    @num_workers.setter
    def num_workers(self, value):
        old, self._count = self._count, value
        gunicorn_conf.nworkers_changed(self, value, old)


def test_the_start_up_hook_stops_gunicorn_and_a_later_change_is_undone(
        monkeypatch, caplog):
    monkeypatch.delenv("PORTAL_REDIS_URL", raising=False)
    with pytest.raises(RuntimeError, match="PORTAL_REDIS_URL"):
        FakeArbiter().num_workers = 2

    arbiter = FakeArbiter()
    arbiter.num_workers = 1
    arbiter.num_workers = 2  # SIGTTIN on a running master
    assert arbiter.num_workers == 1
    assert "PORTAL_REDIS_URL" in caplog.text

    # A Redis URL given with gunicorn's --env counts too.
    with_env = FakeArbiter(env={"PORTAL_REDIS_URL": REDIS_URL})
    with_env.num_workers = 3
    assert with_env.num_workers == 3


def _gunicorn(tmp_path, *arguments: str) -> subprocess.Popen:
    environ = {name: value for name, value in os.environ.items()
               if not name.startswith("PORTAL_")}
    environ.update(PORTAL_INSTANCE_PATH=str(tmp_path / "instance"),
                   PORTAL_SECRET_KEY="test-secret-key-not-for-production")
    return subprocess.Popen(
        [str(GUNICORN), "-c", "python:portal.gunicorn_conf", *arguments, "wsgi:app"],
        cwd=PROJECT_ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True, text=True)


def test_gunicorn_with_two_workers_and_no_redis_exits_with_the_reason(tmp_path):
    process = _gunicorn(tmp_path, "--bind", f"127.0.0.1:{free_port()}", "--workers", "2")
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "will not start 2 worker processes without PORTAL_REDIS_URL" in output
    assert "Booting worker" not in output


def test_gunicorn_serves_with_the_configuration_and_one_worker(tmp_path):
    port = free_port()
    process = _gunicorn(tmp_path, "--bind", f"127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as page:
                    assert page.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer in 30 s"
                time.sleep(0.2)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    assert output.count("Booting worker") == 1
