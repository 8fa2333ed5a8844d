"""Poolings over an encoder's sequence output."""

from __future__ import annotations

import tensorflow as tf
import tf_keras


class MaskedMeanPooling(tf_keras.layers.Layer):
    """Mean of the token vectors where the input mask is 1 (padding excluded)."""

    def call(self, sequence, mask):
        weights = tf.cast(mask, sequence.dtype)[:, :, tf.newaxis]
        total = tf.reduce_sum(sequence * weights, axis=1)
        return total / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)
