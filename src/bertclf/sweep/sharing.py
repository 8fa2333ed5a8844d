"""What processes sharing one study need: which trials count, which are alive, and a heartbeat.

Processes on one machine tell a dead trial by its pid; processes on other machines by
Optuna's heartbeat, which an RDB storage records while a trial trains.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, Optional

from bertclf import artifacts, files


class Heartbeat:
    """Tells an RDB storage every HEARTBEAT_SECONDS that this process still runs the trial,
    so processes elsewhere can tell a dead machine's trial from a slow one (Optuna's heartbeat)."""

    def __init__(self, study, trial):
        self.storage, self.trial_id = study._storage, trial._trial_id
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self):
        interval = getattr(self.storage, "get_heartbeat_interval", lambda: None)()
        if interval:
            self._thread = threading.Thread(target=self._beat, args=(interval,), daemon=True,
                                            name="bertclf-sweep-heartbeat")
            self._thread.start()
        return self

    def _beat(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # a database hiccup must not kill the training it reports on
                pass
            self._stop.wait(interval)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def fail_dead_trials(study) -> None:
    """Marks failed the running trials whose process is gone: on this machine by their pid at
    once, elsewhere by Optuna's heartbeat (silent for GRACE_SECONDS)."""
    import optuna

    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if trial.user_attrs.get("host") == host and pid is not None and not _alive(pid):
            try:
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            except (RuntimeError, ValueError):  # another process got there first
                continue
            _say(f"Trial {trial.number}: its process ({pid}) is gone; marked failed, its share is redone")
            requeue_baseline(study, trial)
            # A trial that died before naming its folder has none to mark (and Path("") is the cwd).
            run_dir = Path(trial.user_attrs["run_dir"]) if trial.user_attrs.get("run_dir") else None
            if run_dir is not None and (run_dir / artifacts.TRIAL_FILE).is_file():
                record = json.loads((run_dir / artifacts.TRIAL_FILE).read_text(encoding="utf-8"))
                finish_record(run_dir, record, "failed", error=f"its process ({pid}) stopped")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def requeue_baseline(study, trial) -> None:
    """A baseline trial that was cut off (not one that failed on its own) is queued again."""
    if trial.user_attrs.get("baseline"):
        study.enqueue_trial(dict(trial.params), user_attrs={"baseline": True})


def counts(study) -> tuple[int, int]:
    import optuna

    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    finished = sum(t.state in (states.COMPLETE, states.PRUNED) for t in trials)
    running = sum(t.state in (states.RUNNING, states.WAITING) for t in trials)
    return finished, running


def claimed_before(study, number: int) -> int:
    """Finished or running trials numbered below `number` (which claimed their place first)."""
    import optuna

    states = optuna.trial.TrialState
    return sum(t.number < number and t.state in (states.COMPLETE, states.PRUNED, states.RUNNING, states.WAITING)
               for t in study.get_trials(deepcopy=False))


def _alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def finish_record(run_dir: Path, record: dict, state: str, **extra: Any) -> None:
    """trial.json with how the trial ended (in a folder training made; none if it failed first)."""
    if (run_dir / artifacts.CONFIG_FILE).is_file():
        files.write_json_atomic(run_dir / artifacts.TRIAL_FILE, {**record, "state": state, **extra})


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
