"""Importing and configuring TensorFlow once per command, and the runtime a run trains with."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
import warnings
from typing import TYPE_CHECKING, Any, Iterator, Optional

if TYPE_CHECKING:  # pydantic is not needed to load a SavedModel (predict's cold start)
    from bertclf.config import Config, RuntimeConfig


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
        try:
            if runtime.intra_op_threads:
                tf.config.threading.set_intra_op_parallelism_threads(runtime.intra_op_threads)
            if runtime.inter_op_threads:
                tf.config.threading.set_inter_op_parallelism_threads(runtime.inter_op_threads)
        except RuntimeError:
            pass  # already initialised in this process (tests); the first setting stands
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
        hardware: The machine's `bertclf.hardware.Hardware` (what `auto` decides from).
        requested: `auto` or a concrete policy name.

    Returns:
        The `PrecisionChoice` applied.
    """
    import tf_keras

    from bertclf.hardware import resolve_precision

    choice = resolve_precision(requested, hardware)
    tf_keras.mixed_precision.set_global_policy(choice.precision)
    return choice


@dataclasses.dataclass
class Runtime:
    """The TensorFlow module and what the run computes in, on which devices, how."""

    tf: Any
    hardware: Any
    distribution: Any
    precision: Any
    jit_compile: bool
    jit_reason: str

    def describe(self) -> str:
        """The one line a run prints at its start."""
        return (f"Runtime: {self.hardware.describe()}; {self.distribution.describe()}; precision "
                f"{self.precision.precision} ({self.precision.reason}); XLA {'on' if self.jit_compile else 'off'} "
                f"({self.jit_reason})")

    def record(self) -> dict:
        """metrics.json's `runtime`."""
        return {"device": self.hardware.describe(), "strategy": self.distribution.name,
                "strategy_reason": self.distribution.reason, "replicas": self.distribution.replicas,
                "workers": self.distribution.workers, "precision": self.precision.precision,
                "precision_reason": self.precision.reason, "jit_compile": self.jit_compile,
                "jit_compile_reason": self.jit_reason}


def start_runtime(config: "Config") -> Runtime:
    """Seeds TensorFlow, creates the distribution strategy, applies the precision and XLA setting.

    Every `auto` is decided here, once, and printed in one line.

    Raises:
        ConfigError: A distribution this machine or TF_CONFIG cannot provide.
    """
    from bertclf.hardware import choose_jit_compile, probe_hardware
    from bertclf.training.distribution import start_distribution

    tf = setup_tensorflow(config.runtime, config.experiment.seed)
    hardware = probe_hardware(tf)
    distribution = start_distribution(tf, hardware, config.runtime.distribution, config.runtime.cpu_devices)
    precision = apply_precision(hardware, config.runtime.precision)
    jit_compile, jit_reason = choose_jit_compile(config.runtime.jit_compile, hardware, distribution.name)
    runtime = Runtime(tf, hardware, distribution, precision, jit_compile, jit_reason)
    print(runtime.describe(), file=sys.stderr, flush=True)
    return runtime
