"""tf2onnx with large tables kept out of its way (serving/onnx_convert.py): the same numbers either way."""

from __future__ import annotations

import numpy as np


def _embedding_classifier():
    import tensorflow as tf

    rng = np.random.default_rng(7)
    table = tf.Variable(rng.standard_normal((300, 16)).astype(np.float32))  # 19,200 bytes
    types = tf.Variable(rng.standard_normal((2, 16)).astype(np.float32))  # as wide, two rows, small
    dense = tf.Variable(rng.standard_normal((16, 3)).astype(np.float32))
    spec = [tf.TensorSpec([None, None], tf.int32, name=name)
            for name in ("input_word_ids", "input_mask", "input_type_ids")]

    @tf.function(input_signature=spec)
    def probabilities(input_word_ids, input_mask, input_type_ids):
        hidden = tf.gather(table, input_word_ids) + tf.gather(types, input_type_ids)
        hidden = hidden * tf.math.erfc(-hidden / np.sqrt(2).astype(np.float32)) / 2  # the exact GELU
        mask = tf.cast(input_mask, tf.float32)[:, :, None]
        pooled = tf.reduce_sum(hidden * mask, axis=1) / tf.reduce_sum(mask, axis=1)
        return tf.nn.softmax(pooled @ dense)

    return probabilities


def test_a_table_kept_out_of_the_conversion_goes_back_whole(tmp_path):
    import onnx
    import onnxruntime

    from bertclf.serving.onnx_convert import convert_to_onnx

    probabilities = _embedding_classifier()
    ids = np.array([[5, 299, 17, 0], [250, 3, 0, 0]], np.int32)
    inputs = {"input_word_ids": ids, "input_mask": (ids > 0).astype(np.int32) | np.eye(2, 4, dtype=np.int32),
              "input_type_ids": np.array([[0, 0, 1, 1], [0, 1, 1, 1]], np.int32)}
    expected = probabilities(**inputs).numpy()
    outputs = {}
    for name, limit in (("whole", 10**9), ("kept_out", 10_000)):  # only the 19,200-byte table is over 10,000
        path = tmp_path / f"{name}.onnx"
        convert_to_onnx(probabilities, path, large_constant_bytes=limit)
        session = onnxruntime.InferenceSession(str(path))
        assert [output.name for output in session.get_outputs()] == ["probabilities"]
        outputs[name] = session.run(["probabilities"], inputs)[0]
        shapes = sorted(tuple(initializer.dims) for initializer in onnx.load(str(path)).graph.initializer)
        assert (300, 16) in shapes and (2, 16) in shapes
    np.testing.assert_allclose(outputs["whole"], expected, atol=1e-6)
    np.testing.assert_array_equal(outputs["kept_out"], outputs["whole"])
