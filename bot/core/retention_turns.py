"""The turns of a retention conversation (``RetentionTurns``): the case, the reason, the key
event behind it, the offers in order (at most two save attempts), yes and no to an offer,
staying, and the plan changes, win-back answers and cancellation that ``bot.core.plan_changes``,
``bot.core.sms_replies`` and ``bot.core.cancellation`` carry out.

``bot.core.retention.RetentionService`` adds the reading of an answer in context on top.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from bot.core import cancellation, cases, offer_sequence, plan_changes, sms_replies
from bot.core.alerts import Remedy, remedy_for
from bot.core.conversation import Conversation, Turn, ask_identity, merge_turns
from bot.core.customer_statements import pause_request
from bot.core.offer_loader import load_catalogue
from bot.core.offer_model import Catalogue
from bot.core.offer_sequence import MAX_SAVE_ATTEMPTS
from bot.core.process import Policy, load_policy
from bot.core.subscriptions import accept_offer
from bot.core.vocabulary import CaseStatus, OfferOutcome, Stage
from bot.storage.models import CaseOffer, RetentionCase, utcnow


class RetentionTurns:
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
              verbatim: str | None = None, make_offer: bool = True,
              opener: str = "utter_empathy_cancel") -> Turn:
        """The customer says they want to leave (maybe with the reason in the same message).

        ``opener``: the first words ("Siento que estés pensando en dejarnos"; a pause request
        gets its own).
        """
        closed = cancellation.closed_cancellation(self.session, conv)
        if closed is not None:
            return closed
        case = self.open_case(conv)
        turn = Turn(slots={"case_id": float(case.id)})
        if case.offers and conv.stage in (Stage.OFFER, Stage.CONFIRM_CANCEL):
            # Asking to cancel again while an offer is on the table is insisting.
            return self.cancel(conv)
        turn.say(opener)
        # A recent key event (an outage, a double charge) explains it: no reason question.
        remedy = self._event_remedy(conv, reason) if (reason or case.reason is None) else None
        reason = reason or (remedy.reason if remedy else None)
        if reason:
            cases.record_reason(case, reason, verbatim)
            self._acknowledge(turn, reason, remedy)
        return self._after_reason(conv, case, turn, make_offer, remedy)

    def _after_reason(self, conv: Conversation, case: RetentionCase, turn: Turn, make_offer: bool,
                      remedy: Remedy | None, reason: str | None = None) -> Turn:
        """What follows once the case has its reason, or has none yet: a person takes over, or the
        identity check, or the reason question, or the offer that answers the reason."""
        if not make_offer:  # a person takes over (handoff)
            return turn
        if not conv.verified:
            return ask_identity(turn)
        if case.reason is None:
            turn.stage = Stage.ASK_REASON
            return turn.say("utter_ask_reason")
        return self._next_offer(conv, case, turn, reason=reason, skip_kinds=offer_sequence.compensated(remedy))

    def set_reason(self, conv: Conversation, reason: str, verbatim: str | None,
                   make_offer: bool = True) -> Turn:
        """A churn reason was stated, with or without a wish to cancel."""
        closed = cancellation.closed_cancellation(self.session, conv)
        if closed is not None:
            return closed
        if self._not_leaving(conv):
            return self.complaint(conv, reason, make_offer)
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

    def _not_leaving(self, conv: Conversation) -> bool:
        """No question pending, from someone who has not said they want to leave, in a conversation
        without an open case: "el internet me va lentísimo" is a complaint and "what are my
        options?" a question about plans, not leaving."""
        if conv.asked_to_leave or conv.stage not in (None, Stage.CLOSED):
            return False
        case = self.current_case(conv)
        return case is None or case.status != CaseStatus.OPEN

    def complaint(self, conv: Conversation, reason: str, make_offer: bool = True) -> Turn:
        """A complaint is not leaving: sorry for it (with the key event behind it, if any), and one
        question, whether they are thinking of leaving. No case, no offer until they say so."""
        turn = self.apology(conv, reason)
        if not make_offer:  # an angry complaint: a person takes over
            return turn
        turn.stage = Stage.COMPLAINT
        return turn.say("utter_ask_leaving")

    def apology(self, conv: Conversation, reason: str) -> Turn:
        """Sorry for what went wrong, with the key event behind it and its remedy, if any."""
        turn = Turn()
        self._acknowledge(turn, reason, self._event_remedy(conv, reason))
        return turn

    def leaving_after_complaint(self, conv: Conversation, reason: str | None, verbatim: str | None,
                                make_offer: bool = True) -> Turn:
        """Yes to "are you thinking of leaving?" after a complaint: the case, with the complaint
        as its reason (already said sorry for), and the offer that answers it."""
        case = self.open_case(conv)
        turn = Turn(slots={"case_id": float(case.id)})
        remedy = None
        if reason:
            cases.record_reason(case, reason, verbatim)
            remedy = self._event_remedy(conv, reason)
        return self._after_reason(conv, case, turn, make_offer, remedy, reason=reason)

    def no_leaving(self, conv: Conversation) -> Turn:
        """No to "are you thinking of leaving?": nothing is opened or changed; a person is offered."""
        del conv
        return Turn(stage=None).say("utter_complaint_noted")

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
        if self._not_leaving(conv):
            # "what are my options?" from someone who never spoke of leaving: the plans, no case
            return self.plan_options(conv)
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
        return case is not None and case.status == CaseStatus.OPEN and case.cancel_requested_at is not None

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
            # nothing asked but "anything else?" (after an undo, an accepted offer): "no, that's all"
            return Turn(stage=None).say("utter_goodbye")
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
        if case is not None and case.status == CaseStatus.OPEN:
            cases.decline_pending(case)
            case.status, case.closed_at = CaseStatus.RETAINED, utcnow()
        return Turn(stage=Stage.CLOSED).say("utter_keep_service")


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


    # ------------------------------------------------------------- win-back
    def winback(self, conv: Conversation, accept: bool) -> Turn:
        """The answer to a win-back SMS, read in context (a late "sí, me interesa" too)."""
        return sms_replies.winback(self.session, self.today, conv, accept)

    def leave_open(self, conv: Conversation) -> Turn:
        """Still unsure after the follow-up: nothing changes, the case stays open for later."""
        del conv
        return Turn(stage=None, slots={"plan_change_to": None}).say("utter_left_open")

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
            if not case.offers and pause_request(case.reason_verbatim or ""):
                # a longer pause than any this customer can get here ("tres meses" when two is
                # the most): not the cancellation read-back to someone who asked to stay
                turn.stage = None
                return turn.say("utter_pause_by_person")
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
