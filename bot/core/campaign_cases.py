"""Cold retention (win-back) campaigns: contact again, by SMS, customers who cancelled in hot.

Seed 000: decisions taken in anger are often reconsidered, so once the customer has cooled
down *and* their problem has been solved, they are contacted again with a better alternative
than the one offered in hot, if it pays. The life of a cold case (``ColdCase``)::

    cancel() -> schedule_cold_case -> cooling | waiting_fix
    refresh (cool-down over and, where required, problem solved) -> due
    claim_due (atomic, one runner per case) -> claimed
    run_campaign: no consent / opted out / no offer that pays ... -> skipped (reason recorded)
                  SMS sent -> sent
    reply SI / YES -> accept_winback -> won_back (subscription reactivated, offer applied)
    reply NO -> decline_winback -> declined;  silence -> expire_unanswered -> no_answer

* **Cool-down and problem solved** (``data/retention.yml``, ``cold``): ``due_on`` = the
  cancellation day + the reason's cool-down. For the reasons that need their problem solved
  first, the customer's incidents of the matching kinds (``data/campaigns.yml``,
  ``problem_incidents``) opened before the cancellation decide it: all solved -> solved at the
  latest ``solved_at``; an open one, or none on record -> ``waiting_fix`` until the incidents
  are solved or a person marks it (``python -m bot.cli.campaigns solved --case ID``).
* **The offer**: the cold variant (``rank_offers(..., variant="cold")``) priced on the
  cancelled subscription at its list price, with the catalogue's eligibility and
  profitability gate. The hot offers of the same case do not block their own cold variant
  (the engine's per-offer cool-down would); among the eligible cold offers, one that was made
  in hot is preferred, so the customer gets a strictly better version of what they were
  offered. None eligible, or its expected value does not cover the SMS -> ``skipped``.
* **Sending**: only with marketing consent, never after an opt-out, never in the customer's
  quiet hours (their own time zone), at most ``cold.max_attempts`` contacts per case. Claims
  are atomic: ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, a compare-and-set
  ``UPDATE ... WHERE status = 'due'`` on SQLite, so two runners never text the same customer.
  The attempt is committed before the SMS goes out: a runner that dies mid-send leaves the
  case ``claimed`` (visible in ``status``) rather than texting twice.

The modules: ``campaign_cases`` (this life: statuses, skip reasons, the compare-and-set move),
``campaign_config`` (data/campaigns.yml), ``campaign_scheduling`` (cool-down, problem solved,
due), ``campaign_claiming`` (quiet hours, atomic claims), ``campaign_messages`` (the cold offer
and the SMS), ``campaign_runner`` (``run_campaign``), ``campaign_replies`` (SI / NO, expiry) and
``campaign_export`` (call-centre CSV, status counts). The command line is ``bot.cli.campaigns``
(``python -m bot.cli.campaigns run|export|solved|status``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.storage.models import ColdCase, utcnow

SKIP_KEY = "_skip_reason"  # in ColdCase.offer_params: why the case was skipped
INTERNAL_KEYS = (SKIP_KEY, "_kind", "_expected_value", "_priced_on")

# Skip reasons recorded on the case.
NO_CONSENT = "no_marketing_consent"
OPTED_OUT = "sms_opted_out"
NO_PHONE = "no_phone"
ALREADY_ACTIVE = "customer_active_again"
UNPROFITABLE = "unprofitable_customer"
NO_OFFER = "no_eligible_offer"
NOT_WORTH_IT = "offer_does_not_pay"
MAX_ATTEMPTS = "max_attempts_reached"
QUIET = "quiet_hours"  # not a skip: the case stays due


class CampaignError(ValueError):
    """An operation that does not apply to the cold case in its current state."""


def move_case(session: Session, cold: ColdCase, expected: str | Iterable[str], **values: Any) -> bool:
    """Compare-and-set: apply ``values`` to ``cold`` only if its status in the database is
    still ``expected``, so that a concurrent runner's change (a claim, a send) is never
    overwritten by a decision taken on a stale read. False when someone got there first.
    ``cold`` is expired and re-read on next access."""
    statuses = (expected,) if isinstance(expected, str) else tuple(expected)
    result = session.execute(
        update(ColdCase).where(ColdCase.id == cold.id, ColdCase.status.in_(statuses)).values(**values)
        .execution_options(synchronize_session=False))
    session.expire(cold)
    return bool(result.rowcount == 1)


def naive_utc(now: datetime | None) -> datetime:
    """``now`` as a naive UTC datetime (the database's convention)."""
    if now is None:
        return utcnow()
    if now.tzinfo is not None:
        return now.astimezone(timezone.utc).replace(tzinfo=None)
    return now
