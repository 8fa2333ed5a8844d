"""A process loads a run's exported model once, until the model folder is replaced."""

from __future__ import annotations

import shutil

import numpy as np

from bertclf import artifacts
from conftest import own_copy


def test_evaluate_then_predict_load_the_model_once_and_a_replaced_model_again(binary_run, tmp_path, monkeypatch):
    import tensorflow as tf

    from bertclf.serving import predict

    run = own_copy(binary_run, tmp_path)
    loads = []
    real = tf.saved_model.load
    monkeypatch.setattr(tf.saved_model, "load", lambda path, *args, **kwargs: loads.append(path) or real(path, *args, **kwargs))
    predict._LAST_LOADED.clear()
    first = predict.Predictor(run).probabilities(["a fine film"], progress=None)
    second = predict.Predictor(run).probabilities(["a fine film"], progress=None)
    assert len(loads) == 1 and np.array_equal(first, second)
    # Replaced as a run publishes its model (a new folder renamed into place): loaded again.
    model = run / artifacts.MODEL_DIR
    shutil.copytree(model, run / "model.new")
    shutil.rmtree(model)
    (run / "model.new").rename(model)
    predict.Predictor(run)
    assert len(loads) == 2
    # Another run's model takes the one place; the first is loaded again after it.
    other = own_copy(binary_run, tmp_path / "other")
    predict.Predictor(other)
    predict.Predictor(run)
    assert len(loads) == 4
