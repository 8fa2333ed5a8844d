"""Exports share the tokenizer's traced functions with training and with each other, each export
with its own settings."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_exports_reuse_the_tokenizers_traced_functions_and_keep_their_own_truncation(tiny_encoder_dir, tmp_path):
    import tensorflow as tf
    import tf_keras

    from bertclf.config import ModelConfig
    from bertclf.encoders import load_preprocessor, prepare_encoder
    from bertclf.encoders.registry import spec_from_folder
    from bertclf.encoders.tokenization import encode_texts, packing_function, windows_packing_function
    from bertclf.encoders.windows import Windowing
    from bertclf.model import build_classifier
    from bertclf.serving import export
    from bertclf.task import ClassificationTask

    model_config = ModelConfig(encoder=str(tiny_encoder_dir), seq_length=16)
    encoder = prepare_encoder(spec_from_folder(tiny_encoder_dir), model_config, [], seed=0)
    preprocessor = load_preprocessor(encoder.preprocess_handle)
    task = ClassificationTask(2)
    # A text longer than 16 tokens whose head and tail differ: the two cuts score differently.
    texts = ["wonderful great superb " * 6 + "awful boring dull " * 6, "a film"]
    windows = Windowing(7, 16)
    for round_, truncation in enumerate(["head", "head", "tail"]):
        tf_keras.utils.set_random_seed(11 + round_)  # its weights, whatever ran before in this worker
        classifier = build_classifier(encoder, task, model_config)  # a new run's classifier each time
        head_layer = classifier.get_layer("classifier")  # large weights: what the cut keeps shows
        head_layer.kernel.assign(head_layer.kernel * 300.0)
        expected, other = (task.probabilities(classifier(encode_texts(preprocessor, tf.constant(texts), 16, cut),
                                                         training=False)).numpy()
                           for cut in (truncation, "tail" if truncation == "head" else "head"))
        assert np.abs(expected[0] - other[0]).max() > 2e-5  # the cuts score apart, beyond the tolerance
        folder = tmp_path / f"model-{round_}"
        export.export_serving_model(folder, preprocessor, classifier, 16, ["neg", "pos"], truncation, windows=windows)
        got = tf.saved_model.load(str(folder)).signatures["serving_default"](texts=tf.constant(texts))
        assert np.abs(got["probabilities"].numpy() - expected).max() <= 1e-5, truncation
    # The packing functions training uses, traced once each for these settings: the exports
    # after the first called them as they were.
    for truncation in ("head", "tail"):
        assert packing_function(preprocessor, 16, truncation).experimental_get_tracing_count() == 1
    assert windows_packing_function(preprocessor, 16, 7, 16).experimental_get_tracing_count() == 1
    assert export._tokenizer_module_of(preprocessor).tokenize.experimental_get_tracing_count() == 1
