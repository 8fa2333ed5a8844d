"""Setting TensorFlow up: thread counts that can no longer apply are said, not swallowed."""

from __future__ import annotations

from bertclf.config import RuntimeConfig
from bertclf.runtime.tf_setup import setup_tensorflow


def test_a_thread_count_that_cannot_apply_is_one_warning_line(capsys):
    tf = setup_tensorflow()
    tf.constant(1.0) + 1.0  # the runtime has started: thread counts are fixed from here on
    current = tf.config.threading.get_intra_op_parallelism_threads()
    setup_tensorflow(RuntimeConfig(intra_op_threads=current))  # what it already is (0: default): no word
    assert capsys.readouterr().err == ""
    wanted = (current or 2) + 3
    setup_tensorflow(RuntimeConfig(intra_op_threads=wanted))
    err = capsys.readouterr().err
    assert err == (f"warning: runtime.intra_op_threads: {wanted} cannot be applied, TensorFlow already started "
                   f"in this process with {current or 'its default'}; start a new process (or kernel) to "
                   f"change it\n")
    assert tf.config.threading.get_intra_op_parallelism_threads() == current
