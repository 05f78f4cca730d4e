"""Hot retention: the rules of a retention conversation, independent of Rasa.

Each method takes the conversation's state, changes the database (case, offers,
subscription) and returns a :class:`Turn`: the responses to say (names of ``domain.yml``
responses with their parameters), the new stage, and slots to set. Rasa actions only
translate between the tracker and these calls.

Rules enforced here (seeds 000, 001, 003; FTC click-to-cancel):
- at most two save attempts per case, then the cancellation;
- "just cancel" at any point cancels at once, in the same conversation;
- only a verified customer can cancel or accept an offer;
- retried or duplicated messages never open a second case or apply an offer twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.alerts import Remedy, credited_for, remedy_for
from bot.core.customers import customer_context, profile_of
from bot.core.i18n import format_eur
from bot.core.offer_engine import rank_offers
from bot.core.offer_kinds import customer_benefit
from bot.core.offer_loader import load_catalogue
from bot.core.offer_model import Catalogue, RankedOffer
from bot.core.process import Policy, load_policy
from bot.core.reasons import REASONS
from bot.core.subscriptions import accept_offer
from bot.core.subscriptions import reference as new_reference
from bot.core.tariffs import load_plans
from bot.nlu.answers import Answer, Question, firm_request, mentioned_reason, normalise, read, signals, stated_months
from bot.storage.models import CaseOffer, ColdCase, Customer, RetentionCase, utcnow

MAX_SAVE_ATTEMPTS = 2
CANCEL_NOTICE_DAYS = 2  # Spain: the operator must end the service within two working days
OPEN = "open"
FINAL_STATUSES = ("retained", "cancelled", "handed_off", "abandoned")

#: the question each stage has asked, so that the answer is read against it; a ``clarify_``
#: stage is the one follow-up question after an unsure answer, read against the same question
QUESTION_OF_STAGE: dict[str, Question] = {
    "offer": Question.OFFER, "clarify_offer": Question.OFFER,
    "confirm_cancel": Question.CONFIRM_CANCEL, "clarify_cancel": Question.CONFIRM_CANCEL,
    "ask_reason": Question.REASON, "clarify_reason": Question.REASON,
    "plan_change": Question.PLAN_CHANGE, "clarify_plan_change": Question.PLAN_CHANGE,
    "choose_plan": Question.PLAN_CHOICE, "clarify_choose_plan": Question.PLAN_CHOICE,
    "winback": Question.WINBACK, "clarify_winback": Question.WINBACK,
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


def _offer_params_json(offer: RankedOffer) -> dict[str, Any]:
    """What is stored with the case: the priced parameters and the text shown, per language."""
    out = offer.json_params()
    out["_text"] = {"es": offer.describe("es"), "en": offer.describe("en")}
    return out


class RetentionService:
    def __init__(self, session: Session, catalogue: Catalogue | None = None,
                 today: date | None = None, policy: Policy | None = None) -> None:
        self.session = session
        self.catalogue = catalogue or load_catalogue()
        self.policy = policy or load_policy()
        self.today = today or date.today()

    # ----------------------------------------------------------------- cases
    def current_case(self, conv: Conversation) -> RetentionCase | None:
        """The conversation's latest case (open or closed today), if any."""
        return self.session.scalar(
            select(RetentionCase).where(RetentionCase.conversation_id == conv.conversation_id)
            .order_by(RetentionCase.id.desc()).limit(1))

    def open_case(self, conv: Conversation) -> RetentionCase:
        """Idempotent: a conversation has at most one open case."""
        case = self.current_case(conv)
        if case is not None and case.status != "cancelled":
            # One conversation is one case: talking about leaving again reopens it.
            if case.status != OPEN:
                case.status, case.closed_at = OPEN, None
            if case.customer_id is None and conv.customer_id is not None and conv.verified:
                case.customer_id = conv.customer_id
                self._set_revenue(case)
            return case
        case = RetentionCase(conversation_id=conv.conversation_id, channel=conv.channel,
                             language=conv.language, status=OPEN,
                             customer_id=conv.customer_id if conv.verified else None,
                             holdout=self.policy.in_holdout(conv.conversation_id))
        self._set_revenue(case)
        self.session.add(case)
        self.session.flush()
        return case

    def _set_revenue(self, case: RetentionCase) -> None:
        if case.customer_id is not None:
            customer = self.session.get(Customer, case.customer_id)
            sub = customer.current_subscription if customer else None
            case.monthly_revenue_at_stake = sub.monthly_price if sub else None

    def _customer(self, case: RetentionCase) -> Customer | None:
        return self.session.get(Customer, case.customer_id) if case.customer_id else None

    @staticmethod
    def _record_reason(case: RetentionCase, reason: str, verbatim: str | None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown churn reason {reason!r}")
        if case.reason is None:
            case.reason = reason
        elif reason != case.reason:  # the first stated reason stays; later ones are listed
            later = [r for r in (case.later_reasons or "").split(",") if r]
            if reason not in later:
                case.later_reasons = ",".join([*later, reason])[:200]
        if verbatim and not case.reason_verbatim:
            case.reason_verbatim = verbatim[:2000]

    # ------------------------------------------------------------ the turns
    def start(self, conv: Conversation, reason: str | None = None,
              verbatim: str | None = None, make_offer: bool = True) -> Turn:
        """The customer says they want to leave (maybe with the reason in the same message)."""
        closed = self._closed_cancellation(conv)
        if closed is not None:
            return closed
        case = self.open_case(conv)
        turn = Turn(slots={"case_id": float(case.id)})
        if case.offers and conv.stage in ("offer", "confirm_cancel"):
            # Asking to cancel again while an offer is on the table is insisting.
            return self.cancel(conv)
        turn.say("utter_empathy_cancel")
        # A recent key event (an outage, a double charge) explains it: no reason question.
        remedy = self._event_remedy(conv, reason) if (reason or case.reason is None) else None
        reason = reason or (remedy.reason if remedy else None)
        if reason:
            self._record_reason(case, reason, verbatim)
            self._acknowledge(turn, reason, remedy)
        if not make_offer:  # a person takes over (handoff)
            return turn
        if not conv.verified:
            return self.ask_identity(turn)
        if case.reason is None:
            turn.stage = "ask_reason"
            return turn.say("utter_ask_reason")
        return self._next_offer(conv, case, turn, skip_kinds=self._compensated(remedy))

    def set_reason(self, conv: Conversation, reason: str, verbatim: str | None,
                   make_offer: bool = True) -> Turn:
        """A churn reason was stated, with or without a wish to cancel."""
        closed = self._closed_cancellation(conv)
        if closed is not None:
            return closed
        case = self.open_case(conv)
        turn = Turn(slots={"case_id": float(case.id), "churn_reason": reason})
        already_offered = bool(case.offers)
        self._record_reason(case, reason, verbatim)
        remedy = self._event_remedy(conv, reason)
        self._acknowledge(turn, reason, remedy)
        if not make_offer:  # a person takes over (handoff)
            return turn
        if not conv.verified:
            return self.ask_identity(turn)
        if already_offered and conv.stage in ("offer", "clarify_offer"):
            # A new reason while an offer is pending: look for a better match.
            self.decline_pending(case)
        return self._next_offer(conv, case, turn, reason=reason, skip_kinds=self._compensated(remedy))

    def clarify(self, conv: Conversation, verbatim: str | None) -> Turn:
        """The reason was unclear: one open follow-up, then ``other`` with the words kept."""
        case = self.open_case(conv)
        turn = Turn(slots={"case_id": float(case.id)})
        if conv.stage == "ask_reason":
            if verbatim:
                case.reason_verbatim = verbatim[:2000]
            turn.stage = "clarify_reason"
            return turn.say("utter_ask_reason_again")
        if verbatim:
            case.reason_verbatim = ((case.reason_verbatim + " | ") if case.reason_verbatim else "") \
                + verbatim[:2000]
        self._record_reason(case, "other", None)
        turn.slots["churn_reason"] = "other"
        turn.say("utter_reason_other_noted")
        return self._next_offer(conv, case, turn)

    def start_action_plan(self, conv: Conversation, verbatim: str | None) -> Turn:
        """The customer asks for a written plan instead of an offer (or before any offer):
        a pending offer counts as declined, and a case without a reason is about low usage."""
        if not conv.verified:
            return self.ask_identity(Turn())
        case = self.open_case(conv)
        self.decline_pending(case)
        if case.reason is None:
            self._record_reason(case, "low_usage", verbatim)
        return Turn(stage="plan_goal", slots={"case_id": float(case.id)}).say("utter_ask_plan_goal")

    def cancel_requested(self, conv: Conversation) -> bool:
        """The open case holds a request to cancel at once, waiting for the verification."""
        case = self.current_case(conv)
        return case is not None and case.status == OPEN and case.cancel_requested_at is not None

    def after_verification(self, conv: Conversation) -> Turn:
        """Continue the flow once an anonymous visitor proved who they are.

        A visitor who had asked to cancel at once gets the cancellation, not a save attempt; one
        who asked to undo a cancellation or to drop one service gets that.
        """
        if conv.pending == "undo":
            return self.undo(conv)
        if conv.pending == "confirm_cancel":
            return Turn(stage="confirm_cancel", slots={"pending_request": None}).say(
                "utter_confirm_cancel")
        if conv.pending and conv.pending.startswith("drop:"):
            return self._merge(Turn(slots={"pending_request": None}),
                               self.partial(conv, conv.pending[len("drop:"):]))
        case = self.open_case(conv)
        if case.cancel_requested_at is not None and conv.verified and case.customer_id is not None:
            return self.cancel(conv)
        turn = Turn(slots={"case_id": float(case.id)})
        remedy = self._event_remedy(conv, case.reason)
        if case.reason is None and remedy is not None:
            self._record_reason(case, remedy.reason, None)
            self._acknowledge(turn, remedy.reason, remedy)
        elif remedy is not None and remedy.note:
            turn.say("utter_event_notice", notice=remedy.note)
        if case.reason is None:
            turn.stage = "ask_reason"
            return turn.say("utter_ask_reason")
        return self._next_offer(conv, case, turn, skip_kinds=self._compensated(remedy))

    # ------------------------------------------------------- key events
    def _event_remedy(self, conv: Conversation, reason: str | None) -> Remedy | None:
        """The recent key event behind this cancellation (``bot.core.alerts``), for a verified customer."""
        if not conv.verified or conv.customer_id is None:
            return None
        return remedy_for(self.session, conv.customer_id, reason, conv.language)

    @staticmethod
    def _acknowledge(turn: Turn, reason: str, remedy: Remedy | None) -> None:
        """What happened, said once: the event's note (with its compensation), else the reason's line."""
        if remedy is not None and remedy.note:
            turn.say("utter_event_notice", notice=remedy.note)
        else:
            turn.say(f"utter_ack_{reason}")
        turn.slots["churn_reason"] = reason

    @staticmethod
    def _compensated(remedy: Remedy | None) -> tuple[str, ...]:
        """Offer kinds not to make again: a credit when the event's compensation was credited."""
        return ("credit",) if remedy is not None and remedy.credited else ()

    def accept(self, conv: Conversation) -> Turn:
        """The customer said yes: to the pending offer, or to processing the cancellation."""
        case = self.current_case(conv)
        if conv.stage == "confirm_cancel":
            return self.cancel(conv)
        pending = self._pending_offer(case) if case else None
        if case is None or pending is None:
            accepted = self._accepted_offer(case) if case else None
            if accepted is not None:  # a retried "yes": confirm again, apply nothing twice
                return Turn(stage="closed").say(
                    "utter_offer_accepted", offer_text=accepted.params["_text"][conv.language],
                    reference=case.reference)
            return Turn().say("utter_anything_else")
        if not conv.verified or case.customer_id is None:
            return self.ask_identity(Turn())
        if pending.kind == "action_plan":
            pending.outcome, pending.decided_at = "accepted", utcnow()
            return Turn(stage="plan_goal", slots={"offer_id": pending.offer_id}).say(
                "utter_ask_plan_goal")
        self._apply(case, pending)
        turn = Turn(stage="closed", slots={"offer_id": pending.offer_id})
        return turn.say("utter_offer_accepted", offer_text=pending.params["_text"][conv.language],
                        reference=case.reference)

    def decline(self, conv: Conversation) -> Turn:
        """The customer said no to the pending offer: one alternative at most, then cancel."""
        case = self.current_case(conv)
        if conv.stage == "confirm_cancel":
            return self.keep(conv)
        if case is None or self._pending_offer(case) is None:
            return Turn().say("utter_anything_else")
        self.decline_pending(case)
        if len(case.offers) >= MAX_SAVE_ATTEMPTS:
            return self._cancel_if_asked(conv)
        return self._next_offer(conv, case, Turn(slots={"case_id": float(case.id)}), alternative=True)

    def _cancel_if_asked(self, conv: Conversation) -> Turn:
        """After a "no" to the last offer: the cancellation the customer asked for, or, when they
        never said they want to leave, the question whether they do (no cancellation on a "no")."""
        if conv.asked_to_leave:
            return self.cancel(conv)
        return Turn(stage="confirm_cancel").say("utter_confirm_cancel")

    def keep(self, conv: Conversation) -> Turn:
        """The customer decided to stay without an offer."""
        case = self.current_case(conv)
        if case is not None and case.status == OPEN:
            self.decline_pending(case)
            case.status, case.closed_at = "retained", utcnow()
        return Turn(stage="closed").say("utter_keep_service")

    # ------------------------------------------------------ answers in context
    def answer(self, conv: Conversation, text: str, intent: str | None = None) -> Turn:
        """The customer answered the question of ``conv.stage``: read it against that question.

        Only an unambiguous answer changes the account. An unsure one gets one short follow-up
        question with buttons (stage ``clarify_...``); unsure again, nothing is changed and the
        case stays open. Insisting on cancelling is processed at once at every question.
        """
        stage = conv.stage or ""
        question = QUESTION_OF_STAGE.get(stage, Question.OPEN)
        reading = read(text, question)
        reason = _reason_of(intent) or (mentioned_reason(text) if question is Question.REASON else None)
        kind = reading.answer
        if kind is Answer.UNCLEAR and intent == "ask_human":
            kind = Answer.HUMAN
        if kind is Answer.HUMAN:
            return Turn(handoff="asked")
        if kind is Answer.PARTIAL and reading.drop:
            return self.partial(conv, reading.drop)
        if kind is Answer.UNDO:
            return self.undo(conv)
        if question is Question.REASON:
            told = kind is Answer.CANCEL and "cancel_word" not in reading.signals  # "me voy a o2"
            if reason and (told or kind not in (Answer.CANCEL, Answer.STAY)):
                return self.set_reason(conv, reason, text)
            if reason and kind is Answer.CANCEL:  # "me voy a Movistar, tramítalo ya": both kept
                self._record_reason(self.open_case(conv), reason, text)
            if kind is Answer.CANCEL:  # the words say so, not only the intent model
                return self.cancel(conv)
            if kind is Answer.STAY:
                return self.keep(conv)
            return self.clarify(conv, text)
        clarifying = stage.startswith("clarify_")
        if question is Question.OFFER:
            if kind is Answer.YES:
                return self.accept(replace(conv, stage="offer"))
            if kind is Answer.NO:
                return self.decline(replace(conv, stage="offer"))
            if kind is Answer.CANCEL:
                return self.cancel(conv)
            if kind is Answer.STAY:
                return self.keep(conv)
            if kind is Answer.UNCLEAR and reason and not clarifying:
                return self.set_reason(replace(conv, stage="offer"), reason, text)
        elif question is Question.CONFIRM_CANCEL:
            if kind is Answer.CANCEL:
                return self.cancel(conv)
            if kind is Answer.STAY:
                return self.keep(conv)
        elif question is Question.WINBACK:
            from bot.core.campaign_replies import reply_word

            said = reply_word(text)  # the SMS asked for these words (data/campaigns.yml)
            if said is not None:
                return self.winback(conv, accept=said)
            if kind in (Answer.YES, Answer.NO, Answer.STAY):
                return self.winback(conv, accept=kind is Answer.YES)
            if kind is Answer.CANCEL and self._answering_proactive(conv):
                # a live customer who answers a proactive offer with "quiero darme de baja" is
                # asking to leave: the offer is declined and the cancellation request goes on
                from bot.core import proactive

                contact = proactive.pending_contact(self.session, conv.customer_id)
                if contact is not None:
                    proactive.decline(self.session, contact)
                fresh = replace(conv, stage=None)
                if firm_request(text):
                    return self.firm_cancel(fresh, confidence=1.0, text=text)
                return self.start(fresh, reason=reason, verbatim=text if reason else None)
            if kind is Answer.CANCEL:  # "no, ya me di de baja": not interested
                return self.winback(conv, accept=False)
        elif question is Question.PLAN_CHOICE:
            chosen = choose_plan(text, load_plans())
            if chosen is not None:
                return self.propose_plan(conv, chosen)
            if kind in (Answer.NO, Answer.STAY):
                return Turn(stage="closed").say("utter_plan_unchanged")
            if kind is Answer.CANCEL:
                return self.start(replace(conv, stage=None), reason=reason, verbatim=text)
        elif question is Question.PLAN_CHANGE:
            if kind is Answer.YES:
                return self.change_plan(conv, conv.plan_change_to)
            if kind in (Answer.NO, Answer.STAY):
                return Turn(stage="closed", slots={"plan_change_to": None}).say("utter_plan_unchanged")
            if kind is Answer.CANCEL:
                return self.start(replace(conv, stage=None), reason=reason, verbatim=text)
        if clarifying or question is Question.OPEN:
            return self.leave_open(conv)
        base = "cancel" if stage == "confirm_cancel" else stage
        turn = Turn(stage=f"clarify_{base}")
        if question is Question.PLAN_CHOICE:
            return turn.say("utter_clarify_choose_plan", plan_list=self.plan_list(conv))
        if question is Question.WINBACK and self._answering_proactive(conv):
            return turn.say("utter_clarify_proactive")  # they never left: not "come back"
        return turn.say(f"utter_clarify_{base}")

    # ------------------------------------------------------------ plan changes
    def plan_list(self, conv: Conversation) -> str:
        """The other plans with their prices, one per line, for the customer to choose from."""
        current = self._current_plan_code(conv)
        lines = [f"- {p.display_name(conv.language)}: {format_eur(p.monthly_price, conv.language)}"
                 f"{'/mes' if conv.language == 'es' else '/month'}"
                 for p in load_plans().values() if p.code != current]
        return "\n".join(lines)

    def plan_options(self, conv: Conversation) -> Turn:
        """The customer wants another plan (not to leave): the options, then their choice."""
        return Turn(stage="choose_plan").say("utter_change_plan", plan_list=self.plan_list(conv))

    def propose_plan(self, conv: Conversation, code: str) -> Turn:
        """Read the chosen plan back with its price; yes changes it (stage plan_change)."""
        plans = load_plans()
        target, current = plans[code], plans.get(self._current_plan_code(conv) or "")
        if current is not None and current.code == code:
            return Turn(stage="closed").say("utter_plan_already", plan_name=target.display_name(conv.language))
        lang = conv.language
        customer = self.session.get(Customer, conv.customer_id) if conv.customer_id else None
        sub = customer.current_subscription if customer else None
        return Turn(stage="plan_change", slots={"plan_change_to": code}).say(
            "utter_confirm_plan_change", new_plan=target.display_name(lang),
            new_price=format_eur(target.monthly_price, lang),
            old_price=format_eur(sub.monthly_price, lang) if sub is not None else "-")

    def _current_plan_code(self, conv: Conversation) -> str | None:
        if not conv.verified or conv.customer_id is None:
            return None
        customer = self.session.get(Customer, conv.customer_id)
        sub = customer.current_subscription if customer else None
        return sub.plan_code if sub is not None else None

    def urgent_request(self, conv: Conversation, text: str) -> Turn | None:
        """A stolen or lost phone: the SIM block goes to a person now, with a reference."""
        if not SIM_BLOCK.search(normalise(text)):
            return None
        from bot.core.handoff import open_ticket

        decision = open_ticket(self.session, conversation_id=conv.conversation_id, trigger="sim_block",
                               channel=conv.channel, language=conv.language, verbatim=text,
                               customer_id=conv.customer_id if conv.verified else None, case=None)
        return Turn(stage=None).say("utter_sim_block", reference=f"INC-{decision.ticket.id:06d}")

    # ------------------------------------------------------------- win-back
    def winback(self, conv: Conversation, accept: bool) -> Turn:
        """The answer to a win-back SMS, read in context (a late "sí, me interesa" too)."""
        from bot.core.campaign_messages import winback_offer_text
        from bot.core.campaign_replies import accept_winback, decline_winback, pending_winback

        cold = pending_winback(self.session, conv.customer_id) if conv.customer_id else None
        if cold is None:
            return self._proactive_answer(conv, accept)
        if not accept:
            decline_winback(self.session, cold)
            return Turn(stage="closed").say("utter_winback_declined")
        reference = accept_winback(self.session, cold)
        return Turn(stage="closed").say("utter_winback_accepted", reference=reference,
                                        offer_text=winback_offer_text(cold, conv.language))

    def _answering_proactive(self, conv: Conversation) -> bool:
        from bot.core import proactive
        from bot.core.campaign_replies import pending_winback

        return bool(conv.customer_id) and pending_winback(self.session, conv.customer_id) is None \
            and proactive.pending_contact(self.session, conv.customer_id) is not None

    def _proactive_answer(self, conv: Conversation, accept: bool) -> Turn:
        """The answer to a proactive SMS (``bot.core.proactive``): the offer applied, or noted."""
        from bot.core import proactive

        contact = proactive.pending_contact(self.session, conv.customer_id) if conv.customer_id else None
        if contact is None:
            return Turn(stage=None).say("utter_anything_else")
        if not accept:
            proactive.decline(self.session, contact)
            return Turn(stage="closed").say("utter_proactive_declined")
        reference = proactive.accept(self.session, contact, self.today)
        return Turn(stage="closed").say("utter_proactive_accepted", reference=reference,
                                        offer_text=proactive.offer_text(contact, conv.language))

    def leave_open(self, conv: Conversation) -> Turn:
        """Still unsure after the follow-up: nothing changes, the case stays open for later."""
        del conv
        return Turn(stage=None, slots={"plan_change_to": None}).say("utter_left_open")

    def opening(self, conv: Conversation, text: str, intent: str | None = None) -> Turn | None:
        """A message with no question pending, read for what the intent model may have missed.

        "Me he arrepentido, anula la baja" undoes a cancellation; "solo quiero quitar el móvil"
        changes the plan; "no quiero darme de baja" changes nothing; "¿cuándo termina mi
        contrato?" is a question, not leaving. A bare "solo cancélalo" that the model read as
        something else (a "no", a look-alike) gets the cancellation read-back, never the
        cancellation itself. None: nothing of that, the intent's own action goes on.
        """
        reading = read(text, Question.OPEN)
        if reading.answer is Answer.UNDO:
            return self.undo(conv)
        if reading.answer is Answer.PARTIAL and reading.drop:
            return self.partial(conv, reading.drop)
        cancel_family = bool(intent) and ("cancel" in (intent or "").split("+")
                                          or intent == "cancel_firm")
        if cancel_family and reading.answer is Answer.STAY and "cancel" not in reading.signals:
            return Turn().say("utter_keep_service")
        if "contract_end" in reading.signals and "cancel" not in reading.signals:
            return Turn().say("utter_contract_end")
        if intent == "cancel" and firm_request(text) and self.current_case(conv) is None:
            return self.firm_cancel(conv, confidence=0.0)  # "solo quiero cancelar": read back
        told = mentioned_reason(text)
        leaving = "cancel" in reading.signals and not reading.signals & {"stay", "undecided", "object"}
        if (intent != "cancel" and not (intent or "").startswith("cancel+") and told and leaving
                and not firm_request(text) and self.current_case(conv) is None):
            # "I want to leave, switching to Orange": leaving with a reason, not "just cancel it"
            return self.start(conv, reason=told, verbatim=text)
        if (not cancel_family and reading.signals & {"cancel"} == {"cancel"}
                and not reading.signals & {"stay", "undecided", "object"}
                and (self.current_case(conv) is None or conv.stage in (None, "closed"))):
            return self.firm_cancel(conv, confidence=0.0)
        return None

    def undo(self, conv: Conversation) -> Turn:
        """Undo a cancellation before its effective date, as the confirmation promises."""
        if not conv.verified or conv.customer_id is None:
            turn = self.ask_identity(Turn(slots={"pending_request": "undo"}))
            return turn
        customer = self.session.get(Customer, conv.customer_id)
        live = customer is not None and any(s.status in ("active", "paused") for s in customer.subscriptions)
        sub = customer.last_cancelled if customer is not None and not live else None
        if sub is None:
            return Turn(stage=None, slots={"pending_request": None}).say("utter_nothing_to_undo")
        if sub.cancel_effective_date is not None and sub.cancel_effective_date < self.today:
            return Turn(stage=None, slots={"pending_request": None}).say("utter_undo_too_late")
        sub.status, sub.cancel_requested_at, sub.cancel_effective_date = "active", None, None
        case = self.session.scalar(
            select(RetentionCase).where(RetentionCase.customer_id == customer.id,
                                        RetentionCase.status == "cancelled")
            .order_by(RetentionCase.id.desc()).limit(1))
        if case is not None:
            case.status, case.cancel_undone_at, case.closed_at = "retained", utcnow(), utcnow()
            for cold in self.session.scalars(select(ColdCase).where(ColdCase.case_id == case.id)):
                cold.status = "skipped"  # nobody to win back
        prof = profile_of(customer, self.today)
        return Turn(stage="closed", slots={"pending_request": None}).say(
            "utter_cancel_undone", plan_name=prof.plan_name_en if conv.language == "en"
            else prof.plan_name_es)

    def partial(self, conv: Conversation, drop: str) -> Turn:
        """Drop one service of a bundle: the matching plan with its new price, or a person."""
        if not conv.verified or conv.customer_id is None:
            return self.ask_identity(Turn(slots={"pending_request": f"drop:{drop}"}))
        customer = self.session.get(Customer, conv.customer_id)
        sub = customer.current_subscription if customer else None
        plans = load_plans()
        current = plans.get(sub.plan_code) if sub is not None else None
        if current is None or sub is None or sub.status == "cancelled":
            return Turn(handoff="partial")
        if drop not in current.services or len(current.services) == 1:
            return Turn(stage=None).say("utter_partial_not_in_plan")
        target = plans.get(current.without.get(drop, ""))
        if target is None:
            return Turn(handoff="partial")
        lang = conv.language
        return Turn(stage="plan_change", slots={"plan_change_to": target.code}).say(
            "utter_offer_plan_change", current_plan=current.display_name(lang),
            new_plan=target.display_name(lang), new_price=format_eur(target.monthly_price, lang),
            old_price=format_eur(sub.monthly_price, lang))

    def change_plan(self, conv: Conversation, target_code: str | None = None) -> Turn:
        """Yes to the proposed plan: change it now (a plan change, never a cancellation)."""
        if not conv.verified or conv.customer_id is None:
            return self.ask_identity(Turn())
        customer = self.session.get(Customer, conv.customer_id)
        sub = customer.current_subscription if customer else None
        plans = load_plans()
        target = plans.get(target_code or "")
        if sub is None or target is None:
            return Turn(stage=None).say("utter_anything_else")
        sub.plan_code = target.code
        sub.list_price = target.monthly_price
        sub.monthly_price = (target.monthly_price * (100 - sub.discount_pct) / 100).quantize(
            Decimal("0.01")) if sub.discount_pct else target.monthly_price
        sub.revert_plan_code = None
        reference = new_reference("PLAN")
        return Turn(stage="closed", slots={"plan_change_to": None}).say(
            "utter_plan_changed", new_plan=target.display_name(conv.language),
            new_price=format_eur(sub.monthly_price, conv.language), reference=reference)

    def firm_cancel(self, conv: Conversation, confidence: float = 1.0, pressed: bool = False,
                    text: str | None = None) -> Turn:
        """The customer insists on cancelling ("just cancel it"), with the model's confidence.

        Inside a retention conversation (an open case) it is processed at once, whatever the
        confidence: the customer already said they want to leave. As the first word on leaving,
        a typed or spoken request read with less confidence than the policy's
        ``cancellation.confirm_first_request_below`` (1.0, the default: every one) gets one
        confirmation question (stage ``confirm_cancel``: yes cancels, no changes nothing), so
        that a misunderstood message (an abort command, "cancel my card") never ends a service.
        A ``pressed`` button is the customer's explicit choice and is processed at once.
        """
        case = self.current_case(conv)
        opened = case is not None and case.status in (OPEN, "cancelled")
        if text is not None and not pressed and not signals(text) & {"cancel_word", "leave"}:
            # the intent model says "cancel" but the words do not: never at once
            opened = False
        below = self.policy.confirm_first_cancel_below
        if (not opened and conv.stage != "confirm_cancel" and not pressed
                and (below >= 1.0 or confidence < below)):
            if not conv.verified:  # who they are first, then the read-back about their account
                return self.ask_identity(Turn(slots={"pending_request": "confirm_cancel"}))
            return Turn(stage="confirm_cancel").say("utter_confirm_cancel")
        return self.cancel(conv)

    def cancel(self, conv: Conversation) -> Turn:
        """Process the cancellation now: effective date, confirmation number, next steps."""
        closed = self._closed_cancellation(conv)
        if closed is not None:
            return closed
        case = self.open_case(conv)
        if not conv.verified or case.customer_id is None:
            case.cancel_requested_at = case.cancel_requested_at or utcnow()
            return self.ask_identity(Turn(slots={"case_id": float(case.id)}))
        self.decline_pending(case)
        customer = self._customer(case)
        assert customer is not None
        sub = customer.current_subscription
        effective = self.today + timedelta(days=CANCEL_NOTICE_DAYS)
        if sub is not None and sub.status != "cancelled":
            sub.status = "cancelled"
            sub.cancel_requested_at = utcnow()
            sub.cancel_effective_date = effective
        case.status, case.closed_at = "cancelled", utcnow()
        case.cancel_effective_date = effective
        case.confirmation_number = new_reference("BAJA")
        if case.reason is None:
            case.reason = "other"
        # Every hot cancellation becomes a cold (win-back) case, contacted after the cool-down.
        from bot.core.campaign_scheduling import schedule_cold_case

        schedule_cold_case(self.session, case, self.today, self.policy)
        prof = profile_of(customer, self.today)
        plan_name = prof.plan_name_en if conv.language == "en" else prof.plan_name_es
        return Turn(stage="closed", slots={"case_id": float(case.id)}).say(
            "utter_cancel_confirmed", plan_name=plan_name, confirmation=case.confirmation_number,
            effective_date=self._format_date(effective, conv.language))

    # ------------------------------------------------------------- helpers
    @staticmethod
    def ask_identity(turn: Turn) -> Turn:
        turn.stage = "verify_ref"
        return turn.say("utter_need_verification").say("utter_ask_verify_ref")

    def _closed_cancellation(self, conv: Conversation) -> Turn | None:
        """The cancellation already processed, in this conversation or (for a verified
        customer whose service is cancelled) in an earlier one: no new save attempt."""
        case = self.current_case(conv)
        if (case is None or case.status != "cancelled") and conv.verified and conv.customer_id:
            customer = self.session.get(Customer, conv.customer_id)
            sub = customer.current_subscription if customer is not None else None  # live first
            if sub is not None and sub.status == "cancelled":
                case = self.session.scalar(
                    select(RetentionCase).where(RetentionCase.customer_id == conv.customer_id,
                                                RetentionCase.status == "cancelled")
                    .order_by(RetentionCase.id.desc()).limit(1)) or case
        if case is not None and case.status == "cancelled":
            return Turn(stage="closed").say(
                "utter_already_cancelled", confirmation=case.confirmation_number,
                effective_date=self._format_date(case.cancel_effective_date, conv.language))
        return None

    @staticmethod
    def _format_date(day: date | None, language: str) -> str:
        if day is None:
            return ""
        return day.strftime("%d/%m/%Y") if language == "es" else day.strftime("%d %b %Y")

    @staticmethod
    def _pending_offer(case: RetentionCase) -> CaseOffer | None:
        pending = [o for o in case.offers if o.outcome == "pending"]
        return pending[-1] if pending else None

    @staticmethod
    def _accepted_offer(case: RetentionCase) -> CaseOffer | None:
        accepted = [o for o in case.offers if o.outcome == "accepted"]
        return accepted[-1] if accepted else None

    def decline_pending(self, case: RetentionCase) -> None:
        for offer in case.offers:
            if offer.outcome == "pending":
                offer.outcome, offer.decided_at = "declined", utcnow()

    def _next_offer(self, conv: Conversation, case: RetentionCase, turn: Turn,
                    alternative: bool = False, reason: str | None = None,
                    skip_kinds: tuple[str, ...] = ()) -> Turn:
        if len(case.offers) >= MAX_SAVE_ATTEMPTS:
            if alternative:
                return self._merge(turn, self._cancel_if_asked(conv))
            # Both save attempts were made (maybe one accepted): no third offer, and no
            # cancellation without a clear yes.
            turn.stage = "confirm_cancel"
            return turn.say("utter_confirm_cancel")
        customer = self._customer(case)
        ranked: list[RankedOffer] = []
        if customer is not None and case.reason is not None and credited_for(self.session, customer.id, case.reason):
            skip_kinds = (*skip_kinds, "credit")  # the event's compensation was the credit: not a second one
        # Holdout cases (the control group) get no offer, only the choice to cancel or stay.
        if customer is not None and case.reason is not None and not case.holdout:
            ctx = customer_context(self.session, customer, self.today)
            already = {o.offer_id for o in case.offers}
            ranked = rank_offers(self.catalogue, ctx, reason or case.reason, today=self.today,
                                 exclude=already)
            ranked = [o for o in self._sensible(case, ranked) if o.kind not in skip_kinds]
        if not ranked:
            if alternative:  # declined the only offer there is: the cancellation they asked for
                return self._merge(turn, self._cancel_if_asked(conv))
            turn.stage = "confirm_cancel"
            return turn.say("utter_no_offer")
        best = ranked[0]
        self.session.add(CaseOffer(
            case=case, position=len(case.offers) + 1, offer_id=best.offer_id, kind=best.kind,
            variant=best.variant, cost=best.cost, expected_value=best.expected_value,
            params=_offer_params_json(best), outcome="pending"))
        self.session.flush()
        turn.stage = "offer"
        turn.slots["offer_id"] = best.offer_id
        if alternative:
            turn.say("utter_offer_alternative")
        return turn.say("utter_offer", offer_text=best.describe(conv.language))

    @staticmethod
    def _sensible(case: RetentionCase, ranked: list[RankedOffer]) -> list[RankedOffer]:
        """Offers that make sense after what was said and declined.

        A pause shorter than the time the customer said they will be away does not solve
        their problem; an offer of the kind they declined must be at least as good for them.
        """
        months = stated_months(case.reason_verbatim or "")
        declined = [o for o in case.offers if o.outcome == "declined"]

        def ok(offer: RankedOffer) -> bool:
            if months and offer.kind == "pause" and int(offer.params.get("pause_months") or 0) < months:
                return False
            return all(offer.kind != d.kind or customer_benefit(offer.kind, offer.params)
                       >= customer_benefit(d.kind, d.params) for d in declined)
        return [offer for offer in ranked if ok(offer)]

    @staticmethod
    def _merge(first: Turn, second: Turn) -> Turn:
        first.replies.extend(second.replies)
        first.stage = second.stage
        first.slots.update(second.slots)
        return first

    def _apply(self, case: RetentionCase, offer: CaseOffer) -> None:
        """Apply an accepted offer to the subscription, once (``bot.core.subscriptions``)."""
        customer = self._customer(case)
        assert customer is not None
        accept_offer(case, customer, offer, self.today)


SIM_BLOCK = re.compile(
    r"\b(robad[oa]|perdid[oa]|he perdido|me han robado|extraviad[oa]|stolen|lost|"
    r"bloque(a|ar|ad|ame)\b.{0,20}\bsim|block\b.{0,15}\bsim|suspend\b.{0,15}\b(sim|line))")

#: words that name a plan of data/plans.yml in what customers say, by plan code
_PLAN_WORDS: dict[str, tuple[str, ...]] = {
    "movil_basico": ("solo movil", "solo el movil", "movil basico", "basic mobile", "mobile only",
                     "just mobile", "20 gb"),
    "fibra_300": ("300",),
    "fibra_600": ("600",),
    "fibra_1g": ("1 gb", "1gb", "1 giga", "1g", "1000", "un giga", "1 gig"),
    "fibra_movil": ("fibra y movil", "fibra + movil", "fibre and mobile", "fibre + mobile",
                    "50 gb", "con movil", "y movil", "with mobile", "and mobile"),
    "fibra_movil_tv": ("tv", "tele", "television", "todo incluido", "everything", "ilimitado",
                       "unlimited"),
}


def choose_plan(text: str, plans: dict[str, Any]) -> str | None:
    """The one plan the customer names ("la de 300", "fibra 1 Gb", "la más barata"), or None."""
    norm = normalise(text)
    if re.search(r"\b(mas barat[ao]|cheapest|la barata|the cheap one)\b", norm):
        return min(plans.values(), key=lambda p: p.monthly_price).code
    named = [code for code, words in _PLAN_WORDS.items() if code in plans and any(
        re.search(r"(?<![a-z0-9])" + re.escape(w) + r"(?![a-z0-9])", norm) for w in words)]
    if len(named) > 1 and "fibra_1g" in named and "fibra_movil_tv" in named:
        named.remove("fibra_1g")  # "1 Gb + TV" is the bundle
    if len(named) > 1 and "fibra_600" in named and "fibra_movil" in named:
        named.remove("fibra_600")
    return named[0] if len(named) == 1 else None


def _reason_of(intent: str | None) -> str | None:
    """``cancel+reason_price`` or ``reason_price`` -> "price"; anything else -> None."""
    for part in (intent or "").split("+"):
        if part.startswith("reason_") and part[len("reason_"):] in REASONS:
            return part[len("reason_"):]
    return None


def expire_offers(session: Session, today: date | None = None) -> int:
    """End offers whose time is over: discounts, pauses and free upgrades. Returns how many."""
    from bot.storage.models import Subscription

    today = today or date.today()
    rows = session.scalars(select(Subscription).where(
        Subscription.running_offer_until.is_not(None), Subscription.running_offer_until < today,
        Subscription.status != "cancelled")).all()
    for sub in rows:
        if sub.discount_until is not None and sub.discount_until < today:
            sub.monthly_price, sub.discount_pct, sub.discount_until = sub.list_price, None, None
        if sub.status == "paused" and sub.paused_until is not None and sub.paused_until <= today:
            sub.status, sub.paused_until = "active", None
        if sub.revert_plan_code:
            sub.plan_code, sub.revert_plan_code = sub.revert_plan_code, None
        sub.running_offer_id = sub.running_offer_until = None
    return len(rows)
