"""Batching by length: same examples every epoch, bounded padding, reproducible order."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from bertclf.encoders.tokenization import BUCKET_BOUNDARIES, padded_length
from bertclf.training.pipeline import (EncodedSplit, encode_split, gather_batch,
                                      plan_batches, steps_per_epoch)


def _encoded(count: int = 203, seq_length: int = 64, seed: int = 0) -> EncodedSplit:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, seq_length + 1, size=count).astype(np.int32)
    word_ids = np.zeros((count, seq_length), np.int32)
    for row, length in enumerate(lengths):
        word_ids[row, :length] = rng.integers(5, 400, size=length)
    type_ids = np.zeros_like(word_ids)
    return EncodedSplit(word_ids, type_ids, lengths, rng.integers(0, 3, size=count).astype(np.int32))


def _multiset(encoded: EncodedSplit, batches, bucketing: bool) -> collections.Counter:
    pairs = collections.Counter()
    for indices in batches:
        inputs = gather_batch(encoded, indices, bucketing)
        for row, index in enumerate(indices):
            real = inputs["input_mask"][row].sum()
            pairs[(tuple(inputs["input_word_ids"][row, :real]), int(encoded.labels[index]))] += 1
    return pairs


@pytest.mark.parametrize("epoch", [0, 1, 5])
def test_bucketed_and_fixed_epochs_feed_the_same_examples(epoch):
    encoded = _encoded()
    bucketed = plan_batches(encoded.lengths, 16, bucketing=True, seed=3, epoch=epoch)
    fixed = plan_batches(encoded.lengths, 16, bucketing=False, seed=3, epoch=epoch)
    expected = collections.Counter((tuple(encoded.word_ids[i, :encoded.lengths[i]]), int(encoded.labels[i]))
                                   for i in range(len(encoded)))
    assert _multiset(encoded, bucketed, True) == expected == _multiset(encoded, fixed, False)
    assert len(bucketed) == len(fixed) == steps_per_epoch(len(encoded), 16)
    assert sorted(np.concatenate(bucketed).tolist()) == list(range(len(encoded)))


def test_padding_never_exceeds_the_batch_bucket_and_shapes_are_few():
    encoded = _encoded(count=1000, seq_length=300)
    widths = set()
    for indices in plan_batches(encoded.lengths, 32, bucketing=True, seed=1, epoch=0):
        inputs = gather_batch(encoded, indices, bucketing=True)
        width = inputs["input_word_ids"].shape[1]
        longest = int(encoded.lengths[indices].max())
        smallest_fit = min([b for b in BUCKET_BOUNDARIES if b >= longest] + [300])
        assert longest <= width == min(smallest_fit, 300)
        # Real tokens are kept, the mask marks exactly them.
        assert (inputs["input_mask"].sum(axis=1) == encoded.lengths[indices]).all()
        widths.add(width)
    assert widths <= set(BUCKET_BOUNDARIES) | {300}
    fixed = gather_batch(encoded, np.arange(10), bucketing=False)
    assert fixed["input_word_ids"].shape == (10, 300)


def test_bucketing_cuts_padding():
    encoded = _encoded(count=2000, seq_length=128)
    encoded.lengths[:] = np.minimum(encoded.lengths, np.random.default_rng(0).integers(8, 40, 2000))

    def padded(bucketing):
        return sum(len(indices) * padded_length(int(encoded.lengths[indices].max()), 128, bucketing)
                   for indices in plan_batches(encoded.lengths, 32, bucketing, seed=0))

    assert padded(True) < 0.5 * padded(False)


def test_epoch_order_is_a_function_of_seed_and_epoch():
    lengths = _encoded().lengths
    first = [b.tolist() for b in plan_batches(lengths, 8, True, seed=4, epoch=2)]
    again = [b.tolist() for b in plan_batches(lengths, 8, True, seed=4, epoch=2)]
    other_epoch = [b.tolist() for b in plan_batches(lengths, 8, True, seed=4, epoch=3)]
    assert first == again and first != other_epoch


def test_scoring_order_is_by_length_and_covers_every_example():
    lengths = _encoded().lengths
    plan = plan_batches(lengths, 10, bucketing=True)
    order = np.concatenate(plan)
    assert (np.diff(lengths[order]) >= 0).all() and sorted(order.tolist()) == list(range(len(lengths)))
    assert np.concatenate(plan_batches(lengths, 10, bucketing=False)).tolist() == list(range(len(lengths)))


@pytest.mark.parametrize("num_classes", [2, 3])
def test_training_stream_yields_each_example_once_per_epoch(num_classes):
    from bertclf.task import ClassificationTask
    from bertclf.training.pipeline import training_dataset

    encoded = _encoded(count=70)
    encoded.labels %= num_classes
    expected = collections.Counter((tuple(encoded.word_ids[i, :encoded.lengths[i]]), int(encoded.labels[i]))
                                   for i in range(len(encoded)))
    for bucketing in (True, False):
        stream = list(training_dataset(encoded, 16, ClassificationTask(num_classes), seed=2, first_epoch=1, epochs=3,
                                       bucketing=bucketing).as_numpy_iterator())
        steps = steps_per_epoch(len(encoded), 16)
        assert len(stream) == 2 * steps
        for epoch in range(2):
            seen = collections.Counter()
            for inputs, labels in stream[epoch * steps:(epoch + 1) * steps]:
                labels = labels.reshape(-1).astype(int)
                for row in range(len(labels)):
                    real = inputs["input_mask"][row].sum()
                    seen[(tuple(inputs["input_word_ids"][row, :real]), int(labels[row]))] += 1
            assert seen == expected


def test_replica_shares_rebuild_the_one_device_batches_with_weights_that_keep_its_mean():
    """Two replicas, global batch 3 over 10 examples: shares of 2 and 1 (and 1 and 0 in the last
    batch), padded alike, whose weights make each replica's mean loss, averaged over replicas,
    the global batch's mean, as Keras computes a distributed step."""
    from bertclf.task import ClassificationTask
    from bertclf.training.pipeline import training_dataset

    encoded = _encoded(count=10)
    encoded.labels %= 2
    task = ClassificationTask(2)
    one = list(training_dataset(encoded, 3, task, seed=4, first_epoch=0, epochs=1).as_numpy_iterator())
    two = list(training_dataset(encoded, 3, task, seed=4, first_epoch=0, epochs=1, replicas=2,
                                replica_ids=(0, 1)).as_numpy_iterator())
    assert len(two) == 2 * len(one) == 8
    losses = np.random.default_rng(0).uniform(size=len(encoded))  # any per-example loss
    index = {tuple(row): i for i, row in enumerate(encoded.word_ids)}
    for (inputs, labels), first, second in zip(one, two[0::2], two[1::2]):
        shares = (first, second)
        assert [len(share[1]) for share in shares] == ([2, 1] if len(labels) == 3 else [1, 0])
        assert first[0]["input_word_ids"].shape[1] == second[0]["input_word_ids"].shape[1] \
            == inputs["input_word_ids"].shape[1]
        assert np.array_equal(np.concatenate([share[0]["input_word_ids"] for share in shares]),
                              inputs["input_word_ids"])
        per_replica = []
        for share_inputs, _, weights in shares:
            width = encoded.seq_length
            rows = [index[tuple(np.pad(row, (0, width - len(row))))] for row in share_inputs["input_word_ids"]]
            # Keras: weighted sum over the share / share size, then / replicas (0 for an empty share).
            per_replica.append(float(np.dot(weights, losses[rows])) / max(len(rows), 1) / 2)
        rows = [index[tuple(np.pad(row, (0, encoded.seq_length - len(row))))] for row in inputs["input_word_ids"]]
        assert sum(per_replica) == pytest.approx(losses[rows].mean(), rel=1e-6)


