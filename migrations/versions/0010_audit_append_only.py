"""The audit log is append-only: a trigger refuses UPDATE and DELETE of its rows

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 19:30:00

Only ``portal.audit.purge`` (the retention command) lifts it, inside the transaction
that deletes the entries past the retention period, and puts it back before it
commits. The SQL is repeated there on purpose: a migration is a frozen snapshot.
On SQLite, a later migration that rebuilds the table in batch mode drops the
triggers with the old table and must create them again.
"""
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

POSTGRESQL = [
    """CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger
       LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
           USING ERRCODE = 'insufficient_privilege';
       END $$""",
    """CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
       FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""",
]
SQLITE = [
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END""",
]


def upgrade():
    for statement in POSTGRESQL if op.get_bind().dialect.name == "postgresql" else SQLITE:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
