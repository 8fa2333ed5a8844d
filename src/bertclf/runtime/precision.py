"""The Keras dtype policy: global to the process, so set in one place and scoped where it must be."""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def keras_policy(name: str) -> Iterator[None]:
    """Runs a block under the Keras dtype policy `name`, restoring the previous one after.

    The policy is global to the process and baked into whatever is built under
    it: an encoder exported while a run trains in bfloat16 computes in bfloat16
    for good. Everything built to be saved and reused is therefore built inside
    `keras_policy("float32")`, whatever the run trains in.
    """
    import tf_keras

    previous = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)


def apply_precision(hardware, requested: str):
    """Decides `runtime.precision` for this machine and sets the Keras policy to it.

    Args:
        hardware: The machine's `bertclf.runtime.hardware.Hardware` (what `auto` decides from).
        requested: `auto` or a concrete policy name.

    Returns:
        The `PrecisionChoice` applied.
    """
    import tf_keras

    from bertclf.runtime.hardware import resolve_precision

    choice = resolve_precision(requested, hardware)
    tf_keras.mixed_precision.set_global_policy(choice.precision)
    return choice


@contextlib.contextmanager
def process_policy_kept() -> Iterator[None]:
    """Puts the process's Keras dtype policy back after a block that applies a run's precision.

    `apply_precision` sets the policy for the whole process (it must: the run's model is
    built under it); a notebook's next model, or a sweep's next trial, must not inherit it.
    Nothing is imported here: a block that never imports Keras has nothing to restore.
    """
    import sys

    keras = sys.modules.get("tf_keras")
    previous = keras.mixed_precision.global_policy() if keras is not None else None
    try:
        yield
    finally:
        keras = sys.modules.get("tf_keras")
        if keras is not None:
            keras.mixed_precision.set_global_policy(previous if previous is not None else "float32")
