"""The vocabulary of a retention conversation: what a turn starts from (``Conversation``), what it
gives back (a ``Turn`` of ``Reply``), the question each stage has asked, and helpers on turns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from bot.core.answers import Question
from bot.core.reasons import REASONS
from bot.core.vocabulary import Stage

#: the question each stage has asked, so that the answer is read against it; a ``clarify_``
#: stage is the one follow-up question after an unsure answer, read against the same question
QUESTION_OF_STAGE: dict[str, Question] = {
    Stage.OFFER: Question.OFFER, Stage.CLARIFY_OFFER: Question.OFFER,
    Stage.CONFIRM_CANCEL: Question.CONFIRM_CANCEL, Stage.CLARIFY_CANCEL: Question.CONFIRM_CANCEL,
    Stage.ASK_REASON: Question.REASON, Stage.CLARIFY_REASON: Question.REASON,
    Stage.PLAN_CHANGE: Question.PLAN_CHANGE, Stage.CLARIFY_PLAN_CHANGE: Question.PLAN_CHANGE,
    Stage.CHOOSE_PLAN: Question.PLAN_CHOICE, Stage.CLARIFY_CHOOSE_PLAN: Question.PLAN_CHOICE,
    Stage.WINBACK: Question.WINBACK, Stage.CLARIFY_WINBACK: Question.WINBACK,
    Stage.COMPLAINT: Question.LEAVING,
}
ANSWER_STAGES = tuple(QUESTION_OF_STAGE)


@dataclass(frozen=True)
class Reply:
    response: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Turn:
    replies: list[Reply] = field(default_factory=list)
    stage: Optional[str] = None
    slots: dict[str, Any] = field(default_factory=dict)
    handoff: Optional[str] = None  # a person should take over, with this trigger

    def say(self, response: str, **params: Any) -> "Turn":
        self.replies.append(Reply(response, params))
        return self


@dataclass(frozen=True)
class Conversation:
    """What the assistant knows about the conversation when a turn starts."""

    conversation_id: str
    language: str = "es"
    channel: str = "web"
    customer_id: Optional[int] = None
    verified: bool = False
    stage: Optional[str] = None
    pending: Optional[str] = None  # what an anonymous visitor asked for before verifying ("undo")
    plan_change_to: Optional[str] = None  # the plan proposed for a partial request
    #: the customer said in words (or with the button) that they want to leave; without that, a
    #: plain "no" to an offer is not a cancellation ("el internet me va fatal" read as leaving)
    asked_to_leave: bool = True
    reason: Optional[str] = None  # the churn reason already stated in this conversation, if any
    previous_text: Optional[str] = None  # the customer's message before this one


def ask_identity(turn: Turn) -> Turn:
    """Ask who the customer is before anything that touches their account."""
    turn.stage = Stage.VERIFY_REF
    return turn.say("utter_need_verification").say("utter_ask_verify_ref")


def merge_turns(first: Turn, second: Turn) -> Turn:
    """``second`` said after ``first``: its replies appended, its stage and slots win."""
    first.replies.extend(second.replies)
    first.stage = second.stage
    first.slots.update(second.slots)
    return first


def reason_of_intent(intent: str | None) -> str | None:
    """``cancel+reason_price`` or ``reason_price`` -> "price"; anything else -> None."""
    for part in (intent or "").split("+"):
        if part.startswith("reason_") and part[len("reason_"):] in REASONS:
            return part[len("reason_"):]
    return None
