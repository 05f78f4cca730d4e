"""Misspelt training copies (bot/nlu/typos.py) and the TypoAugmenter component that adds them."""

from __future__ import annotations

import random

import pytest
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.components import TypoAugmenter
from bot.nlu.typos import misspell

TEXTS = ["Quiero darme de baja, por favor.", "Cancel my account!", "me cobraron dos veces este mes",
         "I'm moving to Valencia next month"]


def augment(texts: list[str], intents: list[str], **config: object) -> TrainingData:
    data = TrainingData([Message(data={"text": t, "intent": i}) for t, i in zip(texts, intents)])
    return TypoAugmenter({**TypoAugmenter.get_default_config(), **config}).process_training_data(data)


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def test_a_misspelling_stays_close_to_the_original() -> None:
    rng = random.Random(0)
    for text in TEXTS * 20:
        typo = misspell(text, rng)
        plain = "".join(ch for ch in text.lower() if ch.isalnum() or ch == " ")
        bare = "".join(ch for ch in typo.lower() if ch.isalnum() or ch == " ")
        # one letter edit per 12 characters, a swap counting two
        assert edit_distance(plain, bare) <= 2 * max(1, len(text) // 12), (text, typo)


def test_misspellings_differ_and_are_reproducible() -> None:
    first = [misspell(t, random.Random(7)) for t in TEXTS]
    assert first == [misspell(t, random.Random(7)) for t in TEXTS]
    rng = random.Random(0)
    typos = [misspell(t, rng) for t in TEXTS for _ in range(5)]
    assert sum(typo.lower() != t.lower() for typo, t in zip(typos, [t for t in TEXTS for _ in range(5)])) >= 15


def test_very_short_texts_and_digits_are_left_alone() -> None:
    rng = random.Random(0)
    assert {misspell("ok", rng).lower() for _ in range(20)} == {"ok"}
    assert {misspell("1234 5678", rng) for _ in range(20)} == {"1234 5678"}


def test_every_example_gets_a_misspelt_copy_with_its_intent() -> None:
    intents = ["cancel", "cancel", "reason_billing_error", "reason_relocation"]
    data = augment(TEXTS, intents)
    originals = dict(zip(TEXTS, intents))
    copies = [m for m in data.intent_examples if m.get("text") not in originals]
    assert len(data.intent_examples) == 8 and len(copies) == 4
    for copy_, (text, intent) in zip(copies, originals.items()):
        assert copy_.get("intent") == intent
        assert copy_.get("text") != text


def test_no_copies_leaves_the_training_data_as_it_was() -> None:
    data = augment(TEXTS, ["cancel"] * 4, copies=0)
    assert [m.get("text") for m in data.intent_examples] == TEXTS


def test_examples_with_entities_are_not_copied() -> None:
    message = Message(data={"text": "cancel plan premium", "intent": "cancel",
                            "entities": [{"entity": "plan", "value": "premium", "start": 12, "end": 19}]})
    data = TypoAugmenter(TypoAugmenter.get_default_config()).process_training_data(TrainingData([message]))
    assert len(data.intent_examples) == 1


def test_messages_at_prediction_time_pass_unchanged() -> None:
    message = Message(data={"text": "Kiero darme de baja"})
    assert TypoAugmenter(TypoAugmenter.get_default_config()).process([message])[0].get("text") == "Kiero darme de baja"


@pytest.mark.parametrize("config", [{"copies": -1}, {"copies": "2"}, {"chars_per_edit": 0}, {"copies": True}])
def test_invalid_config_is_a_clear_error(config: dict) -> None:
    with pytest.raises(ValueError, match="TypoAugmenter"):
        TypoAugmenter({**TypoAugmenter.get_default_config(), **config})
