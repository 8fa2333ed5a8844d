"""FastDropout keeps Keras's dropout distribution: kept share, scaling, gradient, inference."""

from __future__ import annotations

import math

import numpy as np
import pytest


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_kept_share_and_scaling_match_keras_dropout(rate):
    import tensorflow as tf

    from bertclf.encoders.dropout import dropout

    inputs = tf.ones([64, 4, 128, 33])  # an odd element count: the last 64-bit draw is cut
    output = dropout(inputs, rate).numpy()
    kept = output != 0
    # Kept elements are scaled exactly as Keras scales them.
    np.testing.assert_allclose(output[kept], 1.0 / (1.0 - rate), rtol=1e-6)
    size = kept.size
    standard_error = math.sqrt(rate * (1 - rate) / size)
    assert abs(kept.mean() - (1 - rate)) < 5 * standard_error
    # Every position is decided independently: no stripes along any axis.
    for axis in range(4):
        shares = kept.mean(axis=tuple(a for a in range(4) if a != axis))
        assert shares.min() > 1 - rate - 0.05 and shares.max() < 1 - rate + 0.05


def test_masks_differ_between_calls_and_bfloat16_is_kept_in_bfloat16():
    import tensorflow as tf

    from bertclf.encoders.dropout import dropout

    inputs = tf.ones([32, 256], tf.bfloat16)
    first, second = dropout(inputs, 0.1), dropout(inputs, 0.1)
    assert first.dtype == tf.bfloat16
    assert (first.numpy() != second.numpy()).any()


def test_gradient_is_the_same_mask_and_scale():
    import tensorflow as tf

    from bertclf.encoders.dropout import dropout

    inputs = tf.random.normal([16, 64])
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        output = dropout(inputs, 0.25)
        loss = tf.reduce_sum(output * 3.0)
    gradient = tape.gradient(loss, inputs).numpy()
    kept = output.numpy() != 0
    np.testing.assert_allclose(gradient[kept], 3.0 / 0.75, rtol=1e-6)
    assert (gradient[~kept] == 0).all()


def test_layer_is_identity_at_inference_and_drops_in_training():
    import tensorflow as tf
    import tf_keras

    from bertclf.encoders.dropout import FastDropout, use_fast_dropout

    model = tf_keras.Sequential([tf_keras.layers.Dense(8), tf_keras.layers.Dropout(0.5),
                                 tf_keras.layers.Dropout(0.5, noise_shape=(None, 1))])
    model.build((None, 4))
    assert use_fast_dropout(model) == 2
    assert type(model.layers[1]) is FastDropout
    inputs = tf.ones([256, 4])
    np.testing.assert_array_equal(model(inputs, training=False).numpy(), model.layers[0](inputs).numpy())
    dropped = model.layers[1](tf.ones([256, 8]), training=True).numpy()
    assert 0.35 < (dropped == 0).mean() < 0.65
    # A noise_shape (one decision per row) is left to Keras's own implementation.
    rows = model.layers[2](tf.ones([256, 8]), training=True).numpy()
    assert all(len(set(row)) == 1 for row in rows)


def test_native_encoder_uses_it_everywhere(tiny_encoder_dir):
    import tf_keras

    from bertclf.encoders.dropout import FastDropout
    from bertclf.encoders.native import build_native_encoder, read_native_weights

    encoder = build_native_encoder(read_native_weights(str(tiny_encoder_dir / "encoder")))
    kinds = [type(module) for module in encoder.submodules if isinstance(module, tf_keras.layers.Dropout)]
    assert kinds and all(kind is FastDropout for kind in kinds)
