"""One Alembic history builds the schema on SQLite and PostgreSQL and matches the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from portal.extensions import db as _db


def _differences():
    with _db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, _db.metadata)


def test_head_matches_the_models(app):
    assert _differences() == []


def test_downgrade_to_base_and_upgrade_again(app):
    _db.session.remove()
    downgrade(revision="base")
    tables = set(inspect(_db.engine).get_table_names()) - {"alembic_version"}
    assert tables == set()
    upgrade()
    assert set(inspect(_db.engine).get_table_names()) >= {"cases", "users", "ideas", "reports"}
    assert _differences() == []
