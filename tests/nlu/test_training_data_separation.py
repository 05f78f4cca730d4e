"""The NLU figures are only honest if no evaluation utterance (or a near copy) is trained on.

Checks every training example in data/nlu against our held-out set (tests/nlu_holdout) and the
third-party shared set (../shared/eval, when present): no example may equal an evaluation
utterance after normalisation (case, accents, punctuation), nor be a near copy of one
(character-trigram TF-IDF cosine >= 0.9).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from rasa.shared.nlu.training_data.loading import load_data
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.nlu.evaluation import HELD_OUT_SETS, SHARED_EVAL, load_holdout, load_shared

ROOT = Path(__file__).resolve().parents[2]
NEAR_COPY = 0.9


def normalised(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z0-9ñ ]+", " ", text).split())


def trigrams(text: str) -> list[str]:
    text = normalised(text)
    return [text[i:i + 3] for i in range(max(1, len(text) - 2))]


@pytest.fixture(scope="module")
def training_texts() -> list[str]:
    texts = [m.get("text") for path in sorted((ROOT / "data" / "nlu").rglob("*.yml"))
             for m in load_data(str(path)).intent_examples]
    assert len(texts) > 1000
    return texts


def overlaps(train: list[str], evaluation: list[str]) -> list[tuple[str, str, float]]:
    vectorizer = TfidfVectorizer(analyzer=trigrams).fit(train + evaluation)
    similarity = vectorizer.transform(evaluation) @ vectorizer.transform(train).T
    exact = {normalised(t): t for t in train}
    found = []
    for i, text in enumerate(evaluation):
        row = similarity.getrow(i).toarray().ravel()
        j = int(row.argmax())
        if normalised(text) in exact or row[j] >= NEAR_COPY:
            found.append((text, train[j], round(float(row[j]), 3)))
    return found


def test_no_held_out_utterance_is_trained_on(training_texts: list[str]) -> None:
    held_out = [ex for directory in HELD_OUT_SETS.values() for ex in load_holdout(directory)]
    assert overlaps(training_texts, [e.text for e in held_out]) == []


@pytest.mark.skipif(not SHARED_EVAL.exists(), reason="../shared/eval is not present")
def test_no_shared_set_utterance_is_trained_on(training_texts: list[str]) -> None:
    found = overlaps(training_texts, [t for t, _ in load_shared()])
    # report only our own training examples: the shared rows stay unread
    assert [train for _, train, _ in found] == []


def test_the_check_catches_a_copy_and_a_near_copy() -> None:
    train = ["quiero darme de baja ya", "hola buenas", "what is my bill this month"]
    assert [t for t, _, _ in overlaps(train, ["Quiero darme de BAJA ya!", "What is my bill this month??",
                                              "cancel my plan"])] == ["Quiero darme de BAJA ya!",
                                                                       "What is my bill this month??"]
