"""A built wheel, installed where the checkout is out of reach, serves all five languages.

The wheel is built from a copy of the sources without any compiled catalog, installed
into a fresh virtualenv (its dependencies from the configured package indexes), and run
from a folder outside the repository, as README.md's production section says: the
migrations and the compiled catalogs must come from inside the installed package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from markupsafe import escape

from portal import PACKAGE_DIR, PROJECT_ROOT, resolve_instance_path, source_folder
from portal.catalogs import compile_catalog
from portal.config import LANGUAGES
from portal.i18n import catalog_folder

# What a build reads: the package, the sources of its data and the metadata.
BUILD_INPUTS = ("portal", "translations", "migrations", "setup.cfg", "pyproject.toml",
                "MANIFEST.in", "README.md")
# The home page's heading.
MSGID = "How can we help you?"

# Fetches the home page in each language given, inside the installed package's venv.
PAGES_SCRIPT = """
import json, sys
import portal
app = portal.create_app()
client = app.test_client()
pages = {}
for lang in sys.argv[1:]:
    response = client.get("/?lang=" + lang)
    pages[lang] = [response.status_code, response.get_data(as_text=True)]
print(json.dumps({"portal": portal.__file__, "pages": pages}))
"""


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without its venv or any portal setting."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PORTAL_")
           and key not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "FLASK_APP"}}
    return {**env, **extra}


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}"
    return result


def expected_heading(lang: str) -> str:
    with (PROJECT_ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        message = read_po(po).get(MSGID)
    assert message is not None, f"{lang}: {MSGID!r} is not in the catalog"
    return message.string or MSGID


def source_copy(tmp: Path) -> Path:
    """The build's inputs, copied without bytecode or compiled catalogs."""
    source = tmp / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.py[cod]", "*.mo")
    for name in BUILD_INPUTS:
        path = PROJECT_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    return source


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A venv outside the repository with the wheel installed, and a migrated instance."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = source_copy(tmp)
    env = clean_environment()
    started = time.monotonic()
    # Verbose: the build backend's own output (setuptools' warnings) is kept.
    build = run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w",
                 str(tmp / "dist"), str(source)], env=env, cwd=tmp)
    wheel, = (tmp / "dist").glob("ventanilla-*.whl")
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", str(venv)], env=env, cwd=tmp)
    # Its dependencies come from the configured package indexes; bytecode is not needed.
    run([str(venv / "bin" / "pip"), "install", "--quiet", "--no-compile", str(wheel)],
        env=env, cwd=tmp)
    workdir = tmp / "elsewhere"
    workdir.mkdir()
    env = clean_environment(PORTAL_INSTANCE_PATH=str(tmp / "instance"))
    upgrade = run([str(venv / "bin" / "flask"), "--app", "portal", "db", "upgrade"],
                  env=env, cwd=workdir)
    print(f"wheel built and installed, database migrated in {time.monotonic() - started:.1f} s")
    yield {"venv": venv, "env": env, "workdir": workdir, "upgrade": upgrade.stdout,
           "build": build.stdout}
    shutil.rmtree(tmp, ignore_errors=True)  # a virtualenv is some 200 MB


@pytest.mark.slow
def test_the_build_says_nothing_a_newcomer_should_worry_about(installed):
    # make run's first screen once carried 15 of these, some 400 lines.
    build = installed["build"]
    assert "is absent from the `packages` configuration" not in build
    assert "SetuptoolsDeprecationWarning" not in build and "_DeprecatedConfig" not in build
    assert "Successfully built ventanilla" in build


@pytest.mark.slow
def test_the_migrations_run_from_the_installed_package(installed):
    assert "Running upgrade  -> 0001" in installed["upgrade"]


@pytest.mark.slow
def test_every_language_is_served_from_the_installed_package(installed):
    script = installed["workdir"] / "pages.py"
    script.write_text(PAGES_SCRIPT)
    result = run([str(installed["venv"] / "bin" / "python"), str(script), *LANGUAGES],
                 env=installed["env"], cwd=installed["workdir"])
    report = json.loads(result.stdout.splitlines()[-1])
    # The installed copy answered, not the checkout.
    assert Path(report["portal"]).is_relative_to(installed["venv"])
    for lang in LANGUAGES:
        status, html = report["pages"][lang]
        assert status == 200, lang
        assert f'<html lang="{lang}"' in html, lang
        assert f">{escape(expected_heading(lang))}<" in html, lang


