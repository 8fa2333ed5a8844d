"""Per-epoch checkpoints of a run, and resuming from them.

After every completed epoch the run folder's `checkpoints/` gets the model and
optimizer variables (the optimizer's step counter drives the learning-rate
schedule, so it resumes too), the best epoch's weights when that epoch is the
new best, and `training_state.json`: epochs completed, the history so far, the
best score and the early-stopping counter. The state file is renamed into place
last and names the checkpoint it belongs to, so a run killed at any instant
resumes from its last completed epoch.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Optional

import tensorflow as tf
import tf_keras

from bertclf import artifacts, files
from bertclf.training.callbacks import StopGuard, ValidationMetrics, all_finite
from bertclf.errors import RunError

# The previous epoch's checkpoint stays until the new state file names the new one.
_KEEP = 2
_BEST_PREFIX = "best-epoch"
# A non-chief worker's checkpoints go to `<temp>/bertclf-worker-checkpoint-<random>/`, holding the
# owner file, locked by the worker while it runs. The kernel drops the lock when the process
# ends, however it ends (SIGKILL leaves no chance to clean up), so a later worker removes the
# folders whose owner file it can lock, and never one without that file.
SCRATCH_PREFIX = "bertclf-worker-checkpoint-"
SCRATCH_OWNER_FILE = ".bertclf-worker-owner"


def read_state(run_dir: Path) -> Optional[dict]:
    """The run's training state after its last completed epoch, or None if it has none.

    Raises:
        RunError: The state file exists but cannot be read.
    """
    path = run_dir / artifacts.CHECKPOINT_DIR / artifacts.TRAINING_STATE_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RunError(f"{path}: unreadable training state ({error}); start the run again") from None


def restore(model, state: dict, run_dir: Path, precision: Optional[str] = None) -> None:
    """Loads the model and optimizer variables of the state's last completed epoch.

    Call after `compile` and `optimizer.create_slots`: the optimizer's slots exist, and are
    restored (and checked) with the weights.

    Raises:
        RunError: The checkpoint does not fit the model built now; typically the run
            trained under another precision (a saved `auto` that resolves otherwise
            on this machine builds another model), which the message names.
    """
    path = run_dir / artifacts.CHECKPOINT_DIR / state["checkpoint"]
    try:
        _full_checkpoint(model).restore(str(path)).assert_existing_objects_matched()
    except (AssertionError, ValueError) as error:  # objects unmatched, or a variable of another shape
        trained = state.get("precision")
        detail = (str(error).strip().splitlines() or [""])[0][:160]
        if trained and precision and trained != precision:
            raise RunError(f"{run_dir}: trained in {trained}, and runtime.precision resolves to {precision} "
                           f"here, which builds another model; resume with --set runtime.precision={trained}"
                           ) from None
        raise RunError(f"{run_dir}: its checkpoint does not fit the model built now ({detail}); start the "
                       f"run again") from None


def restore_best_weights(model, state: Optional[dict], run_dir: Path) -> Optional[int]:
    """Puts the best epoch's weights into the model; returns that epoch (None: kept as is)."""
    if not state or not state.get("best_checkpoint"):
        return None
    path = run_dir / artifacts.CHECKPOINT_DIR / state["best_checkpoint"]
    _weights_checkpoint(model).read(str(path)).assert_consumed()
    return state["validation"]["best_epoch"]


def remove(run_dir: Path) -> None:
    """Deletes the checkpoints of a finished run (its model is exported)."""
    shutil.rmtree(run_dir / artifacts.CHECKPOINT_DIR, ignore_errors=True)


