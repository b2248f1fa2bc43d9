"""One Alembic history builds the schema on SQLite and PostgreSQL and matches the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from portal.extensions import db as _db
from portal.search.postgres_backend import include_object


def _differences():
    with _db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "include_object": include_object})
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


def test_answered_cases_get_their_working_days_when_upgrading(app):
    """0007 counts the working days of cases answered before it, as the portal would."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    _db.session.remove()
    downgrade(revision="0006")
    with _db.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO cases (reference, kind, subject, body, desired_outcome, status, "
            "priority, channel, contact_name, contact_email, contact_phone, "
            "contact_preference, language, link_version, location_text, publish_consent, "
            "publish_consent_version, resolution_summary, satisfaction_comment, created_at, "
            "updated_at, version, first_responded_at, resolved_at, next_due_at) VALUES "
            "('Q-MIGR-0001', 'question', 's', 'b', '', 'resolved', 'normal', 'web', 'n', "
            "'e@example.org', '', 'email', 'es', 1, '', false, '', '', '', :created, "
            ":created, 1, :answered, :resolved, NULL)"),
            {"created": datetime(2026, 3, 6, 9, tzinfo=UTC),  # a Friday
             "answered": datetime(2026, 3, 9, 9, tzinfo=UTC),  # the Monday after
             "resolved": datetime(2026, 3, 13, 9, tzinfo=UTC)})  # that Friday
    upgrade()
    row = _db.session.execute(text(
        "SELECT first_response_working_days, resolution_working_days, paused_working_days, "
        "reopen_count FROM cases WHERE reference = 'Q-MIGR-0001'")).one()
    assert tuple(row) == (1, 5, 0, 0)


def test_cases_from_before_the_rollup_are_counted_after_upgrading(app):
    """0008 marks every day that has cases, so that the first figures read count them."""
    from datetime import UTC, date, datetime

    from sqlalchemy import text

    from portal import clock
    from portal.stats import figures

    _db.session.remove()
    downgrade(revision="0007")
    with _db.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO cases (reference, kind, subject, body, desired_outcome, status, "
            "priority, channel, contact_name, contact_email, contact_phone, "
            "contact_preference, language, link_version, location_text, publish_consent, "
            "publish_consent_version, resolution_summary, satisfaction_comment, created_at, "
            "updated_at, version, first_response_due_at, resolution_due_at, "
            "first_responded_at, first_response_working_days, resolved_at, "
            "resolution_working_days, reopen_count, paused_working_days, next_due_at) "
            "VALUES ('Q-MIGR-0002', 'question', 's', 'b', '', 'resolved', 'normal', 'web', "
            "'n', 'e@example.org', '', 'email', 'es', 1, '', false, '', '', '', :created, "
            ":created, 1, :due, :due, :answered, 1, :answered, 1, 0, 0, NULL)"),
            {"created": datetime(2026, 3, 31, 22, 30, tzinfo=UTC),  # 1 April in Madrid
             "due": datetime(2026, 4, 10, 9, tzinfo=UTC),
             "answered": datetime(2026, 4, 2, 9, tzinfo=UTC)})
    upgrade()
    with clock.frozen_at(datetime(2026, 5, 1, 9, tzinfo=UTC)):
        april = figures.total(figures.service_figures(
            [figures.Period(date(2026, 4, 1), date(2026, 4, 30))])[0])
    assert (april.received, april.answered, april.answered_on_time) == (1, 1, 1)
    assert april.first_response_median == 1
