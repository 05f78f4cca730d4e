"""The weighted character n-gram featurizer used by config.yml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.classifiers import LEAVING_PROBABILITY
from bot.nlu.components import (
    CancelDecider,
    E5SentenceFeaturizer,
    LeavingClassifier,
    ReasonClassifier,
    ScaledCountVectorsFeaturizer,
)

TEXTS = ["quiero darme de baja", "kiero darme d baja", "cancel my account", "cancela la visita del tecnico"]
CHAR = {"analyzer": "char_wb", "min_ngram": 2, "max_ngram": 4}


def featurize(cls: type, config: dict, tmp_path: Path, name: str) -> list[Message]:
    messages = [Message(data={"text": t, "intent": "x"}) for t in TEXTS]
    WhitespaceTokenizer(WhitespaceTokenizer.get_default_config()).process_training_data(TrainingData(messages))
    (tmp_path / name).mkdir()
    featurizer = cls.create({**cls.get_default_config(), **config}, LocalModelStorage(tmp_path / name),
                            Resource(name), ExecutionContext(node_name=name, graph_schema=None))
    featurizer.train(TrainingData(messages))
    featurizer.process_training_data(TrainingData(messages))
    return messages


def sentence_matrix(messages: list[Message]) -> np.ndarray:
    return np.vstack([m.get_sparse_features("text")[1].features.toarray() for m in messages])


def test_features_are_the_plain_counts_times_scale(tmp_path: Path) -> None:
    plain = sentence_matrix(featurize(CountVectorsFeaturizer, CHAR, tmp_path, "plain"))
    scaled = sentence_matrix(featurize(ScaledCountVectorsFeaturizer, {**CHAR, "scale": 0.5}, tmp_path, "scaled"))
    assert plain.shape == scaled.shape and plain.sum() > 0
    np.testing.assert_allclose(scaled, plain * 0.5)


def test_sms_spelling_shares_character_features(tmp_path: Path) -> None:
    m = sentence_matrix(featurize(ScaledCountVectorsFeaturizer, {**CHAR, "scale": 0.5}, tmp_path, "sms"))
    # "kiero darme d baja" overlaps "quiero darme de baja" far more than an unrelated sentence
    assert float(m[0] @ m[1]) > 3 * float(m[0] @ m[3])


@pytest.mark.parametrize("scale", [0, -1, "big", True])
def test_invalid_scale_is_a_clear_error(scale: object) -> None:
    with pytest.raises(ValueError, match="scale must be a number > 0"):
        ScaledCountVectorsFeaturizer.validate_config({**ScaledCountVectorsFeaturizer.get_default_config(),
                                                      "scale": scale})


REASON_TRAIN = [
    ("me doy de baja, es demasiado caro", "cancel+reason_price"),
    ("es muy caro", "reason_price"),
    ("pago demasiado cada mes", "reason_price"),
    ("me voy a la competencia, Orange me da más", "cancel+reason_competitor"),
    ("la competencia me ofrece más gigas", "reason_competitor"),
    ("Orange me ofrece fibra más rápida", "reason_competitor"),
    ("quiero darme de baja", "cancel"),
    ("hola", "greet"),
]


def trained_classifier(tmp_path: Path, cls: Any, examples: list[tuple[str, str]], name: str,
                       ) -> tuple[Any, CountVectorsFeaturizer]:
    """``cls`` trained on word counts of ``examples``, persisted and loaded again from resource ``name``."""
    messages = [Message(data={"text": t, "intent": i}) for t, i in examples]
    data = TrainingData(messages)
    WhitespaceTokenizer(WhitespaceTokenizer.get_default_config()).process_training_data(data)
    ctx = ExecutionContext(node_name="x", graph_schema=None)
    storage = LocalModelStorage(tmp_path / "storage")
    for folder in ("cv", name):
        (tmp_path / "storage" / folder).mkdir(parents=True)
    cv = CountVectorsFeaturizer.create(CountVectorsFeaturizer.get_default_config(), storage, Resource("cv"), ctx)
    cv.train(data)
    cv.process_training_data(data)
    clf = cls.create(cls.get_default_config(), storage, Resource(name), ctx)
    clf.train(data)
    return cls.load(cls.get_default_config(), storage, Resource(name), ctx), cv


def trained_reason_classifier(tmp_path: Path) -> tuple[ReasonClassifier, CountVectorsFeaturizer]:
    return trained_classifier(tmp_path, ReasonClassifier, REASON_TRAIN, "reason")


def classified(text: str, intent: str, clf: ReasonClassifier, cv: CountVectorsFeaturizer) -> Message:
    message = Message(data={"text": text})
    WhitespaceTokenizer(WhitespaceTokenizer.get_default_config()).process([message])
    cv.process([message])
    message.set("intent", {"name": intent, "confidence": 0.6}, add_to_output=True)
    message.set("intent_ranking", [{"name": intent, "confidence": 0.6},
                                   {"name": "cancel+reason_price", "confidence": 0.3}], add_to_output=True)
    clf.process([message])
    return message


def test_reason_is_corrected_and_the_cancel_decision_kept(tmp_path: Path) -> None:
    clf, cv = trained_reason_classifier(tmp_path)
    m = classified("me doy de baja porque es caro, pago demasiado", "cancel+reason_competitor", clf, cv)
    assert m.get("intent") == {"name": "cancel+reason_price", "confidence": 0.6}
    assert [r["name"] for r in m.get("intent_ranking")] == ["cancel+reason_price"]  # no duplicate entry
    m = classified("Orange me ofrece más", "reason_price", clf, cv)
    assert m.get("intent")["name"] == "reason_competitor"


def test_intents_without_a_reason_are_left_alone(tmp_path: Path) -> None:
    clf, cv = trained_reason_classifier(tmp_path)
    for intent in ("cancel", "greet"):
        assert classified("es demasiado caro", intent, clf, cv).get("intent")["name"] == intent


def decided(ranking: list[tuple[str, float]], threshold: float = 0.5) -> tuple[str, float, list[str]]:
    message = Message(data={"text": "x"})
    message.set("intent", {"name": ranking[0][0], "confidence": ranking[0][1]}, add_to_output=True)
    message.set("intent_ranking", [{"name": n, "confidence": c} for n, c in ranking], add_to_output=True)
    CancelDecider({"threshold": threshold}).process([message])
    intent = message.get("intent")
    return intent["name"], round(intent["confidence"], 3), [r["name"] for r in message.get("intent_ranking")]


def test_a_wish_to_cancel_spread_over_cancel_intents_wins() -> None:
    # top intent "other_request", but 0.6 of the probability says "cancel"
    name, conf, names = decided([("other_request", 0.4), ("cancel", 0.3), ("cancel+reason_price", 0.2),
                                 ("cancel_firm", 0.1)])
    assert (name, conf) == ("cancel", 0.6)
    assert names.count("cancel") == 1 and names[0] == "cancel"
    # a stated reason is kept with the wish to cancel
    name, _, _ = decided([("reason_price", 0.45), ("cancel+reason_price", 0.35), ("cancel", 0.2)])
    assert name == "cancel+reason_price"


def test_a_weak_cancel_top_intent_gives_way() -> None:
    name, conf, _ = decided([("cancel", 0.35), ("cancel_other", 0.34), ("change_plan", 0.31)])
    assert (name, conf) == ("cancel_other", 0.65)
    name, _, _ = decided([("cancel+reason_price", 0.4), ("reason_price", 0.35), ("greet", 0.25)])
    assert name == "reason_price"


def test_agreeing_decisions_are_left_alone() -> None:
    assert decided([("cancel", 0.6), ("greet", 0.3), ("cancel+reason_price", 0.1)])[:2] == ("cancel", 0.7)
    assert decided([("greet", 0.9), ("cancel", 0.1)])[:2] == ("greet", 0.9)
    assert decided([("greet", 0.45), ("cancel", 0.4), ("deny", 0.15)], threshold=0.6)[0] == "greet"


def test_a_wish_spread_thin_over_the_cancel_intents_is_not_taken_for_not_understood() -> None:
    # "Found a much cheaper deal elsewhere so I'll be leaving": top "cancel" at 0.2, too weak for
    # the fallback classifier (0.25), though 0.6 of the probability says leaving
    assert decided([("cancel", 0.2), ("cancel+reason_competitor", 0.2), ("cancel+reason_price", 0.2),
                    ("other_request", 0.19), ("greet", 0.21)])[:2] == ("cancel", 0.6)
    # the firm intent keeps its own confidence: it says how sure the model is of "just cancel it"
    assert decided([("cancel_firm", 0.2), ("cancel", 0.4), ("greet", 0.4)])[:2] == ("cancel_firm", 0.2)


@pytest.mark.parametrize("threshold", [0, 1, -0.2, "half"])
def test_invalid_cancel_threshold_is_a_clear_error(threshold: object) -> None:
    with pytest.raises(ValueError, match="threshold"):
        CancelDecider({"threshold": threshold})


def test_reason_classifier_loads_after_a_cache_restore_under_another_name(tmp_path: Path) -> None:
    # Rasa's cache can restore a trained node's files under a new node name: the stock
    # LogisticRegressionClassifier then fails to load (its file is named after the old node).
    trained_reason_classifier(tmp_path)
    storage = tmp_path / "storage"
    (storage / "reason").rename(storage / "reason_moved")
    ctx = ExecutionContext(node_name="x", graph_schema=None)
    clf = ReasonClassifier.load(ReasonClassifier.get_default_config(), LocalModelStorage(storage),
                                Resource("reason_moved"), ctx)
    assert set(clf.clf.classes_) == {"reason_price", "reason_competitor"}
    assert "cancel+reason_price" in clf._known


def loaded_from_a_corrupt_file(tmp_path: Path, cls: Any, name: str, caplog: pytest.LogCaptureFixture) -> Any:
    """``cls`` loaded from resource ``name`` after its trained file was overwritten with garbage;
    the load must say so in a warning."""
    (skops,) = (tmp_path / "storage" / name).glob("*.skops")
    skops.write_bytes(b"not a model")
    ctx = ExecutionContext(node_name="x", graph_schema=None)
    with caplog.at_level("WARNING"):
        clf = cls.load(cls.get_default_config(), LocalModelStorage(tmp_path / "storage"), Resource(name), ctx)
    assert f"no usable trained file for {name}" in caplog.text
    return clf


def test_a_corrupt_reason_classifier_file_is_reported_and_the_bot_keeps_the_intent_reason(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _, cv = trained_reason_classifier(tmp_path)
    clf = loaded_from_a_corrupt_file(tmp_path, ReasonClassifier, "reason", caplog)
    m = classified("me doy de baja porque es caro", "cancel+reason_competitor", clf, cv)
    assert m.get("intent")["name"] == "cancel+reason_competitor"


def e5_features(config: dict, texts: list[str]) -> list[Message]:
    messages = [Message(data={"text": t}) for t in texts]
    config = {**E5SentenceFeaturizer.get_default_config(), **config}
    E5SentenceFeaturizer.validate_config(config)
    E5SentenceFeaturizer(config, "e5").process(messages)
    return messages


def test_e5_features_carry_meaning_across_languages_and_sms_spelling() -> None:
    texts = ["quiero darme de baja", "I want to cancel my subscription", "kiero darme d baja",
             "a que hora abre la tienda"]
    vectors = np.vstack([m.get_dense_features("text")[1].features for m in e5_features({}, texts)])
    assert vectors.shape == (4, 384)
    sim = vectors @ vectors.T
    # the same wish in English and in SMS spelling is nearer than an unrelated question
    assert sim[0, 1] > sim[0, 3] and sim[0, 2] > sim[0, 3]


def test_e5_features_are_unit_vectors_times_scale_and_blank_text_gets_none() -> None:
    plain, blank = e5_features({"scale": 1.0}, ["me cobraron dos veces", "   "])
    scaled = e5_features({"scale": 3.0}, ["me cobraron dos veces"])[0]
    a = plain.get_dense_features("text")[1].features
    np.testing.assert_allclose(np.linalg.norm(a), 1.0, rtol=1e-3)
    np.testing.assert_allclose(scaled.get_dense_features("text")[1].features, a * 3.0, rtol=1e-5)
    assert blank.get_dense_features("text")[1] is None


@pytest.mark.parametrize("key,value", [("scale", 0), ("scale", "big"), ("scale", True), ("batch_size", 0),
                                       ("threads", -1), ("threads", 1.5), ("prefix", "question")])
def test_invalid_e5_config_is_a_clear_error(key: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"E5SentenceFeaturizer: {key} must be"):
        E5SentenceFeaturizer.validate_config({**E5SentenceFeaturizer.get_default_config(), key: value})


LEAVING_TRAIN = [
    ("me doy de baja, es demasiado caro", "cancel+reason_price"),
    ("quiero darme de baja", "cancel"),
    ("me voy con otra compañía", "cancel"),
    ("dejo de ser cliente vuestro", "cancel_firm"),
    ("hola", "greet"),
    ("es muy caro", "reason_price"),
    ("quiero cambiar de tarifa", "change_plan"),
    ("cancela el pedido del router", "cancel_other"),
]


def trained_leaving_classifier(tmp_path: Path) -> tuple[LeavingClassifier, CountVectorsFeaturizer]:
    _, cv = trained_classifier(tmp_path, LeavingClassifier, LEAVING_TRAIN, "leaving")
    (tmp_path / "storage" / "leaving").rename(tmp_path / "storage" / "leaving_moved")  # a cache restore
    ctx = ExecutionContext(node_name="x", graph_schema=None)
    loaded = LeavingClassifier.load(LeavingClassifier.get_default_config(), LocalModelStorage(tmp_path / "storage"),
                                    Resource("leaving_moved"), ctx)
    return loaded, cv


def leaving_probability(text: str, clf: LeavingClassifier, cv: CountVectorsFeaturizer) -> float | None:
    message = Message(data={"text": text})
    WhitespaceTokenizer(WhitespaceTokenizer.get_default_config()).process([message])
    cv.process([message])
    clf.process([message])
    return message.get(LEAVING_PROBABILITY)


def test_the_leaving_classifier_learns_leaving_from_every_cancel_intent_at_once(tmp_path: Path) -> None:
    clf, cv = trained_leaving_classifier(tmp_path)
    assert set(clf.clf.classes_) == {"leaving", "not"}
    assert leaving_probability("me voy, dejo de ser cliente", clf, cv) > 0.5
    assert leaving_probability("hola, quiero cambiar de tarifa", clf, cv) < 0.5


def test_the_leaving_opinion_is_averaged_into_the_cancel_decision() -> None:
    ranking = [{"name": "other_request", "confidence": 0.6}, {"name": "cancel", "confidence": 0.4}]
    assert CancelDecider({"threshold": 0.5}).decide(ranking) is None  # the intents alone: not leaving
    assert CancelDecider({"threshold": 0.5}).decide(ranking, leaving=0.8) == ("cancel", pytest.approx(0.6))
    ranking = [{"name": "cancel", "confidence": 0.55}, {"name": "greet", "confidence": 0.45}]
    assert CancelDecider({"threshold": 0.5}).decide(ranking, leaving=0.1) == ("greet", pytest.approx(0.675))
    message = Message(data={"text": "x"})
    message.set("intent", {"name": "other_request", "confidence": 0.6}, add_to_output=True)
    message.set("intent_ranking", [{"name": "other_request", "confidence": 0.6},
                                   {"name": "cancel", "confidence": 0.4}], add_to_output=True)
    message.set(LEAVING_PROBABILITY, 0.9)
    CancelDecider({"threshold": 0.5}).process([message])
    assert message.get("intent")["name"] == "cancel"
    # the ranking stays in order (one out of order is "not understood" to FallbackClassifier)
    confidences = [r["confidence"] for r in message.get("intent_ranking")]
    assert confidences == sorted(confidences, reverse=True) and sum(confidences) <= 1.0 + 1e-9
    assert LEAVING_PROBABILITY not in message.as_dict(only_output_properties=True)


def test_a_corrupt_leaving_classifier_file_leaves_the_decision_to_the_intents(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _, cv = trained_leaving_classifier(tmp_path)
    clf = loaded_from_a_corrupt_file(tmp_path, LeavingClassifier, "leaving_moved", caplog)
    assert leaving_probability("me voy, dejo de ser cliente", clf, cv) is None
