"""The optional transformer pipeline (config.labse.yml) loads local TensorFlow weights.

No weights can be downloaded here, so the test builds a tiny BERT model and tokenizer itself,
points ``LABSE_WEIGHTS`` at it, reads config.labse.yml the way Rasa does, and runs Rasa's
LanguageModelFeaturizer from that config on a message.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
WORDS = ["quiero", "darme", "de", "baja", "cancel", "my", "account", "hola"]


def tiny_bert(directory: Path) -> None:
    from transformers import BertConfig, BertTokenizer, TFBertModel

    # BERT's layout: Rasa's featurizer adds [CLS]=101 and [SEP]=102 by id.
    vocab = ["[PAD]", *[f"[unused{i}]" for i in range(99)], "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizer(str(directory / "vocab.txt")).save_pretrained(str(directory))
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    model = TFBertModel(config)
    model(model.dummy_inputs)
    model.save_pretrained(str(directory))


def test_labse_config_loads_local_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.nlu.featurizers.dense_featurizer.lm_featurizer import LanguageModelFeaturizer
    from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.utils.io import read_config_file

    weights = tmp_path / "tiny-labse"
    weights.mkdir()
    tiny_bert(weights)
    monkeypatch.setenv("LABSE_WEIGHTS", str(weights))
    config = read_config_file(str(ROOT / "config.labse.yml"))
    lm = next(c for c in config["pipeline"] if c["name"] == "LanguageModelFeaturizer")
    assert lm["model_weights"] == str(weights)  # the env variable was substituted

    options = {k: v for k, v in lm.items() if k != "name"}
    storage = LocalModelStorage(tmp_path / "storage")
    featurizer = LanguageModelFeaturizer.create(
        {**LanguageModelFeaturizer.get_default_config(), **options}, storage, Resource("lm"),
        ExecutionContext(node_name="lm", graph_schema=None))
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    message = Message(data={"text": "quiero darme de baja"})
    tokenizer.process([message])
    featurizer.process([message])
    seq, sentence = message.get_dense_features("text")
    assert seq.features.shape == (4, 16)  # one vector per token, hidden size of the tiny model
    assert sentence.features.shape == (1, 16)
    assert np.isfinite(seq.features).all()
