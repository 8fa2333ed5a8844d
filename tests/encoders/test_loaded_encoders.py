"""A loaded encoder passes from a finished classifier to the next one in the process, with the
weights it was saved with; never to two live classifiers, never across a strategy or a rebuild."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np

from bertclf import artifacts
from conftest import e2e_config, finished_run


def _values(layer) -> list:
    return [variable.numpy() for variable in layer.weights]


def test_a_finished_classifiers_encoder_goes_to_the_next_with_its_saved_weights(tiny_encoder_dir, tmp_path):
    import tensorflow as tf

    from bertclf.encoders import encoder_layer, loaded_encoders

    folder = tmp_path / "encoder"
    shutil.copytree(tiny_encoder_dir / "encoder", folder)
    loaded_encoders.forget()
    before = dict(loaded_encoders.counts)
    first = encoder_layer(str(folder))
    saved = _values(first)
    for variable in first.trainable_weights:  # what training does to it
        variable.assign(variable + 1.0)
    # While the first layer lives, the next classifier gets an encoder of its own.
    second = encoder_layer(str(folder))
    assert not {id(v) for v in second.weights} & {id(v) for v in first.weights}
    assert all(np.array_equal(a, b) for a, b in zip(saved, _values(second)))
    assert loaded_encoders.counts["loaded"] - before["loaded"] == 2
    for variable in second.trainable_weights:
        variable.assign(variable - 1.0)
    trained = {id(v) for layer in (first, second) for v in layer.weights}
    del first, second
    # Both finished: the next one reuses one of their encoders, its weights read back from the folder.
    third = encoder_layer(str(folder))
    assert loaded_encoders.counts["reused"] - before["reused"] == 1
    assert loaded_encoders.counts["loaded"] - before["loaded"] == 2
    assert {id(v) for v in third.weights} <= trained
    assert all(np.array_equal(a, b) for a, b in zip(saved, _values(third)))
    del third
    # Rebuilt in place (bertclf's cache replaces a folder whole): a new saved_model.pb, a new load.
    graph = folder / "saved_model.pb"
    rebuilt = graph.read_bytes()
    graph.unlink()
    graph.write_bytes(rebuilt)
    os.utime(graph, ns=(graph.stat().st_atime_ns, graph.stat().st_mtime_ns + 1_000_000))
    loads = loaded_encoders.counts["loaded"]
    encoder_layer(str(folder))
    assert loaded_encoders.counts["loaded"] == loads + 1
    # A strategy's variables are its own: loaded for it, and not kept.
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        encoder_layer(str(folder))
    assert loaded_encoders.counts["loaded"] == loads + 2
    assert all(len(kept) <= 2 for kept in loaded_encoders._KEPT.values())
    loaded_encoders.forget()


def test_a_run_on_a_reused_encoder_trains_as_one_on_a_fresh_load(tiny_encoder_dir, tmp_path):
    """A float32 run trained on a fresh load, then again after a classifier of this process changed its
    encoder's weights and was dropped: the second run reuses that loaded encoder and must match the
    first to the last digit. (float32 whatever this machine's bfloat16: it is the precision that
    trains the encoder's SavedModel as loaded; bfloat16 rebuilds it natively and reuses nothing.)"""
    from bertclf.cli import main
    from bertclf.encoders import encoder_layer, loaded_encoders

    config = e2e_config(tmp_path, tiny_encoder_dir)
    float32 = ["--set", "runtime.precision=float32"]
    loaded_encoders.forget()
    assert main(["train", str(config), "--run-dir", str(tmp_path / "fresh"), *float32]) == 0
    dirty = encoder_layer(str(tiny_encoder_dir / "encoder"))
    for variable in dirty.trainable_weights:
        variable.assign(variable * 0.5)
    del dirty
    reused = loaded_encoders.counts["reused"]
    assert main(["train", str(config), "--run-dir", str(tmp_path / "run"), *float32]) == 0
    assert loaded_encoders.counts["reused"] > reused
    metrics, history = finished_run(tmp_path / "run")
    expected_metrics, expected_history = finished_run(tmp_path / "fresh")
    assert history == expected_history
    assert metrics["test"] == expected_metrics["test"]
    assert json.loads((tmp_path / "run" / artifacts.LABELS_FILE).read_text()) == ["neg", "pos"]
