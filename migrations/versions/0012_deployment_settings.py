"""The deployment's name, contact details and public texts, edited by an administrator

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 09:30:00
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    # No row yet: until an administrator saves the page, the environment settings apply.
    op.create_table(
        'deployment_settings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('site_name', sa.String(length=120), nullable=False),
        sa.Column('organisation_name', sa.String(length=200), nullable=False),
        sa.Column('contact_email', sa.String(length=254), nullable=False),
        sa.Column('contact_phone', sa.String(length=40), nullable=False),
        sa.Column('contact_address', sa.String(length=300), nullable=False),
        sa.Column('dpo_email', sa.String(length=254), nullable=False),
        sa.Column('privacy_texts', sa.JSON(), nullable=False),
        sa.Column('accessibility_texts', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.CheckConstraint('id = 1', name=op.f('ck_deployment_settings_single_row')),
        sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'],
                                name=op.f('fk_deployment_settings_updated_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_deployment_settings')),
    )


def downgrade():
    op.drop_table('deployment_settings')
