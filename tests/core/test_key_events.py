"""``data/key_events.yml`` is business data: a mistake in it stops start-up with an error that
names the file and the entry, never a traceback deep inside an alert later."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from bot.config.errors import ConfigError
from bot.core.key_events import DEFAULT_KEY_EVENTS, load_key_events, parse_key_events

RAW = yaml.safe_load(DEFAULT_KEY_EVENTS.read_text(encoding="utf-8"))


def test_the_shipped_file_is_valid_and_has_every_required_type() -> None:
    config = load_key_events()
    assert {"outage", "double_charge", "billing_error", "missed_technician_visit", "price_rise", "payment_failed",
            "contract_end_soon", "repeated_support_contacts", "usage_drop"} <= set(config.events)
    assert config.max_sms_per_day >= 1 and config.due_hours["high"] < config.due_hours["low"]


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def change(raw: dict) -> None:
        *parents, last = path.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[last] = value
    return change


def _drop(path: str) -> Callable[[dict], None]:
    def change(raw: dict) -> None:
        *parents, last = path.split(".")
        node = raw
        for key in parents:
            node = node[key]
        del node[last]
    return change


@pytest.mark.parametrize(("change", "entry"), [
    (_set("settings.max_sms_per_day", 0), "settings.max_sms_per_day"),
    (_set("settings.max_sms_per_day", "two"), "settings.max_sms_per_day"),
    (_set("settings.due_hours", {"high": 4}), "settings.due_hours"),
    (_set("settings.note_days", -1), "settings.note_days"),
    (_set("settings.monthly_credit_cap", "lots"), "settings.monthly_credit_cap"),
    (_drop("events.usage_drop"), "usage_drop"),
    (_set("events.outage.priority", "urgent"), "events.outage.priority"),
    (_set("events.outage.reason", "weather"), "events.outage.reason"),
    (_set("events.outage.actions", ["sms", "fax"]), "events.outage.actions"),
    (_set("events.outage.sms.en", "Sorry 😀 {first_name}"), "events.outage.sms.en"),
    (_set("events.outage.sms.es", "Hola {nombre}"), "events.outage.sms.es"),
    (_set("events.price_rise.sms.en", "Pay here {payment_link}"), "events.price_rise.sms"),
    (_set("events.outage.compensation", {"per_day": -2}), "events.outage.compensation.per_day"),
    (_set("events.outage.colour", "red"), "events.outage"),
    (_set("extra", 1), "unknown top-level"),
])
def test_mistakes_name_the_file_and_the_entry(tmp_path: Path, change: Callable[[dict], None], entry: str) -> None:
    raw = copy.deepcopy(RAW)
    change(raw)
    broken = tmp_path / "key_events.yml"
    broken.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        parse_key_events(raw, broken)
    assert "key_events.yml" in str(error.value) and entry in str(error.value)
    with pytest.raises(ConfigError, match="key_events.yml"):
        load_key_events(broken)