@pytest.mark.slow
def test_a_relative_instance_path_is_kept_in_the_working_directory(installed):
    # Not next to the installed package, in site-packages.
    env = {**installed["env"], "PORTAL_INSTANCE_PATH": "data"}
    run([str(installed["venv"] / "bin" / "flask"), "--app", "portal", "db", "upgrade"],
        env=env, cwd=installed["workdir"])
    assert (installed["workdir"] / "data" / "portal.db").is_file()
    assert not list(installed["venv"].rglob("portal.db"))


@pytest.mark.slow
def test_an_editable_install_builds_from_a_fresh_checkout(tmp_path):
    # What make run and make test do first (pip install -e .): setuptools loads
    # portal/_build.py by its path, where the portal package cannot be imported.
    source = source_copy(tmp_path)
    env = clean_environment()
    run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], env=env)
    result = run([sys.executable, "-m", "pip", "--python", str(tmp_path / "venv"),
                  "install", "--quiet", "--no-deps", "-e", str(source)], env=env,
                 cwd=tmp_path)
    assert "error" not in result.stdout.lower()


def test_the_package_imports_without_its_dependencies():
    # setuptools builds it (portal/_build.py) in an environment without Flask.
    code = ("import sys, portal; "
            "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'flask', 'werkzeug', "
            "'flask_babel', 'sqlalchemy', 'babel'}); print(loaded); assert not loaded")
    run([sys.executable, "-c", code], env=clean_environment())


def test_the_build_takes_every_catalog_and_every_migration():
    from portal import _build

    catalogs = {str(target) for _, target in _build.catalog_sources()}
    assert catalogs == {f"translations/{lang}/LC_MESSAGES/messages.mo" for lang in LANGUAGES}
    migrations = {str(target) for _, target in _build.migration_sources()}
    versions = {f"migrations/versions/{path.name}"
                for path in (PROJECT_ROOT / "migrations" / "versions").glob("*.py")}
    assert {"migrations/alembic.ini", "migrations/env.py", "migrations/script.py.mako",
            *versions} <= migrations
    assert not [path for path in migrations if "__pycache__" in path or path.endswith(".pyc")]


def test_the_build_refuses_a_broken_catalog(tmp_path):
    po = tmp_path / "es" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
                  '#, python-format\nmsgid "%(count)s cases"\nmsgstr "%(total)s casos"\n',
                  encoding="utf-8")
    with pytest.raises(SystemExit, match="messages.po"):
        compile_catalog(po, tmp_path / "messages.mo")
    assert not (tmp_path / "messages.mo").exists()


def test_a_checkout_reads_the_top_level_sources():
    # An editable install: make compiles the catalogs in translations/ at the top.
    assert not (PACKAGE_DIR / "translations").exists()
    assert source_folder("translations") == PROJECT_ROOT / "translations"
    assert source_folder("migrations") == PROJECT_ROOT / "migrations"
    assert source_folder("translations").is_absolute()


def test_a_checkout_keeps_a_relative_instance_path_at_its_top(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a flask command started from another folder
    assert resolve_instance_path("instance") == PROJECT_ROOT / "instance"
    assert resolve_instance_path(str(tmp_path / "x")) == tmp_path / "x"


def test_a_checkout_nobody_compiled_still_speaks_five_languages(tmp_path):
    # An editable install without make: the .po files only. They are compiled into the
    # instance folder at start-up, and the checkout is left as it was.
    from babel.support import Translations

    source = tmp_path / "translations"
    for lang in LANGUAGES:
        po = PROJECT_ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po"
        (source / lang / "LC_MESSAGES").mkdir(parents=True)
        shutil.copy2(po, source / lang / "LC_MESSAGES" / "messages.po")
    folder = catalog_folder(source, tmp_path / "instance")
    assert folder == tmp_path / "instance" / "translations"
    assert not list(source.rglob("*.mo"))
    for lang in LANGUAGES:
        translations = Translations.load(str(folder), [lang])
        assert translations.gettext(MSGID) == expected_heading(lang), lang
    compiled = folder / "eu" / "LC_MESSAGES" / "messages.mo"
    before = compiled.stat().st_mtime_ns
    assert catalog_folder(source, tmp_path / "instance") == folder
    assert compiled.stat().st_mtime_ns == before  # compiled once, not at every start
    # Once make has compiled them in the checkout, those are used.
    for lang in LANGUAGES:
        compile_catalog(source / lang / "LC_MESSAGES" / "messages.po",
                        source / lang / "LC_MESSAGES" / "messages.mo")
    assert catalog_folder(source, tmp_path / "other") == source
