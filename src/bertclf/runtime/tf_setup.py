"""Importing and configuring TensorFlow once per command: quiet logs, thread settings, seeds."""

from __future__ import annotations

import logging
import sys
import warnings
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # pydantic is not needed to load a SavedModel (predict's cold start)
    from bertclf.config import RuntimeConfig


def setup_tensorflow(runtime: Optional["RuntimeConfig"] = None, seed: Optional[int] = None):
    """Imports TensorFlow quietly, applies thread settings and seeds.

    Thread counts only take effect before TensorFlow's runtime starts, so this is
    called at the top of a command. With a runtime config, the Keras dtype policy
    is reset to float32 (it is global to the process; `apply_precision` sets a
    run's own). A seed seeds Python, NumPy and TensorFlow.

    Returns:
        The `tensorflow` module.
    """
    import bertclf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

    # tensorflow_hub 0.16 imports pkg_resources; the deprecation notice is not the user's concern.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    import tensorflow as tf

    logging.getLogger("absl").setLevel(logging.ERROR)
    tf.get_logger().setLevel(logging.ERROR)
    if runtime is not None:
        _apply_threads(tf, "intra_op_threads", runtime.intra_op_threads)
        _apply_threads(tf, "inter_op_threads", runtime.inter_op_threads)
    if runtime is not None:
        import tf_keras

        # Global Keras state: reset on every run, so nothing inherits an earlier run's policy.
        tf_keras.mixed_precision.set_global_policy("float32")
    if seed is not None:
        import tf_keras

        tf_keras.utils.set_random_seed(seed)
    return tf


def import_tensorflow() -> None:
    """Imports TensorFlow and Keras 2 (what a run's first steps need), without configuring them.

    Only imports: thread settings still apply afterwards, as TensorFlow's runtime
    starts on first use. A separate step so that a run's timing shows the import's cost.
    """
    setup_tensorflow()
    import tf_keras  # noqa: F401


def _apply_threads(tf, setting: str, count: Optional[int]) -> None:
    """Sets a thread count, or says in one line why it cannot be: TensorFlow fixes them when its
    runtime starts, so in a process that already ran TensorFlow (a notebook, the Python API
    called twice) a different count no longer applies, and the run would silently use the old one."""
    if not count:
        return
    kind = setting.split("_")[0]  # intra or inter
    try:
        getattr(tf.config.threading, f"set_{kind}_op_parallelism_threads")(count)
    except RuntimeError:
        current = getattr(tf.config.threading, f"get_{kind}_op_parallelism_threads")()
        print(f"warning: runtime.{setting}: {count} cannot be applied, TensorFlow already started in this "
              f"process with {current or 'its default'}; start a new process (or kernel) to change it",
              file=sys.stderr, flush=True)
