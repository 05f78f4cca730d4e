"""The weighted character n-gram featurizer used by config.yml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.components import ScaledCountVectorsFeaturizer

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
