"""Intent classifiers of ``config.yml``: ``LeavingClassifier`` learns "leaving or not" from all
intents at once; ``CancelDecider`` decides the wish to cancel on the summed probability of all
cancel intents, averaged with that one; ``ReasonClassifier`` learns the churn reason from all
reason-bearing intents at once.

``config.yml`` names them ``bot.nlu.components.<Class>``: that module re-exports them.
"""

from __future__ import annotations

import json
import logging
import zipfile
from typing import Any, Dict, List, Optional, Text, Tuple

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.model import is_cancel_intent, reason_part

logger = logging.getLogger(__name__)


def with_reason(intent: Text, reason: Text) -> Text:
    """``intent`` with its ``reason_*`` part replaced by ``reason``."""
    return "+".join(reason if p.startswith("reason_") else p for p in intent.split("+"))


def load_skops(model_storage: ModelStorage, resource: Resource, without: Text,
               extra_file: Optional[Text] = None) -> Optional[Tuple[Any, Any]]:
    """The trained scikit-learn model of a node (and its JSON ``extra_file``), whatever its file is called.

    Rasa's LogisticRegressionClassifier names its file after the graph node, and Rasa's
    training cache can restore that file under another node name (after a component is
    added before this one), which makes the stock loader fail with FileNotFoundError.
    None when there is no usable file, with a warning that ends with ``without``: what the
    product does without it.
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
            extra_path = model_dir / extra_file if extra_file else None
            extra = json.loads(extra_path.read_text()) if extra_path and extra_path.exists() else None
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        logger.warning("no usable trained file for %s (%s); %s", resource.name, exc, without)
        return None
    return clf, extra


#: where LeavingClassifier leaves its probability on a message, for CancelDecider (not in the output)
LEAVING_PROBABILITY = "leaving_probability"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LeavingClassifier(LogisticRegressionClassifier):
    """A second opinion on "is this the wish to leave?", learnt as one yes/no question.

    The intent classifier spreads leaving over a dozen intents and not leaving over some
    eighty, each learnt against all the others. Asked as a single yes/no question over every
    example, a linear model generalises better to leaving said in words nobody trained on
    (docs/benchmarks.md: leaving out the blind author's training file, F1 0.81 -> 0.86 on it).
    It changes no intent: it leaves its probability on the message for CancelDecider,
    which averages it with the intent classifier's cancel mass. Place it right before CancelDecider.
    """

    def _create_training_matrix(self, training_data: TrainingData) -> Tuple[Any, List[str]]:
        examples = [e for e in training_data.intent_examples if e.get(TEXT) and e.get(INTENT)]
        labels = ["leaving" if is_cancel_intent(e.get(INTENT)) else "not" for e in examples]
        return self._create_X(examples), labels

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "LeavingClassifier":
        component = cls(config, execution_context.node_name, model_storage, resource)
        loaded = load_skops(model_storage, resource, "the wish to cancel is decided on the intents alone")
        if loaded is not None:
            component.clf = loaded[0]
        return component

    def process(self, messages: List[Message]) -> List[Message]:
        todo = [m for m in messages if m.get(TEXT)]
        classes = [str(c) for c in getattr(self.clf, "classes_", [])]
        if not todo or "leaving" not in classes:
            return messages
        column = classes.index("leaving")
        for message, row in zip(todo, self.clf.predict_proba(self._create_X(todo))):
            message.set(LEAVING_PROBABILITY, float(row[column]))
        return messages


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
        loaded = load_skops(model_storage, resource, "churn reasons come from the intent classifier alone",
                            "known_intents.json")
        if loaded is None:
            # Like Rasa's own classifiers, a component without a usable file loads untrained
            # (reasons then come from the intent classifier alone), but says so (load_skops).
            return cls.create(config, model_storage, resource, execution_context)
        component = cls(config, execution_context.node_name, model_storage, resource)
        component.clf, extra = loaded
        component._known = extra or []
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
    probability (averaged with LeavingClassifier's, when it ran before) and, when that figure
    and the top intent disagree, changes the top intent:
    to "cancel" (keeping a stated reason: "reason_price" -> "cancel+reason_price"), or away
    from cancelling (to the stated reason alone, else the best non-cancel intent). Chosen by
    cross-validation on the training data (docs/benchmarks.md). Place it right after the
    intent classifier (and LeavingClassifier), on its full ranking (before ReasonClassifier
    merges reason entries).
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

    def decide(self, ranking: List[Dict[Text, Any]],
               leaving: Optional[float] = None) -> Optional[Tuple[Text, float]]:
        """The new top intent and its confidence, or None when the top intent stands.

        ``leaving``: LeavingClassifier's probability, averaged with the cancel mass when given.
        """
        if not ranking:
            return None
        top = ranking[0]["name"]
        mass = sum(float(r.get("confidence") or 0.0) for r in ranking if is_cancel_intent(r.get("name")))
        if leaving is not None:
            mass = (mass + leaving) / 2
        if mass >= self.threshold and is_cancel_intent(top) and top != "cancel_firm" \
                and float(ranking[0].get("confidence") or 0.0) < mass:
            # agreeing, but the top intent alone is weak (the wish spread over the cancel intents):
            # its confidence is the wish's, or the fallback classifier would call it not understood
            return top, mass
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
            decision = self.decide(ranking, message.get(LEAVING_PROBABILITY))
            if decision is None:
                continue
            name, confidence = decision
            intent = {**(message.get(INTENT) or {}), "name": name, "confidence": confidence}
            rest = [r for r in ranking if r.get("name") != name]
            # the others shrink to share what is left: with the leaving opinion averaged in, an
            # intent can stand above the new top ("other_request" 0.77 under "cancel" 0.56), and
            # Rasa's FallbackClassifier takes a ranking out of order for "not understood"
            total = sum(float(r.get("confidence") or 0.0) for r in rest)
            factor = min(1.0, (1.0 - confidence) / total) if total > 0 else 1.0
            ranking = [intent] + [{**r, "confidence": float(r.get("confidence") or 0.0) * factor} for r in rest]
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
