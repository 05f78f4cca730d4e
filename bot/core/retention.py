"""Hot retention: the rules of a retention conversation, independent of Rasa (``RetentionService``).

Each method takes the conversation's state, changes the database (case, offers,
subscription) and returns a :class:`Turn`: the responses to say (names of ``domain.yml``
responses with their parameters), the new stage, and slots to set. Rasa actions only
translate between the tracker and these calls.

Rules enforced here (seeds 000, 001, 003; FTC click-to-cancel):
- at most two save attempts per case, then the cancellation;
- "just cancel" at any point cancels at once, in the same conversation;
- only a verified customer can cancel or accept an offer;
- retried or duplicated messages never open a second case or apply an offer twice.

The service routes each turn; the rules it applies live beside it: ``bot.core.conversation``
(``Conversation``, ``Turn``, the question of each stage), ``bot.core.cases`` (the case and its
offers), ``bot.core.offer_sequence`` (which offer comes next), ``bot.core.cancellation`` (cancel,
undo), ``bot.core.plan_changes`` (another plan instead of leaving) and ``bot.core.sms_replies``
(answers to a win-back or proactive SMS).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

from sqlalchemy.orm import Session

from bot.core import cancellation, cases, offer_sequence, plan_changes, sms_replies
from bot.core.alerts import Remedy, remedy_for
from bot.core.answers import Answer, Question, read
from bot.core.cases import OPEN
from bot.core.conversation import QUESTION_OF_STAGE, Conversation, Turn, ask_identity, merge_turns, reason_of_intent
from bot.core.customer_statements import firm_request, mentioned_reason
from bot.core.customer_text import normalise
from bot.core.offer_loader import load_catalogue
from bot.core.offer_model import Catalogue
from bot.core.offer_sequence import MAX_SAVE_ATTEMPTS
from bot.core.process import Policy, load_policy
from bot.core.subscriptions import accept_offer
from bot.core.tariffs import load_plans
from bot.core.vocabulary import CaseStatus, OfferOutcome, Stage
from bot.storage.models import CaseOffer, RetentionCase, utcnow

# Requests with their own answer that a customer we texted may make instead of replying to the offer.
ASIDE_INTENTS = frozenset({"other_request", "cancel_other", "change_plan"})
SIM_BLOCK = re.compile(
    r"\b(robad[oa]|perdid[oa]|he perdido|me han robado|extraviad[oa]|stolen|lost|"
    r"bloque(a|ar|ad|ame)\b.{0,20}\bsim|block\b.{0,15}\bsim|suspend\b.{0,15}\b(sim|line))")


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
        return cases.current_case(self.session, conv)

    def open_case(self, conv: Conversation) -> RetentionCase:
        """Idempotent: a conversation has at most one open case."""
        return cases.open_case(self.session, self.policy, conv)

    def decline_pending(self, case: RetentionCase) -> None:
        cases.decline_pending(case)

    # ------------------------------------------------------------ the turns
    def start(self, conv: Conversation, reason: str | None = None,
              verbatim: str | None = None, make_offer: bool = True) -> Turn:
        """The customer says they want to leave (maybe with the reason in the same message)."""
        closed = cancellation.closed_cancellation(self.session, conv)
        if closed is not None:
            return closed
        case = self.open_case(conv)
        turn = Turn(slots={"case_id": float(case.id)})
        if case.offers and conv.stage in (Stage.OFFER, Stage.CONFIRM_CANCEL):
            # Asking to cancel again while an offer is on the table is insisting.
            return self.cancel(conv)
        turn.say("utter_empathy_cancel")
        # A recent key event (an outage, a double charge) explains it: no reason question.
        remedy = self._event_remedy(conv, reason) if (reason or case.reason is None) else None
        reason = reason or (remedy.reason if remedy else None)
        if reason:
            cases.record_reason(case, reason, verbatim)
            self._acknowledge(turn, reason, remedy)
        if not make_offer:  # a person takes over (handoff)
            return turn
        if not conv.verified:
            return ask_identity(turn)
        if case.reason is None:
            turn.stage = Stage.ASK_REASON
            return turn.say("utter_ask_reason")
        return self._next_offer(conv, case, turn, skip_kinds=offer_sequence.compensated(remedy))

    def set_reason(self, conv: Conversation, reason: str, verbatim: str | None,
                   make_offer: bool = True) -> Turn:
        """A churn reason was stated, with or without a wish to cancel."""
        closed = cancellation.closed_cancellation(self.session, conv)
        if closed is not None:
            return closed
        case = self.open_case(conv)
        turn = Turn(slots={"case_id": float(case.id), "churn_reason": reason})
        already_offered = bool(case.offers)
        cases.record_reason(case, reason, verbatim)
        remedy = self._event_remedy(conv, reason)
        self._acknowledge(turn, reason, remedy)
        if not make_offer:  # a person takes over (handoff)
            return turn
        if not conv.verified:
            return ask_identity(turn)
        if already_offered and conv.stage in (Stage.OFFER, Stage.CLARIFY_OFFER):
            # A new reason while an offer is pending: look for a better match.
            cases.decline_pending(case)
        return self._next_offer(conv, case, turn, reason=reason, skip_kinds=offer_sequence.compensated(remedy))

    def clarify(self, conv: Conversation, verbatim: str | None) -> Turn:
        """The reason was unclear: one open follow-up, then ``other`` with the words kept."""
        case = self.open_case(conv)
        turn = Turn(slots={"case_id": float(case.id)})
        if conv.stage == Stage.ASK_REASON:
            if verbatim:
                case.reason_verbatim = verbatim[:2000]
            turn.stage = Stage.CLARIFY_REASON
            return turn.say("utter_ask_reason_again")
        if verbatim:
            case.reason_verbatim = ((case.reason_verbatim + " | ") if case.reason_verbatim else "") \
                + verbatim[:2000]
        cases.record_reason(case, "other", None)
        turn.slots["churn_reason"] = "other"
        turn.say("utter_reason_other_noted")
        return self._next_offer(conv, case, turn)

    def start_action_plan(self, conv: Conversation, verbatim: str | None) -> Turn:
        """The customer asks for a written plan instead of an offer (or before any offer):
        a pending offer counts as declined, and a case without a reason is about low usage."""
        if not conv.verified:
            return ask_identity(Turn())
        case = self.open_case(conv)
        cases.decline_pending(case)
        if case.reason is None:
            cases.record_reason(case, "low_usage", verbatim)
        return Turn(stage=Stage.PLAN_GOAL, slots={"case_id": float(case.id)}).say("utter_ask_plan_goal")

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
            return Turn(stage=Stage.CONFIRM_CANCEL, slots={"pending_request": None}).say(
                "utter_confirm_cancel")
        if conv.pending and conv.pending.startswith("drop:"):
            return merge_turns(Turn(slots={"pending_request": None}),
                               self.partial(conv, conv.pending[len("drop:"):]))
        case = self.open_case(conv)
        if case.cancel_requested_at is not None and conv.verified and case.customer_id is not None:
            return self.cancel(conv)
        turn = Turn(slots={"case_id": float(case.id)})
        remedy = self._event_remedy(conv, case.reason)
        if case.reason is None and remedy is not None:
            cases.record_reason(case, remedy.reason, None)
            self._acknowledge(turn, remedy.reason, remedy)
        elif remedy is not None and remedy.note:
            turn.say("utter_event_notice", notice=remedy.note)
        if case.reason is None:
            turn.stage = Stage.ASK_REASON
            return turn.say("utter_ask_reason")
        return self._next_offer(conv, case, turn, skip_kinds=offer_sequence.compensated(remedy))

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

    def accept(self, conv: Conversation) -> Turn:
        """The customer said yes: to the pending offer, or to processing the cancellation."""
        case = self.current_case(conv)
        if conv.stage == Stage.CONFIRM_CANCEL:
            return self.cancel(conv)
        pending = cases.pending_offer(case) if case else None
        if case is None or pending is None:
            accepted = cases.accepted_offer(case) if case else None
            if accepted is not None:  # a retried "yes": confirm again, apply nothing twice
                return Turn(stage=Stage.CLOSED).say(
                    "utter_offer_accepted", offer_text=accepted.params["_text"][conv.language],
                    reference=case.reference)
            return Turn().say("utter_anything_else")
        if not conv.verified or case.customer_id is None:
            return ask_identity(Turn())
        if pending.kind == "action_plan":
            pending.outcome, pending.decided_at = OfferOutcome.ACCEPTED, utcnow()
            return Turn(stage=Stage.PLAN_GOAL, slots={"offer_id": pending.offer_id}).say(
                "utter_ask_plan_goal")
        self._apply(case, pending)
        turn = Turn(stage=Stage.CLOSED, slots={"offer_id": pending.offer_id})
        return turn.say("utter_offer_accepted", offer_text=pending.params["_text"][conv.language],
                        reference=case.reference)

    def decline(self, conv: Conversation) -> Turn:
        """The customer said no to the pending offer: one alternative at most, then cancel."""
        case = self.current_case(conv)
        if conv.stage == Stage.CONFIRM_CANCEL:
            return self.keep(conv)
        if case is None or cases.pending_offer(case) is None:
            return Turn().say("utter_anything_else")
        cases.decline_pending(case)
        if len(case.offers) >= MAX_SAVE_ATTEMPTS:
            return self._cancel_if_asked(conv)
        return self._next_offer(conv, case, Turn(slots={"case_id": float(case.id)}), alternative=True)

    def _cancel_if_asked(self, conv: Conversation) -> Turn:
        """After a "no" to the last offer: the cancellation the customer asked for, or, when they
        never said they want to leave, the question whether they do (no cancellation on a "no")."""
        if conv.asked_to_leave:
            return self.cancel(conv)
        return Turn(stage=Stage.CONFIRM_CANCEL).say("utter_confirm_cancel")

    def keep(self, conv: Conversation) -> Turn:
        """The customer decided to stay without an offer."""
        case = self.current_case(conv)
        if case is not None and case.status == OPEN:
            cases.decline_pending(case)
            case.status, case.closed_at = CaseStatus.RETAINED, utcnow()
        return Turn(stage=Stage.CLOSED).say("utter_keep_service")

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
        reason = reason_of_intent(intent) or (mentioned_reason(text) if question is Question.REASON else None)
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
                cases.record_reason(self.open_case(conv), reason, text)
            if kind is Answer.CANCEL:  # the words say so, not only the intent model
                return self.cancel(conv)
            if kind is Answer.STAY:
                return self.keep(conv)
            return self.clarify(conv, text)
        clarifying = stage.startswith("clarify_")
        if question is Question.OFFER:
            if kind is Answer.YES:
                return self.accept(replace(conv, stage=Stage.OFFER))
            if kind is Answer.NO:
                return self.decline(replace(conv, stage=Stage.OFFER))
            if kind is Answer.CANCEL:
                return self.cancel(conv)
            if kind is Answer.STAY:
                return self.keep(conv)
            if kind is Answer.UNCLEAR and reason and not clarifying:
                return self.set_reason(replace(conv, stage=Stage.OFFER), reason, text)
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
            if kind is Answer.CANCEL and sms_replies.answering_proactive(self.session, conv):
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
            if kind is Answer.UNCLEAR and intent in ASIDE_INTENTS:
                return self.aside(conv, text, intent)
        elif question is Question.PLAN_CHOICE:
            chosen = plan_changes.choose_plan(text, load_plans())
            if chosen is not None:
                return self.propose_plan(conv, chosen)
            if kind in (Answer.NO, Answer.STAY):
                return Turn(stage=Stage.CLOSED).say("utter_plan_unchanged")
            if kind is Answer.CANCEL:
                return self.start(replace(conv, stage=None), reason=reason, verbatim=text)
        elif question is Question.PLAN_CHANGE:
            if kind is Answer.YES:
                return self.change_plan(conv, conv.plan_change_to)
            if kind in (Answer.NO, Answer.STAY):
                return Turn(stage=Stage.CLOSED, slots={"plan_change_to": None}).say("utter_plan_unchanged")
            if kind is Answer.CANCEL:
                return self.start(replace(conv, stage=None), reason=reason, verbatim=text)
        if clarifying or question is Question.OPEN:
            return self.leave_open(conv)
        base = "cancel" if stage == Stage.CONFIRM_CANCEL else stage
        turn = Turn(stage=f"clarify_{base}")
        if question is Question.PLAN_CHOICE:
            return turn.say("utter_clarify_choose_plan", plan_list=self.plan_list(conv))
        if question is Question.WINBACK and sms_replies.answering_proactive(self.session, conv):
            return turn.say("utter_clarify_proactive")  # they never left: not "come back"
        return turn.say(f"utter_clarify_{base}")

    def aside(self, conv: Conversation, text: str, intent: str | None) -> Turn:
        """A customer we texted (a win-back or proactive SMS) writes about something else: that
        gets its own answer (a plan change, a SIM block, where to do an account task), and the
        offer stays open with the question asked again, not taken as a yes or a no."""
        urgent = self.urgent_request(conv, text)
        if urgent is not None:
            return urgent
        if intent == "change_plan":
            return self.plan_options(conv)
        proactive = sms_replies.answering_proactive(self.session, conv)
        again = "utter_clarify_proactive" if proactive else "utter_clarify_winback"
        first = "utter_cancel_other" if intent == "cancel_other" else "utter_other_request"
        return Turn(stage=conv.stage).say(first).say(again)

    # ------------------------------------------------------------ plan changes
    def plan_list(self, conv: Conversation) -> str:
        """The other plans with their prices, one per line, for the customer to choose from."""
        return plan_changes.plan_list(self.session, conv)

    def plan_options(self, conv: Conversation) -> Turn:
        """The customer wants another plan (not to leave): the options, then their choice."""
        return plan_changes.plan_options(self.session, conv)

    def propose_plan(self, conv: Conversation, code: str) -> Turn:
        """Read the chosen plan back with its price; yes changes it (stage plan_change)."""
        return plan_changes.propose_plan(self.session, conv, code)

    def partial(self, conv: Conversation, drop: str) -> Turn:
        """Drop one service of a bundle: the matching plan with its new price, or a person."""
        return plan_changes.partial(self.session, conv, drop)

    def change_plan(self, conv: Conversation, target_code: str | None = None) -> Turn:
        """Yes to the proposed plan: change it now (a plan change, never a cancellation)."""
        return plan_changes.change_plan(self.session, conv, target_code)

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
        return sms_replies.winback(self.session, self.today, conv, accept)

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
                and (self.current_case(conv) is None or conv.stage in (None, Stage.CLOSED))):
            return self.firm_cancel(conv, confidence=0.0)
        return None

    # ------------------------------------------------------------ cancellation
    def firm_cancel(self, conv: Conversation, confidence: float = 1.0, pressed: bool = False,
                    text: str | None = None) -> Turn:
        """The customer insists on cancelling ("just cancel it"): ``bot.core.cancellation.firm_cancel``."""
        return cancellation.firm_cancel(self.session, self.policy, self.today, conv, confidence, pressed, text)

    def cancel(self, conv: Conversation) -> Turn:
        """Process the cancellation now: effective date, confirmation number, next steps."""
        return cancellation.cancel(self.session, self.policy, self.today, conv)

    def undo(self, conv: Conversation) -> Turn:
        """Undo a cancellation before its effective date, as the confirmation promises."""
        return cancellation.undo(self.session, self.today, conv)

    @staticmethod
    def ask_identity(turn: Turn) -> Turn:
        return ask_identity(turn)

    # ------------------------------------------------------------- offers
    def _next_offer(self, conv: Conversation, case: RetentionCase, turn: Turn,
                    alternative: bool = False, reason: str | None = None,
                    skip_kinds: tuple[str, ...] = ()) -> Turn:
        if len(case.offers) >= MAX_SAVE_ATTEMPTS:
            if alternative:
                return merge_turns(turn, self._cancel_if_asked(conv))
            # Both save attempts were made (maybe one accepted): no third offer, and no
            # cancellation without a clear yes.
            turn.stage = Stage.CONFIRM_CANCEL
            return turn.say("utter_confirm_cancel")
        ranked = offer_sequence.next_offers(self.session, self.catalogue, self.today, case, reason, skip_kinds)
        if not ranked:
            if alternative:  # declined the only offer there is: the cancellation they asked for
                return merge_turns(turn, self._cancel_if_asked(conv))
            turn.stage = Stage.CONFIRM_CANCEL
            return turn.say("utter_no_offer")
        best = ranked[0]
        offer_sequence.record_offer(self.session, case, best)
        turn.stage = Stage.OFFER
        turn.slots["offer_id"] = best.offer_id
        if alternative:
            turn.say("utter_offer_alternative")
        return turn.say("utter_offer", offer_text=best.describe(conv.language))

    def _apply(self, case: RetentionCase, offer: CaseOffer) -> None:
        """Apply an accepted offer to the subscription, once (``bot.core.subscriptions``)."""
        customer = cases.case_customer(self.session, case)
        assert customer is not None
        accept_offer(case, customer, offer, self.today)
