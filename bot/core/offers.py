"""Retention offers: the catalogue of retention tools (data/offers.yml) and the engine that picks
the right one for a customer and a churn reason.

Economics (all amounts EUR, Decimal, rounded to cents):

* ``retained_revenue`` = monthly revenue after the offer x ``expected_retention_months`` of the
  offer. "After the offer" is what the customer pays once it is in place for good: the new
  plan's price for a downgrade, the current revenue for everything else (a discount's saving
  is counted in its cost instead).
* ``cost`` = the margin the company gives up because of the offer:
  discount: revenue x pct x months; credit: the credit; pause: the margin lost while the
  service is suspended (revenue lost minus the cost to serve saved, so 0 for a customer who
  loses money); downgrade: the margin lost per month x expected months (the revenue
  difference net of the cost-to-serve saving) plus any credit; upgrade: the cost-to-serve
  difference x months; technician, transfer, escalation: their fixed cost params plus any
  credit; action_plan: the reconciliation gift.
* ``expected_value`` = acceptance likelihood x retained revenue - cost. The cost is not
  weighted by the likelihood: it is committed once offered, and this keeps the ranking
  conservative.

Gates, in order: eligibility (tenure, plan, value segment, cooldown, running offer), the
profitability gate (seed 003 point 6: a customer with margin <= 0 or segment "unprofitable"
only gets zero-cost tools; nobody gets an offer costing more than ``max_cost_margin_months``
months of their margin), and no offer with a negative expected value. Survivors are ranked by
expected value, ties by offer id. The cold variant (second attempt, seed 000) is validated to be
strictly better for the customer than the hot one.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot.config.errors import PROJECT_ROOT, ConfigError, read_yaml
from bot.core.i18n import check_language, format_date, format_eur
from bot.core.reasons import REASONS, is_reason
from bot.core.tariffs import (
    DEFAULT_PLANS,
    LANGUAGES,
    Plan,
    downgrade_candidates,
    file_stamp,
    load_plans,
    to_decimal,
    upgrade_candidates,
)

__all__ = [
    "DEFAULT_OFFERS", "DEFAULT_PLANS", "KINDS", "SEGMENTS", "VARIANTS", "Catalogue",
    "CatalogueSettings", "CustomerContext", "Offer", "RankedOffer", "SegmentThresholds",
    "add_months", "best_offer", "evaluate_offer", "format_date", "format_eur", "ineligibility",
    "load_catalogue", "profitability_gate", "rank_offers", "segment_for",
]

DEFAULT_OFFERS = PROJECT_ROOT / "data" / "offers.yml"
KINDS: tuple[str, ...] = ("discount", "pause", "downgrade", "upgrade", "credit", "technician",
                          "transfer", "escalation", "action_plan")
VARIANTS: tuple[str, ...] = ("hot", "cold")
SEGMENTS: tuple[str, ...] = ("high", "medium", "low", "unprofitable")
CENT = Decimal("0.01")
ZERO = Decimal(0)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _as_decimal(value: Any) -> Decimal:
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
    value = _as_decimal(pct).normalize()
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


# --------------------------------------------------------------------------------------------
# Catalogue model


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


# --------------------------------------------------------------------------------------------
# Parameters per kind, and the text placeholders each kind provides


@dataclass(frozen=True)
class _Param:
    type: str  # "int" | "money" | "pct" | "target"
    required: bool = True
    better: int = 0  # +1: higher is better for the customer; -1: lower is better; 0: n/a
    low: Decimal | None = None
    low_open: bool = False  # True: value must be > low, else >= low
    high: Decimal | None = None
    high_open: bool = False
    shows: tuple[str, ...] = ()  # placeholders through which a text shows this parameter


_ONE = Decimal(1)
_MONTHS = _Param("int", better=+1, low=_ONE, shows=("months", "end_date"))
_EXTRA_CREDIT = _Param("money", required=False, better=+1, low=ZERO, shows=("credit", "bonus"))
_FIXED_COST = _Param("money", required=False, low=ZERO)
_KIND_PARAMS: dict[str, dict[str, _Param]] = {
    "discount": {
        "discount_pct": _Param("pct", better=+1, low=ZERO, low_open=True, high=Decimal(100),
                               high_open=True, shows=("discount_pct", "new_price")),
        "months": _MONTHS,
    },
    "pause": {"pause_months": _Param("int", better=+1, low=_ONE,
                                     shows=("pause_months", "resume_date"))},
    "downgrade": {"target": _Param("target"), "credit_eur": _EXTRA_CREDIT},
    "upgrade": {"target": _Param("target"), "months": _MONTHS},
    "credit": {"credit_eur": _Param("money", better=+1, low=ZERO, low_open=True,
                                    shows=("credit",))},
    "technician": {
        "within_hours": _Param("int", better=-1, low=_ONE, shows=("within_hours",)),
        "visit_cost_eur": _Param("money", low=ZERO),
        "credit_eur": _EXTRA_CREDIT,
    },
    "transfer": {
        "within_days": _Param("int", better=-1, low=_ONE, shows=("within_days",)),
        "cost_eur": _FIXED_COST,
        "credit_eur": _EXTRA_CREDIT,
    },
    "escalation": {
        "callback_hours": _Param("int", better=-1, low=_ONE, shows=("callback_hours",)),
        "cost_eur": _FIXED_COST,
        "credit_eur": _EXTRA_CREDIT,
    },
    "action_plan": {"gift_eur": _Param("money", better=+1, low=ZERO, shows=("gift",))},
}
_TARGETS = {"downgrade": ("cheaper", "cheapest"), "upgrade": ("next_tier",)}

_COMMON_PLACEHOLDERS = frozenset({"old_price", "plan_name", "current_plan_name", "start_date"})
_KIND_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "discount": frozenset({"discount_pct", "months", "new_price", "end_date"}),
    "pause": frozenset({"pause_months", "resume_date"}),
    "downgrade": frozenset({"new_price", "monthly_saving", "bonus", "loses"}),
    "upgrade": frozenset({"months", "end_date", "new_price"}),
    "credit": frozenset({"credit"}),
    "technician": frozenset({"within_hours", "bonus"}),
    "transfer": frozenset({"within_days", "bonus"}),
    "escalation": frozenset({"callback_hours", "bonus"}),
    "action_plan": frozenset({"gift"}),
}
# Kinds whose credit is optional: {credit} may only be used when every variant grants one.
_OPTIONAL_CREDIT_KINDS = frozenset({"downgrade", "technician", "transfer", "escalation"})

_MONEY_KEYS = ("old_price", "new_price", "monthly_saving", "credit", "gift")
_DATE_KEYS = ("start_date", "end_date", "resume_date")
_COUNT_KEYS = {"months": "months", "pause_months": "months", "within_hours": "hours",
               "callback_hours": "hours", "within_days": "days"}


# --------------------------------------------------------------------------------------------
# Loading and validation

_ID = re.compile(r"^[a-z0-9_]+$")
_REQUIRED_KEYS = ("id", "kind", "reasons", "acceptance", "expected_retention_months", "hot",
                  "cold", "text")
_OPTIONAL_KEYS = ("params", "eligibility", "cooldown_months", "stackable")
_ELIGIBILITY_KEYS = ("min_tenure_months", "plans", "segments")


def load_catalogue(path: Path | str = DEFAULT_OFFERS,
                   plans_path: Path | str = DEFAULT_PLANS) -> Catalogue:
    """Load and validate the offer catalogue and the plans it refers to.

    Raises ConfigError naming the file, the entry and the problem. The result is cached until
    either file changes on disk.
    """
    path, plans_path = Path(path), Path(plans_path)
    return _load_catalogue_cached(path, file_stamp(path), plans_path, file_stamp(plans_path))


@lru_cache(maxsize=16)
def _load_catalogue_cached(path: Path, stamp: tuple[int, int], plans_path: Path,
                           plans_stamp: tuple[int, int]) -> Catalogue:
    del stamp, plans_stamp  # only part of the cache key
    plans = load_plans(plans_path)
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("offers"), list):
        raise ConfigError.at(path, "expected a mapping with an 'offers' list")
    unknown = set(data) - {"settings", "offers"}
    if unknown:
        raise ConfigError.at(path, f"unknown top-level key(s): {_join(unknown)}")
    settings = _parse_settings(path, data.get("settings"))

    offers: list[Offer] = []
    seen: set[str] = set()
    for index, raw in enumerate(data["offers"], start=1):
        offer = _OfferParser(path, plans, settings, index, raw).parse()
        if offer.id in seen:
            raise ConfigError.at(path, "duplicate id", f"offer '{offer.id}'")
        seen.add(offer.id)
        offers.append(offer)

    covered = {reason for offer in offers for reason in offer.reasons}
    for reason in REASONS:
        if reason != "other" and reason not in covered:
            raise ConfigError.at(path, f"no offer covers reason '{reason}'",
                                 f"reason '{reason}'")
    return Catalogue(offers=tuple(offers), plans=MappingProxyType(dict(plans)),
                     settings=settings, source=path)


def _join(items: Iterable[Any]) -> str:
    return ", ".join(sorted(map(str, items)))


def _number(value: Any, fail: Callable[[str], ConfigError], what: str) -> Decimal:
    number = to_decimal(value)
    if number is None:
        raise fail(f"{what} must be a number")
    return number


def _whole(value: Any, fail: Callable[[str], ConfigError], what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(f"{what} must be a whole number")
    if value < minimum:
        raise fail(f"{what} must be >= {minimum}")
    return value


def _parse_settings(path: Path, raw: Any) -> CatalogueSettings:
    def fail(problem: str) -> ConfigError:
        return ConfigError.at(path, problem, "settings")

    if raw is None:
        return CatalogueSettings()
    if not isinstance(raw, dict):
        raise fail("must be a mapping")
    unknown = set(raw) - {"max_cost_margin_months", "max_pause_months", "segments"}
    if unknown:
        raise fail(f"unknown key(s): {_join(unknown)}")
    defaults = CatalogueSettings()
    cap = defaults.max_cost_margin_months
    if "max_cost_margin_months" in raw:
        cap = _number(raw["max_cost_margin_months"], fail, "max_cost_margin_months")
        if cap < 0:
            raise fail("max_cost_margin_months must be >= 0")
    max_pause = defaults.max_pause_months
    if "max_pause_months" in raw:
        max_pause = _whole(raw["max_pause_months"], fail, "max_pause_months", 1)

    segments = defaults.segments
    if "segments" in raw:
        seg = raw["segments"]
        if not isinstance(seg, dict) or set(seg) != {"high", "medium"}:
            raise fail("segments must be a mapping with exactly 'high' and 'medium'")
        values: dict[str, Decimal] = {}
        for name in ("high", "medium"):
            entry = seg[name]
            if not isinstance(entry, dict) or set(entry) != {"min_revenue", "min_margin"}:
                raise fail(f"segments.{name} must have exactly min_revenue and min_margin")
            for key in ("min_revenue", "min_margin"):
                number = _number(entry[key], fail, f"segments.{name}.{key}")
                if number < 0:
                    raise fail(f"segments.{name}.{key} must be >= 0")
                values[f"{name}_{key}"] = number
        if (values["high_min_revenue"] < values["medium_min_revenue"]
                or values["high_min_margin"] < values["medium_min_margin"]):
            raise fail("segments.high thresholds must not be below segments.medium ones")
        segments = SegmentThresholds(**values)
    return CatalogueSettings(max_cost_margin_months=cap, max_pause_months=max_pause,
                             segments=segments)


class _OfferParser:
    """Validates one catalogue entry; every error names the file and the entry."""

    def __init__(self, path: Path, plans: Mapping[str, Plan], settings: CatalogueSettings,
                 index: int, raw: Any) -> None:
        self.path, self.plans, self.settings, self.raw = path, plans, settings, raw
        self.entry = f"offer #{index}"

    def fail(self, problem: str) -> ConfigError:
        return ConfigError.at(self.path, problem, self.entry)

    def parse(self) -> Offer:
        raw = self.raw
        if not isinstance(raw, dict):
            raise self.fail("must be a mapping")
        offer_id = raw.get("id")
        if not isinstance(offer_id, str) or not _ID.match(offer_id):
            raise self.fail("id must be lower-case letters, digits and '_'")
        self.entry = f"offer '{offer_id}'"
        unknown = set(raw) - set(_REQUIRED_KEYS) - set(_OPTIONAL_KEYS)
        if unknown:
            raise self.fail(f"unknown key(s): {_join(unknown)}")
        missing = [key for key in _REQUIRED_KEYS if key not in raw]
        if missing:
            raise self.fail(f"missing key(s): {', '.join(missing)}")

        kind = raw["kind"]
        if kind not in KINDS:
            raise self.fail(f"unknown kind {kind!r} (expected one of: {', '.join(KINDS)})")
        reasons = self._reasons(raw["reasons"])
        acceptance = self._acceptance(raw["acceptance"])
        retention = _whole(raw["expected_retention_months"], self.fail,
                           "expected_retention_months", 1)
        variants = self._variants(kind, raw.get("params"), raw["hot"], raw["cold"])
        min_tenure, plans, segments = self._eligibility(raw.get("eligibility"))
        cooldown = _whole(raw.get("cooldown_months", 0), self.fail, "cooldown_months", 0)
        stackable = raw.get("stackable", False)
        if not isinstance(stackable, bool):
            raise self.fail("stackable must be true or false")
        text = self._text(kind, raw["text"], variants)
        return Offer(
            id=offer_id, kind=kind, reasons=reasons,
            variants=MappingProxyType({v: MappingProxyType(p) for v, p in variants.items()}),
            acceptance=MappingProxyType(acceptance), expected_retention_months=retention,
            text=MappingProxyType(text), min_tenure_months=min_tenure, plans=plans,
            segments=segments, cooldown_months=cooldown, stackable=stackable,
        )

    def _reasons(self, raw: Any) -> tuple[str, ...]:
        if not isinstance(raw, list) or not raw:
            raise self.fail("reasons must be a non-empty list")
        for reason in raw:
            if not is_reason(reason):
                raise self.fail(f"reason {reason!r} is not in the taxonomy "
                                f"({', '.join(REASONS)})")
        if len(set(raw)) != len(raw):
            raise self.fail("reasons lists a reason twice")
        return tuple(raw)

    def _acceptance(self, raw: Any) -> dict[str, float]:
        if not isinstance(raw, dict) or set(raw) != set(VARIANTS):
            raise self.fail("acceptance must be a mapping with exactly 'hot' and 'cold'")
        result: dict[str, float] = {}
        for variant in VARIANTS:
            value = raw[variant]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(f"acceptance.{variant} must be a number")
            if not 0 <= value <= 1:
                raise self.fail(f"acceptance.{variant} must be a probability in [0, 1], "
                                f"got {value}")
            result[variant] = float(value)
        return result

    def _variants(self, kind: str, base: Any, hot: Any,
                  cold: Any) -> dict[str, dict[str, Any]]:
        specs = _KIND_PARAMS[kind]
        layers = {"params": base, "hot": hot, "cold": cold}
        for name, layer in layers.items():
            if layer is not None and not isinstance(layer, dict):
                raise self.fail(f"{name} must be a mapping")
            unknown = set(layer or {}) - set(specs)
            if unknown:
                raise self.fail(f"{name}: unknown parameter(s) {_join(unknown)} for kind "
                                f"'{kind}' (expected: {', '.join(specs)})")
        variants: dict[str, dict[str, Any]] = {}
        for variant in VARIANTS:
            merged = {**(base or {}), **(layers[variant] or {})}
            resolved: dict[str, Any] = {}
            for name, spec in specs.items():
                if name not in merged:
                    if spec.required:
                        raise self.fail(f"{variant} variant: missing parameter {name}")
                    resolved[name] = ZERO  # optional params are money amounts
                    continue
                resolved[name] = self._param(kind, variant, name, spec, merged[name])
            variants[variant] = resolved
        self._check_cold_better(kind, variants["hot"], variants["cold"])
        return variants

    def _param(self, kind: str, variant: str, name: str, spec: _Param, value: Any) -> Any:
        what = f"{variant} variant: {name}"
        if spec.type == "target":
            allowed = _TARGETS[kind]
            if not isinstance(value, str) or (value not in allowed and value not in self.plans):
                raise self.fail(f"{what}: unknown plan code or target {value!r} "
                                f"(expected {' | '.join(allowed)} or a plan code)")
            return value
        if spec.type == "int":
            number: Decimal | int = _whole(value, self.fail, what, 0)
        else:
            number = _cents(_number(value, self.fail, what))
        high = spec.high
        if name == "pause_months":
            high = Decimal(self.settings.max_pause_months)
        if spec.low is not None and (number <= spec.low if spec.low_open else number < spec.low):
            raise self.fail(f"{what} must be {'>' if spec.low_open else '>='} {spec.low}")
        if high is not None and (number >= high if spec.high_open else number > high):
            raise self.fail(f"{what} must be {'<' if spec.high_open else '<='} {high}")
        return number

    def _check_cold_better(self, kind: str, hot: dict[str, Any], cold: dict[str, Any]) -> None:
        if "target" in hot and hot["target"] != cold["target"]:
            raise self.fail("hot and cold variants must have the same target")
        improved = False
        for name, spec in _KIND_PARAMS[kind].items():
            if not spec.better:
                continue
            change = (cold[name] - hot[name]) * spec.better
            if change < 0:
                raise self.fail(f"cold variant must be strictly better than hot, but {name} "
                                f"is worse ({hot[name]} -> {cold[name]})")
            improved = improved or change > 0
        if not improved:
            better = [n for n, s in _KIND_PARAMS[kind].items() if s.better]
            raise self.fail("cold variant must be strictly better than hot (improve at least "
                            f"one of: {', '.join(better)})")

    def _eligibility(self, raw: Any) -> tuple[int, frozenset[str] | None, frozenset[str] | None]:
        if raw is None:
            return 0, None, None
        if not isinstance(raw, dict):
            raise self.fail("eligibility must be a mapping")
        unknown = set(raw) - set(_ELIGIBILITY_KEYS)
        if unknown:
            raise self.fail(f"eligibility: unknown key(s) {_join(unknown)}")
        tenure = _whole(raw.get("min_tenure_months", 0), self.fail,
                        "eligibility.min_tenure_months", 0)
        plans = self._code_list(raw.get("plans", "all"), "plans", self.plans)
        segments = self._code_list(raw.get("segments", "all"), "segments", SEGMENTS)
        return tenure, plans, segments

    def _code_list(self, raw: Any, what: str, known: Iterable[str]) -> frozenset[str] | None:
        if raw == "all":
            return None
        if not isinstance(raw, list) or not raw:
            raise self.fail(f"eligibility.{what} must be 'all' or a non-empty list")
        known = set(known)
        for code in raw:
            if code not in known:
                label = "plan code" if what == "plans" else "segment"
                raise self.fail(f"eligibility.{what}: unknown {label} {code!r} "
                                f"(expected: {_join(known)})")
        return frozenset(raw)

    def _text(self, kind: str, raw: Any, variants: dict[str, dict[str, Any]]) -> dict[str, str]:
        if not isinstance(raw, dict):
            raise self.fail("text must be a mapping {es: ..., en: ...}")
        unknown = set(raw) - set(LANGUAGES)
        if unknown:
            raise self.fail(f"text: unknown language(s) {_join(unknown)}")
        allowed = set(_COMMON_PLACEHOLDERS | _KIND_PLACEHOLDERS[kind])
        if kind == "credit" or (kind in _OPTIONAL_CREDIT_KINDS and all(
                v["credit_eur"] > 0 for v in variants.values())):
            allowed.add("credit")
        # What differs between hot and cold must be visible, or both would read the same.
        differing = [spec.shows for name, spec in _KIND_PARAMS[kind].items()
                     if spec.shows and variants["hot"][name] != variants["cold"][name]]
        texts: dict[str, str] = {}
        for language in LANGUAGES:
            template = raw.get(language)
            if not isinstance(template, str) or not template.strip():
                raise self.fail(f"text.{language} is missing or empty")
            used = self._placeholders(language, template)
            extra = sorted(used - allowed)
            if extra:
                raise self.fail(f"text.{language}: placeholder {{{extra[0]}}} is not provided "
                                f"by kind '{kind}' here (available: {_join(allowed)})")
            for shows in differing:
                if not used & set(shows):
                    options = " or ".join("{" + s + "}" for s in shows)
                    raise self.fail(f"text.{language} must use {options} so that the hot and "
                                    "cold variants read differently")
            texts[language] = " ".join(template.split())
        return texts

    def _placeholders(self, language: str, template: str) -> set[str]:
        used: set[str] = set()
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise self.fail(f"text.{language}: malformed braces ({exc})") from exc
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if not name or spec or conversion or not name.isidentifier():
                raise self.fail(f"text.{language}: write placeholders as {{name}}, "
                                f"got {{{name}{'!' + conversion if conversion else ''}"
                                f"{':' + spec if spec else ''}}}")
            used.add(name)
        return used


# --------------------------------------------------------------------------------------------
# Customers and ranked offers


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
            object.__setattr__(self, name, _as_decimal(getattr(self, name)))
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


def ineligibility(offer: Offer, ctx: CustomerContext, today: date) -> str | None:
    """Why ``offer`` cannot be made to this customer today, or None when it can."""
    if ctx.tenure_months < offer.min_tenure_months:
        return f"needs {offer.min_tenure_months} months of tenure"
    if offer.plans is not None and ctx.plan_code not in offer.plans:
        return f"not available on plan {ctx.plan_code}"
    if offer.segments is not None and ctx.value_segment not in offer.segments:
        return f"not available to the {ctx.value_segment} segment"
    for offer_id, when in ctx.offers_history:
        if offer_id == offer.id and today < add_months(when, offer.cooldown_months):
            return f"already offered on {when.isoformat()} (cooldown {offer.cooldown_months} months)"
    if (not offer.stackable and ctx.running_offer_until is not None
            and ctx.running_offer_until >= today):
        return f"an offer is running until {ctx.running_offer_until.isoformat()}"
    return None


def profitability_gate(catalogue: Catalogue, ctx: CustomerContext, cost: Decimal) -> str | None:
    """Why an offer costing ``cost`` must not be made to this customer, or None when it may."""
    if cost <= 0:
        return None
    if ctx.monthly_margin <= 0 or ctx.value_segment == "unprofitable":
        return "unprofitable customer: zero-cost offers only"
    months = catalogue.settings.max_cost_margin_months
    cap = _cents(months * ctx.monthly_margin)
    if cost > cap:
        return f"cost {cost} exceeds {months} months of margin ({cap})"
    return None


def evaluate_offer(catalogue: Catalogue, offer: Offer, ctx: CustomerContext, *,
                   variant: str = "hot", today: date | None = None) -> RankedOffer | None:
    """Price ``offer`` for this customer, ignoring eligibility and gates; None when it does not
    apply to the customer's plan (no cheaper or richer plan to move to)."""
    today = today or date.today()
    p = offer.params_for(variant)
    current = _plan_of(catalogue, ctx)
    revenue, margin = ctx.monthly_revenue, ctx.monthly_margin
    names: dict[str, Mapping[str, str]] = {"plan_name": current.name,
                                           "current_plan_name": current.name}
    params: dict[str, Any] = {"old_price": _cents(revenue), "start_date": today,
                              "current_plan": current.code}
    monthly_after = revenue
    retention = offer.expected_retention_months
    kind = offer.kind

    if kind == "discount":
        pct, months = p["discount_pct"], p["months"]
        cost = _cents(revenue * pct / 100 * months)
        params.update(discount_pct=pct, months=months, end_date=add_months(today, months),
                      new_price=_cents(revenue * (100 - pct) / 100))
    elif kind == "pause":
        months = p["pause_months"]
        cost = _cents(max(margin, ZERO) * months)
        params.update(pause_months=months, resume_date=add_months(today, months))
    elif kind == "downgrade":
        target = _target_plan(catalogue, current, p["target"], revenue)
        if target is None or target.monthly_price >= revenue:
            return None
        margin_after = target.monthly_price - target.monthly_cost
        cost = _cents(max(margin - margin_after, ZERO) * retention + p["credit_eur"])
        monthly_after = target.monthly_price
        names["plan_name"] = target.name
        params.update(target_plan=target.code, new_price=target.monthly_price,
                      monthly_saving=_cents(revenue - target.monthly_price),
                      credit=p["credit_eur"], lost=sorted(current.services - target.services))
    elif kind == "upgrade":
        target = _target_plan(catalogue, current, p["target"], revenue)
        if target is None or target.tier <= current.tier:
            return None
        months = p["months"]
        cost = _cents(max(target.monthly_cost - current.monthly_cost, ZERO) * months)
        names["plan_name"] = target.name
        params.update(target_plan=target.code, months=months, new_price=_cents(revenue),
                      end_date=add_months(today, months))
    elif kind == "credit":
        cost = p["credit_eur"]
        params.update(credit=cost)
    elif kind == "technician":
        cost = p["visit_cost_eur"] + p["credit_eur"]
        params.update(within_hours=p["within_hours"], visit_cost=p["visit_cost_eur"],
                      credit=p["credit_eur"])
    elif kind == "transfer":
        cost = p["cost_eur"] + p["credit_eur"]
        params.update(within_days=p["within_days"], credit=p["credit_eur"])
    elif kind == "escalation":
        cost = p["cost_eur"] + p["credit_eur"]
        params.update(callback_hours=p["callback_hours"], credit=p["credit_eur"])
    else:  # action_plan
        cost = p["gift_eur"]
        params.update(gift=cost)

    probability = offer.acceptance[variant]
    retained = _cents(monthly_after * retention)
    expected = _cents(Decimal(repr(probability)) * retained - cost)
    return RankedOffer(
        offer_id=offer.id, kind=kind, variant=variant, acceptance_probability=probability,
        retained_revenue=retained, cost=_cents(cost), expected_value=expected, params=params,
        texts=offer.text, plan_names=names,
    )


