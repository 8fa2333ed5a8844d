"""`tf.data` pipelines: tokenize once, cache the ids, shuffle and batch per epoch."""

from __future__ import annotations

import tensorflow as tf

from bertclf.data import Split
from bertclf.tokenization import encode_texts

# Strings go through the tokenizer in chunks this large; it vectorises well.
_TOKENIZE_CHUNK = 256


def make_dataset(split: Split, preprocessor, seq_length: int, batch_size: int, num_classes: int,
                 shuffle_seed: int | None = None, truncation: str = "head"):
    """Builds (inputs, labels) batches for Keras.

    Texts are tokenized once and the packed ids cached in memory, so later
    epochs skip the tokenizer. With `shuffle_seed`, examples are reshuffled
    every epoch in a reproducible order.

    Args:
        split: The texts (and optional second texts) and label indices.
        preprocessor: A loaded TF Hub BERT preprocessor.
        seq_length: Tokens per example.
        batch_size: Examples per batch.
        num_classes: 2 gives float labels of shape [batch, 1] for a single-logit
            binary head; more gives integer labels of shape [batch].
        shuffle_seed: Shuffle each epoch with this seed; None keeps the order.
        truncation: Which tokens of long texts to keep (see `encode_texts`).
    """
    if split.pairs is None:
        dataset = tf.data.Dataset.from_tensor_slices((split.texts, split.labels)).batch(_TOKENIZE_CHUNK)
        dataset = dataset.map(
            lambda texts, labels: (encode_texts(preprocessor, texts, seq_length, truncation), labels),
            num_parallel_calls=tf.data.AUTOTUNE)
    else:
        dataset = tf.data.Dataset.from_tensor_slices((split.texts, split.pairs, split.labels))
        dataset = dataset.batch(_TOKENIZE_CHUNK).map(
            lambda texts, pairs, labels: (encode_texts(preprocessor, texts, seq_length, pairs=pairs), labels),
            num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.unbatch().cache()
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)
    if num_classes == 2:
        dataset = dataset.map(lambda inputs, label: (inputs, tf.cast(tf.reshape(label, [1]), tf.float32)))
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
