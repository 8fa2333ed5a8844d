"""The run folder: its file names, atomic writes, and finding a finished run.

Every file name of the run-folder contract is a constant here, so `train`
writes and `evaluate`/`predict` read the same names without importing each
other. Writes go through `bertclf.files`, so a crash never leaves a
half-written file where a reader expects a whole one.
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
from pathlib import Path
from typing import Optional, Sequence

from bertclf.errors import RunError
from bertclf.files import write_text_atomic

CONFIG_FILE = "config.yaml"
LABELS_FILE = "labels.json"
DATA_REPORT_FILE = "data_report.json"
HISTORY_JSON_FILE = "history.json"
HISTORY_CSV_FILE = "history.csv"
METRICS_FILE = "metrics.json"
PLOTS_DIR = "plots"
HISTORY_PLOT_FILE = "history.png"
MODEL_DIR = "model"
REPORT_FILE = "report.html"  # `bertclf report`: one self-contained page
TENSORBOARD_DIR = "tensorboard"  # train/ and validation/ event files
PLAN_FILE = "plan.json"  # a budgeted run's plan, as measured before training (`train.time_budget`)
SEEDS_FILE = "seeds.json"  # `train --seeds N`: in a group folder beside the runs, their summary
# Written after every completed epoch so an interrupted run can resume; removed
# once the run has finished and exported its model.
CHECKPOINT_DIR = "checkpoints"
TRAINING_STATE_FILE = "training_state.json"  # inside CHECKPOINT_DIR
# A `bertclf pretrain` run folder: config.yaml (above), the corpus it packed, the held-out
# loss per chunk of steps, the final metrics, and the adapted encoder folder (unless
# pretrain.output puts it elsewhere); checkpoints/ holds the resume state meanwhile.
PRETRAIN_DATA_FILE = "pretrain_data.json"
PRETRAIN_HISTORY_FILE = "pretrain_history.json"
PRETRAIN_METRICS_FILE = "pretrain_metrics.json"
PRETRAIN_STATE_FILE = "pretrain_state.json"  # inside CHECKPOINT_DIR
PRETRAINED_ENCODER_DIR = "encoder"
# In the output folder, beside the runs: the name of the newest successful run.
LATEST_FILE = "LATEST"
# `bertclf sweep`: a study's folder <output_dir>/<study>/ holds the default storage, the
# best trial's config, the summary and the sweep page, beside its trials' run folders
# (<study>-trial-NNNN/), each of which also has a trial record (study, number, values, state).
SWEEP_DB_FILE = "study.db"
SWEEP_BEST_FILE = "best.yaml"
SWEEP_SUMMARY_FILE = "sweep.json"
SWEEP_REPORT_FILE = "sweep.html"
TRIAL_FILE = "trial.json"


def eval_file(split: str) -> str:
    """File name of `bertclf evaluate`'s result for a split."""
    return f"eval-{split}.json"


def confusion_plot_file(split: str) -> str:
    """File name (under plots/) of the confusion matrix for a split."""
    return f"confusion_matrix-{split}.png"


def is_run_of(folder_name: str, experiment: str) -> bool:
    """True when `folder_name` is what `create_run_dir` names a training run of `experiment`.

    Not a pretraining (`<experiment>-pretrain-<time>`) or seed-group folder, and not a run of
    another experiment whose name merely starts the same (`nsmc` and `nsmc-scratch`).
    """
    return re.fullmatch(rf"{re.escape(experiment)}-\d{{8}}-\d{{6}}(-\d+)?", folder_name) is not None


def create_run_dir(output_dir: str | Path, experiment: str) -> Path:
    """Creates `output_dir/<experiment>-<YYYYmmdd-HHMMSS>/`, never reusing a folder."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        name = f"{experiment}-{stamp}" + (f"-{attempt + 1}" if attempt else "")
        try:
            (output_dir / name).mkdir()
            return output_dir / name
        except FileExistsError:
            continue
    raise RunError(f"{output_dir}: could not create a new run folder for {experiment}")


def claim_run_dir(run_dir: Path, overwrite: bool = False) -> Path:
    """Creates a run folder at a path the user chose, refusing to mix two runs.

    Raises:
        RunError: The folder holds files and `overwrite` is off, or it holds files
            that are not a bertclf run (which `overwrite` never deletes).
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and any(run_dir.iterdir()):
        if not (run_dir / CONFIG_FILE).is_file():
            raise RunError(f"{run_dir}: exists and is not a bertclf run folder; choose another --run-dir")
        if not overwrite:
            raise RunError(f"{run_dir}: holds a run already; continue it with --resume, replace it "
                           f"with --overwrite, or choose another --run-dir")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def mark_latest(run_dir: Path) -> None:
    """Points the output folder's LATEST file at a run that finished."""
    write_text_atomic(run_dir.parent / LATEST_FILE, run_dir.name + "\n")


def resolve_run(run: str | Path | None, output_dir: str | Path = "runs") -> Path:
    """Finds a finished run: the given folder, or the newest one in `output_dir`.

    Raises:
        RunError: No run given and none recorded, or the run has no exported model.
    """
    if run is None:
        pointer = Path(output_dir) / LATEST_FILE
        if not pointer.is_file():
            raise RunError(f"no finished run in {output_dir}/; train one with `bertclf train CONFIG` "
                           f"or name a run folder")
        run_dir = Path(output_dir) / pointer.read_text(encoding="utf-8").strip()
    else:
        run_dir = Path(run)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run folder")
    if not (run_dir / MODEL_DIR / "saved_model.pb").is_file():
        raise RunError(f"{run_dir}: has no exported {MODEL_DIR}/; the run did not finish. "
                       f"Train it again (or resume it) before evaluating or predicting")
    return run_dir


def read_labels(run_dir: Path) -> list[str]:
    """Returns the run's class names, index -> name."""
    path = run_dir / LABELS_FILE
    if not path.is_file():
        raise RunError(f"{run_dir}: has no {LABELS_FILE}; the run folder is incomplete")
    return json.loads(path.read_text(encoding="utf-8"))


def require_unfinished(run_dir: Path) -> None:
    """Refuses to resume a run that has exported its model.

    Raises:
        RunError: The run finished.
    """
    if (run_dir / MODEL_DIR).is_dir():
        raise RunError(f"{run_dir}: this run already finished; nothing to resume")


def require_same_classes(run_dir: Path, class_names: Sequence[str]) -> None:
    """Refuses data whose classes differ from those the run was trained on.

    Raises:
        RunError: The class names or their order differ.
    """
    trained = read_labels(run_dir)
    if list(class_names) != trained:
        raise RunError(f"{run_dir}: the data now has classes {list(class_names)}, the run was trained on "
                       f"{trained}; use data with the run's classes, or start a new run")


def read_plan(run_dir: Optional[Path]) -> Optional[dict]:
    """A budgeted run's plan record (None for runs without one)."""
    path = run_dir / PLAN_FILE if run_dir is not None else None
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def read_run_data_columns(run_dir: Path) -> dict:
    """The run's `data.text_column` and `data.text_pair_column` (what its rows were read from)."""
    import yaml

    path = run_dir / CONFIG_FILE
    data = {}
    if path.is_file():
        data = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("data") or {}
    return {"text_column": data.get("text_column", "text"), "text_pair_column": data.get("text_pair_column")}
