"""runtime.precision: the natively rebuilt encoder matches the SavedModel and trains without NaN."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bertclf import artifacts
from bertclf.cli import main
from conftest import e2e_config

pytestmark = pytest.mark.slow


def test_native_rebuild_reproduces_the_saved_model(tiny_encoder_dir):
    import tensorflow_hub as hub

    from bertclf.encoders.native import probe_inputs, build_native_encoder, read_native_weights

    native = read_native_weights(str(tiny_encoder_dir / "encoder"))
    assert (native.num_layers, native.hidden_size, native.num_heads) == (1, 32, 2)
    inputs = probe_inputs(native)
    expected = hub.load(str(tiny_encoder_dir / "encoder"))(inputs, training=False)
    got = build_native_encoder(native)(inputs, training=False)
    for key in ("sequence_output", "pooled_output"):
        assert np.abs(got[key].numpy() - expected[key].numpy()).max() <= 1e-5


def _encoder_compute_dtypes(classifier) -> tuple[set[str], int]:
    """What the encoder's matrix products (EinsumDense, Dense) compute in; a hub.KerasLayer is
    one opaque layer. The encoder is the one layer that is not an input or the head."""
    import tf_keras

    head = ("mean_pooling", "dropout", "classifier")
    (encoder_layer,) = [layer for layer in classifier.layers
                        if layer.name not in head and not isinstance(layer, tf_keras.layers.InputLayer)]
    products = [module for module in encoder_layer.submodules
                if type(module).__name__ in ("EinsumDense", "Dense")] or [encoder_layer]
    return {module.compute_dtype for module in products}, len(products)


@pytest.mark.parametrize("precision,dtype", [("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")])
def test_precision_trains_without_nan_and_exports(tmp_path, monkeypatch, precision, dtype):
    """The run computes in the precision asked for, trains without NaN, and, being the first to
    use `tiny` in an empty cache, caches a float32 encoder."""
    import bertclf.model
    from bertclf.encoders.export import graph_float_dtypes

    built = []
    real_build = bertclf.model.build_classifier
    monkeypatch.setattr(bertclf.model, "build_classifier", lambda *args: built.append(real_build(*args)) or built[-1])
    monkeypatch.setenv("BERTCLF_CACHE", str(tmp_path / "cache"))
    config = e2e_config(tmp_path, "tiny", name=precision)
    config.write_text(config.read_text()
                      .replace("runtime: {progress: false}", f"runtime: {{progress: false, precision: {precision}}}")
                      .replace("pooling: mean}", "pooling: mean, tiny: {layers: 1, hidden: 32, heads: 2}}"))
    import tf_keras

    tf_keras.mixed_precision.set_global_policy("float32")  # the caller's own policy
    assert main(["train", str(config)]) == 0
    # The run's precision was the run's: the process's next model is built in float32 again.
    assert tf_keras.mixed_precision.global_policy().name == "float32"
    (classifier,) = built
    assert _encoder_compute_dtypes(classifier)[0] == {dtype}
    # float16 needs dynamic loss scaling (its range underflows small gradients); bfloat16 does not.
    optimizer = type(classifier.optimizer).__name__
    assert optimizer == ("LossScaleOptimizer" if precision == "mixed_float16" else "AdamWeightDecay"), optimizer
    run = tmp_path / "runs" / (tmp_path / "runs" / artifacts.LATEST_FILE).read_text().strip()
    history = json.loads((run / artifacts.HISTORY_JSON_FILE).read_text())
    assert all(math.isfinite(v) for values in history.values() for v in values)
    metrics = json.loads((run / artifacts.METRICS_FILE).read_text())
    # The export check ran on validation texts at this precision's tolerance (check_export's own
    # failures are tested in tests/serving/test_export_check.py).
    assert metrics["export_check"]["texts"] > 0 and metrics["runtime"]["precision"] == precision
    assert main(["predict", "a wonderful film", "--model", str(run)]) == 0
    cached = list((tmp_path / "cache" / "encoders").glob("tiny-*/encoder"))
    assert len(cached) == 1 and graph_float_dtypes(cached[0]) == {"float32"}


@pytest.mark.parametrize("precision,dtype", [("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16"),
                                             ("float32", "float32")])
def test_the_encoder_computes_in_the_precision_asked_for(tiny_encoder_dir, precision, dtype):
    """What train() builds for runtime.precision: the encoder's activations are in that dtype,
    while the logits stay float32 (the loss and the exported probabilities need them)."""
    import tensorflow as tf

    from bertclf.config import ModelConfig
    from bertclf.encoders import prepare_encoder, with_native_weights
    from bertclf.model import build_classifier
    from bertclf.task import ClassificationTask
    from bertclf.encoders.registry import spec_from_folder
    from bertclf.runtime.precision import keras_policy

    model_config = ModelConfig(encoder=str(tiny_encoder_dir), seq_length=16, pooling="mean")
    encoder = prepare_encoder(spec_from_folder(tiny_encoder_dir), model_config, [], seed=0)
    if precision != "float32":
        encoder = with_native_weights(encoder)
    with keras_policy(precision):
        classifier = build_classifier(encoder, ClassificationTask(2), model_config)
    dtypes, products = _encoder_compute_dtypes(classifier)
    assert products >= (6 if precision != "float32" else 1)
    assert dtypes == {dtype}
    assert classifier.get_layer("classifier").compute_dtype == "float32"
    ids = {name: tf.ones([2, 8], tf.int32) for name in ("input_word_ids", "input_mask", "input_type_ids")}
    assert classifier(ids, training=False).dtype == tf.float32


@pytest.mark.parametrize("recorded,expected", [({"dropout": 0.0, "attention_dropout": 0.0}, 0.0),
                                               ({"dropout": 0.25, "attention_dropout": 0.25}, 0.25),
                                               ({}, 0.1)])  # not recorded (a TF Hub encoder): BERT's 0.1
def test_the_native_rebuild_keeps_the_encoders_own_dropout(tiny_encoder_dir, tmp_path, recorded, expected):
    """The rebuilt encoder drops out at the rate its folder records: a dropout-free encoder
    (model.tiny.dropout: 0) once trained with 0.1 in reduced precision, and so never resumed
    to the same numbers."""
    import shutil

    from bertclf.encoders.native import build_native_encoder, read_native_weights
    from bertclf.encoders.registry import MANIFEST_FILE

    manifest = json.loads((tiny_encoder_dir / MANIFEST_FILE).read_text())
    assert manifest["dropout"] == manifest["attention_dropout"] == 0.1  # make-tiny's default, recorded
    folder = tmp_path / "encoder"
    shutil.copytree(tiny_encoder_dir, folder)
    manifest = {key: value for key, value in manifest.items() if "dropout" not in key}
    (folder / MANIFEST_FILE).write_text(json.dumps({**manifest, **recorded}))
    native = read_native_weights(str(folder / "encoder"))
    import tf_keras

    rates = {module.rate for module in build_native_encoder(native).submodules
             if isinstance(module, tf_keras.layers.Dropout)}
    # Each transformer block also has an inner dropout, which BERT leaves at 0.
    assert rates - {0.0} == ({expected} if expected else set())
