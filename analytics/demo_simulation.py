"""The simulated retention process behind the demo history: who asks to cancel, when, why, what the
offer engine offers them and how they answer, and what follows (cancellations, cold win-backs,
handoff tickets, action plans, customers who come back).

:class:`Generator` draws everything from one ``random.Random(seed)`` (no clock; the action plans'
link tokens are the only ``secrets``) and collects the rows the real flows would write, as plain
dicts and tracker-event tuples; it writes nothing itself (:mod:`analytics.demo_rows` does). The
probabilities are the constants below; the texts of the conversations are in :mod:`analytics.demo_texts`.
"""

from __future__ import annotations

import heapq
import json
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from analytics.demo_texts import BOT_TEXT, CANCEL_TEXT, UNCLEAR, USER_NO, USER_YES, VERBATIMS
from bot.core.action_plans import CHECKIN_DAYS, GIFT_TEXT, build_commitments
from bot.core.offer_engine import rank_offers
from bot.core.offer_model import Catalogue, CustomerContext, RankedOffer

DEMO_PREFIX = "demo-"
DEFAULT_CASES = 2000
DEFAULT_WEEKS = 52
DEFAULT_SEED = 6
HOLDOUT_SHARE = 0.10
DEMO_GIFT_EUR = Decimal("5")  # the action_plan offer's hot gift_eur in data/offers.yml

REASON_WEIGHTS: dict[str, int] = {
    "price": 26, "competitor": 15, "service_failure": 13, "billing_error": 8, "poor_support": 8,
    "low_usage": 9, "financial_hardship": 6, "relocation": 7, "temporary": 5, "other": 3,
}
CHANNEL_WEIGHTS: dict[str, int] = {"web": 50, "voice": 25, "sms": 15, "rest": 10}
CHANNEL_ACCEPTANCE = {"web": 1.0, "voice": 1.15, "sms": 0.8, "rest": 0.9}
HOLDOUT_KEEP = 0.12  # a customer in the holdout who stays anyway
NO_OFFER_KEEP = 0.08
DEFLECT = {"discount": 0.14, "pause": 0.28, "downgrade": 0.10, "upgrade": 0.18, "credit": 0.20,
           "technician": 0.16, "transfer": 0.12, "escalation": 0.2, "action_plan": 0.15, "": 0.33}
LATE_CHURN = 0.12  # a really saved customer who leaves later, within the year
COLD_WIN = {"price": 0.26, "competitor": 0.2, "service_failure": 0.3, "billing_error": 0.32,
            "poor_support": 0.22, "low_usage": 0.15, "financial_hardship": 0.18, "relocation": 0.08,
            "temporary": 0.25, "other": 0.12}
COOLING_DAYS = 10
TICKET_TRIGGERS = ("asked", "not_understood", "angry", "high_value")



@dataclass(frozen=True)
class DemoCustomer:
    """A seeded customer as the simulation needs them (their offer context included)."""

    id: int
    ref: str
    name: str
    language: str
    since: date
    plan_code: str
    revenue: Decimal
    segment: str
    ctx: CustomerContext


@dataclass(order=True)
class _Arrival:
    at: datetime
    seq: int
    customer_index: int = field(compare=False)
    reason: str | None = field(compare=False, default=None)
    returning: bool = field(compare=False, default=False)


