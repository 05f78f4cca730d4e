"""retention_cases.cancel_undone_at and later_reasons

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 20:30:00

A cancellation can be undone before its effective date (the confirmation promises it): the
case keeps when that happened. A case keeps the first churn reason the customer stated; reasons
stated later in the same conversation are listed beside it instead of overwriting it.
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('retention_cases') as batch:
        batch.add_column(sa.Column('cancel_undone_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('later_reasons', sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('retention_cases') as batch:
        batch.drop_column('later_reasons')
        batch.drop_column('cancel_undone_at')
