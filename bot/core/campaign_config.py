"""Win-back campaign configuration: loading and validating ``data/campaigns.yml`` (texts, reply
words, the incidents that must be solved first, settings)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.config.errors import PROJECT_ROOT, ConfigError, read_yaml
from bot.core.offer_kinds import KINDS
from bot.core.reasons import INCIDENT_KINDS, REASONS
from bot.core.sms_texts import language_texts, plain_sms_problem, template_placeholders
from bot.core.tariffs import LANGUAGES, file_stamp

DEFAULT_CAMPAIGNS = PROJECT_ROOT / "data" / "campaigns.yml"
PLACEHOLDERS = frozenset({"first_name", "company", "intro", "offer_text", "plan_name", "customer_ref"})


@dataclass(frozen=True)
class CampaignConfig:
    company: str
    sms: Mapping[str, str]  # language -> template
    intro: Mapping[str, Mapping[str, str]]  # reason | "default" -> language -> sentence
    reply_words: Mapping[str, tuple[str, str]]  # language -> (accept, decline)
    problem_incidents: Mapping[str, tuple[str, ...]]  # reason -> incident kinds
    sms_segment_cost_eur: Decimal = Decimal("0.08")
    contact_unprofitable: bool = False
    no_answer_days: int = 7
    exclude_kinds: frozenset[str] = frozenset({"action_plan"})
    source: Path = DEFAULT_CAMPAIGNS

    def intro_for(self, reason: str, language: str) -> str:
        return (self.intro.get(reason) or self.intro["default"])[language]


def _languages(path: Path, raw: Any, entry: str) -> dict[str, str]:
    def no_placeholders(language: str, text: str, where: str) -> None:
        if "{" in text or "}" in text:
            raise ConfigError.at(path, "no placeholders here", where)

    return language_texts(path, raw, entry, no_placeholders)


def parse_campaigns(raw: Any, path: Path = DEFAULT_CAMPAIGNS) -> CampaignConfig:
    """Validate the campaigns file; raises ConfigError naming the file and the entry."""
    if not isinstance(raw, dict):
        raise ConfigError.at(path, "expected a mapping")
    known = {"company", "sms", "intro", "reply_words", "problem_incidents", "settings"}
    unknown = sorted(set(map(str, raw)) - known)
    if unknown:
        raise ConfigError.at(path, f"unknown top-level key(s): {', '.join(unknown)}")
    company = raw.get("company")
    if not isinstance(company, str) or not company.strip():
        raise ConfigError.at(path, "missing or empty", "company")

    words = raw.get("reply_words")
    if not isinstance(words, dict):
        raise ConfigError.at(path, "missing or not a mapping", "reply_words")
    reply_words: dict[str, tuple[str, str]] = {}
    for language in LANGUAGES:
        pair = words.get(language)
        if not isinstance(pair, dict):
            raise ConfigError.at(path, "must be {accept: ..., decline: ...}", f"reply_words.{language}")
        values = []
        for key in ("accept", "decline"):
            word = pair.get(key)
            if not isinstance(word, str) or not re.fullmatch(r"[A-ZÁÉÍÓÚÑ]+", word):
                raise ConfigError.at(path, f"must be one word in capitals, quoted (got {word!r})",
                                     f"reply_words.{language}.{key}")
            values.append(word)
        if values[0] == values[1]:
            raise ConfigError.at(path, "accept and decline must differ", f"reply_words.{language}")
        reply_words[language] = (values[0], values[1])

    sms_raw = raw.get("sms")
    if not isinstance(sms_raw, dict):
        raise ConfigError.at(path, "missing or not a mapping {es: ..., en: ...}", "sms")
    unknown = sorted(set(map(str, sms_raw)) - set(LANGUAGES))
    if unknown:
        raise ConfigError.at(path, f"unknown language(s): {', '.join(unknown)}", "sms")
    sms: dict[str, str] = {}
    for language in LANGUAGES:
        entry = f"sms.{language}"
        template = sms_raw.get(language)
        if not isinstance(template, str) or not template.strip():
            raise ConfigError.at(path, "missing or empty", entry)
        template = " ".join(template.split())
        problem = plain_sms_problem(template)
        if problem:
            raise ConfigError.at(path, problem, entry)
        if "offer_text" not in template_placeholders(path, template, entry, PLACEHOLDERS):
            raise ConfigError.at(path, "must contain {offer_text}", entry)
        for word in reply_words[language]:
            if not re.search(rf"\b{word}\b", template):
                raise ConfigError.at(path, f"must ask to reply {word} (reply_words.{language})", entry)
        sms[language] = template

    intro_raw = raw.get("intro")
    if not isinstance(intro_raw, dict) or "default" not in intro_raw:
        raise ConfigError.at(path, "missing, not a mapping, or without 'default'", "intro")
    intro: dict[str, dict[str, str]] = {}
    for key, texts in intro_raw.items():
        if key != "default" and key not in REASONS:
            raise ConfigError.at(path, f"unknown churn reason (known: {', '.join(REASONS)})", f"intro.{key}")
        intro[str(key)] = _languages(path, texts, f"intro.{key}")

    incidents_raw = raw.get("problem_incidents") or {}
    if not isinstance(incidents_raw, dict):
        raise ConfigError.at(path, "must be a mapping reason -> [incident kinds]", "problem_incidents")
    problem_incidents: dict[str, tuple[str, ...]] = {}
    for reason, kinds in incidents_raw.items():
        entry = f"problem_incidents.{reason}"
        if reason not in REASONS:
            raise ConfigError.at(path, f"unknown churn reason (known: {', '.join(REASONS)})", entry)
        if not isinstance(kinds, list) or not kinds or any(k not in INCIDENT_KINDS for k in kinds):
            raise ConfigError.at(path, f"must be a list of incident kinds ({', '.join(INCIDENT_KINDS)})", entry)
        problem_incidents[str(reason)] = tuple(kinds)

    settings = raw.get("settings") or {}
    if not isinstance(settings, dict):
        raise ConfigError.at(path, "must be a mapping", "settings")
    unknown = sorted(set(map(str, settings)) - {"sms_segment_cost_eur", "contact_unprofitable", "no_answer_days",
                                                 "exclude_kinds"})
    if unknown:
        raise ConfigError.at(path, f"unknown key(s): {', '.join(unknown)}", "settings")
    cost = settings.get("sms_segment_cost_eur", 0.08)
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not 0 <= cost <= 5:
        raise ConfigError.at(path, f"must be a number between 0 and 5, got {cost!r}", "settings.sms_segment_cost_eur")
    unprofitable = settings.get("contact_unprofitable", False)
    if not isinstance(unprofitable, bool):
        raise ConfigError.at(path, f"must be true or false, got {unprofitable!r}", "settings.contact_unprofitable")
    days = settings.get("no_answer_days", 7)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 90:
        raise ConfigError.at(path, f"must be a whole number between 1 and 90, got {days!r}",
                             "settings.no_answer_days")
    exclude = settings.get("exclude_kinds", ["action_plan"])
    if not isinstance(exclude, list) or any(k not in KINDS for k in exclude):
        raise ConfigError.at(path, f"must be a list of offer kinds ({', '.join(KINDS)})", "settings.exclude_kinds")
    return CampaignConfig(
        company=company.strip(), sms=sms, intro=intro, reply_words=reply_words,
        problem_incidents=problem_incidents, sms_segment_cost_eur=Decimal(str(cost)),
        contact_unprofitable=unprofitable, no_answer_days=days, exclude_kinds=frozenset(exclude), source=path)


def load_campaigns(path: Path | str = DEFAULT_CAMPAIGNS) -> CampaignConfig:
    """Load and validate ``data/campaigns.yml`` (cached until the file changes)."""
    path = Path(path)
    return _load_campaigns_cached(path, file_stamp(path))


@lru_cache(maxsize=8)
def _load_campaigns_cached(path: Path, stamp: tuple[int, int]) -> CampaignConfig:
    del stamp  # only part of the cache key
    return parse_campaigns(read_yaml(path), path)
