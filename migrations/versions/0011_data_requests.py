"""Requests about a person's own data: copies and erasures, with their legal deadline;
when a case's personal data was erased

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 10:50:00
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'data_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('access', 'erasure', name='datarequestkind',
                                  native_enum=False, length=32), nullable=False),
        sa.Column('channel', sa.Enum('account', 'link', 'counter', name='datarequestchannel',
                                     native_enum=False, length=32), nullable=False),
        sa.Column('subject_email', sa.String(length=254), nullable=False),
        sa.Column('subject_pseudonym', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('identity_checked', sa.String(length=200), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('completed_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['completed_by_id'], ['users.id'],
                                name=op.f('fk_data_requests_completed_by_id_users')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'],
                                name=op.f('fk_data_requests_recorded_by_id_users')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_data_requests_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_data_requests')),
    )
    op.create_index('ix_data_requests_open', 'data_requests', ['completed_at', 'due_at'])
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anonymised_at', sa.DateTime(timezone=True),
                                      nullable=True))


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('anonymised_at')
    op.drop_index('ix_data_requests_open', table_name='data_requests')
    op.drop_table('data_requests')
