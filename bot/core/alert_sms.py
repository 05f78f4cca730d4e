"""Texting the proactive SMS of key-event alerts (the ``sms`` action of ``data/key_events.yml``).

Queued by ``bot.core.alerts.ingest``; sent here by ``python -m bot.cli.events send`` (``make run``
runs it every minute). The same contact rules as the cold campaigns: service consent, never
after an opt-out (checked again by the sender right before the HTTP call), never in the
customer's quiet hours (``data/retention.yml`` ``cold.quiet_hours``: the SMS waits), once per
alert (a conditional claim; a failed delivery is retried up to ``MAX_ATTEMPTS`` times), and
at most ``settings.max_sms_per_day`` key-event SMS to one customer in 24 hours.
A ``payment_failed`` SMS carries a single-use, expiring link to update the payment method.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, ContextManager

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.config import settings
from bot.core.alerts import claim_sms, key_event_sms_sent, render
from bot.core.campaign_claiming import in_quiet_hours
from bot.core.campaign_config import load_campaigns
from bot.core.key_events import KeyEventsConfig, load_key_events
from bot.core.payment_links import create_link
from bot.core.process import Policy, load_policy
from bot.core.vocabulary import AlertActionStatus
from bot.storage.db import in_session
from bot.storage.models import Alert, AlertAction, Customer, utcnow

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


@dataclass
class SendSummary:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    quiet_hours: int = 0  # left for a later run

    def as_json(self) -> dict[str, int]:
        return {"sent": self.sent, "skipped": self.skipped, "failed": self.failed, "quiet_hours": self.quiet_hours}


def _pending(session: Session) -> list[int]:
    return list(session.scalars(select(AlertAction.id).where(
        AlertAction.action == "sms", AlertAction.status == AlertActionStatus.PENDING).order_by(AlertAction.id)))


def _texted_today(session: Session, customer_id: int, now: datetime) -> int:
    """Key-event SMS sent to this customer in the last 24 hours (three outages in a day are not
    three texts: ``settings.max_sms_per_day``)."""
    sent = key_event_sms_sent(now - timedelta(hours=24)).where(Alert.customer_id == customer_id)
    return session.scalar(select(func.count()).select_from(sent.subquery())) or 0


def _prepare(session: Session, action_id: int, now: datetime, policy: Policy, config: KeyEventsConfig,
             company: str) -> tuple[str, Any] | None:
    """(body, customer id) of a claimed SMS, "quiet" when it must wait, None when gone."""
    action = session.get(AlertAction, action_id)
    if action is None or action.status != AlertActionStatus.PENDING:
        return None
    alert: Alert = action.alert
    customer: Customer = alert.customer
    if in_quiet_hours(policy, customer.timezone, now):
        return "quiet", None
    if _texted_today(session, customer.id, now) >= config.max_sms_per_day:
        action.status, action.detail, action.done_at = AlertActionStatus.SKIPPED, "sms_daily_limit", now
        return "limit", None
    if not claim_sms(session, action_id):
        return None
    event_type = config.events[alert.type]
    language = customer.language if customer.language in event_type.sms else "es"
    extra = {}
    if "payment_link" in event_type.sms[language]:
        token = create_link(session, customer.id, alert_id=alert.id, now=now,
                            ttl=timedelta(hours=settings.payment_link_ttl_hours()))
        extra["payment_link"] = f"{settings.public_web_url()}/pay/{token}"
    return render(event_type.sms[language], alert, customer, event_type, language, company, extra), customer.id


def _finish(session: Session, action_id: int, status: str, detail: str | None, now: datetime) -> str:
    action = session.get(AlertAction, action_id)
    assert action is not None
    if status == AlertActionStatus.FAILED and action.attempts < MAX_ATTEMPTS:
        status = AlertActionStatus.PENDING  # a later run tries again
    action.status, action.detail = status, (detail or "")[:200] or None
    if status in (AlertActionStatus.SENT, AlertActionStatus.SKIPPED, AlertActionStatus.FAILED):
        action.done_at = now
    return status


async def send_pending(factory: Callable[[], ContextManager[Session]], sender: Any, now: datetime | None = None,
                       policy: Policy | None = None, config: KeyEventsConfig | None = None) -> SendSummary:
    """Text every queued alert SMS that may go out now. Database work runs off the event loop."""
    from bot.messaging.sms import send_and_report

    now = now or utcnow()
    policy = policy or load_policy()
    config = config or load_key_events()
    company = load_campaigns().company
    summary = SendSummary()

    for action_id in await asyncio.to_thread(in_session, factory, _pending):
        prepared = await asyncio.to_thread(
            in_session, factory, lambda s, i=action_id: _prepare(s, i, now, policy, config, company))
        if prepared is None:
            continue
        body, customer_id = prepared
        if body == "quiet":
            summary.quiet_hours += 1
            continue
        if body == "limit":
            summary.skipped += 1
            continue
        outcome, detail = await send_and_report(sender, body=body, purpose="service", customer_id=customer_id)
        status = {"sent": AlertActionStatus.SENT, "refused": AlertActionStatus.SKIPPED,
                  "failed": AlertActionStatus.FAILED}[outcome]
        final = await asyncio.to_thread(
            in_session, factory, lambda s, i=action_id, st=status, d=detail: _finish(s, i, st, d, now))
        if final == AlertActionStatus.SENT:
            summary.sent += 1
        elif final == AlertActionStatus.SKIPPED:
            summary.skipped += 1
        elif final == AlertActionStatus.FAILED:
            summary.failed += 1
    return summary
