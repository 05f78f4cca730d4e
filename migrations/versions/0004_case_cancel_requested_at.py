"""retention_cases.cancel_requested_at (issue 3: an anonymous "just cancel it" is processed once verified)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 05:15:00

A visitor who asks to cancel at once must first prove who they are; the column remembers the
request across the verification questions, so the cancellation follows the verification
instead of a question about the reason.
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('retention_cases') as batch:
        batch.add_column(sa.Column('cancel_requested_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('retention_cases') as batch:
        batch.drop_column('cancel_requested_at')
