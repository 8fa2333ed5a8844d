"""runtime.saving: a function traced for the save is not traced again by it."""

from __future__ import annotations

import sys


def _saved_traces(tmp_path, trace) -> tuple[int, object]:
    import tensorflow as tf

    traces = []

    @tf.function
    def double(x, training=False):
        traces.append(training)
        return x * (3.0 if training else 2.0)

    for training in (False, True):
        trace(double, tf.TensorSpec([None], tf.float32, name="x"), training)
    root = tf.train.Checkpoint()
    root.double = double
    tf.saved_model.save(root, str(tmp_path / "saved"))
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    assert loaded.double(tf.constant([1.0]), True).numpy().tolist() == [3.0]
    assert loaded.double(tf.constant([1.0])).numpy().tolist() == [2.0]
    return len(traces), loaded


def test_the_save_reuses_what_trace_for_saving_traced(tmp_path):
    from bertclf.runtime.saving import trace_for_saving

    assert _saved_traces(tmp_path, trace_for_saving)[0] == 2
    # Traced outside a save, each signature is traced again by it.
    assert _saved_traces(tmp_path / "plain", lambda f, *args: f.get_concrete_function(*args))[0] == 4


def test_without_tensorflows_save_context_it_traces_as_before(tmp_path, monkeypatch):
    from bertclf.runtime.saving import trace_for_saving

    import tensorflow.python.saved_model as saved_model_package

    # The import fails (the save itself keeps the module it imported when it was loaded).
    monkeypatch.setitem(sys.modules, "tensorflow.python.saved_model.save_context", None)
    monkeypatch.delattr(saved_model_package, "save_context")
    assert _saved_traces(tmp_path, trace_for_saving)[0] == 4
