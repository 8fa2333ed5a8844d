"""What processes sharing one study need: which trials count, which are alive, and a heartbeat.

Liveness, in order: a trial of this machine (same host name) is alive while its process id is;
any trial is alive while its heartbeat is fresh. The heartbeat is Optuna's own on database
storages (SQLite, PostgreSQL, MySQL) and bertclf's on the others (the journal file): the trial's
`heartbeat` attribute, the time of its last beat, written every HEARTBEAT_SECONDS. A trial
silent for GRACE_SECONDS is taken for dead, marked failed, and its share of --trials is redone.
Limits: host names must differ between machines (containers started from one image may share
one; give each a --hostname), and bertclf's heartbeat compares the writer's clock with the
reader's, so machines sharing a journal need clocks within a minute of each other (NTP).
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Optional

from bertclf import artifacts, files

HEARTBEAT_ATTR = "heartbeat"


class Heartbeat:
    """Tells the storage every heartbeat interval that this process still runs the trial, so
    processes elsewhere can tell a dead machine's trial from a slow one.

    Database storages get Optuna's heartbeat; others (the journal) bertclf's own trial attribute.
    A beat that fails is said once on stderr (and once more when beats get through again): the
    trial goes on, but other processes may take it for dead after the grace period.
    """

    def __init__(self, study, trial, interval: Optional[float] = None):
        self.storage, self.trial_id = study._storage, trial._trial_id
        self.optuna_interval = getattr(self.storage, "get_heartbeat_interval", lambda: None)()
        self.interval = interval or self.optuna_interval or _heartbeat_seconds()
        self.failing = False
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self):
        self.beat()  # at once: a trial is never seen without a heartbeat
        self._thread = threading.Thread(target=self._beat, daemon=True, name="bertclf-sweep-heartbeat")
        self._thread.start()
        return self

    def beat(self) -> None:
        """One beat; a failure is reported, not raised (it must not kill the training it reports on)."""
        try:
            if self.optuna_interval:
                self.storage.record_heartbeat(self.trial_id)
            else:
                self.storage.set_trial_user_attr(self.trial_id, HEARTBEAT_ATTR, time.time())
        except Exception as error:
            if not self.failing:
                detail = (str(error).strip().splitlines() or [""])[0][:200]
                _say(f"warning: sweep heartbeat: cannot reach the storage ({type(error).__name__}: {detail}); "
                     f"the trial goes on, but other processes take it for dead after {grace_seconds():.0f} s "
                     f"without a heartbeat")
            self.failing = True
        else:
            if self.failing:
                _say("sweep heartbeat: the storage answers again")
            self.failing = False

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _heartbeat_seconds() -> float:
    from bertclf.sweep.study import HEARTBEAT_SECONDS

    return float(os.environ.get("BERTCLF_SWEEP_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS))


def grace_seconds() -> float:
    """How long a trial's heartbeat may be silent before other processes take it for dead."""
    from bertclf.sweep.study import GRACE_SECONDS

    return float(os.environ.get("BERTCLF_SWEEP_GRACE_SECONDS", GRACE_SECONDS))


def is_alive(trial, host: Optional[str] = None, now: Optional[float] = None) -> Optional[bool]:
    """Whether a RUNNING trial's process still runs: by pid on this machine, else by bertclf's
    heartbeat; None when neither tells (Optuna's own heartbeat on databases decides those)."""
    host = host or socket.gethostname()
    pid = trial.user_attrs.get("pid")
    if trial.user_attrs.get("host") == host and pid is not None:
        return _alive(pid)
    beat = trial.user_attrs.get(HEARTBEAT_ATTR)
    if isinstance(beat, (int, float)) and math.isfinite(beat):
        return (now or time.time()) - beat <= grace_seconds()
    return None


def fail_dead_trials(study) -> None:
    """Marks failed the running trials whose process is gone: on this machine by their pid at
    once, elsewhere by Optuna's heartbeat (silent for GRACE_SECONDS)."""
    import optuna

    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if is_alive(trial, host) is False:
            try:
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            except (RuntimeError, ValueError):  # another process got there first
                continue
            how = (f"its process ({pid}) is gone" if trial.user_attrs.get("host") == host else
                   f"its heartbeat from {trial.user_attrs.get('host')} has been silent for over "
                   f"{grace_seconds():.0f} s")
            _say(f"Trial {trial.number}: {how}; marked failed, its share is redone")
            requeue_baseline(study, trial)
            # A trial that died before naming its folder has none to mark (and Path("") is the cwd).
            run_dir = Path(trial.user_attrs["run_dir"]) if trial.user_attrs.get("run_dir") else None
            if run_dir is not None and (run_dir / artifacts.TRIAL_FILE).is_file():
                record = json.loads((run_dir / artifacts.TRIAL_FILE).read_text(encoding="utf-8"))
                finish_record(run_dir, record, "failed", error=how)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def requeue_baseline(study, trial) -> None:
    """A baseline trial that was cut off (not one that failed on its own) is queued again."""
    if trial.user_attrs.get("baseline"):
        study.enqueue_trial(dict(trial.params), user_attrs={"baseline": True})


def counts(study) -> tuple[int, int]:
    """(finished, running) trials. An enqueued (WAITING) trial is neither: nobody runs it yet, and
    the next claim takes it (counted as running, a study whose baseline waited never started it)."""
    import optuna

    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    finished = sum(t.state in (states.COMPLETE, states.PRUNED) for t in trials)
    running = sum(t.state == states.RUNNING for t in trials)
    return finished, running


def running_elsewhere(study) -> list[str]:
    """The running trials, each as 'trial N (pid P on HOST)': what a process without a trial waits for."""
    import optuna

    return [f"trial {t.number} (pid {t.user_attrs.get('pid', '?')} on {t.user_attrs.get('host', '?')})"
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))]


def claimed_before(study, number: int) -> int:
    """Finished or running trials numbered below `number` (which claimed their place first)."""
    import optuna

    states = optuna.trial.TrialState
    return sum(t.number < number and t.state in (states.COMPLETE, states.PRUNED, states.RUNNING)
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
