"""The retention process settings in ``data/retention.yml``, validated at start-up."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import settings
from bot.config.errors import ConfigError, read_yaml
from bot.config.settings import PROJECT_ROOT
from bot.core.reasons import REASONS

DEFAULT_POLICY = PROJECT_ROOT / "data" / "retention.yml"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class ColdPolicy:
    cooldown_days: dict[str, int]
    requires_problem_solved: frozenset[str]
    max_attempts: int
    quiet_start: time
    quiet_end: time


@dataclass(frozen=True)
class HandoffPolicy:
    high_value_monthly_revenue: float
    not_understood_turns: int
    timezone: str
    days: tuple[str, ...]
    start: time
    end: time


ONE_TIME_CODE_MODES = ("always",)
#: modes that let a postcode alone verify an anonymous visitor (guessable): refused, saying why
RETIRED_ONE_TIME_CODE_MODES = {
    "when_sms_configured": "a postcode alone is guessable: without SMS nobody is verified in chat now",
    "never": "a postcode alone is guessable: an anonymous visitor is always sent a code",
}


@dataclass(frozen=True)
class VerificationPolicy:
    """Limits of the identity check of anonymous visitors (``verification:``)."""

    max_failures_per_customer: int = 5
    max_failures_per_source: int = 10
    window: timedelta = timedelta(minutes=30)
    lockout: timedelta = timedelta(minutes=30)
    #: "always" is the only mode: the code texted to the phone on file is the proof
    one_time_code: str = "always"
    code_ttl: timedelta = timedelta(minutes=10)
    code_max_attempts: int = 3
    #: codes texted to one customer within ``window``, across conversations (no SMS bombing)
    max_codes_per_customer: int = 3


@dataclass(frozen=True)
class Policy:
    holdout_share: float
    cold: ColdPolicy
    handoff: HandoffPolicy
    #: a first "just cancel it" read with less confidence than this gets one yes/no question
    confirm_first_cancel_below: float = 1.0
    #: an open case with no answer for this long is closed as ``abandoned`` (bot.core.housekeeping)
    abandon_after: timedelta = timedelta(hours=24)
    verification: VerificationPolicy = field(default_factory=VerificationPolicy)
    source: Path = field(default=DEFAULT_POLICY, compare=False)

    def in_holdout(self, conversation_id: str) -> bool:
        """Stable assignment of a conversation to the control group."""
        if self.holdout_share <= 0:
            return False
        digest = hashlib.sha256(conversation_id.encode("utf-8")).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < self.holdout_share


def _optional_section(path: Path, raw: Any, name: str) -> dict[str, Any]:
    """A section that may be left out (its defaults apply), but must be a mapping when present."""
    value = raw.get(name, {}) if isinstance(raw, dict) else {}
    if not isinstance(value, dict):
        raise ConfigError.at(path, "not a mapping", name)
    return value


def _section(path: Path, raw: Any, name: str) -> dict[str, Any]:
    value = raw.get(name) if isinstance(raw, dict) else None
    if not isinstance(value, dict):
        raise ConfigError.at(path, "missing or not a mapping", name)
    return value


def _clock(path: Path, value: Any, entry: str) -> time:
    try:
        hh, mm = str(value).split(":")
        return time(int(hh), int(mm))
    except (ValueError, TypeError) as exc:
        raise ConfigError.at(path, f"expected a time like \"21:00\", got {value!r}", entry) from exc


def _number(path: Path, value: Any, entry: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError.at(path, f"must be a number between {low} and {high}, got {value!r}", entry)
    return float(value)


def _from_env(read: Callable[..., Any], *args: Any) -> Any:
    """A setting of data/retention.yml as the environment overrides it (``bot.config.settings``
    reads the variable): a value that does not parse is a ConfigError."""
    try:
        return read(*args)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def parse_policy(raw: Any, path: Path = DEFAULT_POLICY) -> Policy:
    holdout = _section(path, raw, "holdout")
    share = _number(path, holdout.get("share"), "holdout.share", 0.0, 0.5)
    share = _from_env(settings.retention_holdout_share, share)
    if not 0 <= share <= 0.5:  # only a RETENTION_HOLDOUT_SHARE can be out of range here
        raise ConfigError(f"RETENTION_HOLDOUT_SHARE must be between 0 and 0.5, got {share}")

    cold = _section(path, raw, "cold")
    cooldowns = cold.get("cooldown_days")
    if not isinstance(cooldowns, dict):
        raise ConfigError.at(path, "missing or not a mapping", "cold.cooldown_days")
    for reason in cooldowns:
        if reason not in REASONS:
            raise ConfigError.at(path, f"unknown churn reason (known: {', '.join(REASONS)})",
                                 f"cold.cooldown_days.{reason}")
    missing = [r for r in REASONS if r not in cooldowns]
    if missing:
        raise ConfigError.at(path, f"missing reasons: {', '.join(missing)}", "cold.cooldown_days")
    days = {r: int(_number(path, v, f"cold.cooldown_days.{r}", 0, 3650)) for r, v in cooldowns.items()}
    solved = cold.get("requires_problem_solved", [])
    if not isinstance(solved, list) or any(r not in REASONS for r in solved):
        raise ConfigError.at(path, "must be a list of churn reasons", "cold.requires_problem_solved")
    quiet = cold.get("quiet_hours") or {}
    cold_policy = ColdPolicy(
        cooldown_days=days, requires_problem_solved=frozenset(solved),
        max_attempts=int(_number(path, cold.get("max_attempts", 1), "cold.max_attempts", 1, 10)),
        quiet_start=_clock(path, quiet.get("start"), "cold.quiet_hours.start"),
        quiet_end=_clock(path, quiet.get("end"), "cold.quiet_hours.end"),
    )

    handoff = _section(path, raw, "handoff")
    office = handoff.get("office_hours") or {}
    tz = str(office.get("timezone", ""))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError.at(path, f"unknown time zone {tz!r}", "handoff.office_hours.timezone") from exc
    office_days = office.get("days")
    if not isinstance(office_days, list) or not office_days or any(d not in DAYS for d in office_days):
        raise ConfigError.at(path, f"must be a list of {', '.join(DAYS)}", "handoff.office_hours.days")
    high_value = _number(path, handoff.get("high_value_monthly_revenue"), "handoff.high_value_monthly_revenue",
                         0, 100000)
    high_value = _from_env(settings.retention_high_value_eur, high_value)
    handoff_policy = HandoffPolicy(
        high_value_monthly_revenue=high_value,
        not_understood_turns=int(_number(path, handoff.get("not_understood_turns", 2),
                                         "handoff.not_understood_turns", 1, 10)),
        timezone=tz, days=tuple(office_days),
        start=_clock(path, office.get("start"), "handoff.office_hours.start"),
        end=_clock(path, office.get("end"), "handoff.office_hours.end"),
    )
    cancellation = _optional_section(path, raw, "cancellation")
    confirm_below = _number(path, cancellation.get("confirm_first_request_below", 1.0),
                            "cancellation.confirm_first_request_below", 0.0, 1.0)
    cases = _optional_section(path, raw, "cases")
    abandon_hours = _number(path, cases.get("abandon_after_hours", 24), "cases.abandon_after_hours", 1, 720)
    return Policy(holdout_share=share, cold=cold_policy, handoff=handoff_policy,
                  confirm_first_cancel_below=confirm_below, abandon_after=timedelta(hours=abandon_hours),
                  verification=_verification(path, raw), source=path)


def _verification(path: Path, raw: Any) -> VerificationPolicy:
    section = _optional_section(path, raw, "verification")
    default = VerificationPolicy()
    mode = settings.verify_one_time_code(section.get("one_time_code", default.one_time_code))
    if mode in RETIRED_ONE_TIME_CODE_MODES:
        raise ConfigError.at(path, f"{mode!r} is no longer supported ({RETIRED_ONE_TIME_CODE_MODES[mode]}); "
                             "use \"always\" or leave the entry out", "verification.one_time_code")
    if mode not in ONE_TIME_CODE_MODES:
        raise ConfigError.at(path, f"must be one of {', '.join(ONE_TIME_CODE_MODES)}, got {mode!r}",
                             "verification.one_time_code")

    def count(name: str, fallback: int, high: int) -> int:
        value = int(_number(path, section.get(name, fallback), f"verification.{name}", 1, high))
        return _from_env(settings.verification_limit, name, value)  # e.g. VERIFY_MAX_FAILURES_PER_SOURCE

    def minutes(name: str, fallback: timedelta) -> timedelta:
        value = _number(path, section.get(name, fallback.total_seconds() / 60),
                        f"verification.{name}", 1, 7 * 24 * 60)
        return timedelta(minutes=value)

    return VerificationPolicy(
        max_failures_per_customer=count("max_failures_per_customer",
                                        default.max_failures_per_customer, 100),
        max_failures_per_source=count("max_failures_per_source", default.max_failures_per_source,
                                      1000),
        max_codes_per_customer=count("max_codes_per_customer", default.max_codes_per_customer, 100),
        window=minutes("window_minutes", default.window),
        lockout=minutes("lockout_minutes", default.lockout),
        one_time_code=mode,
        code_ttl=minutes("code_ttl_minutes", default.code_ttl),
        code_max_attempts=count("code_max_attempts", default.code_max_attempts, 10))


@lru_cache(maxsize=4)
def load_policy(path: Path = DEFAULT_POLICY) -> Policy:
    return parse_policy(read_yaml(path), path)
