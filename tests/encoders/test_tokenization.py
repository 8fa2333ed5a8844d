"""Truncation of long texts: head, tail, head_tail; identical in training and export."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def preprocessor(tiny_encoder_dir):
    from bertclf.encoders import load_preprocessor

    return load_preprocessor(str(tiny_encoder_dir / "preprocessor"))


# Of the 16 tokens that fit between [CLS] and [SEP]: how many come from the start of a long
# text (the rest come from its end). head_tail keeps a quarter from the start.
@pytest.mark.parametrize("truncation,from_start", [("head", 16), ("tail", 0), ("head_tail", 4)])
def test_truncation_keeps_the_promised_tokens(preprocessor, truncation, from_start):
    import tensorflow as tf

    from bertclf.encoders.tokenization import encode_texts

    long_text = " ".join(["wonderful", "great", "boring", "the", "film", "awful"] * 20)
    short_text = "great film"
    full = preprocessor.tokenize(tf.constant([long_text])).merge_dims(-2, -1).to_list()[0]
    short = preprocessor.tokenize(tf.constant([short_text])).merge_dims(-2, -1).to_list()[0]
    seq_length = 18
    budget = seq_length - 2
    packed = encode_texts(preprocessor, tf.constant([long_text, short_text]), seq_length, truncation)
    ids = packed["input_word_ids"].numpy().tolist()
    expected = full[:from_start] + full[len(full) - (budget - from_start):]
    assert len(full) > budget
    assert ids[0][1:-1] == expected
    assert ids[1][1:1 + len(short)] == short and packed["input_mask"].numpy()[1].sum() == len(short) + 2