def _plan_of(catalogue: Catalogue, ctx: CustomerContext) -> Plan:
    plan = catalogue.plans.get(ctx.plan_code)
    if plan is None:
        raise ValueError(f"unknown plan code {ctx.plan_code!r} for customer {ctx.customer_id}")
    return plan


def _target_plan(catalogue: Catalogue, current: Plan, target: str,
                 revenue: Decimal) -> Plan | None:
    plans = dict(catalogue.plans)
    if target == "cheaper":
        found = [p for p in downgrade_candidates(plans, current) if p.monthly_price < revenue]
        return found[0] if found else None
    if target == "cheapest":
        found = downgrade_candidates(plans, current)
        return min(found, key=lambda p: (p.monthly_price, p.tier)) if found else None
    if target == "next_tier":
        found = upgrade_candidates(plans, current)
        return found[0] if found else None
    plan = plans[target]
    return None if plan.code == current.code else plan


def rank_offers(catalogue: Catalogue, ctx: CustomerContext, reason: str, *,
                variant: str = "hot", today: date | None = None,
                exclude: Iterable[str] = ()) -> list[RankedOffer]:
    """The offers this customer may get for ``reason``, best expected value first.

    Raises ValueError for an unknown reason, variant, value segment or plan code.
    """
    if not is_reason(reason):
        raise ValueError(f"unknown churn reason {reason!r}; expected one of {REASONS}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    if ctx.value_segment not in SEGMENTS:
        raise ValueError(f"unknown value segment {ctx.value_segment!r}; expected one of "
                         f"{SEGMENTS}")
    _plan_of(catalogue, ctx)
    today = today or date.today()
    excluded = set(exclude)
    ranked: list[RankedOffer] = []
    for offer in catalogue.for_reason(reason):
        if offer.id in excluded or ineligibility(offer, ctx, today):
            continue
        candidate = evaluate_offer(catalogue, offer, ctx, variant=variant, today=today)
        if candidate is None or profitability_gate(catalogue, ctx, candidate.cost):
            continue
        if candidate.expected_value < 0:
            continue
        ranked.append(candidate)
    ranked.sort(key=lambda r: (-r.expected_value, r.offer_id))
    return ranked


def best_offer(catalogue: Catalogue, ctx: CustomerContext, reason: str, *,
               variant: str = "hot", today: date | None = None,
               exclude: Iterable[str] = ()) -> RankedOffer | None:
    """The top of ``rank_offers``, or None when nothing may be offered."""
    ranked = rank_offers(catalogue, ctx, reason, variant=variant, today=today, exclude=exclude)
    return ranked[0] if ranked else None


def segment_for(monthly_revenue: Decimal | float, monthly_margin: Decimal | float,
                thresholds: SegmentThresholds | Catalogue | None = None) -> str:
    """The customer's value segment: "high", "medium", "low" or "unprofitable" (margin <= 0).

    Without ``thresholds``, those of the default data file (settings.segments) are used.
    """
    if thresholds is None:
        thresholds = load_catalogue().segment_thresholds
    elif isinstance(thresholds, Catalogue):
        thresholds = thresholds.segment_thresholds
    revenue, margin = _as_decimal(monthly_revenue), _as_decimal(monthly_margin)
    if margin <= 0:
        return "unprofitable"
    if revenue >= thresholds.high_min_revenue and margin >= thresholds.high_min_margin:
        return "high"
    if revenue >= thresholds.medium_min_revenue and margin >= thresholds.medium_min_margin:
        return "medium"
    return "low"


def customer_benefit(kind: str, params: Mapping[str, Any]) -> Decimal:
    """What an offer is worth to the customer, comparable between two offers of one kind.

    Used so that a second offer is never worse for the customer than the one they declined
    (15 % for 6 months after 15 % for 12 is worse; a shorter pause is worse).
    """
    def value(key: str) -> Decimal:
        try:
            return Decimal(str(params.get(key) or 0))
        except (ArithmeticError, ValueError):
            return ZERO
    if kind == "discount":
        return (value("old_price") - value("new_price")) * value("months")
    if kind == "pause":
        return value("pause_months")
    if kind == "downgrade":
        return value("monthly_saving") * 12 + value("credit")
    if kind == "upgrade":
        return value("months")
    if kind == "action_plan":
        return value("gift")
    return value("credit")
