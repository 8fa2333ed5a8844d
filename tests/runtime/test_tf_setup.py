"""Setting TensorFlow up: Keras 2 and quiet logs only where asked, thread counts said when they cannot apply."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from bertclf.config import RuntimeConfig
from conftest import e2e_config
from bertclf.runtime.tf_setup import KERAS_SWITCH_NOTE, _expected_on_this_machine, _sifted_stderr, setup_tensorflow


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


def _without(*names: str) -> dict:
    return {k: v for k, v in os.environ.items() if k not in names}


def test_import_bertclf_changes_nothing_and_the_first_call_switches_keras_with_a_warning(tmp_path):
    """`import bertclf` leaves the environment alone; the first API call that needs TensorFlow sets
    Keras 2 and says so, once; a user who set the variable hears nothing."""
    script = ("import os, warnings\n"
              "import bertclf\n"
              "print('after import', os.environ.get('TF_USE_LEGACY_KERAS'), os.environ.get('TF_CPP_MIN_LOG_LEVEL'))\n"
              "with warnings.catch_warnings(record=True) as caught:\n"
              "    warnings.simplefilter('always')\n"
              "    for _ in range(2):\n"
              "        try:\n            bertclf.load('nowhere')\n"
              "        except bertclf.BertclfError:\n            pass\n"
              "print('after call', os.environ.get('TF_USE_LEGACY_KERAS'), os.environ.get('TF_CPP_MIN_LOG_LEVEL'))\n"
              "print('warnings', [str(w.message) for w in caught])\n")
    env = _without("TF_USE_LEGACY_KERAS", "TF_CPP_MIN_LOG_LEVEL")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env=env)
    lines = done.stdout.splitlines()
    assert lines[0] == "after import None None", done.stderr[-2000:]
    assert lines[1] == "after call 1 None"
    assert lines[2] == f"warnings {[KERAS_SWITCH_NOTE]}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**env, "TF_USE_LEGACY_KERAS": "1"})
    assert done.stdout.splitlines()[2] == "warnings []", done.stderr[-2000:]


def test_the_sieve_drops_cuinit_without_a_gpu_and_keeps_every_other_line(capfd):
    """What TensorFlow writes to file descriptor 2 while its devices are probed comes back, all of it
    but CUDA's cuInit failure on a machine with no NVIDIA device."""
    no_gpu = not any(Path("/dev").glob("nvidia[0-9]*"))
    with _sifted_stderr(_expected_on_this_machine):
        os.write(2, b"E0000 cuda_platform.cc:51] failed call to cuInit: INTERNAL: CUDA error: (303)\n")
        os.write(2, b"E0000 some_kernel.cc:12] a real error\n")
        print("bertclf's own line", file=sys.stderr)
    err = capfd.readouterr().err
    assert "a real error" in err and "bertclf's own line" in err
    assert ("failed call to cuInit" in err) != no_gpu


def test_commands_hide_tensorflows_info_lines_and_show_them_when_asked(tmp_path):
    """`bertclf env --probe` imports TensorFlow: by default no info line and no cuInit line (on a
    machine without a GPU); with TF_CPP_MIN_LOG_LEVEL=0, TensorFlow's own lines are back."""
    bertclf = str(Path(sys.executable).parent / "bertclf")
    env = _without("TF_USE_LEGACY_KERAS", "TF_CPP_MIN_LOG_LEVEL")
    quiet = subprocess.run([bertclf, "env", "--probe"], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                           env=env)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    loud = subprocess.run([bertclf, "env", "--probe"], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert loud.returncode == 0, loud.stderr[-2000:]
    tf_info = [line for line in loud.stderr.splitlines() if "] " in line and line.split()[2:3] == ["I"]]
    assert tf_info, loud.stderr[-2000:]  # TensorFlow's info lines, when asked for
    assert not [line for line in quiet.stderr.splitlines() if "] " in line and line.split()[2:3] in (["I"], ["W"])]
    if not any(Path("/dev").glob("nvidia[0-9]*")):
        assert "cuInit" in loud.stderr and "cuInit" not in quiet.stderr


def test_a_level_bertclf_set_is_still_bertclfs_in_its_child_processes_and_the_users_level_is_not(monkeypatch):
    """bench's whole processes and cluster workers inherit the level a bertclf command set: marked,
    it is sifted there too; a level the user set is left alone."""
    from bertclf.runtime import tf_setup

    monkeypatch.setattr(tf_setup, "_COMMAND", {"command": False, "quiet": False})
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.delenv("BERTCLF_TF_CPP_MIN_LOG_LEVEL", raising=False)
    tf_setup.quiet_tensorflow()  # a command started by the user
    assert tf_setup._COMMAND["quiet"] and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    inherited = dict(os.environ)
    monkeypatch.setattr(tf_setup, "_COMMAND", {"command": False, "quiet": False})
    monkeypatch.setattr(os, "environ", inherited)
    tf_setup.quiet_tensorflow()  # a child process with the parent's environment
    assert tf_setup._COMMAND["quiet"]
    inherited["TF_CPP_MIN_LOG_LEVEL"] = "1"  # the user's own choice, even with the mark left behind
    monkeypatch.setattr(tf_setup, "_COMMAND", {"command": False, "quiet": False})
    tf_setup.quiet_tensorflow()
    assert not tf_setup._COMMAND["quiet"] and inherited["TF_CPP_MIN_LOG_LEVEL"] == "1"


TF_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |[IWEF]\d{4} )")


def test_training_and_predicting_print_no_tensorflow_line_by_default(tiny_encoder_dir, binary_run, tmp_path):
    """`make demo`'s commands, small: TensorFlow's start-up notices that are logged as errors without
    being any (cuInit without a GPU, oneDNN's int64 fallback) are absorbed, and nothing else of
    TensorFlow's is printed when nothing is wrong."""
    bertclf = str(Path(sys.executable).parent / "bertclf")
    env = {**_without("TF_USE_LEGACY_KERAS", "TF_CPP_MIN_LOG_LEVEL", "BERTCLF_TF_CPP_MIN_LOG_LEVEL"),
           "BERTCLF_STATE": str(tmp_path / "state")}
    for args in (["train", str(e2e_config(tmp_path / "train", tiny_encoder_dir))],
                 ["predict", str(binary_run), "a wonderful film"]):
        # Python's own import log too (its lines are not TensorFlow's): what the command imported.
        done = subprocess.run([bertclf, *args], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                              env={**env, "PYTHONPROFILEIMPORTTIME": "1"})
        assert done.returncode == 0, done.stderr[-2000:]
        assert not [line for line in done.stderr.splitlines() if TF_LOG_LINE.match(line)], done.stderr[-3000:]
        imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
        assert {"tensorflow", "tf_keras"} <= imported or args[0] != "train", sorted(imported)[:20]
        # Keras 3 (installed with TensorFlow) is never imported: TF Hub's KerasLayer given a handle
        # imports it for nothing (1.3-1.8 s); bertclf gives it the loaded SavedModel.
        assert "keras" not in imported, args[0]
