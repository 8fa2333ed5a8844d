"""A non-chief worker's scratch checkpoints: removed however its fit ends, and after a SIGKILL
by the next worker, never a live worker's folder, nor anything bertclf did not make."""

from __future__ import annotations

import fcntl
import signal
import subprocess
import sys
import tempfile

from bertclf.training import checkpoints

OWNER = checkpoints.SCRATCH_OWNER_FILE


def _scratch(tmp_path, name):
    folder = tmp_path / f"{checkpoints.SCRATCH_PREFIX}{name}"
    folder.mkdir()
    (folder / OWNER).write_bytes(b"")
    (folder / "epoch-1.index").write_bytes(b"x")
    return folder


def test_only_the_folders_of_ended_workers_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = _scratch(tmp_path, "ended")  # its owner file unlocked: the worker's process is gone
    held_here = _scratch(tmp_path, "held_here")
    held_elsewhere = _scratch(tmp_path, "held_elsewhere")
    # A user's folder that happens to bear the name, without the owner file; an older bertclf's.
    users = tmp_path / f"{checkpoints.SCRATCH_PREFIX}mine"
    users.mkdir()
    (users / "notes.txt").write_text("keep me")
    # A link bearing the name to a folder that looks like a scratch folder, and a plain file.
    target = _scratch(tmp_path, "x")
    target = target.rename(tmp_path / "elsewhere")
    (tmp_path / f"{checkpoints.SCRATCH_PREFIX}link").symlink_to(target)
    (tmp_path / f"{checkpoints.SCRATCH_PREFIX}file").write_text("a file")

    with open(held_here / OWNER, "rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        holder = subprocess.Popen([sys.executable, "-c", (
            "import fcntl, sys, time; h = open(sys.argv[1], 'rb'); fcntl.flock(h, fcntl.LOCK_EX); "
            "print('locked', flush=True); time.sleep(60)"), str(held_elsewhere / OWNER)],
            stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "locked"
            assert checkpoints.remove_dead_scratch_folders() == [ended]
            assert not ended.exists()
            for kept in (held_here, held_elsewhere, users, target):
                assert kept.is_dir() and len(list(kept.iterdir())) >= 1, kept
            assert (users / "notes.txt").read_text() == "keep me"
            # The other worker is SIGKILLed: the kernel drops its lock, and its folder goes next time.
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=30)
            assert checkpoints.remove_dead_scratch_folders() == [held_elsewhere]
        finally:
            holder.kill()
    assert held_here.is_dir() and users.is_dir() and target.is_dir()


def test_close_removes_the_scratch_folder_when_fit_never_reached_its_end(tmp_path, monkeypatch):
    import tf_keras

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    model = tf_keras.Sequential([tf_keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    saver = checkpoints.RunCheckpoint(None, validation=None, guard=None, writes_run_folder=False)
    saver.set_model(model)
    saver.on_train_begin()
    (scratch,) = tmp_path.iterdir()
    assert scratch.name.startswith(checkpoints.SCRATCH_PREFIX) and (scratch / OWNER).is_file()
    assert checkpoints.remove_dead_scratch_folders() == []  # its owner (this run) holds the lock
    saver.close()  # what the run does in its `finally`, where Keras' on_train_end is skipped
    assert list(tmp_path.iterdir()) == []
    saver.close()  # and again from on_train_end: nothing left to do


def test_a_worker_sweeping_while_another_creates_its_folder_leaves_that_folder(tmp_path, monkeypatch):
    """Workers start together: one may sweep between another's creating its owner file and
    locking it. The sweep is run at that very moment here: the new folder must survive."""
    import fcntl
    import types

    import tf_keras

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    swept = []

    def flock_after_a_sweep(handle, operation):
        if not swept:  # the other worker's sweep, before this worker's first lock
            swept.append(None)  # (the sweep's own flock comes through here too)
            swept[0] = checkpoints.remove_dead_scratch_folders()
        return fcntl.flock(handle, operation)

    monkeypatch.setattr(checkpoints, "fcntl", types.SimpleNamespace(flock=flock_after_a_sweep, LOCK_EX=fcntl.LOCK_EX,
                                                                     LOCK_NB=fcntl.LOCK_NB))
    model = tf_keras.Sequential([tf_keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    saver = checkpoints.RunCheckpoint(None, validation=None, guard=None, writes_run_folder=False)
    saver.set_model(model)
    saver.on_train_begin()
    try:
        (scratch,) = tmp_path.iterdir()
        assert swept == [[]] and [path.name for path in scratch.iterdir()] == [OWNER]
        assert checkpoints.remove_dead_scratch_folders() == []  # locked under its own name now
    finally:
        saver.close()
