"""Every dashboard figure on a small hand-built dataset, asserted exactly (analytics/figures.py and the modules
it builds on: filters, returns, lists, tables).

The dataset (a fresh, migrated SQLite database) is built below; "as of" is 2026-03-10 12:00 UTC
and the default filters cover 2026-01-01..2026-02-28.

Customers (plan, price, cost to serve -> margin -> value segment):
  c1 Ana   fibra_600       36.90 - 18.40        = 18.50 -> medium   subscription active
  c2 Ben   fibra_movil     54.90 - 27.40        = 27.50 -> high     cancelled 2026-01-25 10:00 (case K)
  c3 Carla movil_basico    14.90 -  6.90        =  8.00 -> low      cancelled 2026-01-12 08:15 (case C)
  c4 Dan   fibra_300       29.90 - 16.90 - 20.00 = -7.00 -> unprofitable, cancelled 2026-01-15 10:15 (case D)
  c5 Eva   fibra_movil_tv  72.90 - 37.90        = 35.00 -> high     active
  c6 Fay   fibra_1g        46.90 - 21.90        = 25.00 -> medium   active

Cases (opened; channel, language; reason; status; holdout; offers; cost; revenue at stake):
  A  Jan 05 10:00-10:10  c1 web es  price            retained     discount_short accepted     33.21  36.90
  B  Jan 10 09:00-09:20  c2 voice es competitor      retained     discount_competitor_match declined,
                                                                  credit_billing_error accepted 20.00  54.90
  C  Jan 12 08:00-08:15  c3 sms en  price            cancelled    discount_short + downgrade_cheaper declined
                                                                  (cold: won back Jan 25 10:00, discount_loyalty 50.00)
  D  Jan 15 10:00-10:15  c4 web es  service_failure  cancelled    HOLDOUT (cold: declined)
  E  Jan 03 11:00-11:05  c4 web es  price            retained     HOLDOUT, no offer
  F  Feb 10 16:00-16:30  c5 web en  low_usage        retained     action_plan_usage accepted   9.00  72.90
                                                                  (an action plan: no accepted_offer_id on the case)
  G  Feb 02 09:00-09:10  c6 voice es poor_support    handed_off   escalation_specialist accepted 15.00 46.90
  H  Feb 20 18:00-18:30  --  web es  (none)          abandoned
  I  Jan 08 12:00-12:02  --  web es  other           retained     (anonymous: kept without offer)
  J  Feb 27 20:00-       c1 rest es billing_error    open         credit_billing_error pending
  K  Jan 25 09:40-10:00  c2 web es  price            cancelled    discount_short declined (cold: cooling)
  L  Dec 20 2025         c1 web es  price            retained     (outside the date range)
Handoff tickets: T1 case G waiting (asked, voice, Feb 02 09:00); T2 case C resolved (angry, sms, Jan 12
08:20); T3 no case, waiting (not_understood, web, Feb 28 22:00).
Tracker store: 4 user messages in range, one nlu_fallback; one more fallback on Dec 31 2025 (out).
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from analytics.figures import load_dashboard
from analytics.filters import Filters, customer_segments, default_filters
from analytics.lists import action_plans, case_detail, checkin_state, conversations, handoff_queue
from analytics.results import (
    NO_OFFER,
    NO_REASON,
    CaseCounts,
    ColdStats,
    Dashboard,
    NluStats,
    Rate,
    RealSaves,
    ReasonRow,
    ReturnRow,
    TriggerRow,
)
from analytics.returns import full_months
from analytics.tables import (
    checkins_table,
    conversations_table,
    dashboard_tables,
    kpi_rows,
    plans_table,
    queue_table,
    redact_contacts,
)
from analytics.tracker_store import EVENTS, nlu_stats, tracker_engine, transcript
from bot.core.privacy import mask_email, mask_phone
from bot.storage.db import session_factory, upgrade_database
from bot.storage.models import (
    ActionPlan,
    ActionPlanCheckin,
    CaseOffer,
    ColdCase,
    Customer,
    HandoffTicket,
    RetentionCase,
    Subscription,
)

AS_OF = datetime(2026, 3, 10, 12, 0)
FILTERS = Filters(since=date(2026, 1, 1), until=date(2026, 2, 28))
D = Decimal


def dt(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute)


def _customer(s: Session, ref: str, first: str, plan: str, price: str, *, extra: str = "0",
              cancelled_at: datetime | None = None) -> Customer:
    c = Customer(ref=ref, first_name=first, last_name="Test", email=f"{first.lower()}.test@example.com",
                 phone=f"+4477009000{ref[-2:]}", language="es", postcode="28013", city="Madrid",
                 customer_since=date(2020, 1, 1), extra_monthly_cost=D(extra))
    c.subscriptions.append(Subscription(
        plan_code=plan, list_price=D(price), monthly_price=D(price), started_at=date(2020, 1, 1),
        status="cancelled" if cancelled_at else "active", cancel_requested_at=cancelled_at,
        cancel_effective_date=(cancelled_at.date() + timedelta(days=2)) if cancelled_at else None))
    s.add(c)
    s.flush()
    return c


def _case(s: Session, conv: str, customer: Customer | None, channel: str, lang: str, reason: str | None,
          status: str, opened: datetime, closed: datetime | None, *, revenue: str | None = None,
          cost: str = "0", accepted: str | None = None, holdout: bool = False, verbatim: str | None = None,
          offers: tuple[tuple[str, str, str, str], ...] = ()) -> RetentionCase:
    case = RetentionCase(conversation_id=conv, customer_id=customer.id if customer else None, channel=channel,
                         language=lang, status=status, reason=reason, reason_verbatim=verbatim,
                         monthly_revenue_at_stake=D(revenue) if revenue else None, offer_cost=D(cost),
                         accepted_offer_id=accepted, holdout=holdout, opened_at=opened, closed_at=closed)
    s.add(case)
    s.flush()
    for position, (offer_id, kind, offer_cost, outcome) in enumerate(offers, start=1):
        s.add(CaseOffer(case_id=case.id, position=position, offer_id=offer_id, kind=kind, variant="hot",
                        cost=D(offer_cost), expected_value=D("1.00"), outcome=outcome,
                        params={"_text": {"es": f"oferta {offer_id}", "en": f"offer {offer_id}"}},
                        presented_at=opened))
    s.flush()
    return case


def build_dataset(s: Session) -> dict[str, Any]:
    c1 = _customer(s, "C00001", "Ana", "fibra_600", "36.90")
    c2 = _customer(s, "C00002", "Ben", "fibra_movil", "54.90", cancelled_at=dt(1, 25, 10))
    c3 = _customer(s, "C00003", "Carla", "movil_basico", "14.90", cancelled_at=dt(1, 12, 8, 15))
    c4 = _customer(s, "C00004", "Dan", "fibra_300", "29.90", extra="20.00", cancelled_at=dt(1, 15, 10, 15))
    c5 = _customer(s, "C00005", "Eva", "fibra_movil_tv", "72.90")
    c6 = _customer(s, "C00006", "Fay", "fibra_1g", "46.90")
    c3.language = "en"
    c5.language = "en"
    cases = {
        "A": _case(s, "conv-A", c1, "web", "es", "price", "retained", dt(1, 5, 10), dt(1, 5, 10, 10),
                   revenue="36.90", cost="33.21", accepted="discount_short",
                   verbatim="Es muy caro, llamadme al +34 600 123 456",
                   offers=(("discount_short", "discount", "33.21", "accepted"),)),
        "B": _case(s, "conv-B", c2, "voice", "es", "competitor", "retained", dt(1, 10, 9), dt(1, 10, 9, 20),
                   revenue="54.90", cost="20.00", accepted="credit_billing_error",
                   offers=(("discount_competitor_match", "discount", "30.00", "declined"),
                           ("credit_billing_error", "credit", "20.00", "accepted"))),
        "C": _case(s, "conv-C", c3, "sms", "en", "price", "cancelled", dt(1, 12, 8), dt(1, 12, 8, 15),
                   revenue="14.90", verbatim="=HYPERLINK(\"x\") too expensive, write to carla@example.com",
                   offers=(("discount_short", "discount", "20.00", "declined"),
                           ("downgrade_cheaper", "downgrade", "40.00", "declined"))),
        "D": _case(s, "conv-D", c4, "web", "es", "service_failure", "cancelled", dt(1, 15, 10), dt(1, 15, 10, 15),
                   revenue="29.90", holdout=True),
        "E": _case(s, "conv-E", c4, "web", "es", "price", "retained", dt(1, 3, 11), dt(1, 3, 11, 5),
                   revenue="29.90", holdout=True),
        # An action plan: bot.core.action_plans.write_plan closes the case without accepted_offer_id.
        "F": _case(s, "conv-F", c5, "web", "en", "low_usage", "retained", dt(2, 10, 16), dt(2, 10, 16, 30),
                   revenue="72.90", cost="9.00", accepted=None,
                   offers=(("action_plan_usage", "action_plan", "5.00", "accepted"),)),
        "G": _case(s, "conv-G", c6, "voice", "es", "poor_support", "handed_off", dt(2, 2, 9), dt(2, 2, 9, 10),
                   revenue="46.90", cost="15.00", accepted="escalation_specialist",
                   offers=(("escalation_specialist", "escalation", "15.00", "accepted"),)),
        "H": _case(s, "conv-H", None, "web", "es", None, "abandoned", dt(2, 20, 18), dt(2, 20, 18, 30)),
        "I": _case(s, "conv-I", None, "web", "es", "other", "retained", dt(1, 8, 12), dt(1, 8, 12, 2)),
        "J": _case(s, "conv-J", c1, "rest", "es", "billing_error", "open", dt(2, 27, 20), None, revenue="36.90",
                   offers=(("credit_billing_error", "credit", "10.00", "pending"),)),
        "K": _case(s, "conv-K", c2, "web", "es", "price", "cancelled", dt(1, 25, 9, 40), dt(1, 25, 10),
                   revenue="54.90", offers=(("discount_short", "discount", "25.00", "declined"),)),
        "L": _case(s, "conv-L", c1, "web", "es", "price", "retained", dt(12, 20, 10, year=2025),
                   dt(12, 20, 10, 5, year=2025), revenue="36.90"),
    }
    s.add_all([
        ColdCase(case_id=cases["C"].id, customer_id=c3.id, reason="price", status="won_back", due_on=date(2026, 1, 24),
                 offer_id="discount_loyalty", offer_cost=D("50.00"), sent_at=dt(1, 24, 10), outcome_at=dt(1, 25, 10),
                 created_at=dt(1, 12, 8, 15)),
        ColdCase(case_id=cases["D"].id, customer_id=c4.id, reason="service_failure", status="declined",
                 due_on=date(2026, 1, 27), offer_id="credit_outage", offer_cost=D("10.00"), sent_at=dt(1, 27, 10),
                 outcome_at=dt(1, 28, 10), created_at=dt(1, 15, 10, 15)),
        ColdCase(case_id=cases["K"].id, customer_id=c2.id, reason="price", status="cooling", due_on=date(2026, 3, 15),
                 created_at=dt(1, 25, 10)),
        HandoffTicket(conversation_id="conv-G", case_id=cases["G"].id, customer_id=c6.id, channel="voice",
                      language="es", trigger="asked", status="waiting", created_at=dt(2, 2, 9),
                      summary={"text": "Fay wants a person; call +44 7700 900006"}),
        HandoffTicket(conversation_id="conv-C", case_id=cases["C"].id, customer_id=c3.id, channel="sms",
                      language="en", trigger="angry", status="resolved", created_at=dt(1, 12, 8, 20),
                      summary={"reason": "price"}),
        HandoffTicket(conversation_id="conv-X", case_id=None, customer_id=None, channel="web", language="es",
                      trigger="not_understood", status="waiting", created_at=dt(2, 28, 22), summary={}),
    ])
    plan = ActionPlan(case_id=cases["F"].id, customer_id=c5.id, token="tok-F", reference="PLAN-F", language="en",
                      customer_commitments=["Use the app"], company_commitments=["Call you", "Guide"],
                      gift="TV month", gift_cost=D("4.00"), created_at=dt(2, 10, 16, 30))
    plan.checkins.extend([
        ActionPlanCheckin(due_date=date(2026, 2, 24), done_at=dt(2, 25, 11), note="all good"),
        ActionPlanCheckin(due_date=date(2026, 2, 27)),
        ActionPlanCheckin(due_date=date(2026, 4, 11)),
    ])
    s.add(plan)
    s.commit()
    return {"cases": cases, "customers": (c1, c2, c3, c4, c5, c6)}


def _ts(moment: datetime) -> float:
    return moment.replace(tzinfo=timezone.utc).timestamp()


def build_tracker(url: str) -> None:
    engine = create_engine(url)
    EVENTS.metadata.create_all(engine)
    rows = [
        ("conv-A", "user", dt(1, 5, 10), "cancel", {"text": "quiero darme de baja"}),
        ("conv-A", "action", dt(1, 5, 10, 1), None, {"name": "action_listen"}),
        ("conv-A", "bot", dt(1, 5, 10, 2), None, {"text": "Siento que te quieras ir"}),
        ("conv-A", "user", dt(1, 5, 10, 3), "nlu_fallback", {"text": "asdfgh"}),
        ("conv-A", "user", dt(1, 5, 10, 4), "reason_price", {"text": "es caro, mi móvil es 600 123 456"}),
        ("conv-A", "bot", dt(1, 5, 10, 5), None, {"text": "Te ofrezco un 15 % de descuento"}),
        ("conv-Z", "user", dt(2, 28, 23, 59), "greet", {"text": "hola"}),
        ("conv-Y", "user", dt(12, 31, 23, year=2025), "nlu_fallback", {"text": "???"}),
        ("conv-W", "user", dt(3, 1, 0), "greet", {"text": "hola"}),  # first second after the range
    ]
    with engine.begin() as conn:
        conn.execute(EVENTS.insert(), [
            {"sender_id": sid, "type_name": t, "timestamp": _ts(at), "intent_name": intent,
             "action_name": data.get("name"), "data": json.dumps({"event": t, **data})}
            for sid, t, at, intent, data in rows])
    engine.dispose()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, dict[str, Any]]:
    directory: Path = tmp_path_factory.mktemp("analytics")
    url = f"sqlite:///{directory / 'retention.db'}"
    upgrade_database(url)
    with session_factory(url)() as s:
        info = build_dataset(s)
        info = {"case_ids": {k: c.id for k, c in info["cases"].items()}}
    tracker = f"sqlite:///{directory / 'tracker.db'}"
    build_tracker(tracker)
    return url, tracker, info


@pytest.fixture()
def session(dataset: tuple[str, str, dict[str, Any]]) -> Any:
    with session_factory(dataset[0])() as s:
        yield s


@pytest.fixture()
def dash(session: Session, dataset: tuple[str, str, dict[str, Any]]) -> Dashboard:
    return load_dashboard(session, FILTERS, as_of=AS_OF, tracker=tracker_engine(dataset[1]))


# ---------------------------------------------------------------------------- headline figures


def test_cancellation_requests_by_status(dash: Dashboard) -> None:
    # In range: A..K = 11 cases (L, Dec 2025, is out). retained A B E F I; cancelled C D K;
    # handed off G; abandoned H; open J. Holdout: D, E.
    assert dash.counts == CaseCounts(requests=11, open=1, retained=5, cancelled=3, handed_off=1, abandoned=1,
                                     holdout=2)


def test_hot_save_rate_excludes_the_holdout_and_cases_never_offered_anything(dash: Dashboard) -> None:
    # Not holdout, decided and offered something: retained A B F (3), cancelled C K (2) -> 3 / 5.
    # I was closed as retained without any offer: nothing was saved by an offer there.
    assert dash.hot_save_rate == Rate(3, 5)
    assert dash.hot_save_rate.percent == 60.0


def test_really_saved_against_subscription_records(dash: Dashboard) -> None:
    # A: c1 never cancelled, closed Jan 05 (+30 d = Feb 04 <= Mar 10)       -> really saved
    # B: c2 cancelled Jan 25 10:00, within 30 days of Jan 10 09:20           -> deflected
    # E: c4 cancelled Jan 15 10:15, within 30 days of Jan 03 11:05           -> deflected (holdout save)
    # F: closed Feb 10, + 30 days = Mar 12 > Mar 10                          -> pending
    # I: no customer to check (anonymous), closed Jan 08                     -> unverifiable
    assert dash.real_saves == RealSaves(saved=5, really_saved=1, deflected=2, pending=1, unverifiable=1)
    assert dash.real_saves.stick_rate == Rate(1, 4)  # 1 / (1 + 2 + 1)


def test_cold_win_back_rate(dash: Dashboard) -> None:
    # Cold cases of C (won back), D (declined), K (cooling): 1 won back / (1 + 1 declined + 0 no answer).
    assert dash.cold == ColdStats(cases=3, waiting=1, sent=0, won_back=1, declined=1, no_answer=0, skipped=0)
    assert dash.cold.win_back_rate == Rate(1, 2)


def test_revenue_kept_and_return_of_retention(dash: Dashboard) -> None:
    # Revenue kept (really saved only; whole months to Mar 10, at most 12):
    #   A hot:  Jan 05 -> Mar 10 = 2 months x 36.90 = 73.80
    #   C cold: Jan 25 -> Mar 10 = 1 month  x 14.90 = 14.90 (c3's cancellation, Jan 12, is before)
    #   = 88.70 over 3 months
    # Offer cost: A 33.21 + B 20.00 + F 9.00 + G 15.00 (accepted escalation) + C cold 50.00 = 127.21
    # Return: 88.70 - 127.21 = -38.51; ROI -38.51 / 127.21 = -0.30272.. -> -0.3027
    r = dash.returns
    assert (r.hot_saves, r.cold_wins, r.really_saved, r.months_kept) == (5, 1, 2, 3)
    assert r.revenue_kept == D("88.70")
    assert r.offer_cost == D("127.21")
    assert r.net_return == D("-38.51")
    assert r.roi == D("-0.3027")


def test_return_per_reason(dash: Dashboard) -> None:
    rows = {r.key: r for r in dash.returns_by_reason}
    # price: A (73.80, cost 33.21), E (deflected, 0), C cold (14.90, cost 50.00)
    #        -> 88.70 - 83.21 = 5.49, ROI 5.49 / 83.21 = 0.06597.. -> 0.0660
    price = rows["price"]
    assert (price.hot_saves, price.cold_wins, price.really_saved, price.months_kept) == (2, 1, 2, 3)
    assert (price.revenue_kept, price.offer_cost, price.net_return, price.roi) == (
        D("88.70"), D("83.21"), D("5.49"), D("0.0660"))
    # competitor: B deflected, cost 20.00; low_usage: F pending, 9.00; poor_support: G, 15.00; other: I, 0.
    assert (rows["competitor"].net_return, rows["competitor"].roi) == (D("-20.00"), D("-1.0000"))
    assert rows["low_usage"].net_return == D("-9.00")
    assert (rows["poor_support"].hot_saves, rows["poor_support"].net_return) == (0, D("-15.00"))
    assert (rows["other"].net_return, rows["other"].roi) == (D("0.00"), None)
    # Best return first.
    assert [r.key for r in dash.returns_by_reason] == ["price", "other", "low_usage", "poor_support", "competitor"]


def test_return_per_offer(dash: Dashboard) -> None:
    # discount_short hot: 73.80 - 33.21 = 40.59; discount_loyalty cold: 14.90 - 50.00 = -35.10;
    # (no offer): E and I, 0; action_plan_usage (F, found in its offers) -9.00; escalation_specialist -15.00;
    # credit_billing_error -20.00.
    got = [(r.key, r.variant, r.kind, r.net_return) for r in dash.returns_by_offer]
    assert got == [
        ("discount_short", "hot", "discount", D("40.59")),
        (NO_OFFER, "hot", "", D("0.00")),
        ("action_plan_usage", "hot", "action_plan", D("-9.00")),
        ("escalation_specialist", "hot", "escalation", D("-15.00")),
        ("credit_billing_error", "hot", "credit", D("-20.00")),
        ("discount_loyalty", "cold", "discount", D("-35.10")),
    ]
    by_key = {(r.key, r.variant): r for r in dash.returns_by_offer}
    assert by_key[(NO_OFFER, "hot")].hot_saves == 2  # E (holdout) and I (kept without offer)
    assert by_key[("discount_loyalty", "cold")].cold_wins == 1


def test_reasons_breakdown(dash: Dashboard) -> None:
    rows = {r.reason: r for r in dash.reasons}
    # price: A (retained), C (cancelled), E (retained, holdout), K (cancelled); save rate without the
    # holdout: A / (A + C + K) = 1 / 3.
    assert rows["price"] == ReasonRow(reason="price", requests=4, retained=2, cancelled=2, handed_off=0, other=0,
                                      share=Rate(4, 11), save_rate=Rate(1, 3))
    assert rows["service_failure"].save_rate == Rate(0, 0)  # only D, in the holdout
    assert rows["billing_error"].other == 1  # J, open
    assert rows[NO_REASON].other == 1  # H, abandoned before giving a reason
    assert [r.reason for r in dash.reasons] == ["price", "competitor", "service_failure", "billing_error",
                                                "poor_support", "low_usage", "other", NO_REASON]


def test_verbatims_latest_first(dash: Dashboard) -> None:
    assert [(v.conversation_id, v.reason) for v in dash.verbatims] == [("conv-C", "price"), ("conv-A", "price")]


def test_offer_acceptance_by_offer_and_by_reason(dash: Dashboard) -> None:
    # discount_short: A accepted, C and K declined -> 1 / 3; credit_billing_error: B accepted, J pending -> 1 / 1.
    got = [(o.offer_id, o.presented, o.accepted, o.declined, o.pending, o.acceptance, o.accepted_cost)
           for o in dash.offers]
    assert got == [
        ("discount_short", 3, 1, 2, 0, Rate(1, 3), D("33.21")),
        ("credit_billing_error", 2, 1, 0, 1, Rate(1, 1), D("20.00")),
        ("action_plan_usage", 1, 1, 0, 0, Rate(1, 1), D("5.00")),
        ("discount_competitor_match", 1, 0, 1, 0, Rate(0, 1), D("0.00")),
        ("downgrade_cheaper", 1, 0, 1, 0, Rate(0, 1), D("0.00")),
        ("escalation_specialist", 1, 1, 0, 0, Rate(1, 1), D("15.00")),
    ]
    by_reason = [(o.reason, o.offer_id, o.accepted, o.declined, o.pending) for o in dash.offers_by_reason]
    assert by_reason == [
        ("price", "discount_short", 1, 2, 0),
        ("price", "downgrade_cheaper", 0, 1, 0),
        ("competitor", "credit_billing_error", 1, 0, 0),
        ("competitor", "discount_competitor_match", 0, 1, 0),
        ("billing_error", "credit_billing_error", 0, 0, 1),
        ("poor_support", "escalation_specialist", 1, 0, 0),
        ("low_usage", "action_plan_usage", 1, 0, 0),
    ]
    assert dash.offers_by_reason[4].acceptance == Rate(0, 0)  # only pending: no rate yet


def test_hot_versus_cold(dash: Dashboard) -> None:
    # Hot (holdout and the never-offered I excluded): 3 saved of 5 decided;
    # cost A 33.21 + B 20 + F 9 + G 15 = 77.21; revenue A 73.80.
    # Cold: 1 won back of 2 with a result; cost 50.00; revenue 14.90.
    hot, cold = dash.hot_cold
    assert (hot.variant, hot.attempts, hot.saved, hot.offer_cost, hot.revenue_kept, hot.net_return) == (
        "hot", 5, 3, D("77.21"), D("73.80"), D("-3.41"))
    assert (cold.variant, cold.attempts, cold.saved, cold.offer_cost, cold.revenue_kept, cold.net_return) == (
        "cold", 2, 1, D("50.00"), D("14.90"), D("-35.10"))


def test_handoff_rate_and_waiting_tickets(dash: Dashboard) -> None:
    # Handed off: G (status) and C (has ticket T2) -> 2 / 11. Waiting now: T1 (Feb 02) and T3 (no case).
    h = dash.handoff
    assert (h.handed_off_cases, h.requests, h.rate) == (2, 11, Rate(2, 11))
    assert (h.waiting_now, h.oldest_waiting_at) == (2, dt(2, 2, 9))
    assert h.by_trigger == (TriggerRow("angry", tickets=1, resolved=1), TriggerRow("asked", tickets=1, waiting=1),
                            TriggerRow("not_understood", tickets=1, waiting=1))


def test_nlu_fallback_rate_from_the_tracker_store(dash: Dashboard) -> None:
    # User messages Jan 01 00:00 .. Mar 01 00:00 (exclusive): 3 in conv-A + 1 on Feb 28 23:59 = 4;
    # fallbacks: 1 (the Dec 31 one is out of range).
    assert dash.nlu == NluStats(available=True, user_messages=4, fallbacks=1)
    assert dash.nlu.rate == Rate(1, 4)


def test_nlu_without_tracker_store(session: Session, tmp_path: Path) -> None:
    assert tracker_engine(f"sqlite:///{tmp_path / 'missing.db'}") is None
    assert not (tmp_path / "missing.db").exists()  # reading never creates the file
    d = load_dashboard(session, FILTERS, as_of=AS_OF, tracker=None)
    assert not d.nlu.available and d.nlu.rate.value is None


P_VALUE = 0.8091


def test_holdout_lift(dash: Dashboard) -> None:
    # Offered (outside the holdout, something offered): 3 saved / 5 decided (I, retained without
    # any offer, is out); holdout: E saved, D cancelled -> 1 / 2.
    # Lift = (3/5 - 1/2) x 100 = 10.0 points; incremental = (3/5 - 1/2) x 5 = 0.5 save.
    h = dash.holdout
    assert (h.offered_cases, h.offered_decided, h.offered_saved) == (9, 5, 3)
    assert (h.holdout_cases, h.holdout_decided, h.holdout_saved) == (2, 2, 1)
    assert (h.lift_points, h.incremental_saves) == (10.0, 0.5)
    # Two-proportion z-test: pooled p = 4/7, se = sqrt(4/7 x 3/7 x (1/5 + 1/2)),
    # z = (1/10) / se, p = erfc(z / sqrt 2).
    z = (3 / 5 - 1 / 2) / math.sqrt(4 / 7 * 3 / 7 * (1 / 5 + 1 / 2))
    assert h.p_value == round(math.erfc(z / math.sqrt(2)), 4) == P_VALUE


def test_weekly_trends(dash: Dashboard) -> None:
    # Weeks (Mondays) from Dec 29 (Jan 01 is a Thursday) to Feb 23 (Feb 28 is a Saturday): 9 weeks.
    got = [(w.week, w.requests, w.retained, w.cancelled, w.handed_off, w.save_rate, w.really_saved, w.deflected,
            w.pending) for w in dash.weekly]
    assert got == [
        (date(2025, 12, 29), 1, 1, 0, 0, Rate(0, 0), 0, 1, 0),  # E (holdout, deflected)
        (date(2026, 1, 5), 3, 3, 0, 0, Rate(2, 2), 1, 1, 0),    # A (really), I (no offer), B (deflected)
        (date(2026, 1, 12), 2, 0, 2, 0, Rate(0, 1), 0, 0, 0),   # C, D (holdout)
        (date(2026, 1, 19), 1, 0, 1, 0, Rate(0, 1), 0, 0, 0),   # K (Sunday Jan 25)
        (date(2026, 1, 26), 0, 0, 0, 0, Rate(0, 0), 0, 0, 0),
        (date(2026, 2, 2), 1, 0, 0, 1, Rate(0, 0), 0, 0, 0),    # G
        (date(2026, 2, 9), 1, 1, 0, 0, Rate(1, 1), 0, 0, 1),    # F (pending)
        (date(2026, 2, 16), 1, 0, 0, 0, Rate(0, 0), 0, 0, 0),   # H
        (date(2026, 2, 23), 1, 0, 0, 0, Rate(0, 0), 0, 0, 0),   # J
    ]


# ---------------------------------------------------------------------------- filters


def test_channel_filter(session: Session) -> None:
    # Web: A D E F H I K -> retained A E F I, cancelled D K, abandoned H; not holdout and offered
    # something: A F / (A F K) = 2 / 3 (I was retained without any offer).
    d = load_dashboard(session, Filters(since=FILTERS.since, until=FILTERS.until, channels=("web",)),
                       as_of=AS_OF)
    assert (d.counts.requests, d.counts.retained, d.counts.cancelled, d.counts.abandoned) == (7, 4, 2, 1)
    assert d.hot_save_rate == Rate(2, 3)
    assert d.handoff.waiting_now == 1  # T3 only (T1 is voice)


def test_language_reason_and_segment_filters(session: Session) -> None:
    base = {"since": FILTERS.since, "until": FILTERS.until}
    assert load_dashboard(session, Filters(**base, languages=("en",)), as_of=AS_OF).counts.requests == 2  # C, F
    price = load_dashboard(session, Filters(**base, reasons=("price",)), as_of=AS_OF)
    assert (price.counts.requests, price.hot_save_rate) == (4, Rate(1, 3))
    # High value: c2 (B, K) and c5 (F) -> retained B F, cancelled K.
    high = load_dashboard(session, Filters(**base, segments=("high",)), as_of=AS_OF)
    assert (high.counts.requests, high.hot_save_rate) == (3, Rate(2, 3))
    assert customer_segments(session) == {1: "medium", 2: "high", 3: "low", 4: "unprofitable", 5: "high",
                                          6: "medium"}
    # Without a date range L (Dec 2025) counts too.
    assert load_dashboard(session, Filters(), as_of=AS_OF).counts.requests == 12


def test_filters_round_trip_and_validation() -> None:
    f = Filters(since=date(2026, 1, 1), until=date(2026, 2, 28), channels=("web", "sms", "web"),
                reasons=("price",), segments=("high",))
    assert f.channels == ("sms", "web")
    assert f.to_query() == {"since": "2026-01-01", "until": "2026-02-28", "channel": "sms,web", "reason": "price",
                            "segment": "high"}
    assert Filters.from_query(f.to_query()) == f
    for bad in ({"reason": "boredom"}, {"segment": "vip"}, {"channel": "web;drop"},
                {"since": "2026-03-01", "until": "2026-01-01"}, {"since": "yesterday"}):
        with pytest.raises(ValueError):
            Filters.from_query(bad)


def test_default_filters(session: Session) -> None:
    assert default_filters(session, today=date(2026, 3, 10)) == Filters(since=date(2025, 9, 10),
                                                                           until=date(2026, 3, 10))
    # 182 days including both ends: since = until - 181 days. Nothing in the last 26 weeks: the window
    # ends on the latest case (J, Feb 27 2026) and starts 181 days before, on Aug 30 2025.
    assert default_filters(session, today=date(2027, 6, 1)) == Filters(since=date(2025, 8, 30),
                                                                          until=date(2026, 2, 27))


def test_empty_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    upgrade_database(url)
    with session_factory(url)() as s:
        d = load_dashboard(s, FILTERS, as_of=AS_OF)
    assert d.counts.requests == 0 and d.hot_save_rate.value is None and d.returns.roi is None
    assert d.returns == ReturnRow(key="total")
    assert (d.weekly, d.returns_by_offer, d.returns_by_reason, d.reasons, d.offers) == ((), (), (), (), ())
    assert {n for n, t in dashboard_tables(d).items() if t.rows} == {"kpis", "holdout", "hot_cold"}


# ---------------------------------------------------------------------------- lists


def test_conversations_list(session: Session) -> None:
    rows = conversations(session, FILTERS)
    assert [r.conversation_id for r in rows] == ["conv-J", "conv-H", "conv-F", "conv-G", "conv-K", "conv-D",
                                                 "conv-C", "conv-B", "conv-I", "conv-A", "conv-E"]
    c = next(r for r in rows if r.conversation_id == "conv-C")
    assert (c.status, c.offers, c.handoff, c.cold_status, c.customer_ref) == (
        "cancelled", "discount_short: declined; downgrade_cheaper: declined", True, "won_back", "C00003")
    assert conversations(session, FILTERS, limit=2)[1].conversation_id == "conv-H"


def test_transcript_and_case_detail(session: Session, dataset: tuple[str, str, dict[str, Any]]) -> None:
    lines = transcript(tracker_engine(dataset[1]), "conv-A")
    assert lines is not None
    assert [(ln.speaker, ln.text, ln.intent) for ln in lines] == [
        ("user", "quiero darme de baja", "cancel"), ("bot", "Siento que te quieras ir", None),
        ("user", "asdfgh", "nlu_fallback"), ("user", "es caro, mi móvil es 600 123 456", "reason_price"),
        ("bot", "Te ofrezco un 15 % de descuento", None)]
    assert transcript(None, "conv-A") is None
    detail = case_detail(session, dataset[2]["case_ids"]["B"])
    assert detail is not None
    assert [(o.position, o.offer_id, o.outcome, o.text) for o in detail.offers] == [
        (1, "discount_competitor_match", "declined", "oferta discount_competitor_match"),
        (2, "credit_billing_error", "accepted", "oferta credit_billing_error")]
    assert case_detail(session, 999_999) is None


def test_action_plans_and_checkins(session: Session) -> None:
    plans, checkins = action_plans(session, FILTERS, as_of=AS_OF)
    assert [(p.reference, p.checkins, p.checkins_done, p.checkins_overdue, p.next_due, p.case_status)
            for p in plans] == [("PLAN-F", 3, 1, 1, date(2026, 2, 27), "retained")]
    # Open ones first (overdue Feb 27, upcoming Apr 11), then the done one.
    assert [(c.due_date, c.state) for c in checkins] == [
        (date(2026, 2, 27), "overdue"), (date(2026, 4, 11), "upcoming"), (date(2026, 2, 24), "done")]
    assert checkin_state(date(2026, 3, 10), None, date(2026, 3, 10)) == "due_today"


def test_handoff_queue(session: Session) -> None:
    rows = handoff_queue(session, as_of=AS_OF)
    # T1 (Feb 02 09:00) then T3 (Feb 28 22:00); T2 is resolved. Until Mar 10 12:00, T1 waits
    # 36 days 3 hours = 36 x 1440 + 180 = 52,020 minutes; T3 9 days 14 hours = 9 x 1440 + 840 = 13,800.
    assert [(r.conversation_id, r.status, r.trigger, r.waiting_minutes) for r in rows] == [
        ("conv-G", "waiting", "asked", 52_020), ("conv-X", "waiting", "not_understood", 13_800)]
    assert rows[0].summary == "Fay wants a person; call +44 7700 900006"
    assert rows[0].reason == "poor_support" and rows[1].customer_ref == ""
    assert handoff_queue(session, Filters(channels=("web",)), as_of=AS_OF)[0].conversation_id == "conv-X"


# ---------------------------------------------------------------------------- masking and CSV


def test_masking() -> None:
    assert mask_phone("+447700900001") == "•••••••••001"
    assert mask_phone(None) == "" and mask_phone("12") == "••"
    assert mask_email("ana.test@example.com") == "a•••@example.com"
    assert redact_contacts("llamadme al +34 600 123 456 o a ana@example.com") == (
        "llamadme al ••••••••456 o a a•••@example.com")
    assert redact_contacts("pagaba 36,90 € en 2025") == "pagaba 36,90 € en 2025"  # amounts and years stay


def test_tables_mask_contacts_and_defuse_formulas(session: Session, dash: Dashboard) -> None:
    table = conversations_table(conversations(session, FILTERS))
    masked = table.to_csv()
    assert "+447700900001" not in masked and "ana.test@example.com" not in masked
    assert "•••••••••001" in masked and "a•••@example.com" in masked
    clear = table.to_csv(show_contacts=True)
    assert "+447700900001" in clear and "ana.test@example.com" in clear
    verbatims = dashboard_tables(dash)["verbatims"]
    text = verbatims.to_csv()
    assert "600 123 456" not in text and "carla@example.com" not in text
    assert "'=HYPERLINK" in text  # a formula-looking cell is defused
    reasons_csv = dashboard_tables(dash)["reasons"].to_csv().splitlines()
    assert reasons_csv[0] == "Reason,Requests,Share (%),Retained,Cancelled,Handed off,Open/abandoned,Hot save rate (%)"
    assert reasons_csv[1] == "price,4,36.4,2,2,0,0,33.3"  # 4/11 = 36.4 %, 1/3 = 33.3 %


def test_kpi_rows(dash: Dashboard) -> None:
    kpis = {r["key"]: r["value"] for r in kpi_rows(dash)}
    assert kpis == {
        "requests": "11", "hot_save_rate": "60.0 %", "really_saved": "1", "cold_win_back_rate": "50.0 %",
        "revenue_kept": "88.70 EUR", "offer_cost": "127.21 EUR", "return": "\u221238.51 EUR", "handoff_rate": "18.2 %",
        "waiting_tickets": "2", "nlu_fallback_rate": "25.0 %", "holdout_lift": "10.0 pts"}


def test_full_months() -> None:
    assert full_months(date(2026, 1, 5), date(2026, 3, 10)) == 2
    assert full_months(date(2026, 1, 25), date(2026, 3, 10)) == 1
    assert full_months(date(2026, 1, 31), date(2026, 2, 28)) == 0
    assert full_months(date(2026, 3, 1), date(2026, 1, 1)) == 0


def test_months_kept_are_capped_at_the_horizon(tmp_path: Path) -> None:
    # Saved 2024-01-10, never cancelled, as of 2026-03-10: 25 whole months -> capped at 12 x 20.00 = 240.00.
    # A second customer saved the same day cancels 2024-05-20 (after the 30 days): 4 months x 10.00 = 40.00.
    url = f"sqlite:///{tmp_path / 'cap.db'}"
    upgrade_database(url)
    with session_factory(url)() as s:
        a = _customer(s, "C00010", "Old", "fibra_300", "29.90")
        b = _customer(s, "C00011", "Gone", "fibra_300", "29.90", cancelled_at=datetime(2024, 5, 20, 9))
        _case(s, "cap-1", a, "web", "es", "price", "retained", datetime(2024, 1, 10, 9), datetime(2024, 1, 10, 9, 5),
              revenue="20.00")
        _case(s, "cap-2", b, "web", "es", "price", "retained", datetime(2024, 1, 10, 9), datetime(2024, 1, 10, 9, 5),
              revenue="10.00")
        s.commit()
        d = load_dashboard(s, Filters(), as_of=AS_OF)
    assert (d.real_saves.really_saved, d.returns.months_kept, d.returns.revenue_kept) == (2, 16, D("280.00"))


# ---------------------------------------------------------------------------- PostgreSQL


def _all_figures(url: str) -> dict[str, str]:
    with session_factory(url)() as s:
        d = load_dashboard(s, FILTERS, as_of=AS_OF)
        out = {name: t.to_csv() for name, t in dashboard_tables(d).items()}
        out["conversations"] = conversations_table(conversations(s, FILTERS)).to_csv(show_contacts=True)
        plans, checkins = action_plans(s, FILTERS, as_of=AS_OF)
        out["plans"] = plans_table(plans).to_csv() + checkins_table(checkins).to_csv()
        out["queue"] = queue_table(handoff_queue(s, as_of=AS_OF)).to_csv()
        high = Filters(since=FILTERS.since, until=FILTERS.until, segments=("high",))
        out["high"] = dashboard_tables(load_dashboard(s, high, as_of=AS_OF))["kpis"].to_csv()
        out["default"] = repr(default_filters(s, today=date(2027, 6, 1)))
    return out


def test_same_figures_on_postgresql(dataset: tuple[str, str, dict[str, Any]]) -> None:
    """Production runs PostgreSQL: the same dataset gives the same tables, to the cent."""
    from tests.support.pg import PostgresServer

    with PostgresServer() as pg:
        url = pg.create_database("analytics")
        upgrade_database(url)
        with session_factory(url)() as s:
            build_dataset(s)
        on_postgres = _all_figures(url)
    on_sqlite = _all_figures(dataset[0])
    assert on_postgres.keys() == on_sqlite.keys()
    for name in on_sqlite:
        assert on_postgres[name] == on_sqlite[name], name


def test_identity_answers_are_not_counted_as_nlu_fallbacks(tmp_path: Path) -> None:
    from analytics import demo_rows

    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    tracker = demo_rows.writable_tracker(url)
    demo_rows.write_events(tracker, [
        ("c-1", "user", 1767225600.0 + i, "nlu_fallback", None, json.dumps({"text": text}))
        for i, text in enumerate(["C00042", "ce cero cero cero cuatro dos", "28013", "zzz grmbl"])])
    stats = nlu_stats(tracker_engine(url), Filters())
    assert (stats.user_messages, stats.fallbacks) == (4, 1)
