"""SQLAlchemy models of the retention assistant (schema managed by Alembic in ``migrations/``).

One module per area (``base``, ``customers``, ``conversations``, ``access``, ``key_events``);
importing this package maps every table, so ``Base.metadata`` (Alembic, ``create_all``) sees them all.
"""

from bot.storage.models.access import DashboardUser, VerificationAttempt, VerificationCode
from bot.storage.models.base import Base, utcnow
from bot.storage.models.conversations import (
    ActionPlan,
    ActionPlanCheckin,
    CaseOffer,
    ColdCase,
    HandoffTicket,
    ProcessedMessage,
    RetentionCase,
)
from bot.storage.models.customers import Customer, Incident, Subscription, UsageMonth
from bot.storage.models.key_events import Alert, AlertAction, KeyEvent, PaymentLink, ProactiveContact

__all__ = [
    "Base",
    "utcnow",
    "Customer",
    "Subscription",
    "Incident",
    "UsageMonth",
    "RetentionCase",
    "CaseOffer",
    "ActionPlan",
    "ActionPlanCheckin",
    "HandoffTicket",
    "ColdCase",
    "ProcessedMessage",
    "DashboardUser",
    "VerificationAttempt",
    "VerificationCode",
    "KeyEvent",
    "Alert",
    "AlertAction",
    "PaymentLink",
    "ProactiveContact",
]
