"""Loading and validating the offer catalogue (``data/offers.yml``, with the plans it refers to);
every error names the file, the entry and the problem."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot.config.errors import ConfigError, read_yaml
from bot.core.offer_kinds import COMMON_PLACEHOLDERS, KIND_BEHAVIOURS, KINDS, Param
from bot.core.offer_model import (
    DEFAULT_OFFERS,
    SEGMENTS,
    VARIANTS,
    ZERO,
    Catalogue,
    CatalogueSettings,
    Offer,
    SegmentThresholds,
    cents,
)
from bot.core.reasons import REASONS, is_reason
from bot.core.tariffs import DEFAULT_PLANS, LANGUAGES, Plan, file_stamp, load_plans, to_decimal

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
        specs = KIND_BEHAVIOURS[kind].params
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

    def _param(self, kind: str, variant: str, name: str, spec: Param, value: Any) -> Any:
        what = f"{variant} variant: {name}"
        if spec.type == "target":
            allowed = KIND_BEHAVIOURS[kind].targets
            if not isinstance(value, str) or (value not in allowed and value not in self.plans):
                raise self.fail(f"{what}: unknown plan code or target {value!r} "
                                f"(expected {' | '.join(allowed)} or a plan code)")
            return value
        if spec.type == "int":
            number: Decimal | int = _whole(value, self.fail, what, 0)
        else:
            number = cents(_number(value, self.fail, what))
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
        for name, spec in KIND_BEHAVIOURS[kind].params.items():
            if not spec.better:
                continue
            change = (cold[name] - hot[name]) * spec.better
            if change < 0:
                raise self.fail(f"cold variant must be strictly better than hot, but {name} "
                                f"is worse ({hot[name]} -> {cold[name]})")
            improved = improved or change > 0
        if not improved:
            better = [n for n, s in KIND_BEHAVIOURS[kind].params.items() if s.better]
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
        allowed = set(COMMON_PLACEHOLDERS | KIND_BEHAVIOURS[kind].placeholders)
        if KIND_BEHAVIOURS[kind].optional_credit and all(v["credit_eur"] > 0 for v in variants.values()):
            allowed.add("credit")
        # What differs between hot and cold must be visible, or both would read the same.
        differing = [spec.shows for name, spec in KIND_BEHAVIOURS[kind].params.items()
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
