"""proactive_contacts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 07:30:00

Customers the churn-risk model found at risk in a proactive run: contacted by SMS, skipped
(with the reason) or held out as the control group.
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'proactive_contacts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('customer_id', sa.Integer(), sa.ForeignKey('customers.id'), nullable=False),
        sa.Column('scored_on', sa.Date(), nullable=False),
        sa.Column('probability', sa.Numeric(6, 4), nullable=False),
        sa.Column('drivers', sa.JSON(), nullable=False),
        sa.Column('model_version', sa.String(40), nullable=False),
        sa.Column('reason', sa.String(30), nullable=False),
        sa.Column('holdout', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('skip_reason', sa.String(60), nullable=True),
        sa.Column('offer_id', sa.String(60), nullable=True),
        sa.Column('offer_kind', sa.String(20), nullable=True),
        sa.Column('offer_params', sa.JSON(), nullable=False),
        sa.Column('offer_cost', sa.Numeric(10, 2), nullable=True),
        sa.Column('message_sid', sa.String(200), nullable=True),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.Column('outcome_at', sa.DateTime(), nullable=True),
        sa.Column('reference', sa.String(32), nullable=True, unique=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_index('ix_proactive_contacts_scored_on', 'proactive_contacts', ['scored_on'])
    op.create_index('ix_proactive_contacts_status', 'proactive_contacts', ['status'])
    op.create_index('ix_proactive_contacts_customer_created', 'proactive_contacts', ['customer_id', 'created_at'])


def downgrade() -> None:
    op.drop_table('proactive_contacts')
