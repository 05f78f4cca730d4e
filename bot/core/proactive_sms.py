"""Texting the due proactive contacts (``bot.core.proactive``): marketing consent checked again
by the sender right before the HTTP call, never in the customer's quiet hours (the contact
stays due), once (a conditional claim; a failed delivery goes back to due, at most 3 times)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Callable, ContextManager

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.core.campaign_claiming import in_quiet_hours
from bot.core.campaign_config import load_campaigns
from bot.core.proactive import ANSWER_DAYS, ProactiveConfig, claim, load_proactive, render, texted_lately
from bot.core.process import Policy, load_policy
from bot.core.vocabulary import ContactStatus
from bot.storage.db import in_session
from bot.storage.models import Customer, ProactiveContact, utcnow


def expire_unanswered(session: Session, now: datetime) -> int:
    """Sent contacts nobody answered within ``ANSWER_DAYS``: no answer."""
    done = session.execute(update(ProactiveContact).where(
        ProactiveContact.status == ContactStatus.SENT, ProactiveContact.sent_at < now - timedelta(days=ANSWER_DAYS))
        .values(status=ContactStatus.NO_ANSWER, outcome_at=now))
    return int(done.rowcount or 0)


def _prepare(session: Session, contact_id: int, now: datetime, policy: Policy, config: ProactiveConfig,
             company: str) -> tuple[str, int] | str | None:
    contact = session.get(ProactiveContact, contact_id)
    if contact is None or contact.status != ContactStatus.DUE:
        return None
    customer = session.get(Customer, contact.customer_id)
    if customer is None:
        return None
    if in_quiet_hours(policy, customer.timezone, now):
        return "quiet"
    if customer.id in texted_lately(session, now.date(), config.min_days_since_other_sms):
        # planned before another SMS of ours went out (a key event): not a second text now
        contact.status, contact.skip_reason, contact.outcome_at = ContactStatus.SKIPPED, "texted_recently", now
        return None
    if not claim(session, contact_id):
        return None
    return render(config, contact, customer, company), customer.id


def _finish(session: Session, contact_id: int, status: str, detail: str | None, now: datetime) -> None:
    contact = session.get(ProactiveContact, contact_id)
    assert contact is not None
    contact.status = status
    if status == ContactStatus.SENT:
        contact.sent_at, contact.message_sid = now, (detail or "")[:200]
    elif status in (ContactStatus.SKIPPED, ContactStatus.FAILED):
        contact.skip_reason, contact.outcome_at = (detail or "")[:60], now


async def send_due(factory: Callable[[], ContextManager[Session]], sender: Any, now: datetime | None = None,
                   policy: Policy | None = None, config: ProactiveConfig | None = None) -> dict[str, int]:
    from bot.messaging.sms import send_and_report

    now = now or utcnow()
    policy = policy or load_policy()
    config = config or load_proactive()
    company = load_campaigns().company
    counts = {"sent": 0, "skipped": 0, "failed": 0, "quiet_hours": 0}

    ids = await asyncio.to_thread(in_session, factory, lambda s: list(s.scalars(select(ProactiveContact.id).where(
        ProactiveContact.status == ContactStatus.DUE).order_by(ProactiveContact.probability.desc()))))
    for contact_id in ids:
        prepared = await asyncio.to_thread(
            in_session, factory, lambda s, i=contact_id: _prepare(s, i, now, policy, config, company))
        if prepared is None:
            continue
        if prepared == "quiet":
            counts["quiet_hours"] += 1
            continue
        body, customer_id = prepared
        outcome, detail = await send_and_report(sender, body=body, purpose="marketing", customer_id=customer_id)
        status = {"sent": ContactStatus.SENT, "refused": ContactStatus.SKIPPED,
                  "failed": ContactStatus.DUE}[outcome]  # a failed one is tried again in the next run
        await asyncio.to_thread(
            in_session, factory, lambda s, i=contact_id, st=status, d=detail: _finish(s, i, st, d, now))
        counts[status.value if status in (ContactStatus.SENT, ContactStatus.SKIPPED) else "failed"] += 1
    return counts
