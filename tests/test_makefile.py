"""``make run``: mail links point where it serves, unless PORTAL_BASE_URL is set.

The Makefile runs for real against a stand-in virtualenv whose tools only record how they
were called, so nothing is installed or served.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("python", "pip", "pybabel", "flask", "gunicorn")

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def run_make(tmp_path: Path, *args: str, **environ: str) -> list[tuple[str, str, str]]:
    """``make run`` with stand-in tools: (tool, PORTAL_BASE_URL, arguments) per call."""
    venv, log = tmp_path / "venv", tmp_path / "calls.log"
    (venv / "bin").mkdir(parents=True)
    for tool in TOOLS:
        stub = venv / "bin" / tool
        stub.write_text('#!/bin/sh\nprintf "%s|%s|%s\\n" "${0##*/}" "$PORTAL_BASE_URL" "$*"'
                        f' >> "{log}"\n')
        stub.chmod(0o755)
    (venv / ".installed").touch()
    env = {key: value for key, value in os.environ.items()
           if key not in {"PORTAL_BASE_URL", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    subprocess.run(["make", "--no-print-directory", "-C", str(PROJECT_ROOT), "run",
                    f"VENV={venv}", *args], env={**env, **environ}, check=True,
                   stdout=subprocess.DEVNULL, timeout=60)
    return [tuple(line.split("|", 2)) for line in log.read_text().splitlines()]


def test_mail_links_point_at_the_port_make_run_serves(tmp_path):
    calls = run_make(tmp_path, "PORT=8123")
    gunicorn = [call for call in calls if call[0] == "gunicorn"]
    assert len(gunicorn) == 1
    assert "--bind 127.0.0.1:8123" in gunicorn[0][2]
    # The server and every command before it (the demo data sends mail) agree.
    flask = [call for call in calls if call[0] == "flask"]
    assert flask
    assert {base_url for _, base_url, _ in gunicorn + flask} == {"http://127.0.0.1:8123"}


def test_a_host_given_to_make_run_is_in_the_links(tmp_path):
    calls = run_make(tmp_path, "HOST=192.0.2.7", "PORT=8124")
    assert {base_url for tool, base_url, _ in calls if tool == "gunicorn"} == {
        "http://192.0.2.7:8124"}


def test_a_base_url_set_by_the_user_wins(tmp_path):
    calls = run_make(tmp_path, "PORT=8123", PORTAL_BASE_URL="https://ventanilla.example")
    assert {base_url for tool, base_url, _ in calls if tool in {"flask", "gunicorn"}} == {
        "https://ventanilla.example"}
