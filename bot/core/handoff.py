"""Human handoff: when to hand a conversation to a person, the ticket, and agent notification.

Triggers: the customer asks for a person; the assistant failed to understand N turns in a
row; the customer is angry; the account's value is above a threshold (``data/retention.yml``).
In office hours the assistant pauses and a person takes over; outside them the customer gets
a callback promise, the ticket is queued and the assistant keeps helping (it never leaves a
customer who wants to cancel without a way to do it).

The ticket is stored before any notification is attempted: a failed webhook is retried
(``python -m bot.core.handoff retry``) and never loses the ticket.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import settings
from bot.core.customers import profile_of
from bot.core.language import fold
from bot.core.process import HandoffPolicy, Policy, load_policy
from bot.core.vocabulary import OPEN_TICKET_STATUSES, CaseStatus, TicketStatus
from bot.storage.models import Customer, HandoffTicket, RetentionCase, utcnow

logger = logging.getLogger(__name__)

TRIGGERS = ("asked", "not_understood", "angry", "high_value", "partial", "sim_block", "fault")
MAX_NOTIFY_ATTEMPTS = 8

_ANGRY_WORDS = {
    # Spanish
    "verguenza", "vergonzoso", "estafa", "estafadores", "ladrones", "robo", "harto", "harta",
    "hartos", "indignado", "indignada", "inaceptable", "impresentable", "asco", "basura",
    "mierda", "joder", "cabreado", "cabreada", "denunciar", "denuncia", "consumo", "timo",
    "timadores", "incompetentes", "pesimo", "lamentable", "fatal",
    # English
    "ridiculous", "disgusting", "scam", "scammers", "thieves", "furious", "outrageous",
    "unacceptable", "pathetic", "useless", "terrible", "worst", "sue", "lawyer", "angry",
    "fed", "sick", "rubbish", "joke", "shameful", "incompetent", "crap",
}
_WORD = re.compile(r"[a-zA-Z\u00C0-\u024F']+")


def sentiment(text: str) -> str:
    """"negative" when the message shows anger (strong words, shouting), else "neutral"."""
    if not text:
        return "neutral"
    words = [fold(w) for w in _WORD.findall(text)]
    strong = sum(1 for w in words if w in _ANGRY_WORDS)
    letters = [c for c in text if c.isalpha()]
    shouting = len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.7
    exclaims = text.count("!") >= 3
    score = strong + (1 if shouting else 0) + (1 if exclaims else 0)
    return "negative" if score >= 2 or (strong >= 1 and (shouting or exclaims)) else "neutral"


def is_angry(text: str) -> bool:
    return sentiment(text) == "negative"


def in_office_hours(policy: HandoffPolicy, now: datetime | None = None) -> bool:
    """``now`` is naive UTC (as stored) or aware; office hours are in the policy's time zone."""
    now = now or now_utc()
    aware = now if now.tzinfo else now.replace(tzinfo=ZoneInfo("UTC"))
    local = aware.astimezone(ZoneInfo(policy.timezone))
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
    return day in policy.days and policy.start <= local.time().replace(tzinfo=None) < policy.end


def person_available_now(policy: Policy | None = None) -> bool:
    """Whether a person can take a conversation over right now (office hours of the policy)."""
    return in_office_hours((policy or load_policy()).handoff, now_utc())


def handoff_trigger(session: Session, text: str, customer_id: Optional[int], *, starting: bool,
                    policy: Policy | None = None) -> Optional[str]:
    """The trigger that sends this turn to a person instead of the assistant, if any: an angry
    message, or (when a retention conversation starts) a verified high-value account."""
    if is_angry(text):
        return "angry"
    if starting and customer_id is not None:
        customer = session.get(Customer, customer_id)
        sub = customer.current_subscription if customer else None
        limit = (policy or load_policy()).handoff.high_value_monthly_revenue
        if sub is not None and float(sub.monthly_price) >= limit:
            return "high_value"
    return None


def next_opening(policy: HandoffPolicy, now: datetime | None = None) -> datetime:
    """When the office opens next (local time), for the callback promise."""
    now = now or now_utc()
    aware = now if now.tzinfo else now.replace(tzinfo=ZoneInfo("UTC"))
    local = aware.astimezone(ZoneInfo(policy.timezone))
    for add in range(0, 8):
        day = local + timedelta(days=add)
        opening = day.replace(hour=policy.start.hour, minute=policy.start.minute, second=0, microsecond=0)
        name = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[opening.weekday()]
        if name in policy.days and opening > local:
            return opening
    return local + timedelta(days=1)


def now_utc() -> datetime:
    """Current time (naive UTC). ``RETENTION_NOW`` (ISO) freezes it, for demos and tests."""
    frozen = settings.retention_now()
    if frozen:
        parsed = datetime.fromisoformat(frozen)
        if parsed.tzinfo:
            parsed = parsed.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
        return parsed
    return utcnow()


@dataclass(frozen=True)
class HandoffDecision:
    ticket: HandoffTicket
    in_office_hours: bool
    opening: datetime


def summary_for(session: Session, case: Optional[RetentionCase], customer: Optional[Customer],
                trigger: str, verbatim: str, channel: str) -> dict[str, Any]:
    """What a person needs to act in ten seconds (``open_ticket`` adds the transcript link)."""
    who: dict[str, Any] = {"customer": None}
    if customer is not None:
        prof = profile_of(customer)
        who = {"customer": f"{prof.full_name} ({prof.ref})", "plan": prof.plan_name_es,
               "monthly_revenue": float(prof.monthly_revenue), "value_segment": prof.value_segment,
               "tenure_months": prof.tenure_months}
    offers = []
    if case is not None:
        offers = [{"offer": o.offer_id, "kind": o.kind, "outcome": o.outcome} for o in case.offers]
    return {**who, "trigger": trigger, "channel": channel,
            "reason": case.reason if case is not None else None,
            "verbatim": (case.reason_verbatim if case is not None and case.reason_verbatim else verbatim)[:500],
            "last_message": verbatim[:500], "offers": offers, "sentiment": sentiment(verbatim)}