class RunCheckpoint(tf_keras.callbacks.Callback):
    """Saves a resumable checkpoint and the training state at the end of every epoch.

    Keep it after `ValidationMetrics` in the callback list: it records the
    validation scores that callback adds to the epoch's logs.

    A multi-worker run's other workers (`writes_run_folder` False) save the same
    checkpoints to a temporary folder and delete them at once: every worker must
    take the same steps (the first save creates a variable, which the strategy
    creates on all workers together), but only the chief's copy is kept.
    """

    def __init__(self, run_dir: Optional[Path], validation: ValidationMetrics, guard: StopGuard,
                 state: Optional[dict] = None, writes_run_folder: bool = True, precision: Optional[str] = None,
                 curve=None):
        super().__init__()
        self.precision = precision  # recorded, so a resume under another one can say so
        self.curve = curve  # a StepCurve: its points up to each saved epoch go into the state
        self.writes_run_folder = writes_run_folder
        self.directory = run_dir / artifacts.CHECKPOINT_DIR if writes_run_folder else None
        self._scratch: Optional[Path] = None
        self._owner = None  # the scratch folder's locked owner file
        self.validation = validation
        self.guard = guard
        state = state or {}
        self.history: dict[str, list[float]] = {k: list(v) for k, v in state.get("history", {}).items()}
        self.fit_seconds = float(state.get("fit_seconds", 0.0))
        self.best_checkpoint: Optional[str] = state.get("best_checkpoint")
        self.epochs_completed = int(state.get("epochs_completed", 0))
        self._manager = None
        self._started = 0.0

    def on_train_begin(self, logs: Optional[dict] = None) -> None:
        directory = self.directory
        if not self.writes_run_folder:
            remove_dead_scratch_folders()
            directory = self._scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
            self._owner = _locked_owner_file(directory)
        self._manager = tf.train.CheckpointManager(_full_checkpoint(self.model), str(directory),
                                                   max_to_keep=_KEEP, checkpoint_name="epoch")
        self._started = time.monotonic()

    def on_train_end(self, logs: Optional[dict] = None) -> None:
        self.close()

    def close(self) -> None:
        """Removes a non-chief worker's scratch folder. Keras skips `on_train_end` when `fit`
        raises, so the run calls this too, whatever way the fit ended."""
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        if self._owner is not None:
            self._owner.close()  # drops the lock
            self._owner = None

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        if self.guard.epoch_cut_short or not all_finite(logs):
            return  # never checkpoint diverged weights or half an epoch: the last whole one resumes
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        now = time.monotonic()
        self.fit_seconds += now - self._started
        self._started = now
        if not self.writes_run_folder:
            self._save_to_scratch(epoch)
            return
        if self.validation.improved:
            prefix = self.directory / f"{_BEST_PREFIX}{epoch + 1}"
            self.best_checkpoint = Path(_weights_checkpoint(self.model).write(str(prefix))).name
        checkpoint = Path(self._manager.save(checkpoint_number=epoch + 1)).name
        self.epochs_completed = epoch + 1
        files.write_json_atomic(self.directory / artifacts.TRAINING_STATE_FILE, {
            "epochs_completed": self.epochs_completed,
            "optimizer_steps": int(self.model.optimizer.iterations.numpy()),
            "checkpoint": checkpoint,
            "best_checkpoint": self.best_checkpoint,
            "validation": self.validation.state(),
            "history": self.history,
            "fit_seconds": round(self.fit_seconds, 1),
            "precision": self.precision,
            **({"curve": self.curve.saved(self.epochs_completed)} if self.curve is not None else {}),
        })
        self._drop_stale_best()

    def state(self) -> dict:
        """The state as last written (for the end of a run); empty for a worker that writes none."""
        if not self.writes_run_folder:
            return {}
        return read_state(self.directory.parent) or {}

    def _save_to_scratch(self, epoch: int) -> None:
        # The chief's steps, into a folder emptied at once.
        if self.validation.improved:
            _weights_checkpoint(self.model).write(str(self._scratch / f"{_BEST_PREFIX}{epoch + 1}"))
        self._manager.save(checkpoint_number=epoch + 1)
        for path in self._scratch.iterdir():
            if path.name != SCRATCH_OWNER_FILE:
                path.unlink()
        self.epochs_completed = epoch + 1

    def _drop_stale_best(self) -> None:
        for path in self.directory.glob(f"{_BEST_PREFIX}*"):
            if self.best_checkpoint is None or not path.name.startswith(self.best_checkpoint + "."):
                path.unlink(missing_ok=True)


def remove_dead_scratch_folders(temp_dir: Optional[Path] = None) -> list[Path]:
    """Removes the scratch folders of workers that have ended (see `SCRATCH_PREFIX`).

    A folder is removed only if it is named as `RunCheckpoint` names them, is a real folder
    (not a link), holds the owner file, and that file's lock is free: its worker's process is
    gone. Anything else with the name (a user's folder, a live worker's) stays.

    Returns:
        The folders removed.
    """
    removed = []
    for path in Path(temp_dir or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        owner = path / SCRATCH_OWNER_FILE
        if path.is_symlink() or not path.is_dir() or owner.is_symlink() or not owner.is_file():
            continue
        with open(owner, "rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # held: its worker still runs
                continue
            shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _locked_owner_file(directory: Path):
    """The scratch folder's owner file, open and locked before it has its name.

    Locked under another name, then renamed (the lock goes with the file): a worker sweeping
    at the same moment never finds the owner file unlocked, as it could between creating
    and locking it under its own name, and remove a live worker's folder.
    """
    pending = directory / f"{SCRATCH_OWNER_FILE}.pending"
    handle = open(pending, "wb")
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    pending.rename(directory / SCRATCH_OWNER_FILE)
    return handle


def _full_checkpoint(model) -> tf.train.Checkpoint:
    return tf.train.Checkpoint(model=model, optimizer=model.optimizer)


def _weights_checkpoint(model) -> tf.train.Checkpoint:
    # A flat list of the model's variables: tracking the model itself would also
    # save the optimizer's slots, tripling the size of a weights-only checkpoint.
    return tf.train.Checkpoint(weights=list(model.weights))
