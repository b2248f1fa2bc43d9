"""Attachments wait for the virus scanner before they are served

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 11:40:00

Files stored before this version count as clean (they were served already).
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scan_status', sa.Enum(
            'clean', 'pending', 'infected', name='scanstatus', native_enum=False, length=32),
            nullable=False, server_default='clean'))
        batch_op.create_index('ix_attachments_scan_status', ['scan_status'], unique=False)


def downgrade():
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_index('ix_attachments_scan_status')
        batch_op.drop_column('scan_status')