def open_ticket(session: Session, *, conversation_id: str, trigger: str, channel: str, language: str,
                verbatim: str, customer_id: Optional[int], case: Optional[RetentionCase],
                policy: Policy | None = None, now: datetime | None = None) -> HandoffDecision:
    """Open (or return the already open) ticket of this conversation."""
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown handoff trigger {trigger!r}")
    policy = policy or load_policy()
    now = now or now_utc()
    office = in_office_hours(policy.handoff, now)
    opening = next_opening(policy.handoff, now)
    existing = session.scalar(select(HandoffTicket).where(
        HandoffTicket.conversation_id == conversation_id, HandoffTicket.status.in_(OPEN_TICKET_STATUSES)))
    if existing is not None:
        return HandoffDecision(existing, office, opening)
    customer = session.get(Customer, customer_id) if customer_id else None
    base = settings.public_analytics_url()
    summary = summary_for(session, case, customer, trigger, verbatim, channel)
    ticket = HandoffTicket(
        conversation_id=conversation_id, case_id=case.id if case is not None else None,
        customer_id=customer_id, channel=channel, language=language, trigger=trigger,
        status=TicketStatus.WAITING if office else TicketStatus.CALLBACK, summary=summary,
        sentiment=summary["sentiment"], out_of_hours=not office, created_at=now)
    session.add(ticket)
    if case is not None and case.status == CaseStatus.OPEN and office:
        case.status, case.closed_at = CaseStatus.HANDED_OFF, now
    session.flush()
    # the link by ticket number (known once flushed): an SMS or voice conversation id holds the
    # caller's number
    ticket.summary = {**summary, "transcript": f"{base}/tickets/{ticket.id}"}
    session.flush()
    return HandoffDecision(ticket, office, opening)


def slack_message(ticket: HandoffTicket) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook payload."""
    s = ticket.summary or {}
    lines = [
        f"*Handoff #{ticket.id}* ({ticket.trigger}, {ticket.channel}, {ticket.language})"
        + (" - out of hours: callback" if ticket.out_of_hours else ""),
        f"Customer: {s.get('customer') or 'not verified'}"
        + (f" | {s.get('plan')} | {s.get('monthly_revenue')} EUR/month | {s.get('value_segment')}"
           if s.get("customer") else ""),
        f"Reason: {s.get('reason') or '-'} | Sentiment: {s.get('sentiment')}",
        f"Says: \"{s.get('verbatim') or ''}\"",
        "Offers: " + (", ".join(f"{o['offer']} ({o['outcome']})" for o in s.get("offers", [])) or "none"),
        f"Transcript: {s.get('transcript')}",
    ]
    return {"text": "\n".join(lines)}


def notify(session: Session, ticket: HandoffTicket, webhook_url: str | None = None,
           timeout: float = 5.0) -> bool:
    """POST the ticket to the agents' webhook. Failures are counted, never raised."""
    url = webhook_url if webhook_url is not None else settings.handoff_webhook_url()
    if not url:
        return False
    ticket.notify_attempts = (ticket.notify_attempts or 0) + 1
    body = json.dumps(slack_message(ticket)).encode("utf-8")
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            ok = 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError) as exc:
        logger.warning("handoff webhook failed for ticket %s (attempt %s): %s", ticket.id,
                       ticket.notify_attempts, exc)
        ok = False
    if ok:
        ticket.notified_at = utcnow()
    session.flush()
    return ok


def retry_pending(session: Session, webhook_url: str | None = None, limit: int | None = None) -> tuple[int, int]:
    """Retry notifications of tickets not yet delivered; returns (delivered, still failing).

    Run on every new ticket (a few at a time) and by ``python -m bot.core.handoff retry`` (cron).
    """
    url = webhook_url if webhook_url is not None else settings.handoff_webhook_url()
    if not url:
        return 0, 0
    query = select(HandoffTicket).where(
        HandoffTicket.notified_at.is_(None), HandoffTicket.status.in_(OPEN_TICKET_STATUSES),
        HandoffTicket.notify_attempts > 0, HandoffTicket.notify_attempts < MAX_NOTIFY_ATTEMPTS
    ).order_by(HandoffTicket.id).limit(limit)
    pending = session.scalars(query).all()
    delivered = sum(1 for t in pending if notify(session, t, url))
    return delivered, len(pending) - delivered


def main(argv: list[str] | None = None) -> int:
    from bot.storage.db import session_scope

    ap = argparse.ArgumentParser(description="Handoff tickets")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("retry", help="retry webhook notifications that failed")
    sub.add_parser("list", help="list open tickets")
    args = ap.parse_args(argv)
    with session_scope() as session:
        if args.cmd == "retry":
            ok, failing = retry_pending(session)
            print(f"delivered: {ok}; still failing: {failing}")
            return 0 if failing == 0 else 1
        for t in session.scalars(select(HandoffTicket).where(HandoffTicket.status.in_(OPEN_TICKET_STATUSES))):
            print(f"#{t.id} {t.status} {t.trigger} {t.channel} {t.conversation_id} {t.summary.get('customer')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
