"""Cold retention (win-back) campaigns on a real, migrated and seeded SQLite database, with the
real catalogue and policy, SMS through Twilio's stand-in on 127.0.0.1.

Dates: customers cancel on Tuesday 2026-11-24; a price case is due 30 days later, on Thursday
2026-12-24. 10:00 UTC is 11:00 in Madrid (texting allowed), 22:30 UTC is 23:30 (quiet hours).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import campaigns as campaigns_cli
from bot.config.errors import PROJECT_ROOT, ConfigError, read_yaml
from bot.core import campaign_cases, campaign_config, campaign_export, campaign_messages
from bot.core.answers import Answer, Question, read
from bot.core.campaign_cases import NO_CONSENT, OPTED_OUT, SKIP_KEY, UNPROFITABLE, CampaignError
from bot.core.campaign_claiming import claim_due
from bot.core.campaign_config import load_campaigns, parse_campaigns
from bot.core.campaign_export import export_due_csv
from bot.core.campaign_messages import choose_cold_offer, render_message, sms_segments
from bot.core.campaign_replies import accept_winback, decline_winback, expire_unanswered, pending_winback, reply_word
from bot.core.campaign_runner import CampaignSummary, run_campaign
from bot.core.campaign_scheduling import mark_solved, refresh, schedule_cold_case
from bot.core.conversation import Conversation
from bot.core.customers import find_customer
from bot.core.offer_engine import evaluate_offer, rank_offers
from bot.core.offer_loader import load_catalogue
from bot.core.offer_model import CustomerContext
from bot.core.process import Policy, load_policy
from bot.core.reasons import REASONS
from bot.core.retention import RetentionService
from bot.core.spreadsheet import defused
from bot.messaging.sms import SmsSender
from bot.storage.db import session_factory
from bot.storage.models import CaseOffer, ColdCase, Customer, Incident, RetentionCase, Subscription
from tests.support.twilio_standin import TWILIO_NUMBER, TwilioApiStandIn, send_sms_through

CANCEL_DAY = date(2026, 11, 24)
DUE_DAY = CANCEL_DAY + timedelta(days=30)  # price
SEND = datetime(2026, 12, 24, 10, 0)  # 11:00 in Madrid
QUIET = datetime(2026, 12, 24, 22, 30)  # 23:30 in Madrid
# The same check as tests/channels/test_twilio_sms.py: nothing we send asks anyone to text CANCEL.
CANCEL_INSTRUCTION = re.compile(
    r"\b(text|reply|send|type|write|txt|responde|escribe|env[ií]a|manda)\b\W{0,3}"
    r"(us\W+|with\W+|nos\W+|con\W+)?[\"'«“]?cancel\b", re.IGNORECASE)


# --- helpers (also used by tests/core/test_campaigns_postgres.py) ----------------------------------


def cancel(session: Session, ref: str, reason: str, *, language: str = "es", today: date = CANCEL_DAY) -> RetentionCase:
    """A verified customer asks to leave for ``reason``, gets the hot offer, and cancels."""
    svc = RetentionService(session, today=today)
    customer = find_customer(session, ref=ref)
    assert customer is not None
    conv = Conversation(f"cold-{ref}-{reason}", language=language, customer_id=customer.id, verified=True)
    svc.start(conv, reason=reason, verbatim=f"me voy: {reason}")
    svc.cancel(replace(conv, stage="offer"))
    case = svc.current_case(conv)
    assert case is not None and case.status == "cancelled"
    return case


def cancel_and_schedule(session: Session, ref: str, reason: str = "price", **kwargs: Any) -> ColdCase:
    case = cancel(session, ref, reason, **kwargs)
    cold = schedule_cold_case(session, case, CANCEL_DAY)
    assert cold is not None
    session.commit()
    return cold


def allow_sms(session: Session, *refs: str) -> None:
    for ref in refs:
        customer = find_customer(session, ref=ref)
        customer.consent_sms_marketing, customer.sms_opted_out_at = True, None
    session.commit()


def run(factory: sessionmaker, sender: SmsSender | None, now: datetime, runner_id: str = "test-runner",
        **kwargs: Any) -> CampaignSummary:
    return asyncio.run(run_campaign(factory, sender, runner_id, now, kwargs.pop("dry_run", False),
                                    kwargs.pop("limit", None), **kwargs))


def cold_of(session: Session, ref: str) -> ColdCase:
    customer = find_customer(session, ref=ref)
    session.expire_all()
    return session.scalars(select(ColdCase).where(ColdCase.customer_id == customer.id)).one()


def sent_to(standin: TwilioApiStandIn) -> list[str]:
    return [m["To"] for m in standin.messages]


def phone(session: Session, ref: str) -> str:
    return str(find_customer(session, ref=ref).phone)


def with_max_attempts(policy: Policy, n: int) -> Policy:
    return replace(policy, cold=replace(policy.cold, max_attempts=n))


@pytest.fixture()
def factory(db_url: str) -> sessionmaker:
    return session_factory(db_url)


@pytest.fixture()
def twilio(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwilioApiStandIn]:
    """Twilio's REST API stand-in; the process's DATABASE_URL and TWILIO_* point at the test."""
    with TwilioApiStandIn() as standin:
        monkeypatch.setenv("DATABASE_URL", db_url)
        send_sms_through(standin, monkeypatch)
        yield standin


def new_sender(**kwargs: Any) -> SmsSender:
    return SmsSender.from_env(backoff_seconds=0.0, **kwargs)


# --- scheduling: cool-down per reason, problem solved -----------------------------------------


def test_cooldown_per_reason_and_idempotent_scheduling(db_session: Session) -> None:
    policy = load_policy()
    for i, reason in enumerate(REASONS):
        ref = f"C{10 + i:05d}"
        customer = find_customer(db_session, ref=ref)
        for incident in list(customer.incidents):  # no incident on record for any reason
            db_session.delete(incident)
        case = cancel(db_session, ref, reason)
        cold = schedule_cold_case(db_session, case, CANCEL_DAY)
        assert cold is not None and cold.reason == reason and cold.customer_id == customer.id
        assert cold.due_on == CANCEL_DAY + timedelta(days=policy.cold.cooldown_days[reason])
        needs_fix = reason in policy.cold.requires_problem_solved
        assert cold.status == ("waiting_fix" if needs_fix else "cooling")
        assert schedule_cold_case(db_session, case, CANCEL_DAY) is cold  # idempotent
    db_session.commit()
    assert db_session.scalar(select(func.count()).select_from(ColdCase)) == len(REASONS)
    assert {policy.cold.cooldown_days[r] for r in REASONS} != {30}  # the reasons really differ

    # Nothing is due before the shortest cool-down ends; later, all but those waiting for a fix.
    shortest = min(policy.cold.cooldown_days.values())
    assert refresh(db_session, CANCEL_DAY + timedelta(days=shortest - 1)) == 0
    latest = max(c.due_on for c in db_session.scalars(select(ColdCase)))
    assert refresh(db_session, latest) == len(REASONS) - len(policy.cold.requires_problem_solved)
    statuses = {c.reason: c.status for c in db_session.scalars(select(ColdCase))}
    assert {r for r, s in statuses.items() if s == "waiting_fix"} == set(policy.cold.requires_problem_solved)


def test_each_reason_becomes_due_exactly_on_its_day(db_session: Session) -> None:
    policy = load_policy()
    colds = {}
    for i, reason in enumerate(r for r in REASONS if r not in policy.cold.requires_problem_solved):
        colds[reason] = schedule_cold_case(db_session, cancel(db_session, f"C{10 + i:05d}", reason), CANCEL_DAY)
    for days in sorted({policy.cold.cooldown_days[r] for r in colds}):
        batch = [c for r, c in colds.items() if policy.cold.cooldown_days[r] == days]
        refresh(db_session, CANCEL_DAY + timedelta(days=days - 1))
        assert all(c.status == "cooling" for c in batch), days
        assert refresh(db_session, CANCEL_DAY + timedelta(days=days)) == len(batch)
        assert all(c.status == "due" for c in batch), days


def test_only_cancelled_cases_with_a_customer_become_cold(db_session: Session) -> None:
    svc = RetentionService(db_session, today=CANCEL_DAY)
    lucia = find_customer(db_session, ref="C00001")
    conv = Conversation("cold-open", customer_id=lucia.id, verified=True)
    svc.start(conv, reason="price")
    open_case = svc.current_case(conv)
    assert schedule_cold_case(db_session, open_case, CANCEL_DAY) is None  # still open
    anonymous = RetentionCase(conversation_id="cold-anon", status="cancelled", reason="price")
    db_session.add(anonymous)
    db_session.flush()
    assert schedule_cold_case(db_session, anonymous, CANCEL_DAY) is None
    assert db_session.scalar(select(func.count()).select_from(ColdCase)) == 0


def test_a_customer_cancelling_again_keeps_one_open_cold_case(db_session: Session) -> None:
    first = cancel_and_schedule(db_session, "C00001", "price")
    # A new conversation of a customer already cancelled: told the cancellation stands, with
    # its confirmation; no new case, no offer, and still one cold case.
    svc = RetentionService(db_session, today=CANCEL_DAY)
    customer = find_customer(db_session, ref="C00001")
    conv = Conversation("cold-C00001-again", customer_id=customer.id, verified=True)
    turn = svc.start(conv, reason="competitor", verbatim="me voy")
    assert [r.response for r in turn.replies] == ["utter_already_cancelled"]
    assert svc.current_case(conv) is None
    assert db_session.scalar(select(func.count()).select_from(ColdCase)) == 1
    assert db_session.get(ColdCase, first.id).case_id == first.case_id


def test_problem_solved_rule_from_incidents(db_session: Session) -> None:
    policy = load_policy()
    due_day = CANCEL_DAY + timedelta(days=policy.cold.cooldown_days["service_failure"])
    # Carlos (C00005): one outage solved, one still open when he cancels.
    cold = cancel_and_schedule(db_session, "C00005", "service_failure")
    assert cold.status == "waiting_fix" and cold.problem_solved_at is None
    assert refresh(db_session, due_day + timedelta(days=30)) == 0
    assert cold.status == "waiting_fix"  # cooled down long ago, but the problem is still there

    carlos = find_customer(db_session, ref="C00005")
    still_open = next(i for i in carlos.incidents if i.solved_at is None)
    fixed_at = datetime(2026, 12, 1, 16, 30)
    still_open.solved_at = fixed_at
    # A new problem after the cancellation is not the one he left for.
    db_session.add(Incident(customer_id=carlos.id, kind="outage", opened_at=datetime(2026, 12, 2), solved_at=None))
    db_session.commit()
    assert refresh(db_session, due_day - timedelta(days=1)) == 0
    assert cold.status == "cooling" and cold.problem_solved_at == fixed_at  # solved, not cooled down
    assert refresh(db_session, due_day) == 1 and cold.status == "due"


def test_problem_solved_before_cancelling_and_other_incident_kinds(db_session: Session) -> None:
    customer = find_customer(db_session, ref="C00011")
    for incident in list(customer.incidents):
        db_session.delete(incident)
    solved = datetime(2026, 11, 20, 12)
    db_session.add_all([
        Incident(customer_id=customer.id, kind="billing_error", opened_at=datetime(2026, 11, 10), solved_at=solved),
        Incident(customer_id=customer.id, kind="outage", opened_at=datetime(2026, 11, 15), solved_at=None),
    ])
    db_session.flush()
    cold = cancel_and_schedule(db_session, "C00011", "billing_error")
    assert cold.status == "cooling" and cold.problem_solved_at == solved  # the open outage is not billing


def test_problem_marked_solved_by_a_person_and_cli(db_session: Session, db_url: str,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    policy = load_policy()
    emma = cancel_and_schedule(db_session, "C00007", "poor_support")  # no support incident on record
    elena = cancel_and_schedule(db_session, "C00006", "billing_error")  # duplicated charge, open
    assert emma.status == elena.status == "waiting_fix"
    due = CANCEL_DAY + timedelta(days=policy.cold.cooldown_days["poor_support"])
    assert refresh(db_session, due) == 0

    mark_solved(db_session, emma.id, datetime(2026, 12, 1, 9))
    db_session.commit()
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert campaigns_cli.main(["solved", "--case", str(elena.id), "--at", "2026-12-02"]) == 0
    assert "problem solved at 2026-12-02" in capsys.readouterr().out
    db_session.expire_all()
    assert refresh(db_session, due) == 2
    assert emma.status == elena.status == "due"
    assert elena.problem_solved_at == datetime(2026, 12, 2, 12)
    db_session.commit()

    assert campaigns_cli.main(["solved", "--case", "99999"]) == 2
    assert "no cold case #99999" in capsys.readouterr().err
    assert campaigns_cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^due\s+2$", out, re.MULTILINE) and re.search(r"^waiting_fix\s+0$", out, re.MULTILINE)


# --- the cold offer ----------------------------------------------------------------------------

# What makes an offer better for the customer, per kind: (parameter, +1 more is better / -1 less).
BETTER = {
    "discount": (("discount_pct", 1), ("months", 1)), "pause": (("pause_months", 1),),
    "downgrade": (("credit", 1),), "upgrade": (("months", 1),), "credit": (("credit", 1),),
    "technician": (("within_hours", -1), ("credit", 1)), "transfer": (("within_days", -1), ("credit", 1)),
    "escalation": (("callback_hours", -1), ("credit", 1)), "action_plan": (("gift", 1),),
}


def _number(params: dict[str, Any], key: str) -> Decimal:
    return Decimal(str(params.get(key, 0)))


@pytest.mark.parametrize(("ref", "reason"), [
    ("C00001", "price"), ("C00002", "competitor"), ("C00005", "service_failure"), ("C00006", "billing_error"),
    ("C00007", "poor_support"), ("C00008", "temporary"), ("C00009", "relocation"), ("C00020", "price"),
])
def test_cold_offer_is_a_better_version_of_the_hot_one(db_session: Session, ref: str,
                                                       reason: str) -> None:
    cold = cancel_and_schedule(db_session, ref, reason)
    case = db_session.get(RetentionCase, cold.case_id)
    hot = case.offers[0]  # what the customer was offered, and declined, in the conversation
    assert hot.variant == "hot" and hot.outcome == "declined"
    offer, why = choose_cold_offer(db_session, cold, DUE_DAY)
    assert offer is not None, why
    assert offer.variant == "cold" and offer.offer_id == hot.offer_id and offer.kind == hot.kind
    cold_params = offer.json_params()
    diffs = [sign * (_number(cold_params, key) - _number(hot.params, key)) for key, sign in BETTER[hot.kind]]
    assert all(d >= 0 for d in diffs) and any(d > 0 for d in diffs), (hot.params, cold_params)
    if hot.kind == "discount":
        assert Decimal(cold_params["new_price"]) < Decimal(hot.params["new_price"])
    # It pays: positive expected value, within the profitability gate's cap.
    assert offer.expected_value > 0


def test_cold_offer_is_priced_on_the_cancelled_plan_at_list_price(db_session: Session) -> None:
    lucia = find_customer(db_session, ref="C00001")
    sub = lucia.current_subscription
    assert sub.plan_code == "fibra_movil_tv" and sub.list_price == Decimal("72.90")
    # She was paying a discounted price, with an offer running, when she left.
    sub.monthly_price, sub.discount_pct, sub.discount_until = Decimal("61.97"), 15, date(2027, 3, 1)
    sub.running_offer_id, sub.running_offer_until = "discount_short", date(2027, 3, 1)
    db_session.flush()
    cold = cancel_and_schedule(db_session, "C00001", "price")
    assert lucia.current_subscription.status == "cancelled"
    offer, _ = choose_cold_offer(db_session, cold, DUE_DAY)
    assert offer is not None and offer.kind == "discount"
    params = offer.json_params()
    assert params["current_plan"] == "fibra_movil_tv" and params["old_price"] == "72.90"
    expected = (Decimal("72.90") * (100 - Decimal(params["discount_pct"])) / 100).quantize(Decimal("0.01"))
    assert Decimal(params["new_price"]) == expected


def test_unprofitable_customer_gets_no_costly_cold_offer(db_session: Session) -> None:
    # Javier (C00003) costs more to serve than he pays.
    config = load_campaigns()
    assert config.contact_unprofitable is False
    cold = cancel_and_schedule(db_session, "C00003", "price")
    assert choose_cold_offer(db_session, cold, DUE_DAY) == (None, UNPROFITABLE)
    other = cancel_and_schedule(db_session, "C00010", "service_failure")
    # Even when unprofitable customers may be contacted, they only get zero-cost tools.
    lenient = replace(config, contact_unprofitable=True)
    for c in (cold, other):
        offer, why = choose_cold_offer(db_session, c, DUE_DAY, config=lenient)
        assert offer is None or offer.cost == 0, offer
        ctx = campaign_messages.cold_context(db_session, db_session.get(Customer, c.customer_id),
                                     db_session.get(RetentionCase, c.case_id), DUE_DAY, load_catalogue())
        assert ctx.value_segment == "unprofitable" and ctx.monthly_margin <= 0
        assert all(o.cost == 0 for o in rank_offers(load_catalogue(), ctx, c.reason, variant="cold", today=DUE_DAY))
    offer, _ = choose_cold_offer(db_session, other, DUE_DAY, config=lenient)
    assert offer is not None and offer.cost == 0  # e.g. the specialist callback, free


def test_unprofitable_customer_is_not_texted(db_session: Session, factory: sessionmaker,
                                             twilio: TwilioApiStandIn) -> None:
    cancel_and_schedule(db_session, "C00003", "price")
    cancel_and_schedule(db_session, "C00001", "price")
    summary = run(factory, new_sender(), SEND)
    assert summary.sent == 1 and summary.skipped == {UNPROFITABLE: 1}
    assert sent_to(twilio) == [phone(db_session, "C00001")]
    javier = cold_of(db_session, "C00003")
    assert javier.status == "skipped" and javier.offer_params[SKIP_KEY] == UNPROFITABLE
    assert javier.offer_id is None and javier.attempts == 0


# --- the message -----------------------------------------------------------------------------


def test_every_cold_offer_makes_a_plain_sms_in_both_languages() -> None:
    config, catalogue = load_campaigns(), load_catalogue()
    customer = Customer(first_name="Lucía", ref="C00001")
    checked = 0
    for offer in catalogue.offers:
        for plan in ("fibra_600", "fibra_movil", "fibra_movil_tv"):
            ctx = CustomerContext(customer_id=1, plan_code=plan, tenure_months=40,
                                  monthly_revenue=catalogue.plans[plan].monthly_price, monthly_margin=Decimal(20),
                                  value_segment="high")
            ranked = evaluate_offer(catalogue, offer, ctx, variant="cold", today=DUE_DAY)
            if ranked is None:
                continue
            for language in ("es", "en"):
                body = render_message(config, customer, offer.reasons[0], ranked.describe(language), language)
                accept, decline = config.reply_words[language]
                assert re.search(rf"\b{accept}\b", body) and re.search(rf"\b{decline}\b", body)
                assert "STOP" in body and "Lucía" in body and ranked.describe(language) in body
                assert not CANCEL_INSTRUCTION.search(body) and not re.search(r"\bCANCEL\b", body)
                assert not re.search(r"[*_#`\[\]~{}]", body), body
                assert sms_segments(body) <= 10
                checked += 1
    assert checked >= 2 * len(catalogue.offers)


def test_sms_segments() -> None:
    assert sms_segments("Hola " * 32) == 1 and sms_segments("a" * 161) == 2  # GSM-7: 160, then 153
    assert sms_segments("á" * 70) == 1 and sms_segments("á" * 71) == 2  # UCS-2: 70, then 67
    assert sms_segments("€" * 80) == 1 and sms_segments("€" * 81) == 2  # extension table: 2 each


@pytest.mark.parametrize(("text", "expected"), [
    ("SI", True), ("sí", True), ("¡Sí!", True), ("yes!", True), ("NO", False), ("no.", False),
    ("", None), ("Sí, quiero volver", None), ("no gracias", None),  # more than the word: read in context
])
def test_reply_word_is_the_sms_own_word(text: str, expected: bool | None) -> None:
    assert reply_word(text) is expected


def test_configured_reply_words_decide_a_win_back_reply() -> None:
    """reply_words of data/campaigns.yml are the words the SMS asks for, and the ones read."""
    raw = yaml.safe_load(campaign_config.DEFAULT_CAMPAIGNS.read_text(encoding="utf-8"))
    raw["reply_words"]["es"] = {"accept": "VUELVO", "decline": "PASO"}
    raw["sms"]["es"] = (raw["sms"]["es"].replace("responde SI", "responde VUELVO")
                        .replace("responde NO", "responde PASO"))
    config = campaign_config.parse_campaigns(raw, campaign_config.DEFAULT_CAMPAIGNS)
    assert reply_word("vuelvo", config) is True and reply_word("Paso", config) is False
    assert reply_word("SI", config) is None  # no longer the SMS's word: the reader in context decides


def _raw() -> dict[str, Any]:
    raw = read_yaml(PROJECT_ROOT / "data" / "campaigns.yml")
    assert isinstance(raw, dict)
    return raw


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r["sms"].update(es="Hola {first_name}. Responde SI o NO."), "sms.es: must contain {offer_text}"),
    (lambda r: r["sms"].update(en=r["sms"]["en"] + " 🎉"), "sms.en: no emoji"),
    (lambda r: r["sms"].update(es="**Oferta** {offer_text} Responde SI o NO."), "sms.es: no markdown"),
    (lambda r: r["sms"].update(en="{offer_text} Reply YES, NO, or CANCEL to end it."), "sms.en: never mention CANCEL"),
    (lambda r: r["sms"].update(es="{offer_text} {precio} Responde SI o NO."), "sms.es: unknown placeholder {precio}"),
    (lambda r: r["sms"].update(en="{offer_text} Reply OK."), "sms.en: must ask to reply YES"),
    (lambda r: r["reply_words"]["es"].update(decline=False), "reply_words.es.decline: must be one word"),
    (lambda r: r["intro"].update(bored={"es": "x", "en": "y"}), "intro.bored: unknown churn reason"),
    (lambda r: r["intro"]["price"].pop("en"), "intro.price.en: missing or empty"),
    (lambda r: r["problem_incidents"].update(poor_support=["rudeness"]), "problem_incidents.poor_support"),
    (lambda r: r["settings"].update(no_answer_days=0), "settings.no_answer_days"),
    (lambda r: r["settings"].update(exclude_kinds=["hug"]), "settings.exclude_kinds"),
    (lambda r: r.pop("company"), "company: missing or empty"),
])
def test_invalid_campaigns_file_names_file_and_entry(change: Any, message: str) -> None:
    raw = _raw()
    change(raw)
    with pytest.raises(ConfigError) as err:
        parse_campaigns(raw, PROJECT_ROOT / "data" / "campaigns.yml")
    assert str(err.value).startswith("data/campaigns.yml: ") and message in str(err.value), str(err.value)


def test_unquoted_no_in_yaml_is_caught(tmp_path: Path) -> None:
    text = (PROJECT_ROOT / "data" / "campaigns.yml").read_text(encoding="utf-8")
    bad = tmp_path / "campaigns.yml"
    bad.write_text(text.replace('decline: "NO"', "decline: NO", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"campaigns.yml: reply_words.es.decline: .*quoted \(got False\)"):
        load_campaigns(bad)


# --- sending: consent, opt-out, quiet hours, attempts, dry run --------------------------------


def test_consent_opt_out_and_quiet_hours(db_session: Session, factory: sessionmaker,
                                         twilio: TwilioApiStandIn) -> None:
    for ref in ("C00001", "C00013", "C00011", "C00036"):
        cancel_and_schedule(db_session, ref)
    allow_sms(db_session, "C00001", "C00013", "C00011", "C00036")
    find_customer(db_session, ref="C00013").consent_sms_marketing = False
    find_customer(db_session, ref="C00011").sms_opted_out_at = datetime(2026, 12, 1)
    find_customer(db_session, ref="C00036").timezone = "America/New_York"  # 05:00 there at SEND
    db_session.commit()

    late = run(factory, new_sender(), QUIET)  # 23:30 in Madrid: nobody there is texted
    assert late.claimed == 1 and late.sent == 1 and late.quiet_hours == 3  # 17:30 in New York
    assert sent_to(twilio) == [phone(db_session, "C00036")]

    morning = run(factory, new_sender(), SEND)
    assert morning.sent == 1 and morning.skipped == {NO_CONSENT: 1, OPTED_OUT: 1}
    assert sent_to(twilio) == [phone(db_session, "C00036"), phone(db_session, "C00001")]
    assert cold_of(db_session, "C00013").offer_params[SKIP_KEY] == NO_CONSENT
    assert cold_of(db_session, "C00011").offer_params[SKIP_KEY] == OPTED_OUT
    for ref in ("C00013", "C00011"):
        skipped = cold_of(db_session, ref)
        assert skipped.status == "skipped" and skipped.attempts == 0 and skipped.outcome_at is not None
    assert all(r.auth_ok and r.form["From"] == TWILIO_NUMBER for r in twilio.requests)
    assert run(factory, new_sender(), SEND + timedelta(hours=1)).claimed == 0  # nothing left


def test_early_morning_is_quiet_too(db_session: Session, factory: sessionmaker,
                                    twilio: TwilioApiStandIn) -> None:
    cancel_and_schedule(db_session, "C00001")
    early = run(factory, new_sender(), datetime(2026, 12, 24, 8, 0))  # 09:00 Madrid, quiet until 09:30
    assert early.sent == 0 and early.quiet_hours == 1 and cold_of(db_session, "C00001").status == "due"
    assert run(factory, new_sender(), datetime(2026, 12, 24, 8, 30)).sent == 1  # 09:30 Madrid
    assert len(twilio.requests) == 1


class SlowSender:
    """The real sender, then a pause: a run that takes its time."""

    def __init__(self, inner: SmsSender, pause: float) -> None:
        self.inner, self.pause = inner, pause

    async def send(self, **kwargs: Any) -> Any:
        result = await self.inner.send(**kwargs)
        await asyncio.sleep(self.pause)
        return result


def test_a_long_run_stops_at_the_start_of_quiet_hours(db_session: Session, factory: sessionmaker,
                                                     twilio: TwilioApiStandIn) -> None:
    for ref in ("C00001", "C00013", "C00036"):
        cancel_and_schedule(db_session, ref)
    allow_sms(db_session, "C00013", "C00036")
    start = datetime(2026, 12, 24, 19, 59, 59, 400000)  # 20:59:59.4 in Madrid; quiet from 21:00
    summary = run(factory, SlowSender(new_sender(), 0.8), start)  # type: ignore[arg-type]
    assert summary.claimed == 3 and summary.sent == 1 and summary.quiet_hours == 2
    assert sent_to(twilio) == [phone(db_session, "C00001")]
    assert [cold_of(db_session, r).status for r in ("C00013", "C00036")] == ["due", "due"]
    assert cold_of(db_session, "C00013").attempts == 0  # not an attempt: sent the next morning
    assert run(factory, new_sender(), SEND + timedelta(days=1)).sent == 2


def test_at_most_max_attempts(db_session: Session, factory: sessionmaker,
                              twilio: TwilioApiStandIn) -> None:
    cancel_and_schedule(db_session, "C00001")
    policy = with_max_attempts(load_policy(), 2)
    lucia = phone(db_session, "C00001")
    assert run(factory, new_sender(), SEND, policy=policy).sent == 1
    assert run(factory, new_sender(), SEND + timedelta(days=3), policy=policy).sent == 0  # waiting for a reply
    second = run(factory, new_sender(), SEND + timedelta(days=7, hours=1), policy=policy)  # no answer: try again
    assert second.expired == 1 and second.sent == 1
    assert cold_of(db_session, "C00001").attempts == 2
    third = run(factory, new_sender(), SEND + timedelta(days=14, hours=2), policy=policy)
    assert third.expired == 1 and third.sent == 0
    assert cold_of(db_session, "C00001").status == "no_answer"
    assert sent_to(twilio) == [lucia, lucia]

    # With the configured single attempt, a case that was already tried once is not retried.
    cancel_and_schedule(db_session, "C00013")
    allow_sms(db_session, "C00013")
    cold = cold_of(db_session, "C00013")
    cold.attempts = 1
    db_session.commit()
    summary = run(factory, new_sender(), SEND + timedelta(days=15))
    assert summary.skipped == {campaign_cases.MAX_ATTEMPTS: 1} and len(twilio.requests) == 2


def test_twilio_failures(db_session: Session, factory: sessionmaker,
                         twilio: TwilioApiStandIn) -> None:
    cancel_and_schedule(db_session, "C00001")
    cancel_and_schedule(db_session, "C00013")
    allow_sms(db_session, "C00013")
    twilio.fail_number(phone(db_session, "C00013"), 400, 21211, "The 'To' number is not a valid phone number.")
    twilio.fail_next(2, 503)  # Lucía's message: Twilio down for both of the sender's attempts
    policy = with_max_attempts(load_policy(), 2)
    first = run(factory, new_sender(max_attempts=2), SEND, policy=policy)
    assert first.sent == 0 and first.retry_later == 1 and first.skipped == {"rejected_21211": 1}
    assert cold_of(db_session, "C00001").status == "due"
    second = run(factory, new_sender(max_attempts=2), SEND + timedelta(hours=1), policy=policy)
    assert second.sent == 1 and cold_of(db_session, "C00001").status == "sent"
    twilio.fail_next(10, 500)
    cancel_and_schedule(db_session, "C00036")
    allow_sms(db_session, "C00036")
    third = run(factory, new_sender(max_attempts=1), SEND + timedelta(hours=2))
    assert third.failed == 1 and cold_of(db_session, "C00036").offer_params[SKIP_KEY] == "delivery_failed"


def test_dry_run_sends_and_changes_nothing(db_session: Session, factory: sessionmaker,
                                           twilio: TwilioApiStandIn) -> None:
    for ref in ("C00001", "C00003", "C00013"):
        cancel_and_schedule(db_session, ref)
    allow_sms(db_session, "C00013")
    before = [(c.id, c.status, c.offer_id, c.attempts, dict(c.offer_params))
              for c in db_session.scalars(select(ColdCase).order_by(ColdCase.id))]
    summary = run(factory, None, SEND, dry_run=True)
    assert summary.dry_run and summary.became_due == 3 and summary.sent == 0
    assert [m.customer_ref for m in summary.messages] == ["C00001", "C00013"]
    assert summary.skipped == {UNPROFITABLE: 1}
    assert all("responde SI" in m.body and m.segments >= 1 for m in summary.messages)
    assert "DRY RUN" in summary.lines()[0]
    db_session.expire_all()
    after = [(c.id, c.status, c.offer_id, c.attempts, dict(c.offer_params))
             for c in db_session.scalars(select(ColdCase).order_by(ColdCase.id))]
    assert after == before and all(status == "cooling" for _, status, *_ in after)
    assert twilio.requests == []
    assert len(run(factory, None, SEND, dry_run=True, limit=1).messages) == 1


# --- call-centre export ------------------------------------------------------------------------


def test_export_due_csv(db_session: Session, db_url: str, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    cancel_and_schedule(db_session, "C00001")  # due on DUE_DAY
    cancel_and_schedule(db_session, "C00002", "price", language="en")
    cancel_and_schedule(db_session, "C00003")  # unprofitable: no offer, left out
    cancel_and_schedule(db_session, "C00005", "service_failure")  # problem not solved: not due
    john = find_customer(db_session, ref="C00002")
    john.first_name = "=HYPERLINK(\"http://x\")"  # a name a spreadsheet would run
    db_session.commit()

    buffer = io.StringIO()
    assert export_due_csv(db_session, buffer, DUE_DAY - timedelta(days=1)) == 0
    assert export_due_csv(db_session, buffer := io.StringIO(), DUE_DAY) == 2
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert list(rows[0]) == list(campaign_export.CSV_COLUMNS)
    lucia = next(r for r in rows if r["customer_ref"] == "C00001")
    assert lucia["name"] == "Lucía García Ortega" and lucia["phone"] == "+447700900000"  # not masked
    assert lucia["language"] == "es" and lucia["reason"] == "price" and lucia["due_on"] == DUE_DAY.isoformat()
    assert lucia["offer_id"] == "discount_loyalty" and "20 %" in lucia["offer"]
    john_row = next(r for r in rows if r["customer_ref"] == "C00002")
    assert john_row["language"] == "en" and "off" in john_row["offer"]
    assert john_row["name"] == "'=HYPERLINK(\"http://x\") Smith"  # shown as text, never run
    db_session.commit()

    monkeypatch.setenv("DATABASE_URL", db_url)
    out = tmp_path / "due.csv"
    assert campaigns_cli.main(["export", "--csv", str(out), "--on", DUE_DAY.isoformat()]) == 0
    assert "2 due cold case(s) exported" in capsys.readouterr().err
    with out.open(encoding="utf-8", newline="") as fh:
        assert [r["customer_ref"] for r in csv.DictReader(fh)] == ["C00001", "C00002"]
    assert campaigns_cli.main(["export", "--csv", str(tmp_path / "missing" / "x.csv")]) == 2
    assert "not a file in an existing folder" in capsys.readouterr().err


def test_csv_cells_that_look_like_formulas_are_neutralised() -> None:
    assert defused("=1+1") == "'=1+1" and defused("@SUM(A1)") == "'@SUM(A1)"
    assert defused("-3.5") == "-3.5" and defused("+34 600 000 000") == "+34 600 000 000"  # data stays data
    assert defused("Lucía") == "Lucía"


# --- the whole path: cancel -> cold SMS -> "sí" -> reactivated --------------------------------


def test_cancel_cold_sms_accept_reactivates(db_session: Session, factory: sessionmaker,
                                            twilio: TwilioApiStandIn) -> None:
    lucia = find_customer(db_session, ref="C00001")
    case = cancel(db_session, "C00001", "price")
    sub = lucia.current_subscription
    assert sub.status == "cancelled" and sub.cancel_effective_date is not None
    cold = schedule_cold_case(db_session, case, CANCEL_DAY)
    db_session.commit()
    hot_ids = [o.offer_id for o in case.offers]

    assert run(factory, new_sender(), SEND - timedelta(days=1)).claimed == 0  # still cooling down
    summary = run(factory, new_sender(), SEND)
    assert summary.became_due == 1 and summary.claimed == 1 and summary.sent == 1

    (request,) = twilio.requests
    body = request.form["Body"]
    assert request.auth_ok and request.form["To"] == lucia.phone and request.form["From"] == TWILIO_NUMBER
    assert body.startswith("Hola Lucía, te escribimos de Nubia Telecom.")
    assert "20 %" in body and "58,32 €" in body and "72,90 €" in body  # cold: 20 % instead of 15 %
    assert "responde SI" in body and "responde NO" in body and "STOP" in body
    assert not CANCEL_INSTRUCTION.search(body)

    db_session.expire_all()
    pending = pending_winback(db_session, lucia.id)
    assert pending is not None and pending.id == cold.id and pending.status == "sent"
    assert pending.offer_id == "discount_loyalty" and pending.offer_id in hot_ids and pending.attempts == 1
    assert pending.message_sid and pending.message_sid.startswith("SM")
    assert SEND <= pending.sent_at < SEND + timedelta(minutes=1)
    assert campaign_messages.winback_offer_text(pending, "es") in body

    assert reply_word("¡Sí!") is True
    reference = accept_winback(db_session, pending, DUE_DAY)
    db_session.commit()
    assert re.fullmatch(r"RET-[0-9A-F]{8}", reference)
    db_session.expire_all()
    sub = db_session.get(Subscription, sub.id)
    assert sub.status == "active" and sub.cancel_effective_date is None and sub.cancel_requested_at is None
    assert sub.plan_code == "fibra_movil_tv" and sub.monthly_price == Decimal("58.32")
    assert sub.list_price == Decimal("72.90") and sub.discount_pct == 20
    assert sub.running_offer_id == "discount_loyalty" and sub.discount_until == date(2027, 12, 24)
    assert lucia.current_subscription.id == sub.id
    won = db_session.get(ColdCase, cold.id)
    assert won.status == "won_back" and won.reference == reference and won.outcome_at is not None
    offers = db_session.scalars(select(CaseOffer).where(CaseOffer.case_id == case.id)
                                .order_by(CaseOffer.position)).all()
    assert [(o.variant, o.outcome) for o in offers] == [("hot", "declined"), ("cold", "accepted")]
    assert offers[-1].position == 2 and offers[-1].cost == won.offer_cost and offers[-1].expected_value > 0
    assert not any(k.startswith("_") and k != "_text" for k in offers[-1].params)
    case = db_session.get(RetentionCase, case.id)
    assert case.reference == reference and case.accepted_offer_id == "discount_loyalty"

    assert accept_winback(db_session, won, DUE_DAY) == reference  # a repeated "sí"
    db_session.commit()
    assert db_session.scalar(select(func.count()).select_from(CaseOffer).where(CaseOffer.variant == "cold")) == 1
    assert pending_winback(db_session, lucia.id) is None
    with pytest.raises(CampaignError):
        decline_winback(db_session, won)


def test_english_customer_gets_english_sms(db_session: Session, factory: sessionmaker,
                                           twilio: TwilioApiStandIn) -> None:
    cancel_and_schedule(db_session, "C00002", "competitor", language="en")
    assert run(factory, new_sender(), SEND + timedelta(days=15)).sent == 1  # competitor: 45 days
    body = twilio.messages[0]["Body"]
    assert body.startswith("Hi John, this is Nubia Telecom.") and "reply YES" in body and "reply NO" in body
    assert "6 months" in body  # the free upgrade for 6 months instead of 3


def test_decline(db_session: Session, factory: sessionmaker, twilio: TwilioApiStandIn) -> None:
    cancel_and_schedule(db_session, "C00001")
    run(factory, new_sender(), SEND)
    lucia = find_customer(db_session, ref="C00001")
    db_session.expire_all()
    cold = pending_winback(db_session, lucia.id)
    assert read("No, gracias", Question.WINBACK).answer is Answer.NO
    decline_winback(db_session, cold)
    decline_winback(db_session, cold)  # a repeated "no"
    db_session.commit()
    db_session.expire_all()
    assert cold.status == "declined" and cold.outcome_at is not None and cold.reference is None
    assert lucia.current_subscription.status == "cancelled"
    assert pending_winback(db_session, lucia.id) is None
    with pytest.raises(CampaignError, match="is declined"):
        accept_winback(db_session, cold, DUE_DAY)
    assert not db_session.scalars(select(CaseOffer).where(CaseOffer.variant == "cold")).all()


def test_no_answer_expiry(db_session: Session, factory: sessionmaker, twilio: TwilioApiStandIn) -> None:
    cancel_and_schedule(db_session, "C00001")
    cancel_and_schedule(db_session, "C00013")
    allow_sms(db_session, "C00013")
    run(factory, new_sender(), SEND)
    assert expire_unanswered(db_session, SEND + timedelta(days=6, hours=23)) == 0
    answered = cold_of(db_session, "C00013")
    accept_winback(db_session, answered, DUE_DAY)
    db_session.commit()
    assert expire_unanswered(db_session, SEND + timedelta(days=7, minutes=1)) == 1
    db_session.commit()
    silent = cold_of(db_session, "C00001")
    assert silent.status == "no_answer" and silent.outcome_at == SEND + timedelta(days=7, minutes=1)
    assert cold_of(db_session, "C00013").status == "won_back"
    assert pending_winback(db_session, silent.customer_id) is None
    with pytest.raises(CampaignError, match="no_answer"):
        accept_winback(db_session, silent, DUE_DAY)
    decline_winback(db_session, silent)  # a late "no" is still recorded
    assert silent.status == "declined"


# --- two runners at once ---------------------------------------------------------------------

MANY = [f"C{i:05d}" for i in range(8, 41)]


def schedule_many(session: Session) -> int:
    """Price cases for 33 customers, all allowed to get SMS; returns how many have an offer."""
    colds = [cancel_and_schedule(session, ref) for ref in MANY]
    allow_sms(session, *MANY)
    return sum(1 for c in colds if choose_cold_offer(session, c, DUE_DAY)[0] is not None)


def race(factory: sessionmaker, now: datetime, runners: int = 2) -> list[CampaignSummary]:
    """``runners`` threads, each with its own sender, event loop and database sessions, start
    the same campaign at the same instant."""
    barrier = threading.Barrier(runners)
    results: list[CampaignSummary | BaseException] = [RuntimeError("not run")] * runners

    def work(index: int) -> None:
        sender = new_sender()
        barrier.wait()
        try:
            results[index] = run(factory, sender, now, runner_id=f"runner-{index}", batch_size=3)
        except BaseException as exc:  # noqa: B036 - reported below
            results[index] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(runners)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return [r for r in results if isinstance(r, CampaignSummary)]


def assert_each_sent_once(session: Session, standin: TwilioApiStandIn, summaries: list[CampaignSummary],
                          expected: int) -> None:
    numbers = sent_to(standin)
    session.expire_all()
    sent = session.scalars(select(ColdCase).where(ColdCase.status == "sent")).all()
    assert len(numbers) == len(set(numbers)) == expected, "a customer was texted twice"
    assert sum(s.sent for s in summaries) == len(sent) == expected
    phones = {c.id: session.get(Customer, c.customer_id).phone for c in sent}
    assert sorted(phones.values()) == sorted(numbers)
    assert all(c.attempts == 1 and c.claimed_by in {s.runner_id for s in summaries} for c in sent)
    left = select(func.count()).select_from(ColdCase).where(ColdCase.status.in_(("due", "claimed")))
    assert session.scalar(left) == 0


def test_two_concurrent_runners_text_each_customer_once(db_session: Session, factory: sessionmaker,
                                                        twilio: TwilioApiStandIn) -> None:
    expected = schedule_many(db_session)
    assert expected >= 15
    summaries = race(factory, SEND)
    assert_each_sent_once(db_session, twilio, summaries, expected)
    assert sum(s.claimed for s in summaries) == len(MANY)  # every due case claimed by exactly one
    assert all(s.claimed > 0 for s in summaries), [s.claimed for s in summaries]  # both did work


def test_claims_never_overlap(db_session: Session, factory: sessionmaker) -> None:
    schedule_many(db_session)
    refresh(db_session, DUE_DAY)
    db_session.commit()
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)

    def work(name: str) -> None:
        barrier.wait()
        with factory() as session:
            while batch := claim_due(session, name, 2, SEND):
                claimed[name] += [c.id for c in batch]

    threads = [threading.Thread(target=work, args=(n,)) for n in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not set(claimed["a"]) & set(claimed["b"])
    assert len(claimed["a"]) + len(claimed["b"]) == len(MANY)
    owners = dict(db_session.execute(select(ColdCase.id, ColdCase.claimed_by)).all())
    assert all(owners[i] == name for name, ids in claimed.items() for i in ids)


# --- the CLI -----------------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli.campaigns", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("args", "message"), [
    (("run", "--limit", "0"), "must be at least 1"),
    (("run", "--limit", "ten"), "expected a whole number"),
    (("run", "--runner-id", "two words"), "letters, digits"),
    (("run", "--now", "tomorrow"), "expected a UTC time"),
    (("run", "--every", "10"), "at least 60 seconds"),
    (("solved",), "the following arguments are required: --case"),
    (("solved", "--case", "x"), "expected a whole number"),
    (("solved", "--case", "12345"), "no cold case #12345"),
    (("solved", "--case", "1", "--at", "31/12/2026"), "expected a date like"),
    (("export",), "the following arguments are required: --csv"),
    (("export", "--csv", "out.csv", "--on", "soon"), "expected a date like"),
    (("launch",), "invalid choice"),
    ((), "the following arguments are required"),
])
def test_cli_bad_input_exits_2_with_a_message(db_url: str, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                                              message: str) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    try:
        code = campaigns_cli.main(list(args))
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err


def test_cli_run_sends_through_twilio_and_rejects_bad_input(db_session: Session, db_url: str,
                                                            twilio: TwilioApiStandIn, tmp_path: Path) -> None:
    cancel_and_schedule(db_session, "C00001")
    cancel_and_schedule(db_session, "C00013")
    allow_sms(db_session, "C00013")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}

    preview = _cli("run", "--dry-run", "--now", "2026-12-24T10:00", env=env)
    assert preview.returncode == 0, preview.stderr
    assert "DRY RUN" in preview.stdout and "Hola Lucía" in preview.stdout and twilio.requests == []

    done = _cli("run", "--limit", "1", "--runner-id", "cron-1", "--now", "2026-12-24T10:00", env=env)
    assert done.returncode == 0, done.stderr
    assert "claimed: 1; sent: 1" in done.stdout and len(twilio.requests) == 1
    assert cold_of(db_session, "C00001").claimed_by == "cron-1"

    for args in (("run", "--limit", "0"), ("solved", "--case", "12345")):  # argparse / the command
        result = _cli(*args, env=env)
        assert result.returncode == 2 and result.stderr.startswith(("usage:", "error:")), result.stderr
        assert "Traceback" not in result.stderr

    no_twilio = {k: v for k, v in env.items() if not k.startswith("TWILIO_")}
    result = _cli("run", env=no_twilio)
    assert result.returncode == 2 and "TWILIO_ACCOUNT_SID" in result.stderr and "Traceback" not in result.stderr
    broken = _cli("status", env={**env, "DATABASE_URL": f"sqlite:///{tmp_path / 'not-migrated.db'}"})
    assert broken.returncode == 1 and "error: database" in broken.stderr and "Traceback" not in broken.stderr


def test_runner_under_make_run_without_twilio_settings_stays_up_and_reports_what_is_due(
        db_session: Session, db_url: str, twilio: TwilioApiStandIn) -> None:
    """`make run` starts `run --every 900`: with no Twilio settings it must neither exit (honcho would
    stop every process) nor send or change anything; each run says what is due."""
    cancel_and_schedule(db_session, "C00001")
    cancel_and_schedule(db_session, "C00013")
    allow_sms(db_session, "C00013")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli.campaigns", "run", "--every", "60",
                             "--now", "2026-12-24T10:00"], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        while not any(line.startswith("would send:") for line in lines):
            line = proc.stdout.readline()
            assert line, f"the runner exited: {lines} {proc.stderr.read()}"
            lines.append(line)
        assert "SMS not configured" in lines[0] and "TWILIO_ACCOUNT_SID" in lines[0]
        assert "DRY RUN" in "".join(lines) and "would send: 2;" in lines[-1], lines
        time.sleep(1)
        assert proc.poll() is None, "the runner exited after its first run"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert twilio.requests == []
    db_session.expire_all()
    assert cold_of(db_session, "C00013").status != "sent"
