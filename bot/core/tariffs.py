"""The plan catalogue (data/plans.yml): prices, cost to serve and the up/downgrade ladder."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.config.errors import PROJECT_ROOT, ConfigError, read_yaml
from bot.core.language import LANGUAGES

DEFAULT_PLANS = PROJECT_ROOT / "data" / "plans.yml"
CENT = Decimal("0.01")

# What each kind of plan includes; used to keep up/downgrades sensible.
KIND_SERVICES: dict[str, frozenset[str]] = {
    "fibre": frozenset({"fibre"}),
    "fibre+mobile": frozenset({"fibre", "mobile"}),
    "fibre+tv": frozenset({"fibre", "tv"}),
    "fibre+mobile+tv": frozenset({"fibre", "mobile", "tv"}),
    "mobile-only": frozenset({"mobile"}),
}
PLAN_KINDS: tuple[str, ...] = tuple(KIND_SERVICES)

_CODE = re.compile(r"^[a-z0-9_]+$")
_PLAN_KEYS = {"code", "name", "monthly_price", "monthly_cost", "tier", "kind"}
_OPTIONAL_KEYS = {"without"}
SERVICES = ("fibre", "mobile", "tv")


@dataclass(frozen=True)
class Plan:
    """One commercial plan. Amounts are EUR per month, VAT included."""

    code: str
    name: dict[str, str]
    monthly_price: Decimal
    monthly_cost: Decimal  # average cost to serve one customer on this plan
    tier: int  # position on the up/downgrade ladder; higher = richer plan
    kind: str
    #: the plan a customer moves to when dropping one service of this bundle (service -> code)
    without: dict[str, str] = field(default_factory=dict)

    @property
    def services(self) -> frozenset[str]:
        return KIND_SERVICES[self.kind]

    @property
    def list_margin(self) -> Decimal:
        """Margin of a customer paying the list price and costing the average."""
        return self.monthly_price - self.monthly_cost

    def display_name(self, language: str) -> str:
        return self.name.get(language) or self.name["es"]


def to_decimal(value: Any) -> Decimal | None:
    """A YAML number as an exact Decimal (floats via their shortest repr); None if not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        try:
            result = Decimal(repr(value))
        except InvalidOperation:
            return None
        return result if result.is_finite() else None
    return None


def load_plans(path: Path | str = DEFAULT_PLANS) -> dict[str, Plan]:
    """Load and validate the plan catalogue, keyed by plan code (in ladder order).

    Raises ConfigError naming the file, the plan and the problem. The parsed file is cached
    until it changes on disk; every call returns a new dict.
    """
    path = Path(path)
    return {plan.code: plan for plan in _load_plans_cached(path, *file_stamp(path))}


def file_stamp(path: Path) -> tuple[int, int]:
    """(mtime_ns, size) of ``path``, or (0, 0) when it cannot be read (the load then reports it)."""
    try:
        stat = path.stat()
    except OSError:
        return 0, 0
    return stat.st_mtime_ns, stat.st_size


@lru_cache(maxsize=16)
def _load_plans_cached(path: Path, mtime_ns: int, size: int) -> tuple[Plan, ...]:
    del mtime_ns, size  # only part of the cache key
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("plans"), list):
        raise ConfigError.at(path, "expected a mapping with a 'plans' list")
    unknown_top = set(data) - {"plans"}
    if unknown_top:
        raise ConfigError.at(path, f"unknown top-level key(s): {', '.join(sorted(unknown_top))}")

    plans: dict[str, Plan] = {}
    tiers: dict[int, str] = {}
    for index, raw in enumerate(data["plans"], start=1):
        plan = _parse_plan(path, index, raw)
        entry = f"plan '{plan.code}'"
        if plan.code in plans:
            raise ConfigError.at(path, "duplicate plan code", entry)
        if plan.tier in tiers:
            raise ConfigError.at(
                path, f"tier {plan.tier} is already used by plan '{tiers[plan.tier]}'", entry)
        plans[plan.code] = plan
        tiers[plan.tier] = plan.code
    if not plans:
        raise ConfigError.at(path, "the 'plans' list is empty")
    for plan in plans.values():
        for service, target in plan.without.items():
            other = plans.get(target)
            if other is None or other.services != plan.services - {service}:
                raise ConfigError.at(path, f"without.{service}: '{target}' must be a plan with "
                                     f"exactly the other services of this one", f"plan '{plan.code}'")
    return tuple(sorted(plans.values(), key=lambda plan: plan.tier))


def _parse_plan(path: Path, index: int, raw: Any) -> Plan:
    if not isinstance(raw, dict):
        raise ConfigError.at(path, "must be a mapping", f"plan #{index}")
    code = raw.get("code")
    if not isinstance(code, str) or not _CODE.match(code):
        raise ConfigError.at(
            path, "code must be lower-case letters, digits and '_'", f"plan #{index}")
    entry = f"plan '{code}'"

    def fail(problem: str) -> ConfigError:
        return ConfigError.at(path, problem, entry)

    unknown = set(raw) - _PLAN_KEYS - _OPTIONAL_KEYS
    if unknown:
        raise fail(f"unknown key(s): {', '.join(sorted(map(str, unknown)))}")
    missing = _PLAN_KEYS - set(raw)
    if missing:
        raise fail(f"missing key(s): {', '.join(sorted(missing))}")

    name = raw["name"]
    if not isinstance(name, dict):
        raise fail("name must be a mapping {es: ..., en: ...}")
    for lang in LANGUAGES:
        if not isinstance(name.get(lang), str) or not name[lang].strip():
            raise fail(f"name.{lang} is missing or empty")

    price = to_decimal(raw["monthly_price"])
    if price is None:
        raise fail("monthly_price must be a number")
    if price <= 0:
        raise fail("monthly_price must be > 0")
    cost = to_decimal(raw["monthly_cost"])
    if cost is None:
        raise fail("monthly_cost must be a number")
    if cost < 0:
        raise fail("monthly_cost must be >= 0")

    tier = raw["tier"]
    if isinstance(tier, bool) or not isinstance(tier, int):
        raise fail("tier must be an integer")
    kind = raw["kind"]
    if kind not in KIND_SERVICES:
        raise fail(f"unknown kind {kind!r} (expected one of: {', '.join(PLAN_KINDS)})")
    without = raw.get("without") or {}
    if not isinstance(without, dict) or any(
            k not in KIND_SERVICES[kind] or not isinstance(v, str) for k, v in without.items()):
        raise fail("without must map a service of this plan (fibre, mobile, tv) to a plan code")
    return Plan(code=code, name={lang: name[lang].strip() for lang in LANGUAGES},
                monthly_price=price.quantize(CENT), monthly_cost=cost.quantize(CENT), tier=tier,
                kind=kind, without=dict(without))


def downgrade_candidates(plans: dict[str, Plan], current: Plan) -> list[Plan]:
    """Lower-tier plans that keep the customer's fibre and mobile lines, best (highest tier) first.

    A downgrade never takes away a line the customer uses (a bundle's mobile line included):
    only TV may go, and the offer text then says so.
    """
    keep = current.services - {"tv"}
    found = [p for p in plans.values() if p.tier < current.tier and keep <= p.services]
    return sorted(found, key=lambda p: p.tier, reverse=True)


def upgrade_candidates(plans: dict[str, Plan], current: Plan) -> list[Plan]:
    """Higher-tier plans that include everything the customer has now, nearest first."""
    found = [p for p in plans.values()
             if p.tier > current.tier and current.services <= p.services]
    return sorted(found, key=lambda p: p.tier)
