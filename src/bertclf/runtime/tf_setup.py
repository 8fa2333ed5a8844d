"""Importing and configuring TensorFlow once per command: Keras 2, quiet logs, threads, seeds.

What bertclf changes in a process, and when:

* `TF_USE_LEGACY_KERAS=1` (Keras 2 as `tf.keras`; TF Hub's KerasLayer needs it), by the first
  call that imports TensorFlow, never by `import bertclf`. TensorFlow reads it once, at its own
  import, and it changes the `tf.keras` of everything in the process: when bertclf is the one
  setting it in a user's process (the Python API), it says so in a warning.
* Quieter TensorFlow logs only in bertclf's own commands (`quiet_tensorflow`, called by the
  CLI): TensorFlow's C++ info and warning lines are hidden (`TF_CPP_MIN_LOG_LEVEL=2`; its errors
  stay visible) unless the user set that variable, and two error lines that are not errors
  are dropped: CUDA's `failed call to cuInit` on a machine without an NVIDIA device, and
  oneDNN's once-a-process notice that an int64 op falls back to another kernel.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # pydantic is not needed to load a SavedModel (predict's cold start)
    from bertclf.config import RuntimeConfig


# Set by `quiet_tensorflow`: this process is a bertclf command, not a user's program ("command"),
# and TensorFlow's logs are bertclf's to quieten ("quiet": the user did not set the level);
# "absorbed": `absorb_first_run_notices` ran.
_COMMAND = {"command": False, "quiet": False, "absorbed": False}
_SET_BY_BERTCLF = "BERTCLF_TF_CPP_MIN_LOG_LEVEL"  # the level bertclf set, for its child processes
KERAS_SWITCH_NOTE = ("bertclf set TF_USE_LEGACY_KERAS=1 before importing TensorFlow: in this process tf.keras is "
                     "Keras 2 (the tf_keras package), which TF Hub encoders need. Set the variable yourself, "
                     "before importing TensorFlow, to silence this.")


def quiet_tensorflow() -> None:
    """For bertclf's own commands: TensorFlow's info and warning lines off, its errors kept.

    A user who sets `TF_CPP_MIN_LOG_LEVEL` gets what they asked for, unsifted
    (`TF_CPP_MIN_LOG_LEVEL=0 bertclf ...` shows everything TensorFlow says).
    """
    _COMMAND["command"] = True
    # A bertclf process started by bertclf (bench's whole processes, a sweep's or a cluster's
    # workers) inherits the level bertclf set, marked as such: it is still bertclf's to sift.
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    if level is None or os.environ.get(_SET_BY_BERTCLF) == level:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = os.environ[_SET_BY_BERTCLF] = "2"
        _COMMAND["quiet"] = True


def use_keras2() -> None:
    """Makes `tf.keras` Keras 2 for this process, if TensorFlow is not imported yet and the user
    has not decided (`TF_USE_LEGACY_KERAS` set either way); in a user's process, with a warning."""
    if "TF_USE_LEGACY_KERAS" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    if not _COMMAND["command"]:
        warnings.warn(KERAS_SWITCH_NOTE, UserWarning, stacklevel=3)


def setup_tensorflow(runtime: Optional["RuntimeConfig"] = None, seed: Optional[int] = None):
    """Imports TensorFlow quietly, applies thread settings and seeds.

    Thread counts only take effect before TensorFlow's runtime starts, so this is
    called at the top of a command. With a runtime config, the Keras dtype policy
    is reset to float32 (it is global to the process; `apply_precision` sets a
    run's own). A seed seeds Python, NumPy and TensorFlow.

    In a bertclf command, TensorFlow's devices are listed here too, so that the lines its CUDA
    probing prints can be sifted (`_probe_devices`); listing them does not start its runtime.

    Returns:
        The `tensorflow` module.
    """
    use_keras2()
    # tensorflow_hub 0.16 imports pkg_resources; the deprecation notice is not the user's concern.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    import tensorflow as tf

    if _COMMAND["quiet"]:
        logging.getLogger("absl").setLevel(logging.ERROR)
        tf.get_logger().setLevel(logging.ERROR)
    if runtime is not None:
        _apply_threads(tf, "intra_op_threads", runtime.intra_op_threads)
        _apply_threads(tf, "inter_op_threads", runtime.inter_op_threads)
    if _COMMAND["quiet"]:
        _probe_devices(tf)
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


def _probe_devices(tf) -> None:
    """Lists the physical devices (where CUDA is probed, once a process) with the lines it prints
    sifted: all are shown again but CUDA's cuInit failure on a machine with no NVIDIA device.
    Thread counts and logical devices can still be set afterwards."""
    with _sifted_stderr(_expected_on_this_machine):
        tf.config.list_physical_devices()


def absorb_first_run_notices(tf) -> None:
    """In a bertclf command whose runtime may start now (thread counts and logical devices set),
    runs the small graph that makes TensorFlow print, once a process, a notice it logs as an
    error: oneDNN's "supports DT_INT64 only on platforms with AVX-512 ... Falling back to the
    default Eigen-based implementation", from its layout pass over an int64 transpose, which
    every tokenizer graph holds. Printed here, under the sieve, it is dropped, and does not come
    later in the middle of a command's output."""
    if not _COMMAND["quiet"] or _COMMAND["absorbed"]:
        return
    _COMMAND["absorbed"] = True
    with _sifted_stderr(_expected_on_this_machine):
        # A 2 x 2 matrix: a 1 x 1 transpose is optimised away before the pass sees it.
        tf.function(tf.autograph.experimental.do_not_convert(tf.transpose))(tf.constant([[0, 1], [2, 3]], tf.int64))


def _expected_on_this_machine(line: str) -> bool:
    """An error line that is not one here: cuInit fails wherever there is no NVIDIA device node,
    and oneDNN's int64 notice only says that another kernel computes the op."""
    if "oneDNN supports DT_INT64 only on platforms with AVX-512" in line:
        return True
    return "failed call to cuInit" in line and not any(Path("/dev").glob("nvidia[0-9]*"))


@contextlib.contextmanager
def _sifted_stderr(drop):
    """File descriptor 2 (where TensorFlow's C++ logs go) through a file while the block runs;
    afterwards its lines are written back, but those `drop` returns true for."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not drop(line))
            if kept:
                os.write(2, kept.encode("utf-8"))
