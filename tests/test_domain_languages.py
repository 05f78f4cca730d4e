"""Every response exists in Spanish (default) and English (language slot = en), and each
variation really is in its language: a customer writing Spanish never gets English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.core.answers import Answer, Question, read
from bot.core.language import detect

DOMAIN = yaml.safe_load((Path(__file__).resolve().parent.parent / "domain.yml").read_text())
RESPONSES = DOMAIN["responses"]
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


#: the question a response with typed-answer buttons asks (their payloads are read as answers)
BUTTON_QUESTIONS = {
    "utter_clarify_offer": Question.OFFER, "utter_clarify_cancel": Question.CONFIRM_CANCEL,
    "utter_clarify_plan_change": Question.PLAN_CHANGE, "utter_offer_plan_change": Question.PLAN_CHANGE,
    "utter_confirm_plan_change": Question.PLAN_CHANGE, "utter_clarify_winback": Question.WINBACK,
    "utter_clarify_proactive": Question.WINBACK, "utter_ask_leaving": Question.LEAVING,
    "utter_complaint_noted": Question.OPEN,
}


def variation_pairs(name: str) -> list[tuple[dict, dict]]:
    """(Spanish, English) variations of ``name``, one pair per channel it has its own text for."""
    pairs = []
    for channel in sorted({v.get("channel") or "" for v in RESPONSES[name]}):
        mine = [v for v in RESPONSES[name] if (v.get("channel") or "") == channel]
        es = [v for v in mine if not v.get("condition")]
        en = [v for v in mine
              if v.get("condition") == [{"type": "slot", "name": "language", "value": "en"}]]
        assert len(es) == 1 and len(en) == 1 and len(mine) == 2, (name, channel)
        pairs.append((es[0], en[0]))
    return pairs


def variations(name: str) -> tuple[dict, dict]:
    return variation_pairs(name)[-1]


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_response_has_spanish_and_english(name: str) -> None:
    for es, en in variation_pairs(name):
        check_pair(name, es, en)


def check_pair(name: str, es: dict, en: dict) -> None:
    es_text = PLACEHOLDER.sub("", es["text"])
    en_text = PLACEHOLDER.sub("", en["text"])
    if es_text.strip() or en_text.strip():  # all placeholders (utter_event_notice): written per language
        assert detect(es_text).language == "es", es_text
        assert detect(en_text).language == "en", en_text
    assert PLACEHOLDER.findall(es["text"]) == PLACEHOLDER.findall(en["text"]), name
    es_buttons = [b["payload"] for b in es.get("buttons", [])]
    en_buttons = [b["payload"] for b in en.get("buttons", [])]
    if name in BUTTON_QUESTIONS:  # typed answers: each button must mean the same in both languages
        question = BUTTON_QUESTIONS[name]
        assert [read(p, question).answer for p in es_buttons] == \
            [read(p, question).answer for p in en_buttons], name
        assert len({read(p, question).answer for p in es_buttons}) == len(es_buttons), name
        assert Answer.UNCLEAR not in {read(p, question).answer for p in es_buttons}, name
    else:
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
