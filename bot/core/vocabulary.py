"""The names of states: where a retention conversation stands (its stage) and what status
each record has. One copy, shared by the Python code, the rules files and the database.

Each is a ``str`` enum: a member *is* its string (``CaseStatus.CANCELLED == "cancelled"``), so it
goes into SQL filters, JSON slots and templates as it is, and ``str()`` gives the value.
``tests/core/test_vocabulary.py`` checks the stages against ``domain.yml`` and ``data/rules/``,
and the statuses against what the database holds after the demo data is written.
"""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):
    """Python 3.11's ``enum.StrEnum`` (Rasa 3.6 runs on 3.10)."""

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(m.value for m in cls)


class Stage(StrEnum):
    """``retention_stage``: the question the assistant is waiting for an answer to."""

    ASK_REASON = "ask_reason"
    CLARIFY_REASON = "clarify_reason"
    VERIFY_REF = "verify_ref"
    VERIFY_POSTCODE = "verify_postcode"
    VERIFY_CODE = "verify_code"
    OFFER = "offer"
    CLARIFY_OFFER = "clarify_offer"
    CONFIRM_CANCEL = "confirm_cancel"
    CLARIFY_CANCEL = "clarify_cancel"
    PLAN_CHANGE = "plan_change"
    CLARIFY_PLAN_CHANGE = "clarify_plan_change"
    CHOOSE_PLAN = "choose_plan"
    CLARIFY_CHOOSE_PLAN = "clarify_choose_plan"
    PLAN_GOAL = "plan_goal"
    PLAN_OBSTACLE = "plan_obstacle"
    WINBACK = "winback"
    CLARIFY_WINBACK = "clarify_winback"
    COMPLAINT = "complaint"  # a complaint as the first message: "are you thinking of leaving?"
    CLOSED = "closed"


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class CaseStatus(StrEnum):
    """A retention case (one conversation in which the customer spoke of leaving)."""

    OPEN = "open"
    RETAINED = "retained"
    CANCELLED = "cancelled"
    HANDED_OFF = "handed_off"
    ABANDONED = "abandoned"


class OfferOutcome(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


class TicketStatus(StrEnum):
    """A handoff ticket for a person."""

    WAITING = "waiting"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CALLBACK = "callback"


class ColdStatus(StrEnum):
    """A cold (win-back) case, from cooling down to the customer's answer."""

    COOLING = "cooling"
    WAITING_FIX = "waiting_fix"
    DUE = "due"
    CLAIMED = "claimed"
    SENT = "sent"
    WON_BACK = "won_back"
    DECLINED = "declined"
    NO_ANSWER = "no_answer"
    SKIPPED = "skipped"


class AlertStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class AlertActionStatus(StrEnum):
    DONE = "done"
    OPEN = "open"  # a task for a person, not done yet
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class ContactStatus(StrEnum):
    """A proactive contact of one run."""

    HOLDOUT = "holdout"
    SKIPPED = "skipped"
    DUE = "due"
    SENDING = "sending"
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    NO_ANSWER = "no_answer"
    FAILED = "failed"


#: a subscription the customer still has (a paused one too)
LIVE_SUBSCRIPTION = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED)
#: a retention case that has its outcome
FINAL_CASE_STATUSES = (CaseStatus.RETAINED, CaseStatus.CANCELLED, CaseStatus.HANDED_OFF, CaseStatus.ABANDONED)
#: a handoff ticket a person has still to deal with (waiting, taken, or promised a callback)
OPEN_TICKET_STATUSES = (TicketStatus.WAITING, TicketStatus.IN_PROGRESS, TicketStatus.CALLBACK)
#: a cold case still waiting to be texted, and one without an outcome yet
WAITING_COLD_STATUSES = (ColdStatus.COOLING, ColdStatus.WAITING_FIX)
OPEN_COLD_STATUSES = (*WAITING_COLD_STATUSES, ColdStatus.DUE, ColdStatus.CLAIMED, ColdStatus.SENT)

#: the status vocabulary of each table with a ``status`` column (``outcome`` for case offers)
TABLE_STATUSES: dict[tuple[str, str], type[StrEnum]] = {
    ("subscriptions", "status"): SubscriptionStatus,
    ("retention_cases", "status"): CaseStatus,
    ("case_offers", "outcome"): OfferOutcome,
    ("handoff_tickets", "status"): TicketStatus,
    ("cold_cases", "status"): ColdStatus,
    ("alerts", "status"): AlertStatus,
    ("alert_actions", "status"): AlertActionStatus,
    ("proactive_contacts", "status"): ContactStatus,
}
