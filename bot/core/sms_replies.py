"""Answers to an SMS the company sent, read in a conversation: to a win-back SMS (a cold case,
``bot.core.campaign_replies``) or, when none is waiting, to a proactive offer
(``bot.core.proactive``)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from bot.core.conversation import Conversation, Turn
from bot.core.vocabulary import Stage


def winback(session: Session, today: date, conv: Conversation, accept: bool) -> Turn:
    """The answer to a win-back SMS, read in context (a late "sí, me interesa" too)."""
    from bot.core.campaign_messages import winback_offer_text
    from bot.core.campaign_replies import accept_winback, decline_winback, pending_winback

    cold = pending_winback(session, conv.customer_id) if conv.customer_id else None
    if cold is None:
        return proactive_answer(session, today, conv, accept)
    if not accept:
        decline_winback(session, cold)
        return Turn(stage=Stage.CLOSED).say("utter_winback_declined")
    reference = accept_winback(session, cold)
    return Turn(stage=Stage.CLOSED).say("utter_winback_accepted", reference=reference,
                                    offer_text=winback_offer_text(cold, conv.language))


def texted_offer_waiting(session: Session, customer_id: int) -> bool:
    """A win-back or proactive offer we texted this customer is waiting for their answer."""
    from bot.core import proactive
    from bot.core.campaign_replies import pending_winback

    return pending_winback(session, customer_id) is not None \
        or proactive.pending_contact(session, customer_id) is not None


def answering_proactive(session: Session, conv: Conversation) -> bool:
    """The customer's SMS answer is to a proactive offer (no win-back SMS is waiting)."""
    from bot.core import proactive
    from bot.core.campaign_replies import pending_winback

    return bool(conv.customer_id) and pending_winback(session, conv.customer_id) is None \
        and proactive.pending_contact(session, conv.customer_id) is not None


def proactive_answer(session: Session, today: date, conv: Conversation, accept: bool) -> Turn:
    """The answer to a proactive SMS (``bot.core.proactive``): the offer applied, or noted."""
    from bot.core import proactive

    contact = proactive.pending_contact(session, conv.customer_id) if conv.customer_id else None
    if contact is None:
        return Turn(stage=None).say("utter_anything_else")
    if not accept:
        proactive.decline(session, contact)
        return Turn(stage=Stage.CLOSED).say("utter_proactive_declined")
    reference = proactive.accept(session, contact, today)
    return Turn(stage=Stage.CLOSED).say("utter_proactive_accepted", reference=reference,
                                    offer_text=proactive.offer_text(contact, conv.language))
