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

The service reads each answer in context and routes it to a turn of ``bot.core.retention_turns``
(``RetentionTurns``: the case, the reason, the offers, yes and no, staying); the rules those apply
live beside them: ``bot.core.conversation``
(``Conversation``, ``Turn``, the question of each stage), ``bot.core.cases`` (the case and its
offers), ``bot.core.offer_sequence`` (which offer comes next), ``bot.core.cancellation`` (cancel,
undo), ``bot.core.plan_changes`` (another plan instead of leaving) and ``bot.core.sms_replies``
(answers to a win-back or proactive SMS).
"""

from __future__ import annotations

from dataclasses import replace

from bot.core import cases, plan_changes, sms_replies
from bot.core.answers import Answer, Question, read
from bot.core.conversation import QUESTION_OF_STAGE, Conversation, Turn, merge_turns, reason_of_intent
from bot.core.customer_statements import SIM_BLOCK, firm_request, mentioned_reason, pause_request
from bot.core.customer_text import normalise
from bot.core.handoff import handoff_trigger, in_office_hours
from bot.core.retention_turns import RetentionTurns
from bot.core.tariffs import load_plans
from bot.core.vocabulary import CaseStatus, Stage

# Requests with their own answer that a customer we texted may make instead of replying to the offer.
ASIDE_INTENTS = frozenset({"other_request", "cancel_other", "change_plan"})
#: the responses that end by offering a person ("si lo prefieres, te paso con una persona")
PERSON_OFFERED = frozenset({"utter_other_request", "utter_iamabot", "utter_complaint_noted",
                            "utter_pause_by_person"})
#: words that show a first message is more than a complaint: leaving (or thinking of it),
#: staying, unsure, a person, something else to cancel, the contract's end
_SAID_SOMETHING = frozenset({"cancel", "leave", "considering", "undecided", "stay", "human", "object",
                             "contract_end"})


class RetentionService(RetentionTurns):
    """The turns of ``RetentionTurns`` and the answers read in context: an answer to the question
    of the stage, an aside to an SMS offer, a first message read for what the model missed."""

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
        if question is Question.LEAVING:
            return self.after_complaint(conv, text, kind, reason)
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
            if kind is Answer.UNCLEAR and reason and reason != conv.reason and not clarifying:
                # another reason told to the offer: the offer that answers it. The same reason
                # again ("pues que no funciona") is no answer: the short question follows.
                return self.set_reason(replace(conv, stage=Stage.OFFER), reason, text)
        elif question is Question.CONFIRM_CANCEL:
            if kind is Answer.CANCEL:
                return self.cancel(conv)
            if kind is Answer.STAY:
                return self.keep(conv)
            case = self.current_case(conv) if reason else None
            if case is not None and case.status == CaseStatus.OPEN:  # "es que el servicio falla mucho"
                cases.record_reason(case, reason, text)  # kept (listed after the first), then asked again
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

    def complaint_first(self, conv: Conversation, text: str, reason: str) -> Turn:
        """A complaint as the first message: ``complaint``, or, when it is angry, the apology and a
        person (in office hours; out of them the question too, and the callback promise)."""
        trigger, person_now = self._person_instead(conv, text, starting=False)
        turn = self.complaint(conv, reason, make_offer=not person_now)
        turn.handoff = trigger
        return turn

    def after_complaint(self, conv: Conversation, text: str, kind: Answer, reason: str | None) -> Turn:
        """The answer to "are you thinking of leaving?" after a complaint. Yes, or unsure, starts the
        retention talk (nothing irreversible: a case and an offer); "just cancel it" is the
        cancellation asked for; no, or anything else, changes nothing and opens no case."""
        fresh = replace(conv, stage=None, asked_to_leave=kind is Answer.CANCEL)
        if kind is Answer.CANCEL and firm_request(text):
            if conv.reason:
                cases.record_reason(self.open_case(fresh), conv.reason, conv.previous_text)
            return self.firm_cancel(fresh, confidence=1.0, text=text)
        if kind not in (Answer.YES, Answer.CANCEL, Answer.UNDECIDED):
            return self.no_leaving(conv)
        trigger, person_now = self._person_instead(conv, text, starting=True)
        turn = self.leaving_after_complaint(fresh, conv.reason, conv.previous_text, make_offer=not person_now)
        if reason and reason != conv.reason:  # "sí, me voy a Movistar": listed after the first
            cases.record_reason(self.open_case(fresh), reason, text)
        if trigger and turn.stage != Stage.CLOSED:
            turn.handoff = trigger
        return turn

    def _person_instead(self, conv: Conversation, text: str, starting: bool) -> tuple[str | None, bool]:
        """The handoff trigger of this message, if any (an angry one; a high-value account when a
        retention talk starts), and whether a person can take over now (office hours)."""
        customer_id = conv.customer_id if conv.verified and starting else None
        trigger = handoff_trigger(self.session, text, customer_id, starting=starting, policy=self.policy)
        return trigger, bool(trigger) and in_office_hours(self.policy.handoff)

    def yes_to_a_person(self, conv: Conversation, last_response: str | None) -> Turn | None:
        """"Sí" right after the assistant offered a person ("si lo prefieres, te paso con una
        persona"), with no texted offer waiting for that yes: the person. None otherwise."""
        if last_response not in PERSON_OFFERED:
            return None
        if conv.customer_id is not None and sms_replies.texted_offer_waiting(self.session, conv.customer_id):
            return None
        return Turn(handoff="asked")

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

    def urgent_request(self, conv: Conversation, text: str) -> Turn | None:
        """A stolen or lost phone: the SIM block goes to a person now, with a reference."""
        if not SIM_BLOCK.search(normalise(text)):
            return None
        from bot.core.handoff import open_ticket

        decision = open_ticket(self.session, conversation_id=conv.conversation_id, trigger="sim_block",
                               channel=conv.channel, language=conv.language, verbatim=text,
                               customer_id=conv.customer_id if conv.verified else None, case=None)
        return Turn(stage=None).say("utter_sim_block", reference=f"INC-{decision.ticket.id:06d}")



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
        if "contract_end" in reading.signals and "cancel" not in reading.signals:
            return Turn().say("utter_contract_end")
        if (pause_request(text)
                and self.current_case(conv) is None and conv.stage in (None, Stage.CLOSED)):
            # "¿puedo pausar la línea tres meses?": the pause is offered (once the account is
            # known), not the complaint question nor "I can't help with that" (walk finding)
            return self.start(conv, reason="temporary", verbatim=text, opener="utter_pause_request")
        if cancel_family and reading.answer is Answer.STAY and "cancel" not in reading.signals:
            reason = reason_of_intent(intent)
            if reason:  # "no pienso irme, pero compensadme por el corte": the complaint is heard
                return merge_turns(self.apology(conv, reason), self.no_leaving(conv))
            return Turn().say("utter_keep_service")
        if cancel_family and "other_thing" in reading.signals and "cancel" not in reading.signals:
            # "quiero cancelar la suscripción a Netflix": an add-on or an order, not the service;
            # the reply says how to end the contract, should that be what was meant
            return Turn().say("utter_cancel_other")
        reason = reason_of_intent(intent)
        if (cancel_family and reason and not reading.signals & _SAID_SOMETHING
                and self._not_leaving(conv)):
            # the model read leaving into a complaint ("hola, el internet me va lentísimo desde
            # hace una semana"): no word of leaving was said, so it is asked, not assumed
            return self.complaint_first(conv, text, reason)
        if intent == "cancel" and firm_request(text) and self.current_case(conv) is None:
            return self.firm_cancel(conv, confidence=0.0)  # "solo quiero cancelar": read back
        told = mentioned_reason(text)
        leaving = "cancel" in reading.signals and not reading.signals & {"stay", "undecided", "object"}
        if (intent != "cancel" and not (intent or "").startswith("cancel+") and told and leaving
                and not firm_request(text) and self.current_case(conv) is None):
            # "I want to leave, switching to Orange": leaving with a reason, not "just cancel it"
            return self.start(conv, reason=told, verbatim=text)
        if (not cancel_family and leaving
                and (self.current_case(conv) is None or conv.stage in (None, Stage.CLOSED))):
            if "cancel_word" in reading.signals or firm_request(text):
                return self.firm_cancel(conv, confidence=0.0)
            # leaving said in other words the model took for a question ("es que me cambio de
            # compañía, ¿dónde devuelvo el router?"): the retention talk, not the read-back
            return self.start(conv, reason=told, verbatim=text if told else None)
        return None

