"""One trial of a sweep: its run folder, its heartbeat, training it, and how it ended.

Whatever happens in a trial costs only that trial: a user mistake (`BertclfError`), a bug or
an out-of-memory error from a searched setting, a NaN score: the trial is marked failed with
its error (in the storage, trial.json and the table) and the sweep goes on. Only a stop
(Ctrl-C, SIGTERM) ends the sweep, after marking the trial failed so that it is run again.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import traceback
from pathlib import Path
from typing import Any, Optional

from bertclf import artifacts, files
from bertclf.errors import BertclfError, Interrupted
from bertclf.runtime import signals
from bertclf.sweep import sharing
from bertclf.sweep import study as studies


class _Pruned(Exception):
    """Raised by a trial's epoch hook when Optuna prunes it."""

    def __init__(self, epoch: int, value: float):
        super().__init__(f"pruned after epoch {epoch} ({value:.4f})")
        self.epoch, self.value = epoch, value


def trial_folder_name(study, number: int) -> str:
    """`<study>-<id>-trial-NNNN`: the study's own id keeps a reused study name (a new storage, a
    deleted study.db) from landing in an earlier study's folders. Studies begun before ids: as then."""
    study_id = (study.user_attrs.get("bertclf") or {}).get("id")
    return f"{study.study_name}-{study_id}-trial-{number:04d}" if study_id else \
        f"{study.study_name}-trial-{number:04d}"


def run_trial(setup, trial, claimed_before: int) -> Optional[BaseException]:
    """Trains one trial's run and tells Optuna how it ended; returns the error if it failed.

    Raises:
        Interrupted: Ctrl-C or SIGTERM (the trial is marked failed, a baseline queued again).
    """
    import optuna
    from bertclf.training.train import train

    run_dir = setup.sweep_dir / trial_folder_name(setup.study, trial.number)
    params = dict(trial.params)
    trial.set_user_attr("run_dir", str(run_dir))
    shown = ", ".join(f"{key}={_short(value)}" for key, value in params.items())
    _say(f"Trial {trial.number} ({claimed_before + 1} of {setup.target}): {shown}")
    record = {"study": setup.study.study_name, "trial": trial.number, "params": params,
              "storage": studies.describe_storage(setup.storage), "host": socket.gethostname(),
              "pid": os.getpid(), "state": "running"}
    heartbeat = sharing.Heartbeat(setup.study, trial)

    def report(epoch: int, epochs: int, logs: dict) -> None:
        value = logs.get(setup.monitor)
        if value is None:
            return
        trial.report(float(value), epoch)
        if epoch == 1 or not (run_dir / artifacts.TRIAL_FILE).is_file():
            files.write_json_atomic(run_dir / artifacts.TRIAL_FILE, record)  # train made the folder
        if prune_now(trial, epoch, epochs):
            raise _Pruned(epoch, float(value))

    try:
        config = setup.make_config(params)
        with heartbeat:
            result = train(config, run_dir=run_dir, epoch_hook=report)
        value = objective(result.metrics, run_dir, setup.monitor)
        trial.set_user_attr("fit_seconds", result.metrics.get("timing", {}).get("fit_seconds"))
        if not math.isfinite(value):  # Optuna would record it as complete, and rank it
            return _failed(setup, trial, run_dir, record, f"{setup.monitor} is {value} on validation")
        setup.study.tell(trial, value)
        sharing.finish_record(run_dir, record, "complete", value=value)
        _say(f"Trial {trial.number}: {setup.monitor} {value:.4f} (best so far: {_best(setup.study)})")
        return None
    except _Pruned as pruned:
        from bertclf.training import checkpoints

        checkpoints.remove(run_dir)  # a pruned trial is final: its checkpoint would only take space
        setup.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        sharing.finish_record(run_dir, record, "pruned", value=pruned.value, epoch=pruned.epoch)
        _say(f"Trial {trial.number}: pruned after epoch {pruned.epoch} ({setup.monitor} {pruned.value:.4f})")
        return None
    except (Interrupted, KeyboardInterrupt) as stopped:  # in the fit, or before or after it
        signum = getattr(stopped, "signum", None) or signals.last_signal()
        setup.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        sharing.requeue_baseline(setup.study, trial)
        sharing.finish_record(run_dir, record, "failed", error=f"stopped by {signals.describe(signum)}")
        raise Interrupted(f"sweep {setup.study.study_name} stopped by {signals.describe(signum)} during trial "
                          f"{trial.number} (marked failed, to be run again); the same command continues the "
                          f"study", signum=signum) from None
    except BertclfError as error:
        return _failed(setup, trial, run_dir, record, str(error), error)
    except Exception as error:  # a bug, or an out-of-memory error from a searched setting
        detail = (str(error).strip().splitlines() or [""])[0][:300]
        return _failed(setup, trial, run_dir, record, f"{type(error).__name__}: {detail}", error,
                       trace="".join(traceback.format_exception(error)))
    finally:
        _clear_session()


def prune_now(trial, epoch: int, epochs: int) -> bool:
    """Whether the pruner stops `trial` after `epoch` (reported) of `epochs`.

    Never after the last epoch: the trial has done its work by then, and a complete
    trial (exported, with its score) tells the sampler more than a pruned one.
    """
    return epoch < epochs and trial.should_prune()


def objective(metrics: dict, run_dir: Path, monitor: str) -> float:
    """The trial's score: `monitor` on validation at the run's best epoch (as each epoch reported it)."""
    history = json.loads((run_dir / artifacts.HISTORY_JSON_FILE).read_text(encoding="utf-8"))
    values = history.get(monitor) or []
    if not values:
        raise RuntimeError(f"{run_dir}: history has no {monitor}")
    epoch = metrics.get("best_epoch") or len(values)
    return float(values[epoch - 1])


def _failed(setup, trial, run_dir: Path, record: dict, message: str, error: Optional[BaseException] = None,
            trace: Optional[str] = None) -> BaseException:
    """Marks the trial failed with its error (storage, trial.json, the table) and says so."""
    import optuna

    trial.set_user_attr("error", message)
    setup.study.tell(trial, state=optuna.trial.TrialState.FAIL)
    sharing.finish_record(run_dir, record, "failed", error=message, **({"traceback": trace} if trace else {}))
    _say(f"Trial {trial.number} failed: {message}" + ("; its traceback is in trial.json" if trace else ""))
    return error if error is not None else RuntimeError(message)


def _best(study) -> str:
    try:
        return f"trial {study.best_trial.number}, {study.best_value:.4f}"
    except ValueError:
        return "none yet"


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _clear_session() -> None:
    # Trials share the process: drop the previous trial's graphs and layers.
    if "tf_keras" in sys.modules:
        sys.modules["tf_keras"].backend.clear_session()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
