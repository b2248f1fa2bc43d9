"""Fixtures: ``app``, ``client``, ``db``, ``login_as(role)`` and factories.

Every test that uses ``app`` runs on SQLite and, when ``PORTAL_TEST_DATABASE_URL`` points
at a PostgreSQL server, on PostgreSQL too. The schema is built once per backend with the
real Alembic migrations (never ``create_all``); each test then gets a clean copy.
"""

from __future__ import annotations

import contextvars
import email
import email.policy
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask, has_app_context
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from portal import create_app
from portal.accounts import service as accounts
from portal.cases import references
from portal.extensions import db as _db
from portal.models import Case, CaseKind, Department, Role, User
from portal.search.postgres_backend import TABLES as SEARCH_TABLES

PG_ADMIN_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

TEST_PASSWORD = "correct horse battery staple"

BASE_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key-not-for-production",
    "WTF_CSRF_ENABLED": False,
    "RATELIMIT_ENABLED": False,
    # Cheap hashing keeps the suite fast; production keeps the strong defaults.
    "ARGON2_TIME_COST": 1,
    "ARGON2_MEMORY_COST": 1024,
    "BASE_URL": "http://localhost",
}


class IsolatedClient(FlaskClient):
    """A test client whose requests run in their own app context.

    The ``app`` fixture keeps an app context open for the test body; without isolation
    every request would share its ``g`` and database session, which hides bugs such as
    a signed-in user cached across a sign-out. After each request the test's own
    session is rolled back, so the test reads what the request committed.
    """

    def open(self, *args, **kwargs):
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if has_app_context():
            _db.session.rollback()
        return response


def _psycopg_url(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _migrate(config: dict) -> None:
    app = create_app(config)
    with app.app_context():
        upgrade()
        _db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite database, copied for each test."""
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.db"
    _migrate({**BASE_CONFIG, "INSTANCE_PATH": str(folder), "DATABASE_URL": f"sqlite:///{path}"})
    return path


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test run, dropped at the end."""
    if not PG_ADMIN_URL:
        if IN_CI:
            pytest.fail("CI must run the PostgreSQL tests: set PORTAL_TEST_DATABASE_URL")
        pytest.skip("PORTAL_TEST_DATABASE_URL is not set")
    admin_url = _psycopg_url(PG_ADMIN_URL)
    name = f"ventanilla_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    folder = tmp_path_factory.mktemp("pg-instance")
    try:
        _migrate({**BASE_CONFIG, "INSTANCE_PATH": str(folder), "DATABASE_URL": url})
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def redis_url() -> str:
    """The local Redis for the tests of jobs and shared caches (skipped without one, but
    required in CI). Each test uses keys of its own prefix and deletes them."""
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except (RedisError, OSError):
        if IN_CI:
            pytest.fail(f"CI must run the Redis tests: no Redis at {REDIS_URL}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "portal.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def make_app(database_url, tmp_path) -> Iterator[Callable[..., Flask]]:
    """Build an app on the test database with extra settings (e.g. CSRF on)."""
    apps: list[Flask] = []

    def build(**overrides) -> Flask:
        instance = tmp_path / "instance"
        app = create_app({**BASE_CONFIG, "INSTANCE_PATH": str(instance),
                          "DATABASE_URL": database_url, **overrides})
        app.test_client_class = IsolatedClient
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            _db.session.remove()
            if _db.engine.dialect.name == "postgresql":
                tables = ", ".join([f'"{table.name}"' for table in _db.metadata.sorted_tables]
                                   + list(SEARCH_TABLES))
                with _db.engine.begin() as connection:
                    connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            _db.engine.dispose()


@pytest.fixture
def app(make_app) -> Iterator[Flask]:
    app = make_app()
    with app.app_context():
        yield app


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def read_eml(path: Path) -> str:
    """An .eml file as its headers followed by its decoded text."""
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    headers = "".join(f"{name}: {value}\n" for name, value in message.items())
    return f"{headers}\n{message.get_content()}"


@pytest.fixture
def outbox(app) -> Callable[[], list[str]]:
    """The messages written to ``instance/outbox`` so far, oldest first."""
    def read() -> list[str]:
        folder = Path(app.config["OUTBOX_PATH"])
        return [read_eml(path) for path in sorted(folder.glob("*.eml"))]
    return read


@pytest.fixture
def make_department(db) -> Callable[..., Department]:
    counter = iter(range(1, 10_000))

    def make(slug: str | None = None, **fields) -> Department:
        number = next(counter)
        department = Department(
            slug=slug or f"department-{number}",
            names=fields.pop("names", {"es": f"Departamento {number}",
                                       "en": f"Department {number}"}),
            **fields,
        )
        db.session.add(department)
        db.session.commit()
        return department

    return make


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    counter = iter(range(1, 10_000))

    def make(role: Role = Role.CITIZEN, email: str | None = None,
             password: str = TEST_PASSWORD, departments=(), locale: str = "es",
             name: str | None = None) -> User:
        number = next(counter)
        user = accounts.create_user(
            email or f"{role.value}{number}@example.org", password,
            name or f"{role.value.title()} {number}", role, locale, list(departments))
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_case(db) -> Callable[..., Case]:
    """A case with sensible defaults; any column can be given."""
    def make(**fields) -> Case:
        kind = fields.pop("kind", CaseKind.QUESTION)
        case = Case(reference=fields.pop("reference", None) or references.new_reference(kind),
                    kind=kind, subject=fields.pop("subject", "Farola apagada"),
                    body=fields.pop("body", "La farola de mi calle no funciona."),
                    contact_name=fields.pop("contact_name", "María García"),
                    contact_email=fields.pop("contact_email", "maria@example.org"),
                    **fields)
        db.session.add(case)
        db.session.commit()
        return case

    return make


@pytest.fixture
def login_as(client, make_user, db) -> Callable[..., User]:
    """Sign the test client in as a new user with ``role`` (through a real session)."""
    def login(role: Role | str = Role.CITIZEN, **fields) -> User:
        user = make_user(Role(role), **fields)
        token = accounts.start_session(user)
        db.session.commit()
        with client.session_transaction() as session:
            session["_user_id"] = token
            session["_fresh"] = True
        return user

    return login


# ---------------------------------------------------------------- search failures

def pytest_configure(config):
    config.addinivalue_line("markers", "search_faults: the test damages the search index on "
                            "purpose, so failures of its fast path are expected")


class _SearchFailures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.setFormatter(logging.Formatter("%(message)s"))
        self.failures: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "search_failure", False):
            # Formatted now: a kept record would keep its traceback's frames alive.
            self.failures.append(self.format(record))


@pytest.fixture(autouse=True)
def fail_on_search_failures(request) -> Iterator[None]:
    """Fail a test during which the search fast path raised and the database answered
    instead: a bug there (say, a changed Whoosh internal) must not pass as a slower
    search. Tests that damage the index on purpose are marked ``search_faults``."""
    handler = _SearchFailures()
    logger = logging.getLogger("portal.search")
    logger.addHandler(handler)
    yield
    logger.removeHandler(handler)
    if handler.failures and request.node.get_closest_marker("search_faults") is None:
        pytest.fail("the search fast path failed and fell back to the database:\n"
                    + "\n".join(handler.failures), pytrace=False)
