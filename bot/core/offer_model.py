"""The offer catalogue's model: offers, the catalogue and its settings, the engine's view of a
customer (``CustomerContext``) and a priced offer (``RankedOffer``, with its customer-facing text),
plus the money, count and date helpers they use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from bot.config.errors import PROJECT_ROOT
from bot.core.i18n import check_language, format_date, format_eur
from bot.core.tariffs import Plan

DEFAULT_OFFERS = PROJECT_ROOT / "data" / "offers.yml"
VARIANTS: tuple[str, ...] = ("hot", "cold")
SEGMENTS: tuple[str, ...] = ("high", "medium", "low", "unprofitable")
CENT = Decimal("0.01")
ZERO = Decimal(0)


def cents(value: Decimal) -> Decimal:
    """``value`` rounded to cents, half up."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def as_decimal(value: Any) -> Decimal:
    """A number (int, float, str or Decimal; never a bool) as a Decimal."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("expected a number, got a bool")
    return Decimal(str(value))


# --------------------------------------------------------------------------------------------
# Formatting (customer-facing texts)

_UNITS = {  # (singular, plural) per language
    "months": {"es": ("mes", "meses"), "en": ("month", "months")},
    "hours": {"es": ("hora", "horas"), "en": ("hour", "hours")},
    "days": {"es": ("día", "días"), "en": ("day", "days")},
}
_BONUS = {
    "es": " Además, te abonamos {credit} en tu próxima factura.",
    "en": " On top of that, we'll credit {credit} to your next bill.",
}
# {loses} of a downgrade: what the customer gives up, said as plainly as what they gain.
_LOSES = {
    "es": {"services": "Lo que dejas de tener: {what}.",
           "less": "Lo que cambia: {plan} tiene menos velocidad o datos que tu tarifa actual."},
    "en": {"services": "What you give up: {what}.",
           "less": "What changes: {plan} has less speed or data than your current plan."},
}
_SERVICE_NAMES = {"es": {"tv": "la televisión", "mobile": "la línea móvil", "fibre": "la fibra"},
                  "en": {"tv": "TV", "mobile": "the mobile line", "fibre": "the fibre line"}}


def format_pct(pct: Decimal | float, language: str) -> str:
    """"15 %" / "15%" (decimal comma in Spanish: "12,5 %")."""
    check_language(language)
    value = as_decimal(pct).normalize()
    text = f"{value:f}"
    if language == "es":
        return f"{text.replace('.', ',')} %"
    return f"{text}%"


def format_count(n: int, unit: str, language: str) -> str:
    """A quantity with its unit, singular or plural: "1 mes", "3 meses", "24 hours"."""
    check_language(language)
    singular, plural = _UNITS[unit][language]
    return f"{n} {singular if n == 1 else plural}"


def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months, clamped to the end of shorter months."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    next_first = date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_first - date(year, month, 1)).days
    return date(year, month, min(day.day, last_day))


@dataclass(frozen=True)
class SegmentThresholds:
    """Monthly EUR thresholds of the value segments; a margin <= 0 is always "unprofitable"."""

    high_min_revenue: Decimal = Decimal(50)
    high_min_margin: Decimal = Decimal(25)
    medium_min_revenue: Decimal = Decimal(25)
    medium_min_margin: Decimal = Decimal(10)


@dataclass(frozen=True)
class CatalogueSettings:
    max_cost_margin_months: Decimal = Decimal(6)
    max_pause_months: int = 3
    segments: SegmentThresholds = SegmentThresholds()


@dataclass(frozen=True)
class Offer:
    """One retention tool of the catalogue, with its hot and cold parameters resolved."""

    id: str
    kind: str
    reasons: tuple[str, ...]
    variants: Mapping[str, Mapping[str, Any]]  # "hot"/"cold" -> typed params
    acceptance: Mapping[str, float]  # "hot"/"cold" -> base likelihood of acceptance
    expected_retention_months: int
    text: Mapping[str, str]  # language -> template
    min_tenure_months: int = 0
    plans: frozenset[str] | None = None  # None: every plan
    segments: frozenset[str] | None = None  # None: every value segment
    cooldown_months: int = 0
    stackable: bool = False

    def params_for(self, variant: str) -> dict[str, Any]:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
        return dict(self.variants[variant])


@dataclass(frozen=True)
class Catalogue:
    offers: tuple[Offer, ...]
    plans: Mapping[str, Plan]
    settings: CatalogueSettings = CatalogueSettings()
    source: Path | None = None

    def get(self, offer_id: str) -> Offer | None:
        """The offer with this id, or None (like ``dict.get``)."""
        return next((o for o in self.offers if o.id == offer_id), None)

    def __getitem__(self, offer_id: str) -> Offer:
        offer = self.get(offer_id)
        if offer is None:
            raise KeyError(offer_id)
        return offer

    def __contains__(self, offer_id: object) -> bool:
        return any(o.id == offer_id for o in self.offers)

    def for_reason(self, reason: str) -> tuple[Offer, ...]:
        return tuple(o for o in self.offers if reason in o.reasons)

    @property
    def segment_thresholds(self) -> SegmentThresholds:
        return self.settings.segments


_MONEY_KEYS = ("old_price", "new_price", "monthly_saving", "credit", "gift")
_DATE_KEYS = ("start_date", "end_date", "resume_date")
_COUNT_KEYS = {"months": "months", "pause_months": "months", "within_hours": "hours",
               "callback_hours": "hours", "within_days": "days"}


@dataclass(frozen=True)
class CustomerContext:
    """What the engine needs to know about a customer. Numbers may be given as float or int."""

    customer_id: int
    plan_code: str
    tenure_months: int
    monthly_revenue: Decimal  # what the customer pays per month
    monthly_margin: Decimal  # revenue - cost to serve (may be negative)
    value_segment: str  # "high" | "medium" | "low" | "unprofitable"
    running_offer_until: date | None = None  # an offer currently in force
    offers_history: tuple[tuple[str, date], ...] = ()  # (offer_id, date accepted/presented)

    def __post_init__(self) -> None:
        for name in ("monthly_revenue", "monthly_margin"):
            object.__setattr__(self, name, as_decimal(getattr(self, name)))
        history = tuple((offer_id, _day(when)) for offer_id, when in self.offers_history)
        object.__setattr__(self, "offers_history", history)
        if self.running_offer_until is not None:
            object.__setattr__(self, "running_offer_until", _day(self.running_offer_until))


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class RankedOffer:
    """An eligible offer priced for one customer. ``params`` holds typed values (Decimal, date,
    int, str); ``json_params()`` gives a JSON-safe copy."""

    offer_id: str
    kind: str
    variant: str  # "hot" | "cold"
    acceptance_probability: float
    retained_revenue: Decimal
    cost: Decimal
    expected_value: Decimal
    params: dict[str, Any]
    texts: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    plan_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict, repr=False,
                                                         compare=False)

    def describe(self, language: str) -> str:
        """The customer-facing explanation in "es" or "en", every placeholder filled."""
        check_language(language)
        values: dict[str, str] = {}
        for key, value in self.params.items():
            if key in _MONEY_KEYS:
                values[key] = format_eur(value, language)
            elif key in _DATE_KEYS:
                values[key] = format_date(value, language)
            elif key in _COUNT_KEYS:
                values[key] = format_count(value, _COUNT_KEYS[key], language)
            elif key == "discount_pct":
                values[key] = format_pct(value, language)
        for key, names in self.plan_names.items():
            values[key] = names[language]
        credit = self.params.get("credit", ZERO)
        values["bonus"] = (_BONUS[language].format(credit=format_eur(credit, language))
                           if credit > 0 else "")
        if "lost" in self.params:
            lost = [_SERVICE_NAMES[language][s] for s in self.params["lost"]]
            values["loses"] = (_LOSES[language]["services"].format(what=", ".join(lost)) if lost
                               else _LOSES[language]["less"].format(
                                   plan=self.plan_names.get("plan_name", {}).get(language, "")))
        return self.texts[language].format_map(values).strip()

    def json_params(self) -> dict[str, Any]:
        """``params`` with Decimals as strings ("32.90") and dates as ISO strings."""
        def convert(value: Any) -> Any:
            if isinstance(value, Decimal):
                return str(value)
            if isinstance(value, date):
                return value.isoformat()
            return value
        return {key: convert(value) for key, value in self.params.items()}
