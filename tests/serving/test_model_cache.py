"""A process loads a run's exported model once, until the model folder is replaced; the model a
run's export check loaded is the one its `evaluate` and `predict` then use."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from bertclf import artifacts
from conftest import e2e_config, own_copy


def test_evaluate_then_predict_load_the_model_once_and_a_replaced_model_again(binary_run, tmp_path, monkeypatch):
    import tensorflow as tf

    from bertclf.serving import loaded_models, predict

    run = own_copy(binary_run, tmp_path)
    loads = []
    real = tf.saved_model.load
    monkeypatch.setattr(tf.saved_model, "load", lambda path, *args, **kwargs: loads.append(path) or real(path, *args, **kwargs))
    loaded_models.forget()
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


def test_a_run_trained_in_this_process_is_evaluated_and_predicted_without_loading_it_again(
        tiny_encoder_dir, tmp_path, monkeypatch, capsys):
    """train checks its export by loading it, then publishes it by renaming the staging folder:
    evaluate and predict (a notebook's next cells) use the checked object."""
    import tensorflow as tf

    from bertclf.cli import main

    loads = []
    real = tf.saved_model.load
    monkeypatch.setattr(tf.saved_model, "load", lambda path, *args, **kwargs: loads.append(path) or real(path, *args, **kwargs))
    run = tmp_path / "run"
    assert main(["train", str(e2e_config(tmp_path, tiny_encoder_dir)), "--run-dir", str(run)]) == 0
    exported = [path for path in loads if Path(path).parent == run]
    assert len(exported) == 1 and exported[0] != str(run / artifacts.MODEL_DIR)  # the staging folder
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    assert main(["predict", str(run), "--json", "a wonderful film"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["run"] == str(run)
    assert [path for path in loads if Path(path).parent == run] == exported  # no second load
