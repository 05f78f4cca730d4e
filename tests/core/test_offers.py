"""Tests of the offer catalogue and engine (bot/core/offer_*.py) against real data files.

The real catalogue (data/offers.yml, data/plans.yml) is used for the business-level checks;
small catalogues written to tmp_path pin the arithmetic and every validation error.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config.errors import ConfigError, display_path
from bot.core.i18n import format_date, format_eur
from bot.core.offer_engine import best_offer, evaluate_offer, ineligibility, rank_offers, segment_for
from bot.core.offer_loader import load_catalogue
from bot.core.offer_model import DEFAULT_OFFERS, Catalogue, CustomerContext, SegmentThresholds, add_months
from bot.core.reasons import REASONS, is_reason
from bot.core.tariffs import DEFAULT_PLANS, load_plans

TODAY = date(2026, 3, 15)
D = Decimal


# ------------------------------------------------------------------------------------ helpers


@pytest.fixture(scope="module")
def real() -> Catalogue:
    return load_catalogue()


def customer(plan_code: str = "fibra_600", *, revenue: Any = None, margin: Any = None,
             tenure: int = 24, segment: str | None = None, running: date | None = None,
             history: tuple[tuple[str, date], ...] = (),
             plans_path: Path = DEFAULT_PLANS) -> CustomerContext:
    """A customer paying the list price of ``plan_code`` unless told otherwise."""
    plan = load_plans(plans_path)[plan_code]
    revenue = D(str(revenue)) if revenue is not None else plan.monthly_price
    margin = D(str(margin)) if margin is not None else revenue - plan.monthly_cost
    return CustomerContext(
        customer_id=1, plan_code=plan_code, tenure_months=tenure, monthly_revenue=revenue,
        monthly_margin=margin, value_segment=segment or segment_for(revenue, margin),
        running_offer_until=running, offers_history=history,
    )


def ids(ranked: list[Any]) -> list[str]:
    return [r.offer_id for r in ranked]


SMALL_PLANS: dict[str, Any] = {"plans": [
    {"code": "movil_basico", "kind": "mobile-only", "tier": 0,
     "name": {"es": "Móvil", "en": "Mobile"}, "monthly_price": 15, "monthly_cost": 7},
    {"code": "fibra_300", "kind": "fibre", "tier": 1,
     "name": {"es": "Fibra 300", "en": "Fibre 300"}, "monthly_price": 30, "monthly_cost": 14},
    {"code": "fibra_600", "kind": "fibre", "tier": 2,
     "name": {"es": "Fibra 600", "en": "Fibre 600"}, "monthly_price": 40, "monthly_cost": 18},
]}


def _offer(offer_id: str, kind: str, reasons: list[str], hot: dict[str, Any],
           cold: dict[str, Any], acceptance: tuple[float, float], retention: int,
           text: tuple[str, str], **extra: Any) -> dict[str, Any]:
    entry = {"id": offer_id, "kind": kind, "reasons": reasons, "hot": hot, "cold": cold,
             "acceptance": {"hot": acceptance[0], "cold": acceptance[1]},
             "expected_retention_months": retention, "text": {"es": text[0], "en": text[1]}}
    entry.update(extra)
    return entry


SMALL_OFFERS: dict[str, Any] = {
    "settings": {"max_cost_margin_months": 6},
    "offers": [
        _offer("discount_small", "discount", ["price"], {"discount_pct": 10, "months": 6},
               {"discount_pct": 20, "months": 6}, (0.4, 0.5), 12,
               ("{discount_pct} durante {months}: {new_price} hasta el {end_date}.",
                "{discount_pct} off for {months}: {new_price} until {end_date}.")),
        _offer("credit_goodwill", "credit", ["price"], {"credit_eur": 30}, {"credit_eur": 40},
               (0.5, 0.5), 12, ("Te abonamos {credit}.", "We credit {credit}.")),
        _offer("downgrade_basic", "downgrade", ["price"], {}, {"credit_eur": 10}, (0.6, 0.6),
               12, ("{plan_name} por {new_price}.{bonus}", "{plan_name} for {new_price}.{bonus}"),
               params={"target": "cheaper"}),
        _offer("credit_unlikely", "credit", ["price"], {"credit_eur": 20}, {"credit_eur": 21},
               (0.01, 0.01), 12, ("Te abonamos {credit}.", "We credit {credit}.")),
        _offer("discount_loyal", "discount", ["competitor"], {"discount_pct": 10, "months": 3},
               {"discount_pct": 15, "months": 3}, (0.3, 0.3), 12,
               ("{discount_pct} durante {months}.", "{discount_pct} off for {months}."),
               eligibility={"min_tenure_months": 12, "plans": ["fibra_600"],
                            "segments": ["high", "medium"]},
               cooldown_months=6, stackable=False),
        _offer("credit_stackable", "credit", ["competitor"], {"credit_eur": 5},
               {"credit_eur": 10}, (0.2, 0.2), 6, ("Te abonamos {credit}.", "We credit {credit}."),
               stackable=True),
        _offer("escalation_any", "escalation", list(REASONS), {"callback_hours": 48},
               {"callback_hours": 24}, (0.1, 0.1), 6,
               ("Te llamamos en {callback_hours}.", "We call you within {callback_hours}."),
               params={"cost_eur": 0}),
    ],
}


def write_catalogue(tmp_path: Path, offers: dict[str, Any] | None = None,
                    plans: dict[str, Any] | None = None) -> tuple[Path, Path]:
    offers_path, plans_path = tmp_path / "offers.yml", tmp_path / "plans.yml"
    offers_path.write_text(yaml.safe_dump(offers or SMALL_OFFERS, allow_unicode=True),
                           encoding="utf-8")
    plans_path.write_text(yaml.safe_dump(plans or SMALL_PLANS, allow_unicode=True),
                          encoding="utf-8")
    return offers_path, plans_path


@pytest.fixture()
def small(tmp_path: Path) -> tuple[Catalogue, Path]:
    offers_path, plans_path = write_catalogue(tmp_path)
    return load_catalogue(offers_path, plans_path), plans_path


# ------------------------------------------------------------------------- taxonomy & plans


def test_reason_taxonomy() -> None:
    assert REASONS == ("price", "competitor", "service_failure", "billing_error", "poor_support",
                       "low_usage", "financial_hardship", "relocation", "temporary", "other")
    assert is_reason("price") and not is_reason("Price") and not is_reason("bored")


def test_real_plans_load_in_ladder_order() -> None:
    plans = load_plans()
    assert set(plans) == {"fibra_300", "fibra_600", "fibra_1g", "movil_basico", "fibra_movil",
                          "fibra_tv", "fibra_movil_tv"}
    tiers = [p.tier for p in plans.values()]
    assert tiers == sorted(tiers) and len(set(tiers)) == len(tiers)
    for plan in plans.values():
        assert plan.monthly_price > plan.monthly_cost >= 0
        assert plan.name["es"] and plan.name["en"]


def test_invalid_plan_names_file_and_plan(tmp_path: Path) -> None:
    plans = copy.deepcopy(SMALL_PLANS)
    plans["plans"][2]["monthly_price"] = 0
    _, plans_path = write_catalogue(tmp_path, plans=plans)
    with pytest.raises(ConfigError) as err:
        load_plans(plans_path)
    assert str(err.value) == f"{plans_path}: plan 'fibra_600': monthly_price must be > 0"


def test_paths_inside_the_project_are_shown_relative() -> None:
    assert display_path(DEFAULT_OFFERS) == "data/offers.yml"
    assert display_path(DEFAULT_PLANS) == "data/plans.yml"


# ------------------------------------------------------------------------------ arithmetic


def test_ranking_by_expected_value_computed_by_hand(small: tuple[Catalogue, Path]) -> None:
    catalogue, plans_path = small
    ctx = customer(revenue=40, margin=20, segment="medium", plans_path=plans_path)
    ranked = rank_offers(catalogue, ctx, "price", today=TODAY)
    # credit_goodwill: 0.5 x (40 x 12) - 30                      = 210.00
    # discount_small:  0.4 x (40 x 12) - 40 x 10% x 6            = 192 - 24 = 168.00
    # downgrade_basic: 0.6 x (30 x 12) - (20 - (30 - 14)) x 12  = 216 - 48 = 168.00 (tie: by id)
    # escalation_any:  0.1 x (40 x 6) - 0                       = 24.00
    # credit_unlikely: 0.01 x 480 - 20 = -15.20 -> never offered
    assert ids(ranked) == ["credit_goodwill", "discount_small", "downgrade_basic",
                           "escalation_any"]
    assert [r.expected_value for r in ranked] == [D("210.00"), D("168.00"), D("168.00"),
                                                  D("24.00")]
    assert [r.cost for r in ranked] == [D("30.00"), D("24.00"), D("48.00"), D("0.00")]
    assert [r.retained_revenue for r in ranked] == [D("480.00"), D("480.00"), D("360.00"),
                                                    D("240.00")]
    unlikely = evaluate_offer(catalogue, catalogue["credit_unlikely"], ctx, today=TODAY)
    assert unlikely is not None and unlikely.expected_value == D("-15.20")

    top = best_offer(catalogue, ctx, "price", today=TODAY)
    assert top is not None and top.offer_id == "credit_goodwill"
    after = best_offer(catalogue, ctx, "price", today=TODAY, exclude=["credit_goodwill"])
    assert after is not None and after.offer_id == "discount_small"

    downgrade = ranked[2]
    assert downgrade.params["target_plan"] == "fibra_300"
    assert downgrade.params["new_price"] == D("30.00")
    assert downgrade.params["monthly_saving"] == D("10.00")


def test_tie_break_does_not_depend_on_file_order(tmp_path: Path) -> None:
    data = copy.deepcopy(SMALL_OFFERS)
    data["offers"].reverse()
    offers_path, plans_path = write_catalogue(tmp_path, offers=data)
    catalogue = load_catalogue(offers_path, plans_path)
    ctx = customer(revenue=40, margin=20, segment="medium", plans_path=plans_path)
    assert ids(rank_offers(catalogue, ctx, "price", today=TODAY)) == [
        "credit_goodwill", "discount_small", "downgrade_basic", "escalation_any"]


def test_cold_variant_uses_cold_params_and_likelihood(small: tuple[Catalogue, Path]) -> None:
    catalogue, plans_path = small
    ctx = customer(revenue=40, margin=20, segment="medium", plans_path=plans_path)
    ranked = rank_offers(catalogue, ctx, "price", variant="cold", today=TODAY)
    # credit_goodwill: 0.5 x 480 - 40                  = 200.00
    # discount_small:  0.5 x 480 - 40 x 20% x 6        = 240 - 48 = 192.00
    # downgrade_basic: 0.6 x 360 - (48 + 10 credit)    = 158.00
    assert [(r.offer_id, r.expected_value) for r in ranked] == [
        ("credit_goodwill", D("200.00")), ("discount_small", D("192.00")),
        ("downgrade_basic", D("158.00")), ("escalation_any", D("24.00"))]
    assert all(r.variant == "cold" for r in ranked)
    discount = ranked[1]
    assert discount.params["discount_pct"] == 20 and discount.params["new_price"] == D("32.00")
    assert discount.acceptance_probability == 0.5


def test_cost_cap_in_months_of_margin(small: tuple[Catalogue, Path]) -> None:
    catalogue, plans_path = small
    # margin 4 -> cap 6 x 4 = 24: the 30 credit is too expensive, the 24 discount just fits, the
    # downgrade loses no margin (new margin 16 > 4) so it costs nothing.
    ctx = customer(revenue=40, margin=4, segment="low", plans_path=plans_path)
    ranked = rank_offers(catalogue, ctx, "price", today=TODAY)
    assert ids(ranked) == ["downgrade_basic", "discount_small", "escalation_any"]
    assert [r.cost for r in ranked] == [D("0.00"), D("24.00"), D("0.00")]
    assert ranked[0].expected_value == D("216.00")


def test_unprofitable_customer_gets_zero_cost_tools_only(small: tuple[Catalogue, Path]) -> None:
    catalogue, plans_path = small
    ctx = customer(revenue=40, margin=-2, plans_path=plans_path)
    assert ctx.value_segment == "unprofitable"
    assert ids(rank_offers(catalogue, ctx, "price", today=TODAY)) == ["downgrade_basic",
                                                                       "escalation_any"]
    # The cold downgrade adds a 10 credit: no longer free, so not offered.
    assert ids(rank_offers(catalogue, ctx, "price", variant="cold", today=TODAY)) == [
        "escalation_any"]
    # A positive margin labelled unprofitable by the caller is gated too.
    labelled = customer(revenue=40, margin=20, segment="unprofitable", plans_path=plans_path)
    assert all(r.cost == 0 for r in rank_offers(catalogue, labelled, "price", today=TODAY))


# ------------------------------------------------------------------------------ eligibility


def test_eligibility_tenure_plan_segment(small: tuple[Catalogue, Path]) -> None:
    catalogue, plans_path = small

    def offered(**kwargs: Any) -> list[str]:
        ctx = customer(plans_path=plans_path, **kwargs)
        return ids(rank_offers(catalogue, ctx, "competitor", today=TODAY))

    assert "discount_loyal" in offered(tenure=12)
    assert "discount_loyal" not in offered(tenure=11)
    assert "discount_loyal" not in offered(plan_code="fibra_300", tenure=36)
    assert "discount_loyal" not in offered(tenure=36, margin=8, segment="low")
    assert ineligibility(catalogue["discount_loyal"], customer(tenure=11, plans_path=plans_path),
                         TODAY) == "needs 12 months of tenure"


def test_cooldown(small: tuple[Catalogue, Path]) -> None:
    catalogue, plans_path = small

    def offered(history: tuple[tuple[str, date], ...]) -> list[str]:
        ctx = customer(history=history, plans_path=plans_path)
        return ids(rank_offers(catalogue, ctx, "competitor", today=TODAY))

    assert "discount_loyal" not in offered((("discount_loyal", add_months(TODAY, -5)),))
    assert "discount_loyal" not in offered((("discount_loyal", date(2025, 9, 16)),))
    assert "discount_loyal" in offered((("discount_loyal", date(2025, 9, 15)),))  # 6 months ago
    assert "discount_loyal" in offered((("credit_stackable", TODAY),))  # another offer
    # cooldown_months defaults to 0: offered again the same day
    assert "credit_stackable" in offered((("credit_stackable", TODAY),))


def test_running_offer_blocks_non_stackable(small: tuple[Catalogue, Path]) -> None:
    catalogue, plans_path = small
    running = ids(rank_offers(catalogue, customer(running=TODAY, plans_path=plans_path),
                              "competitor", today=TODAY))
    assert "discount_loyal" not in running and "credit_stackable" in running
    ended = ids(rank_offers(catalogue, customer(running=date(2026, 3, 14), plans_path=plans_path),
                            "competitor", today=TODAY))
    assert "discount_loyal" in ended


def test_bad_arguments_raise(real: Catalogue) -> None:
    ctx = customer()
    with pytest.raises(ValueError, match="unknown churn reason"):
        rank_offers(real, ctx, "bored", today=TODAY)
    with pytest.raises(ValueError, match="unknown variant"):
        rank_offers(real, ctx, "price", variant="warm", today=TODAY)
    legacy = CustomerContext(1, "adsl_legacy", 10, D("20"), D("5"), "low")
    with pytest.raises(ValueError, match="unknown plan code"):
        rank_offers(real, legacy, "price", today=TODAY)


# ----------------------------------------------------------------------- the real catalogue


def test_real_catalogue_shape(real: Catalogue) -> None:
    assert len(real.offers) >= 14
    kinds = {o.kind for o in real.offers}
    assert kinds == {"discount", "pause", "downgrade", "upgrade", "credit", "technician",
                     "transfer", "escalation", "action_plan"}
    assert real.get("nope") is None and real.get("discount_short") is real["discount_short"]


@pytest.mark.parametrize("variant", ["hot", "cold"])
def test_every_reason_but_other_has_an_offer_for_a_typical_customer(
        real: Catalogue, variant: str) -> None:
    ctx = customer("fibra_600", tenure=24)
    assert ctx.value_segment == "medium"
    for reason in REASONS:
        if reason != "other":
            assert rank_offers(real, ctx, reason, variant=variant, today=TODAY), reason


def test_unprofitable_customers_never_get_a_costly_offer(real: Catalogue) -> None:
    seen: set[str] = set()
    for code in real.plans:
        ctx = customer(code, margin=-1, tenure=60)
        for reason in REASONS:
            for variant in ("hot", "cold"):
                for offer in rank_offers(real, ctx, reason, variant=variant, today=TODAY):
                    assert offer.cost == 0, (code, reason, offer)
                    seen.add(offer.offer_id)
    assert {"pause_temporary", "escalation_specialist"} <= seen


def test_high_value_customer_gets_the_best_expected_value(real: Catalogue) -> None:
    ctx = customer("fibra_movil_tv", tenure=96)
    assert ctx.value_segment == "high"
    ranked = rank_offers(real, ctx, "competitor", today=TODAY)
    assert [r.expected_value for r in ranked] == sorted((r.expected_value for r in ranked),
                                                        reverse=True)
    top = best_offer(real, ctx, "competitor", today=TODAY)
    assert top == ranked[0] and top.offer_id == "discount_loyalty"
    # 0.45 x (72.90 x 24) - 72.90 x 15% x 12 = 787.32 - 131.22
    assert (top.cost, top.expected_value) == (D("131.22"), D("656.10"))
    # The same offer is out of reach for a customer below the high segment.
    assert "discount_loyalty" not in ids(rank_offers(real, customer("fibra_600", tenure=96),
                                                     "competitor", today=TODAY))


def _benefits(kind: str, p: dict[str, Any]) -> tuple[Decimal, ...]:
    """What the customer gets, each the higher the better."""
    table: dict[str, Callable[[dict[str, Any]], tuple[Any, ...]]] = {
        "discount": lambda q: (q["discount_pct"], q["months"]),
        "pause": lambda q: (q["pause_months"],),
        "downgrade": lambda q: (q["credit_eur"],),
        "upgrade": lambda q: (q["months"],),
        "credit": lambda q: (q["credit_eur"],),
        "technician": lambda q: (-q["within_hours"], q["credit_eur"]),
        "transfer": lambda q: (-q["within_days"], q["credit_eur"]),
        "escalation": lambda q: (-q["callback_hours"], q["credit_eur"]),
        "action_plan": lambda q: (q["gift_eur"],),
    }
    return tuple(D(x) for x in table[kind](p))


def test_cold_is_better_than_hot_for_every_real_offer(real: Catalogue) -> None:
    for offer in real.offers:
        hot = _benefits(offer.kind, offer.params_for("hot"))
        cold = _benefits(offer.kind, offer.params_for("cold"))
        assert all(c >= h for h, c in zip(hot, cold)) and cold != hot, offer.id


def test_cold_offer_is_better_for_the_same_customer(real: Catalogue) -> None:
    ctx = customer("fibra_600", tenure=24)
    hot = {r.offer_id: r for r in rank_offers(real, ctx, "price", today=TODAY)}
    cold = {r.offer_id: r for r in rank_offers(real, ctx, "price", variant="cold", today=TODAY)}
    assert cold["discount_short"].params["new_price"] < hot["discount_short"].params["new_price"]
    assert cold["discount_short"].cost > hot["discount_short"].cost
    pause_hot = best_offer(real, ctx, "temporary", today=TODAY)
    pause_cold = best_offer(real, ctx, "temporary", variant="cold", today=TODAY)
    assert pause_hot is not None and pause_cold is not None
    assert pause_cold.params["resume_date"] > pause_hot.params["resume_date"]


# ------------------------------------------------------------------------------- describe()

_ES_MONEY = re.compile(r"\d{1,3}(?:\.\d{3})*,\d{2} €")
_EN_MONEY = re.compile(r"€\d{1,3}(?:,\d{3})*\.\d{2}")


def test_describe_fills_every_template_in_both_languages(real: Catalogue) -> None:
    described: set[str] = set()
    for code in real.plans:
        for margin in (None, D("2")):
            ctx = customer(code, tenure=120, margin=margin)
            for reason in REASONS:
                for variant in ("hot", "cold"):
                    for offer in rank_offers(real, ctx, reason, variant=variant, today=TODAY):
                        es, en = offer.describe("es"), offer.describe("en")
                        for text in (es, en):
                            assert "{" not in text and "}" not in text, text
                            assert "  " not in text and text == text.strip()
                        assert "€" not in _ES_MONEY.sub("", es), es
                        assert "€" not in _EN_MONEY.sub("", en), en
                        described.add(offer.offer_id)
    assert described == {o.id for o in real.offers}


def test_describe_concrete_discount(real: Catalogue) -> None:
    ctx = customer("fibra_600", tenure=24)  # pays 36.90
    offer = next(r for r in rank_offers(real, ctx, "price", today=TODAY)
                 if r.offer_id == "discount_short")
    assert offer.params["new_price"] == D("31.37")  # 36.90 x 0.85 = 31.365, half up
    assert offer.params["end_date"] == date(2026, 9, 15)
    es, en = offer.describe("es"), offer.describe("en")
    for fragment in ("15 %", "6 meses", "36,90 €", "31,37 €", "15 de septiembre de 2026"):
        assert fragment in es
    for fragment in ("15%", "6 months", "€36.90", "€31.37", "15 September 2026"):
        assert fragment in en
    with pytest.raises(ValueError):
        offer.describe("fr")
    assert json.loads(json.dumps(offer.json_params()))["new_price"] == "31.37"


def test_describe_downgrade_and_bonus(real: Catalogue) -> None:
    ctx = customer("fibra_600", tenure=24, margin=5)
    cold = best_offer(real, ctx, "price", variant="cold", today=TODAY)
    assert cold is not None and cold.offer_id == "downgrade_cheaper"
    es = cold.describe("es")
    assert "de Fibra 600 Mb a Fibra 300 Mb por 29,90 €" in es and "ahorras 7,00 €" in es
    assert "te abonamos 10,00 €" in es
    hot = best_offer(real, ctx, "price", today=TODAY)
    assert hot is not None and "abonamos" not in hot.describe("es")


def test_formatters() -> None:
    assert format_eur(D("32.9"), "es") == "32,90 €"
    assert format_eur(32.9, "en") == "€32.90"
    assert format_eur(D("1234.5"), "es") == "1.234,50 €"
    assert format_eur(D("1234.5"), "en") == "€1,234.50"
    assert format_eur(D("-5"), "es") == "-5,00 €"
    assert format_date(date(2026, 1, 5), "es") == "5 de enero de 2026"
    assert format_date(date(2026, 1, 5), "en") == "5 January 2026"
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 3, 15), -6) == date(2025, 9, 15)


def test_segments() -> None:
    assert segment_for(D("72.90"), D("35")) == "high"
    assert segment_for(D("46.90"), D("30")) == "medium"  # margin high enough, revenue not
    assert segment_for(D("14.90"), D("8")) == "low"
    assert segment_for(D("40"), D("0")) == "unprofitable"
    assert segment_for(40, -3.5) == "unprofitable"
    strict = SegmentThresholds(D("100"), D("50"), D("60"), D("30"))
    assert segment_for(D("72.90"), D("35"), strict) == "medium"


# ------------------------------------------------------------------------------ validation


def _set(path: str, value: Any, offer: int = 0) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        node = data["offers"][offer]
        *parents, last = path.split(".")
        for key in parents:
            node = node[key]
        node[last] = value
    return mutate


def _delete_en_text(data: dict[str, Any]) -> None:
    del data["offers"][1]["text"]["en"]


def _duplicate(data: dict[str, Any]) -> None:
    data["offers"].append(copy.deepcopy(data["offers"][1]))


def _drop_relocation(data: dict[str, Any]) -> None:
    data["offers"][-1]["reasons"] = [r for r in REASONS if r != "relocation"]


INVALID: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("unknown kind", _set("kind", "voucher"), "offer 'discount_small'", "unknown kind 'voucher'"),
    ("bad reason", _set("reasons", ["price", "bored"], 1), "offer 'credit_goodwill'",
     "reason 'bored' is not in the taxonomy"),
    ("missing text", _delete_en_text, "offer 'credit_goodwill'", "text.en is missing"),
    ("foreign placeholder", _set("text.es", "Te abonamos {credit} hasta el {end_date}.", 1),
     "offer 'credit_goodwill'", "placeholder {end_date} is not provided by kind 'credit'"),
    ("credit placeholder without credit", _set("text.en", "{plan_name}: {credit}.{bonus}", 2),
     "offer 'downgrade_basic'", "placeholder {credit} is not provided"),
    ("formatted placeholder", _set("text.es", "Te abonamos {credit:.2f}.", 1),
     "offer 'credit_goodwill'", "write placeholders as {name}"),
    ("probability > 1", _set("acceptance.cold", 1.5), "offer 'discount_small'",
     "acceptance.cold must be a probability in [0, 1]"),
    ("negative probability", _set("acceptance.hot", -0.1), "offer 'discount_small'",
     "acceptance.hot must be a probability in [0, 1]"),
    ("cold equal to hot", _set("cold", {"discount_pct": 10, "months": 6}),
     "offer 'discount_small'", "cold variant must be strictly better than hot"),
    ("cold worse", _set("cold", {"credit_eur": 25}, 1), "offer 'credit_goodwill'",
     "credit_eur is worse"),
    ("slower cold", _set("cold", {"callback_hours": 72}, 6), "offer 'escalation_any'",
     "callback_hours is worse"),
    ("unknown plan in eligibility", _set("eligibility.plans", ["fibra_10g"], 4),
     "offer 'discount_loyal'", "unknown plan code 'fibra_10g'"),
    ("unknown target plan", _set("params", {"target": "fibra_10g"}, 2),
     "offer 'downgrade_basic'", "unknown plan code or target 'fibra_10g'"),
    ("unknown segment", _set("eligibility.segments", ["vip"], 4), "offer 'discount_loyal'",
     "unknown segment 'vip'"),
    ("duplicate id", _duplicate, "offer 'credit_goodwill'", "duplicate id"),
    ("reason not covered", _drop_relocation, "reason 'relocation'",
     "no offer covers reason 'relocation'"),
    ("missing param", _set("hot", {"discount_pct": 10}), "offer 'discount_small'",
     "hot variant: missing parameter months"),
    ("misspelt param", _set("hot", {"discount_pc": 10, "months": 6}), "offer 'discount_small'",
     "unknown parameter(s) discount_pc"),
    ("discount of 100%", _set("cold", {"discount_pct": 100, "months": 6}),
     "offer 'discount_small'", "discount_pct must be < 100"),
    ("text hides the cold improvement", _set("text.en", "A discount for {months}."),
     "offer 'discount_small'", "text.en must use {discount_pct} or {new_price}"),
    ("misspelt key", _set("cooldown", 3), "offer 'discount_small'", "unknown key(s): cooldown"),
]


@pytest.mark.parametrize(("mutate", "entry", "problem"), [case[1:] for case in INVALID],
                         ids=[case[0] for case in INVALID])
def test_invalid_catalogue_is_rejected(tmp_path: Path, mutate: Callable[[dict[str, Any]], None],
                                       entry: str, problem: str) -> None:
    data = copy.deepcopy(SMALL_OFFERS)
    mutate(data)
    offers_path, plans_path = write_catalogue(tmp_path, offers=data)
    with pytest.raises(ConfigError) as err:
        load_catalogue(offers_path, plans_path)
    message = str(err.value)
    assert message.startswith(f"{offers_path}: {entry}: "), message
    assert problem in message, message


def test_pause_longer_than_the_setting_is_rejected(tmp_path: Path) -> None:
    data = copy.deepcopy(SMALL_OFFERS)
    data["settings"]["max_pause_months"] = 2
    data["offers"].append(_offer(
        "pause_long", "pause", ["temporary"], {"pause_months": 2}, {"pause_months": 3},
        (0.5, 0.5), 12, ("{pause_months} hasta {resume_date}", "{pause_months} to {resume_date}")))
    offers_path, plans_path = write_catalogue(tmp_path, offers=data)
    with pytest.raises(ConfigError, match=r"offer 'pause_long': cold variant: pause_months must "
                                          r"be <= 2"):
        load_catalogue(offers_path, plans_path)


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    offers_path, plans_path = write_catalogue(tmp_path)
    offers_path.write_text("offers:\n  - id: x\n    kind: [discount\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_catalogue(offers_path, plans_path)
    assert str(err.value).startswith(f"{offers_path}: invalid YAML at line ")


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_catalogue(tmp_path / "nowhere.yml", DEFAULT_PLANS)


def test_editing_the_data_needs_no_code_change(tmp_path: Path) -> None:
    """A new tool added to a copy of the real file is picked up and ranked."""
    data = yaml.safe_load(DEFAULT_OFFERS.read_text(encoding="utf-8"))
    data["offers"].append(_offer(
        "credit_relocation", "credit", ["relocation"], {"credit_eur": 30}, {"credit_eur": 40},
        (0.9, 0.9), 36, ("Te abonamos {credit}.", "We credit {credit}.")))
    offers_path = tmp_path / "offers.yml"
    offers_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    catalogue = load_catalogue(offers_path, DEFAULT_PLANS)
    top = best_offer(catalogue, customer("fibra_movil_tv", tenure=24), "relocation", today=TODAY)
    # 0.9 x 72.90 x 36 - 30 = 2361.96 - 30
    assert top is not None and top.offer_id == "credit_relocation"
    assert top.expected_value == D("2331.96")
