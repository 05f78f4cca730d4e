"""key_events, alerts, alert_actions and payment_links

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 07:00:00

Proactive retention (seed 004): key events taken in, one alert per affected customer, each
alert's actions run once with their outcome, and the single-use links of failed payments.
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'key_events',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('external_id', sa.String(100), nullable=False, unique=True),
        sa.Column('type', sa.String(40), nullable=False),
        sa.Column('customer_id', sa.Integer(), sa.ForeignKey('customers.id'), nullable=True),
        sa.Column('postcodes', sa.JSON(), nullable=True),
        sa.Column('amount', sa.Numeric(10, 2), nullable=True),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('ended_at', sa.DateTime(), nullable=True),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('source', sa.String(20), nullable=False),
        sa.Column('reach', sa.Integer(), nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=False),
    )
    op.create_index('ix_key_events_type', 'key_events', ['type'])
    op.create_index('ix_key_events_customer_id', 'key_events', ['customer_id'])
    op.create_index('ix_key_events_received_at', 'key_events', ['received_at'])
    op.create_table(
        'alerts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('event_id', sa.Integer(), sa.ForeignKey('key_events.id'), nullable=False),
        sa.Column('customer_id', sa.Integer(), sa.ForeignKey('customers.id'), nullable=False),
        sa.Column('type', sa.String(40), nullable=False),
        sa.Column('priority', sa.String(10), nullable=False),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('owner', sa.String(80), nullable=True),
        sa.Column('due_at', sa.DateTime(), nullable=True),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('noticed_at', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('closed_at', sa.DateTime(), nullable=True),
        sa.UniqueConstraint('event_id', 'customer_id'),
    )
    op.create_index('ix_alerts_event_id', 'alerts', ['event_id'])
    op.create_index('ix_alerts_priority', 'alerts', ['priority'])
    op.create_index('ix_alerts_status', 'alerts', ['status'])
    op.create_index('ix_alerts_customer_created', 'alerts', ['customer_id', 'created_at'])
    op.create_table(
        'alert_actions',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('alert_id', sa.Integer(), sa.ForeignKey('alerts.id'), nullable=False),
        sa.Column('action', sa.String(20), nullable=False),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('amount', sa.Numeric(10, 2), nullable=True),
        sa.Column('detail', sa.String(200), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('done_at', sa.DateTime(), nullable=True),
        sa.UniqueConstraint('alert_id', 'action'),
    )
    op.create_index('ix_alert_actions_alert_id', 'alert_actions', ['alert_id'])
    op.create_index('ix_alert_actions_status', 'alert_actions', ['status'])
    op.create_table(
        'payment_links',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('customer_id', sa.Integer(), sa.ForeignKey('customers.id'), nullable=False),
        sa.Column('alert_id', sa.Integer(), sa.ForeignKey('alerts.id'), nullable=True),
        sa.Column('token_hash', sa.String(64), nullable=False, unique=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.Column('method', sa.String(20), nullable=True),
    )
    op.create_index('ix_payment_links_customer_id', 'payment_links', ['customer_id'])
    op.create_index('ix_payment_links_alert_id', 'payment_links', ['alert_id'])


def downgrade() -> None:
    op.drop_table('payment_links')
    op.drop_table('alert_actions')
    op.drop_table('alerts')
    op.drop_table('key_events')
