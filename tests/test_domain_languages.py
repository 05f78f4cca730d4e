"""Every response exists in Spanish (default) and English (language slot = en), and each
variation really is in its language: a customer writing Spanish never gets English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.language import detect

DOMAIN = yaml.safe_load((Path(__file__).resolve().parent.parent / "domain.yml").read_text())
RESPONSES = DOMAIN["responses"]
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def variations(name: str) -> tuple[dict, dict]:
    es = [v for v in RESPONSES[name] if not v.get("condition")]
    en = [v for v in RESPONSES[name]
          if v.get("condition") == [{"type": "slot", "name": "language", "value": "en"}]]
    assert len(es) == 1 and len(en) == 1 and len(RESPONSES[name]) == 2, name
    return es[0], en[0]


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_response_has_spanish_and_english(name: str) -> None:
    es, en = variations(name)
    es_text = PLACEHOLDER.sub("", es["text"])
    en_text = PLACEHOLDER.sub("", en["text"])
    assert detect(es_text).language == "es", es_text
    assert detect(en_text).language == "en", en_text
    assert PLACEHOLDER.findall(es["text"]) == PLACEHOLDER.findall(en["text"]), name
    es_buttons = [b["payload"] for b in es.get("buttons", [])]
    en_buttons = [b["payload"] for b in en.get("buttons", [])]
    assert es_buttons == en_buttons, name
    for b in es.get("buttons", []):
        assert detect(b["title"]).language in ("es", None), b
    for b in en.get("buttons", []):
        assert detect(b["title"]).language in ("en", None), b


def test_no_response_tells_customers_to_call_to_cancel() -> None:
    for name in RESPONSES:
        for v in RESPONSES[name]:
            text = v["text"].lower()
            assert "llámanos para" not in text and "call us to" not in text, name
