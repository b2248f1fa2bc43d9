"""A throwaway PostgreSQL database for one benchmark run, dropped however the run ends."""

from __future__ import annotations

import argparse
import contextlib
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """The URL of a new, empty database on the server at ``server_url``."""
    admin_url = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"ventanilla_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def add_database_options(parser: argparse.ArgumentParser) -> None:
    """``--postgres`` (the server for the PostgreSQL run) and ``--no-sqlite``."""
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="server for the PostgreSQL run ('' to skip)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
