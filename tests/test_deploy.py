"""deploy/: the nginx site passes ``nginx -t`` and agrees with the app's settings; the
systemd units start commands that exist."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess

import pytest

from portal import PROJECT_ROOT
from portal.config import DEFAULTS

DEPLOY = PROJECT_ROOT / "deploy"
SITE = DEPLOY / "nginx" / "ventanilla.conf"


def test_the_nginx_upload_limit_is_the_apps():
    limit = re.search(r"client_max_body_size\s+(\d+)m;", SITE.read_text()).group(1)
    assert int(limit) * 1024 * 1024 == DEFAULTS["MAX_CONTENT_LENGTH"]


def test_nginx_passes_what_proxyfix_trusts():
    site = SITE.read_text()
    # The address nginx adds comes last: ProxyFix with one hop reads that one.
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in site
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in site


@pytest.mark.skipif(shutil.which("nginx") is None or shutil.which("openssl") is None,
                    reason="Debian's nginx and openssl are not installed")
def test_the_nginx_site_is_valid(tmp_path):
    certificate, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=ventanilla.council.example", "-keyout", str(key),
                    "-out", str(certificate)], check=True, capture_output=True)
    site = (SITE.read_text()
            .replace("/etc/letsencrypt/live/ventanilla.council.example/fullchain.pem",
                     str(certificate))
            .replace("/etc/letsencrypt/live/ventanilla.council.example/privkey.pem", str(key)))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/site.conf;\n}}\n")
    result = subprocess.run(["nginx", "-t", "-q", "-e", "stderr", "-p", str(tmp_path),
                             "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("unit", ["ventanilla-web@.service", "ventanilla-worker.service"])
def test_each_unit_starts_a_command_of_the_portal(unit):
    text = (DEPLOY / "systemd" / unit).read_text()
    command = shlex.split(re.search(r"^ExecStart=(.+)$", text, re.M).group(1))
    assert "EnvironmentFile=/etc/ventanilla/environment" in text
    program, arguments = command[0].rsplit("/", 1)[-1], command[1:]
    if program == "gunicorn":
        assert arguments[:2] == ["-c", "python:portal.gunicorn_conf"]
        assert arguments[-1] == "portal:create_app()"
    else:
        assert (program, arguments) == ("flask", ["--app", "portal", "portal", "worker"])
        from portal.cli import portal_cli

        assert "worker" in portal_cli.commands
