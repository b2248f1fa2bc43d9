"""cases.next_due_at (the deadline due next) and one index per staff queue

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:50:00

Queues sort by the deadline due next (the first response while unanswered, then the
resolution). As ``coalesce(...)`` no index could serve that order; the stored column
can. It is NULL once a case is done and never NULL while it is open (9999-01-01 when
there is no deadline at all), as ``portal.models.case._keep_next_due_at`` keeps it.
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

NO_DEADLINE = datetime(9999, 1, 1, tzinfo=UTC)
OPEN_STATUSES = ('new', 'open', 'waiting_on_citizen')


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_due_at', sa.DateTime(timezone=True), nullable=True))

    cases = sa.table('cases', sa.column('status', sa.String),
                     sa.column('first_response_due_at', sa.DateTime(timezone=True)),
                     sa.column('first_responded_at', sa.DateTime(timezone=True)),
                     sa.column('resolution_due_at', sa.DateTime(timezone=True)),
                     sa.column('next_due_at', sa.DateTime(timezone=True)))
    first_response = sa.case((cases.c.first_responded_at.is_(None),
                              cases.c.first_response_due_at))
    op.execute(cases.update().values(next_due_at=sa.case(
        (cases.c.status.in_(OPEN_STATUSES),
         sa.func.coalesce(first_response, cases.c.resolution_due_at,
                          sa.literal(NO_DEADLINE, sa.DateTime(timezone=True)))),
        else_=sa.null())))

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_department_status_due')
        batch_op.drop_index('ix_cases_assignee_status_due')
        batch_op.create_index('ix_cases_assignee_due',
                              ['assignee_id', 'next_due_at', 'id', 'status', 'department_id'],
                              unique=False)
        batch_op.create_index('ix_cases_department_due',
                              ['department_id', 'next_due_at', 'id', 'status', 'assignee_id'],
                              unique=False)
        batch_op.create_index('ix_cases_status_due',
                              ['status', 'next_due_at', 'id', 'department_id'],
                              unique=False)
        batch_op.create_index('ix_cases_due',
                              ['next_due_at', 'id', 'status', 'department_id'],
                              unique=False)
        batch_op.create_check_constraint(
            op.f('ck_cases_next_due_at_while_open'),
            "(next_due_at IS NULL) = (status IN ('resolved', 'closed'))")
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql' and bind.dialect.server_version_info >= (14,):
        # The queues filter visibility on coalesce(department_id, 0) (staff/service.py
        # _visible_condition). Without statistics on that expression PostgreSQL guesses
        # that it keeps far fewer rows than it does, and then prefers reading a whole
        # queue and sorting it to reading the queue's index in order. ANALYZE (autovacuum) fills these in;
        # expression statistics need PostgreSQL 14.
        op.execute('CREATE STATISTICS IF NOT EXISTS cases_visible_department '
                   'ON (coalesce(department_id, 0)) FROM cases')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP STATISTICS IF EXISTS cases_visible_department')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_cases_next_due_at_while_open'), type_='check')
        batch_op.drop_index('ix_cases_due')
        batch_op.drop_index('ix_cases_status_due')
        batch_op.drop_index('ix_cases_department_due')
        batch_op.drop_index('ix_cases_assignee_due')
        batch_op.create_index('ix_cases_assignee_status_due',
                              ['assignee_id', 'status', 'resolution_due_at'],
                              unique=False)
        batch_op.create_index('ix_cases_department_status_due',
                              ['department_id', 'status', 'resolution_due_at'],
                              unique=False)
        batch_op.drop_column('next_due_at')