@pytest.mark.slow  # loads the session's tiny preprocessor
def test_one_packing_pass_gives_the_ids_the_model_serves_and_the_untruncated_lengths(tiny_encoder_dir):
    import tensorflow as tf

    from bertclf.data import Split
    from bertclf.encoders import load_preprocessor
    from bertclf.encoders.tokenization import encode_texts

    preprocessor = load_preprocessor(str(tiny_encoder_dir / "preprocessor"))
    texts = ["", "good", "a truly wonderful film " * 6, "bad " * 40, "이 영화 정말 재미있어요"] * 60  # > one chunk
    pairs = ["a question", "", "why " * 30, "ok", "최악의 영화였다"] * 60
    for split in (Split(texts, [0] * len(texts)), Split(texts, [0] * len(texts), pairs)):
        encoded = encode_split(split, preprocessor, 16, "head_tail")
        # The same ids as the exported model's own tokenizer path (encode_texts, per batch).
        expected = encode_texts(preprocessor, tf.constant(split.texts), 16, "head_tail",
                                pairs=tf.constant(split.pairs) if split.pairs else None)
        np.testing.assert_array_equal(encoded.word_ids, expected["input_word_ids"].numpy())
        np.testing.assert_array_equal(encoded.type_ids, expected["input_type_ids"].numpy())
        np.testing.assert_array_equal(encoded.lengths, expected["input_mask"].numpy().sum(axis=1))
        # Lengths before truncation, as the data report counts them, from the tokenizer alone:
        # wordpieces plus [CLS] and [SEP] (and a second [SEP] for pairs). Some exceed 16.
        def wordpieces(texts):
            return preprocessor.tokenize(tf.constant(texts)).merge_dims(-2, -1).row_lengths().numpy()

        full = (wordpieces(split.texts) + 2 + (wordpieces(split.pairs) + 1 if split.pairs else 0)).tolist()
        assert encoded.full_lengths.tolist() == full and max(full) > 16


