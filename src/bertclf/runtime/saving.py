"""Tracing a `tf.function` once for `tf.saved_model.save`, not once before it and again inside it."""

from __future__ import annotations


def trace_for_saving(function, *args) -> None:
    """Traces `function` for `args` as `tf.saved_model.save` will look the trace up.

    A SavedModel stores every signature a `tf.function` without an `input_signature` was
    traced for, and the save traces each of them again: its cache key holds the save's
    variable policy, which a trace made outside a save does not. Traced here, inside a
    save's context (default options, as `tf.saved_model.save` without options uses) and with
    every argument positional, as the save lists a trace's inputs, the save finds the trace
    and reuses it: `save_encoder` traced the encoder four times (twice before, twice in
    the save), now twice. Nothing depends on the save finding it but time: a trace it did
    not find, it makes, as it always did.

    Args:
        function: A `tf.function`.
        *args: Its arguments, all positional (`TensorSpec`s and Python values).
    """
    import tensorflow as tf

    try:  # TensorFlow's own module, not its public API: without it, traced as before
        from tensorflow.python.saved_model import save_context
    except ImportError:
        function.get_concrete_function(*args)
        return
    with save_context.save_context(tf.saved_model.SaveOptions()):
        function.get_concrete_function(*args)
