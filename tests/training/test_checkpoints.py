"""A non-chief worker's scratch checkpoints: removed however its fit ends, and after a SIGKILL
by the next worker on the host, never another process's or another program's folder."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from bertclf.training import checkpoints


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_only_the_folders_of_this_hosts_dead_workers_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / f"{checkpoints._scratch_prefix(_dead_pid())}abc123"
    alive = tmp_path / f"{checkpoints._scratch_prefix(os.getpid())}def456"
    other_host = tmp_path / f"{checkpoints.SCRATCH_PREFIX}another_host-{_dead_pid()}-ghi789"
    old_style = tmp_path / f"{checkpoints.SCRATCH_PREFIX}84jjqt01"  # an older bertclf's: owner unknown
    someone_elses = tmp_path / "bertclf-worker-checkpoints-of-mine"
    for folder in (dead, alive, other_host, old_style, someone_elses):
        folder.mkdir()
        (folder / "epoch-1.index").write_bytes(b"x")
    (tmp_path / f"{checkpoints._scratch_prefix(_dead_pid())}file").write_text("a file, not a folder")

    assert checkpoints.remove_dead_scratch_folders() == [dead]
    assert not dead.exists()
    assert all(folder.is_dir() for folder in (alive, other_host, old_style, someone_elses))


def test_close_removes_the_scratch_folder_when_fit_never_reached_its_end(tmp_path, monkeypatch):
    import tf_keras

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    model = tf_keras.Sequential([tf_keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    saver = checkpoints.RunCheckpoint(None, validation=None, guard=None, writes_run_folder=False)
    saver.set_model(model)
    saver.on_train_begin()
    (scratch,) = tmp_path.iterdir()
    assert scratch.name.startswith(checkpoints._scratch_prefix(os.getpid()))
    saver.close()  # what the run does in its `finally`, where Keras' on_train_end is skipped
    assert list(tmp_path.iterdir()) == []
    saver.close()  # and again from on_train_end: nothing left to do