def test_a_run_packs_each_split_once_however_often_it_asks(monkeypatch):
    from bertclf.data import Split
    from bertclf.training import pipeline

    calls = []
    monkeypatch.setattr(pipeline, "encode_split", lambda split, *args, **kwargs: calls.append(split) or object())
    encode = pipeline.SplitEncoder(preprocessor=None, seq_length=16)
    train, validation = Split(["a"], [0]), Split(["a"], [0])  # equal contents, different splits
    assert encode(train) is encode(train)
    assert encode(validation) is not encode(train)
    assert [id(split) for split in calls] == [id(train), id(validation)]


def test_class_weights_reach_every_example_as_its_sample_weight():
    # train.class_weight (balanced or a mapping) becomes per-example weights in the stream fit() reads.
    from bertclf.task import ClassificationTask
    from bertclf.training.pipeline import training_dataset

    encoded = _encoded(count=50)
    class_weight = {0: 0.5, 1: 2.0, 2: 1.25}
    stream = list(training_dataset(encoded, 8, ClassificationTask(3), seed=4, first_epoch=0, epochs=1,
                                   class_weight=class_weight).as_numpy_iterator())
    seen = 0
    for inputs, labels, weights in stream:
        labels = labels.reshape(-1).astype(int)
        assert weights.tolist() == [class_weight[label] for label in labels]
        seen += len(labels)
    assert seen == 50
    # Without class weights (one device) there are no sample weights at all.
    assert len(next(iter(training_dataset(encoded, 8, ClassificationTask(3), seed=4, first_epoch=0,
                                          epochs=1).as_numpy_iterator()))) == 2


