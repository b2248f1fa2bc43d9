"""Whoosh is files on one host: a second host of the same deployment refuses to start."""

from __future__ import annotations

import socket
import uuid

import pytest

from portal import create_app
from tests.conftest import BASE_CONFIG


@pytest.fixture
def deployment(redis_url, tmp_path):
    queue = f"ventanilla-test-{uuid.uuid4().hex[:8]}"
    yield {**BASE_CONFIG, "REDIS_URL": redis_url, "JOBS_QUEUE": queue,
           "DATABASE_URL": f"sqlite:///{tmp_path}/portal.db"}
    from redis import Redis

    connection = Redis.from_url(redis_url)
    for key in connection.scan_iter(f"{queue}:*"):
        connection.delete(key)


def start(settings, tmp_path, host, monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: host)
    return create_app({**settings, "INSTANCE_PATH": str(tmp_path / host)})


def test_a_second_host_refuses_to_start_with_whoosh(deployment, tmp_path, monkeypatch):
    start(deployment, tmp_path, "web-1", monkeypatch)
    start(deployment, tmp_path, "web-1", monkeypatch)  # its other processes, a restart
    with pytest.raises(RuntimeError, match="PORTAL_SEARCH_BACKEND=postgresql") as refused:
        start(deployment, tmp_path, "web-2", monkeypatch)
    assert "written on web-1" in str(refused.value)
    # Another deployment on the same Redis has an index of its own.
    start({**deployment, "JOBS_QUEUE": deployment["JOBS_QUEUE"] + "-other"}, tmp_path,
          "web-2", monkeypatch)
