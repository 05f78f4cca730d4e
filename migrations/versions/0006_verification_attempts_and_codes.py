"""verification_attempts and verification_codes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:15:00

Identity-check answers are kept across conversations (limits per customer number and per
source), and anonymous visitors get a one-time code by SMS whose hash is kept here.
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'verification_attempts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('customer_ref', sa.String(16), nullable=True),
        sa.Column('source', sa.String(128), nullable=False),
        sa.Column('conversation_id', sa.String(200), nullable=True),
        sa.Column('succeeded', sa.Boolean(), nullable=False),
    )
    op.create_index('ix_verification_attempts_ref_at', 'verification_attempts',
                    ['customer_ref', 'created_at'])
    op.create_index('ix_verification_attempts_source_at', 'verification_attempts',
                    ['source', 'created_at'])
    op.create_table(
        'verification_codes',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('customer_id', sa.Integer(), sa.ForeignKey('customers.id'), nullable=False),
        sa.Column('conversation_id', sa.String(200), nullable=False),
        sa.Column('code_hash', sa.String(64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
    )
    op.create_index('ix_verification_codes_customer_id', 'verification_codes', ['customer_id'])
    op.create_index('ix_verification_codes_conversation_id', 'verification_codes',
                    ['conversation_id'])


def downgrade() -> None:
    op.drop_table('verification_codes')
    op.drop_table('verification_attempts')