def test_multi_label_batches_carry_each_texts_label_matrix_and_replica_weights_of_one():
    """Label sets ride the same batches: targets are the task's 0/1 matrix of each batch's texts;
    with two replicas, every example weighs one (times the share scale), no class weight applies."""
    from bertclf.multilabel_task import MultiLabelTask
    from bertclf.training.pipeline import label_array, training_dataset

    base = _encoded(count=40)
    label_sets = [tuple(j for j in range(3) if (i >> j) & 1) for i in range(40)]  # every subset of 3 labels
    encoded = EncodedSplit(base.word_ids, base.type_ids, base.lengths, label_array(label_sets))
    assert encoded.labels.dtype == object and encoded.labels[5] == (0, 2) and encoded.labels[8] == ()
    task = MultiLabelTask(3)
    seen = {}
    for inputs, targets in training_dataset(encoded, 8, task, seed=1, first_epoch=0, epochs=1).as_numpy_iterator():
        assert targets.shape == (len(inputs["input_word_ids"]), 3) and set(np.unique(targets)) <= {0.0, 1.0}
        for row, target in zip(inputs["input_word_ids"], targets):
            seen[tuple(row[:4])] = tuple(np.flatnonzero(target))
    expected = {tuple(base.word_ids[i, :4]): label_sets[i] for i in range(40)}
    assert seen == expected
    shares = list(training_dataset(encoded, 8, task, seed=1, first_epoch=0, epochs=1, replicas=2,
                                   replica_ids=(0, 1)).as_numpy_iterator())
    assert all(len(element) == 3 and np.allclose(element[2], 1.0) for element in shares)


def _windowed(random_window: bool) -> EncodedSplit:
    """Ten texts of 1-4 windows each; a window's first id names its text and its window."""
    import dataclasses

    windows_per_text = [1, 2, 4, 1, 3, 1, 2, 1, 4, 1]
    documents = np.repeat(np.arange(10, dtype=np.int32), windows_per_text)
    rows = len(documents)
    word_ids = np.zeros((rows, 8), np.int32)
    word_ids[:, 0] = 100 + np.arange(rows)
    labels = (documents % 2).astype(np.int32)
    encoded = EncodedSplit(word_ids, np.zeros_like(word_ids), np.full(rows, 8, np.int32), labels,
                           np.full(10, 20, np.int32), documents)
    return dataclasses.replace(encoded, random_window=random_window)


def test_random_windows_read_one_window_per_text_drawn_anew_each_epoch():
    from bertclf.task import ClassificationTask
    from bertclf.training.pipeline import training_dataset

    encoded = _windowed(random_window=True)
    assert encoded.training_examples == 10 and _windowed(False).training_examples == len(encoded)
    epochs = []
    for epoch in range(4):
        stream = training_dataset(encoded, 4, ClassificationTask(2), seed=3, first_epoch=epoch, epochs=epoch + 1)
        rows = sorted(int(i) - 100 for inputs, _ in stream.as_numpy_iterator() for i in inputs["input_word_ids"][:, 0])
        assert sorted(encoded.documents[rows]) == list(range(10))  # each text once, by one of its windows
        epochs.append(rows)
    assert len({tuple(rows) for rows in epochs}) > 1  # another draw in another epoch
    again = training_dataset(encoded, 4, ClassificationTask(2), seed=3, first_epoch=2, epochs=3)
    assert sorted(int(i) - 100 for inputs, _ in again.as_numpy_iterator()
                  for i in inputs["input_word_ids"][:, 0]) == epochs[2]  # seeded: a resumed epoch draws alike


def test_windowed_splits_score_per_text_and_keep_texts_together():
    encoded = _windowed(random_window=False)
    assert encoded.text_count == 10 and encoded.text_labels.tolist() == [i % 2 for i in range(10)]
    probabilities = np.tile([[0.2, 0.8]], (len(encoded), 1)).astype(np.float32)
    probabilities[1] = [0.6, 0.4]  # text 1's first window
    per_text = encoded.text_probabilities(probabilities)
    assert per_text.shape == (10, 2) and per_text[1] == pytest.approx([0.4, 0.6])
    part = encoded.take([8, 1])
    assert part.documents.tolist() == [0, 0, 0, 0, 1, 1] and part.text_count == 2
    assert part.word_ids[:, 0].tolist() == [100 + i for i in (15, 16, 17, 18, 1, 2)]