class Generator:
    """One simulated history: :meth:`run` fills ``rows`` (by table, plus tracker ``events``)."""

    def __init__(self, customers: Sequence[DemoCustomer], catalogue: Catalogue, *, cases: int, end: date,
                 weeks: int, seed: int, holdout_share: float, first_ids: dict[str, int]) -> None:
        self.customers = customers
        self.catalogue = catalogue
        self.total = cases
        self.end = end
        self.end_at = datetime.combine(end, time(23, 59))
        self.start = datetime.combine(end - timedelta(weeks=weeks) + timedelta(days=1), time.min)
        self.rng = random.Random(seed)
        self.holdout_share = holdout_share
        self.ids = dict(first_ids)
        self.rows: dict[str, list[Any]] = {k: [] for k in (
            "cases", "offers", "cold", "tickets", "plans", "checkins", "subscriptions", "events")}
        self._ranked: dict[tuple[int, str, str], list[RankedOffer]] = {}
        self._described: dict[tuple[int, str], str] = {}
        self._json_text: dict[str, str] = {}

    # ------------------------------------------------------------------ helpers
    def next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def ranked(self, customer: DemoCustomer, reason: str, variant: str) -> list[RankedOffer]:
        key = (customer.id, reason, variant)
        if key not in self._ranked:
            self._ranked[key] = rank_offers(self.catalogue, customer.ctx, reason, variant=variant, today=self.end)
        return self._ranked[key]

    def pick(self, weights: dict[str, int]) -> str:
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def say(self, conv: str, at: datetime, speaker: str, text: str, intent: str | None = None,
            channel: str = "web") -> datetime:
        ts = at.replace(tzinfo=timezone.utc).timestamp()
        quoted = self._json_text.get(text)
        if quoted is None:
            quoted = self._json_text[text] = json.dumps(text, ensure_ascii=False)
        if speaker == "user":  # the event as Rasa stores it (the JSON written by hand: it is the hot loop)
            confidence = 0.3 if intent == "nlu_fallback" else 0.91
            data = (f'{{"event": "user", "timestamp": {ts!r}, "text": {quoted}, "input_channel": "{channel}", '
                    f'"parse_data": {{"intent": {{"name": "{intent}", "confidence": {confidence}}}, '
                    f'"entities": [], "text": {quoted}}}}}')
        else:
            data = f'{{"event": "bot", "timestamp": {ts!r}, "text": {quoted}, "data": {{}}, "metadata": {{}}}}'
        self.rows["events"].append((conv, speaker, ts, intent if speaker == "user" else None, None, data))
        return at + timedelta(seconds=self.rng.randint(4, 40))

    def describe(self, offer: RankedOffer, language: str) -> str:
        key = (id(offer), language)  # ranked offers are cached for the whole run, so their ids are stable
        text = self._described.get(key)
        if text is None:
            text = self._described[key] = offer.describe(language)
        return text

    # ------------------------------------------------------------------ the run
    def run(self) -> None:
        span = (self.end_at - self.start).total_seconds()
        base: list[_Arrival] = []
        for seq in range(self.total):
            # Slightly more requests as the year goes on, during the day.
            offset = span * (self.rng.random() ** 0.9)
            day = self.start + timedelta(seconds=offset)
            at = datetime.combine(day.date(), time(self.rng.randint(8, 21), self.rng.randint(0, 59),
                                                   self.rng.randint(0, 59)))
            base.append(_Arrival(at=min(at, self.end_at), seq=seq,
                                 customer_index=self.rng.randrange(len(self.customers))))
        base.sort()
        skipped: set[int] = set()
        follow_ups: list[_Arrival] = []
        i, seq = 0, self.total
        while True:
            while i < len(base) and i in skipped:
                i += 1
            if follow_ups and (i >= len(base) or follow_ups[0] < base[i]):
                arrival = heapq.heappop(follow_ups)
            elif i < len(base):
                arrival, i = base[i], i + 1
            else:
                break
            back = self.case(arrival)
            if back is None:
                continue
            # The customer's return replaces a random later request, so that the total stays
            # ``cases`` and the weeks keep an even load.
            later = [j for j in (self.rng.randrange(i, len(base)) for _ in range(20) if i < len(base))
                     if j not in skipped]
            if later:
                skipped.add(later[0])
                seq += 1
                heapq.heappush(follow_ups, _Arrival(at=back[0], seq=seq, customer_index=arrival.customer_index,
                                                    reason=back[1], returning=True))

    def case(self, arrival: _Arrival) -> tuple[datetime, str] | None:
        """Write one case; returns when and why the same customer comes back to cancel, if they do."""
        rng = self.rng
        customer = self.customers[arrival.customer_index]
        lang = customer.language
        case_id = self.next_id("cases")
        conv = f"{DEMO_PREFIX}{case_id:07d}"
        channel = self.pick(CHANNEL_WEIGHTS)
        reason = arrival.reason or self.pick(REASON_WEIGHTS)
        holdout = not arrival.returning and rng.random() < self.holdout_share
        opened = arrival.at
        verbatim = rng.choice(VERBATIMS[reason][lang]) if rng.random() < 0.8 else None
        t = opened
        t = self.say(conv, t, "user", rng.choice(CANCEL_TEXT[lang]), "cancel", channel)
        t = self.say(conv, t, "bot", BOT_TEXT["empathy"][lang])
        t = self.say(conv, t, "bot", BOT_TEXT["ask_reason"][lang])
        if rng.random() < 0.08:
            t = self.say(conv, t, "user", rng.choice(UNCLEAR[lang]), "nlu_fallback", channel)
            t = self.say(conv, t, "bot", BOT_TEXT["fallback"][lang])
        t = self.say(conv, t, "user", verbatim or reason.replace("_", " "),
                     f"reason_{reason}" if reason != "other" else "nlu_fallback", channel)

        status, accepted, offers = "cancelled", None, []
        ranked = [] if holdout else self.ranked(customer, reason, "hot")
        recent = opened > self.end_at - timedelta(hours=12)
        if arrival.returning:
            ranked = ranked[1:2]  # they were saved a few days ago: one more try at most
        for position, offer in enumerate(ranked[:2], start=1):
            offers.append(offer)
            t = self.say(conv, t, "bot", (BOT_TEXT["alternative"][lang] + " " if position > 1 else "")
                         + self.describe(offer, lang))
            if recent and rng.random() < 0.4:
                status = "open"
                break
            p = offer.acceptance_probability * CHANNEL_ACCEPTANCE[channel] * (0.6 if position > 1 else 1.0)
            if arrival.returning:
                p *= 0.3
            if rng.random() < p:
                accepted = offer
                t = self.say(conv, t, "user", rng.choice(USER_YES[lang]), "affirm", channel)
                status = "handed_off" if offer.kind == "escalation" else "retained"
                break
            t = self.say(conv, t, "user", rng.choice(USER_NO[lang]), "deny", channel)
        else:
            keep = HOLDOUT_KEEP if holdout else NO_OFFER_KEEP
            if not offers and not arrival.returning and rng.random() < keep:
                status = "retained"
        if status not in ("open", "handed_off") and accepted is None:
            roll = rng.random()
            if roll < 0.04:
                status = "abandoned"
            elif roll < 0.08:
                status = "handed_off"
        closed = None if status == "open" else t + timedelta(seconds=rng.randint(20, 300))
        if status == "abandoned":
            closed = t + timedelta(minutes=30)
        if status == "retained":
            t = self.say(conv, t, "bot", BOT_TEXT["accepted" if accepted else "keep"][lang])
        elif status == "cancelled":
            t = self.say(conv, t, "bot", BOT_TEXT["cancelled"][lang].format(ref=f"BAJA-D{case_id:07d}"))
        elif status == "handed_off":
            t = self.say(conv, t, "bot", BOT_TEXT["handoff"][lang])

        cost = accepted.cost if accepted else Decimal("0")
        if accepted is not None and accepted.kind == "action_plan":
            cost += DEMO_GIFT_EUR
        self.rows["cases"].append({
            "id": case_id, "conversation_id": conv, "customer_id": customer.id, "channel": channel, "language": lang,
            "status": status, "reason": reason, "reason_verbatim": verbatim,
            "monthly_revenue_at_stake": customer.revenue,
            "offer_cost": cost, "accepted_offer_id": accepted.offer_id if accepted else None,
            "reference": f"RET-D{case_id:07d}" if accepted else None,
            "confirmation_number": f"BAJA-D{case_id:07d}" if status == "cancelled" else None,
            "cancel_effective_date": (closed.date() + timedelta(days=2)) if status == "cancelled" and closed else None,
            "holdout": holdout, "opened_at": opened, "closed_at": closed})
        for position, offer in enumerate(offers, start=1):
            outcome = ("accepted" if offer is accepted else "pending" if status == "open" and position == len(offers)
                       else "declined")
            params = offer.json_params()
            params["_text"] = {"es": self.describe(offer, "es"), "en": self.describe(offer, "en")}
            self.rows["offers"].append({
                "id": self.next_id("offers"), "case_id": case_id, "position": position, "offer_id": offer.offer_id,
                "kind": offer.kind, "variant": offer.variant, "cost": offer.cost,
                "expected_value": offer.expected_value, "params": params, "outcome": outcome,
                "presented_at": opened + timedelta(minutes=position),
                "decided_at": None if outcome == "pending" else opened + timedelta(minutes=position + 1)})

        if status == "cancelled" and closed is not None:
            self.cancellation(customer, closed)
            self.cold(customer, case_id, reason, closed)
        if status == "handed_off" or (closed is not None and rng.random() < 0.03):
            self.ticket(customer, case_id, conv, channel, lang, reason, status, closed or opened, offers, accepted)
        if accepted is not None and accepted.kind == "action_plan" and closed is not None:
            self.plan(customer, case_id, lang, closed)

        if status == "retained" and closed is not None:
            kind = accepted.kind if accepted else ""
            roll = rng.random()
            if roll < DEFLECT.get(kind, 0.2):
                back = closed + timedelta(days=rng.randint(2, 28), hours=rng.randint(0, 8))
            elif roll < DEFLECT.get(kind, 0.2) + LATE_CHURN:
                back = closed + timedelta(days=rng.randint(35, 300))
            else:
                return None
            if back <= self.end_at:
                return back, reason
        return None

    def cancellation(self, customer: DemoCustomer, closed: datetime) -> None:
        """The subscription record of a cancellation (an extra record: the current one stays active)."""
        self.rows["subscriptions"].append({
            "id": self.next_id("subscriptions"), "customer_id": customer.id, "plan_code": customer.plan_code,
            "list_price": customer.revenue, "monthly_price": customer.revenue, "status": "cancelled",
            "started_at": customer.since, "cancel_requested_at": closed,
            "cancel_effective_date": closed.date() + timedelta(days=2), "updated_at": closed})

    def cold(self, customer: DemoCustomer, case_id: int, reason: str, closed: datetime) -> None:
        rng = self.rng
        due = closed.date() + timedelta(days=COOLING_DAYS + rng.randint(0, 4))
        ranked = self.ranked(customer, reason, "cold")
        offer = ranked[0] if ranked else None
        row: dict[str, Any] = {
            "id": self.next_id("cold"), "case_id": case_id, "customer_id": customer.id, "reason": reason,
            "due_on": due, "offer_id": offer.offer_id if offer else None,
            "offer_params": offer.json_params() if offer else {}, "offer_cost": offer.cost if offer else None,
            "attempts": 0, "created_at": closed, "status": "cooling", "sent_at": None, "outcome_at": None,
            "reference": None, "problem_solved_at": None}
        if due > self.end:
            if reason in ("service_failure", "billing_error") and rng.random() < 0.5:
                row["status"] = "waiting_fix"
        elif due > self.end - timedelta(days=2):
            row["status"] = rng.choice(("due", "claimed"))
        elif offer is None or rng.random() < 0.08:
            row["status"] = "skipped"
        else:
            sent = datetime.combine(due, time(10)) + timedelta(minutes=rng.randint(0, 480))
            row.update(sent_at=sent, attempts=1)
            roll = rng.random()
            if sent > self.end_at - timedelta(days=3) and roll < 0.5:
                row["status"] = "sent"
            elif roll < COLD_WIN[reason]:
                row.update(status="won_back", outcome_at=sent + timedelta(hours=rng.randint(1, 72)),
                           reference=f"WB-D{case_id:07d}")
            else:
                row.update(status=rng.choice(("declined", "declined", "no_answer")),
                           outcome_at=sent + timedelta(hours=rng.randint(1, 72)))
        self.rows["cold"].append(row)

    def ticket(self, customer: DemoCustomer, case_id: int, conv: str, channel: str, lang: str, reason: str,
               status: str, at: datetime, offers: Sequence[RankedOffer], accepted: RankedOffer | None) -> None:
        rng = self.rng
        trigger = ("high_value" if accepted is not None and accepted.kind == "escalation"
                   else rng.choice(TICKET_TRIGGERS))
        recent = at > self.end_at - timedelta(days=2)
        ticket_status = rng.choice(("waiting", "waiting", "in_progress")) if recent else (
            "callback" if rng.random() < 0.1 else "resolved")
        tried = ", ".join(o.offer_id for o in offers) or "-"
        text = (f"{customer.name} ({customer.segment}, {customer.revenue} €/mes) quiere darse de baja por {reason}. "
                f"Ofertas: {tried}." if lang == "es" else
                f"{customer.name} ({customer.segment}, €{customer.revenue}/month) wants to cancel: {reason}. "
                f"Offers: {tried}.")
        self.rows["tickets"].append({
            "id": self.next_id("tickets"), "conversation_id": conv, "case_id": case_id, "customer_id": customer.id,
            "channel": channel, "language": lang, "trigger": trigger, "status": ticket_status,
            "summary": {"text": text, "reason": reason, "value_segment": customer.segment,
                        "monthly_revenue": str(customer.revenue), "offers": [o.offer_id for o in offers]},
            "sentiment": rng.choice(("negative", "negative", "neutral")) if trigger != "angry" else "negative",
            "out_of_hours": at.hour >= 21, "assigned_to": None if ticket_status == "waiting" else "agent.demo",
            "notify_attempts": 1, "notified_at": at, "created_at": at,
            "resolved_at": at + timedelta(hours=rng.randint(1, 30)) if ticket_status == "resolved" else None})

    def plan(self, customer: DemoCustomer, case_id: int, lang: str, closed: datetime) -> None:
        rng = self.rng
        plan_id = self.next_id("plans")
        goal, obstacle = (("ver series y fútbol", "no sé usar la app") if lang == "es"
                          else ("watch football", "I don't know how the app works"))
        text = build_commitments(goal, obstacle, {"months": 0}, lang, closed.date())
        rng.getrandbits(96)  # the draw the token used to be: the rest of the demo data stays the same
        self.rows["plans"].append({  # the link is a secret, so never the same on two installs
            "id": plan_id, "case_id": case_id, "customer_id": customer.id, "token": f"demo{secrets.token_hex(12)}",
            "reference": f"PLAN-D{case_id:07d}", "language": lang, "answers": {"goal": goal, "obstacle": obstacle},
            "customer_commitments": text.customer, "company_commitments": text.company,
            "gift": GIFT_TEXT["en" if lang == "en" else "es"].format(amount=DEMO_GIFT_EUR),
            "gift_cost": DEMO_GIFT_EUR, "created_at": closed})
        for days in CHECKIN_DAYS:
            due = closed.date() + timedelta(days=days)
            done = due <= self.end and rng.random() < 0.75
            self.rows["checkins"].append({
                "id": self.next_id("checkins"), "plan_id": plan_id, "due_date": due,
                "done_at": datetime.combine(due, time(11)) + timedelta(days=rng.randint(0, 2)) if done else None,
                "note": (("Usa la app a diario" if lang == "es" else "Uses the app daily") if done else None)})
