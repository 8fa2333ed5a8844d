"""Long texts as windows: the rule (encoders/windows.py), the graph that applies it inside the
SavedModel (encoders/tokenization.py) and the aggregations, against each other."""

from __future__ import annotations

import numpy as np
import pytest

from bertclf.encoders.windows import AGGREGATIONS, aggregate, picked_windows, window_count, window_spans


def test_a_text_within_one_window_is_one_window_of_all_of_it():
    assert window_spans(0, 10, 5, 4) == [(0, 0)]
    assert window_spans(7, 10, 5, 4) == [(0, 7)]
    assert window_spans(10, 10, 5, 4) == [(0, 10)]


def test_windows_are_stride_apart_and_the_last_ends_at_the_text_end():
    assert window_spans(11, 10, 5, 8) == [(0, 10), (1, 11)]
    assert window_spans(23, 10, 5, 8) == [(0, 10), (5, 15), (10, 20), (13, 23)]
    assert window_spans(20, 10, 10, 8) == [(0, 10), (10, 20)]  # two halves, no overlap
    for length in range(1, 200):
        spans = window_spans(length, 16, 6, 1000)
        covered = set().union(*(range(start, end) for start, end in spans))
        assert covered == set(range(length)), length  # every token is read
        assert len(spans) == window_count(length, 16, 6)


def test_a_cap_keeps_evenly_spaced_windows_with_the_first_and_the_last():
    assert picked_windows(10, 4) == [0, 3, 6, 9]
    assert picked_windows(9, 4) == [0, 3, 5, 8]  # 2.67 and 5.33 round to 3 and 5
    assert picked_windows(3, 4) == [0, 1, 2]
    assert picked_windows(7, 1) == [0]
    assert picked_windows(100, 2) == [0, 99]
    spans = window_spans(1000, 10, 5, 3)
    assert spans[0] == (0, 10) and spans[-1] == (990, 1000) and len(spans) == 3


def test_leading_tokens_open_every_window():
    # e5's "query: " prefix: two tokens that every window repeats before its own span.
    assert window_spans(12, 6, 4, 8, leading=2) == [(2, 6), (6, 10), (8, 12)]
    assert window_spans(1, 6, 4, 8, leading=2) == [(1, 1)]


def test_aggregations_on_known_windows():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.3, 0.7]], np.float32)
    documents = np.array([0, 0, 1, 2, 2])
    tokens = np.array([10, 30, 5, 8, 8])
    assert aggregate(probabilities, documents, 3, "mean") == pytest.approx(
        np.array([[0.55, 0.45], [0.6, 0.4], [0.3, 0.7]]))
    # max: the window of the most confident prediction, whichever its class
    assert aggregate(probabilities, documents, 3, "max") == pytest.approx(
        np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]]))
    assert aggregate(probabilities, documents, 3, "weighted", tokens)[0] == pytest.approx([0.375, 0.625])
    # label sets: each label's highest probability
    assert aggregate(probabilities, documents, 3, "max", multi_label=True)[0] == pytest.approx([0.9, 0.8])
    with pytest.raises(ValueError):
        aggregate(probabilities, documents, 3, "weighted")


@pytest.fixture(scope="module")
def preprocessor(tiny_encoder_dir):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from bertclf.runtime.tf_setup import setup_tensorflow

    setup_tensorflow()
    return tf.saved_model.load(str(tiny_encoder_dir / "preprocessor"))


def test_the_graph_cuts_exactly_the_rule_s_windows(preprocessor):
    import tensorflow as tf

    from bertclf.encoders.tokenization import encode_windows, token_ids

    texts = ["the film was great " * count for count in (0, 1, 3, 7, 20)] + ["awful", "이 영화 정말 재미있어요 " * 5]
    whole = token_ids(preprocessor, tf.constant(texts)).to_list()
    for seq_length, stride, cap, leading in ((8, 3, 4, 0), (8, 3, 100, 0), (10, 4, 1, 0), (12, 5, 2, 2), (9, 7, 3, 1)):
        packed = encode_windows(preprocessor, tf.constant(texts), seq_length, stride, cap, leading)
        ids, mask = packed["input_word_ids"].numpy(), packed["input_mask"].numpy()
        got = [(int(text), ids[row][1:mask[row].sum() - 1].tolist()) for row, text in enumerate(packed["documents"])]
        expected = [(text, tokens[:min(leading, len(tokens))] + tokens[start:end])
                    for text, tokens in enumerate(whole)
                    for start, end in window_spans(len(tokens), seq_length - 2, stride, cap, leading)]
        assert got == expected, (seq_length, stride, cap, leading)
        assert packed["full_lengths"].numpy().tolist() == [len(tokens) + 2 for tokens in whole]


def test_the_graph_aggregates_as_the_rule_does():
    import tensorflow as tf

    from bertclf.encoders.tokenization import aggregate_windows

    rng = np.random.default_rng(0)
    probabilities = rng.random((9, 3)).astype(np.float32)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    probabilities[5] = probabilities[4]  # a tie: the first window wins in both
    documents, tokens = np.array([0, 0, 1, 2, 2, 2, 3, 3, 3]), np.array([5, 3, 8, 8, 8, 2, 4, 4, 9])
    for how in AGGREGATIONS:
        for multi_label in (False, True):
            graph = aggregate_windows(tf.constant(probabilities), tf.constant(documents, tf.int32), 4, how,
                                      tf.constant(tokens), multi_label).numpy()
            assert graph == pytest.approx(aggregate(probabilities, documents, 4, how, tokens, multi_label),
                                          abs=1e-6), (how, multi_label)


def test_plain_wordpiece_has_no_leading_tokens(preprocessor):
    from bertclf.encoders.tokenization import leading_tokens

    assert leading_tokens(preprocessor) == 0
