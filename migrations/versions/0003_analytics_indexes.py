"""analytics indexes (issue 6: the dashboard's main view under 2 s with 100,000 cases)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:20:00

Every index serves a query of analytics/metrics.py (see its EXPLAIN QUERY PLAN in the report):
* ix_retention_cases_scope: the cases in a date range with the filter, grouping and money columns, so
  the counts by day/status/reason/holdout, the saves with their revenue and offer cost, the handoff
  count and the joins to offers and cold cases are answered from the index alone (covering index;
  the table rows also hold long texts: verbatims, conversation ids, references);
* ix_case_offers_case_outcome: offer acceptance by offer and reason (covering the join from a case);
* ix_subscriptions_cancellations: "the customer's first cancellation after the save", one index
  seek per saved case (really saved vs deflected, months kept).
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_retention_cases_scope', 'retention_cases',
     ['opened_at', 'status', 'reason', 'holdout', 'channel', 'language', 'customer_id', 'closed_at',
      'accepted_offer_id', 'monthly_revenue_at_stake', 'offer_cost']),
    ('ix_case_offers_case_outcome', 'case_offers', ['case_id', 'offer_id', 'kind', 'variant', 'outcome', 'cost']),
    ('ix_subscriptions_cancellations', 'subscriptions', ['customer_id', 'status', 'cancel_requested_at']),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
