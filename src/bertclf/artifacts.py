"""The run folder: its file names, atomic writes, and finding a finished run.

Every file name of the run-folder contract is a constant here, so `train`
writes and `evaluate`/`predict` read the same names without importing each
other. Writes go through `bertclf.files`, so a crash never leaves a
half-written file where a reader expects a whole one.
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Optional, Sequence

from bertclf.errors import RunError
from bertclf.files import write_text_atomic

CONFIG_FILE = "config.yaml"
LABELS_FILE = "labels.json"
DATA_REPORT_FILE = "data_report.json"
HISTORY_JSON_FILE = "history.json"
HISTORY_CSV_FILE = "history.csv"
STEP_HISTORY_FILE = "history_steps.json"  # training points every few steps, validation per epoch
METRICS_FILE = "metrics.json"
PLOTS_DIR = "plots"
HISTORY_PLOT_FILE = "history.png"
MODEL_DIR = "model"
REPORT_FILE = "report.html"  # `bertclf report`: one self-contained page
TENSORBOARD_DIR = "tensorboard"  # train/ and validation/ event files
PLAN_FILE = "plan.json"  # a budgeted run's plan, as measured before training (`train.time_budget`)
SEEDS_FILE = "seeds.json"  # `train --seeds N`: in a group folder beside the runs, their summary
# `bertclf export RUN --format onnx` (or export.onnx in the config): the model without TensorFlow.
EXPORT_DIR = "export"
ONNX_SUBDIR = "onnx"  # inside EXPORT_DIR
ONNX_MODEL_FILE = "model.onnx"  # token ids -> probabilities, float32
ONNX_INT8_FILE = "model.int8.onnx"  # the same, weights dynamically quantised to int8
TOKENIZER_FILE = "tokenizer.json"  # Hugging Face tokenizers: text -> the run's token ids
ONNX_SENTENCEPIECE_FILE = "sentencepiece.model"  # instead, for SentencePiece encoders (the sentencepiece package)
ONNX_META_FILE = "bertclf.json"  # labels, thresholds, task, truncation, seq_length, the export's checks
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
# In bertclf's per-user state folder (`state_root`): the last run `train` finished, as a path.
LAST_RUN_FILE = "last-run.json"
# `bertclf sweep`: a study's folder <output_dir>/<study>/ holds the default storage, the
# best trial's config, the summary and the sweep page, beside its trials' run folders
# (<study>-trial-NNNN/), each of which also has a trial record (study, number, values, state).
SWEEP_DB_FILE = "study.db"
SWEEP_BEST_FILE = "best.yaml"
SWEEP_SUMMARY_FILE = "sweep.json"
SWEEP_REPORT_FILE = "sweep.html"
TRIAL_FILE = "trial.json"
# Written first into every folder bertclf creates for a run (training, pretraining, a seeds
# group): `--overwrite` replaces only folders that hold it, and only the entries below.
RUN_MARKER_FILE = ".bertclf-run"
# What bertclf itself writes into a run folder, by name or pattern: the only entries that
# `--overwrite` deletes (anything else in the folder makes it refuse), with the temporaries
# of their atomic writes and staged folders that a crash can leave (`_written_by_bertclf`).
_RUN_ENTRIES = (RUN_MARKER_FILE, CONFIG_FILE, LABELS_FILE, DATA_REPORT_FILE, HISTORY_JSON_FILE,
                HISTORY_CSV_FILE, STEP_HISTORY_FILE, METRICS_FILE, PLOTS_DIR, MODEL_DIR, REPORT_FILE,
                TENSORBOARD_DIR, PLAN_FILE, SEEDS_FILE, CHECKPOINT_DIR, PRETRAIN_DATA_FILE, PRETRAIN_HISTORY_FILE,
                PRETRAIN_METRICS_FILE, PRETRAINED_ENCODER_DIR, TRIAL_FILE, EXPORT_DIR, "eval-*.json")


def eval_file(split: str) -> str:
    """File name of `bertclf evaluate`'s result for a split."""
    return f"eval-{split}.json"


def confusion_plot_file(split: str) -> str:
    """File name (under plots/) of the confusion matrix for a split."""
    return f"confusion_matrix-{split}.png"


def label_scores_plot_file(split: str) -> str:
    """File name (under plots/) of a multi-label split's per-label F1, precision and recall."""
    return f"label_scores-{split}.png"


def is_run_of(folder_name: str, experiment: str) -> bool:
    """True when `folder_name` is what `create_run_dir` names a training run of `experiment`.

    Not a pretraining (`<experiment>-pretrain-<time>`) or seed-group folder, and not a run of
    another experiment whose name merely starts the same (`nsmc` and `nsmc-scratch`).
    """
    return re.fullmatch(rf"{re.escape(experiment)}-\d{{8}}-\d{{6}}(-\d+)?", folder_name) is not None


def create_run_dir(output_dir: str | Path, experiment: str) -> Path:
    """Creates `output_dir/<experiment>-<YYYYmmdd-HHMMSS>/` with its marker, never reusing a folder."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        name = f"{experiment}-{stamp}" + (f"-{attempt + 1}" if attempt else "")
        try:
            (output_dir / name).mkdir()
        except FileExistsError:
            continue
        _mark_run(output_dir / name)
        return output_dir / name
    raise RunError(f"{output_dir}: could not create a new run folder for {experiment}")


def check_claimable(run_dir: Path, overwrite: bool = False) -> None:
    """Raises what `claim_run_dir` would, without touching anything: a command checks its
    --run-dir before reading data or measuring, so a mistake costs no minutes."""
    _refusal(Path(run_dir), overwrite)


def claim_run_dir(run_dir: Path, overwrite: bool = False) -> Path:
    """Creates a run folder at a path the user chose, refusing to mix two runs.

    With `overwrite`, an earlier run there is replaced: only a folder bertclf created
    (it holds the run marker) and only the entries bertclf writes are deleted, and
    what is deleted is said. Anything else in the folder is never touched.

    Raises:
        RunError: The folder holds files and `overwrite` is off, or it is not a
            folder bertclf created, or it holds entries bertclf did not write.
    """
    run_dir = Path(run_dir)
    entries = _refusal(run_dir, overwrite)
    if entries:
        print(f"Replacing the earlier run in {run_dir} (deleting {', '.join(entry.name for entry in entries)})",
              file=sys.stderr, flush=True)
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    run_dir.mkdir(parents=True, exist_ok=True)
    _mark_run(run_dir)
    return run_dir


def _refusal(run_dir: Path, overwrite: bool) -> list[Path]:
    """The entries `--overwrite` would delete; raises if the folder may not be claimed."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"{run_dir}: is a file, not a folder; choose another --run-dir")
    entries = sorted(run_dir.iterdir()) if run_dir.is_dir() else []
    if not entries:
        return []
    if not (run_dir / RUN_MARKER_FILE).is_file():
        raise RunError(f"{run_dir}: holds files and is not a run folder bertclf created (no "
                       f"{RUN_MARKER_FILE}); nothing was deleted. Choose an empty or new --run-dir")
    if not overwrite:
        raise RunError(f"{run_dir}: holds a run already; continue it with --resume, replace it "
                       f"with --overwrite, or choose another --run-dir")
    foreign = [entry.name for entry in entries if not _written_by_bertclf(entry.name)]
    if foreign:
        raise RunError(f"{run_dir}: --overwrite deletes only what bertclf wrote, and this run folder also "
                       f"holds {', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}; nothing was "
                       f"deleted. Move those elsewhere or choose another --run-dir")
    return entries


def _written_by_bertclf(name: str) -> bool:
    # `files.write_atomic` names a temporary `.<stem>.<random>.tmp<suffix>`, `files.staging_dir`
    # `.<name>.<random>.tmp`: only those of the entries above count, never any hidden *.tmp file.
    temporaries = [f".{Path(entry).stem}.*.tmp{Path(entry).suffix}" for entry in _RUN_ENTRIES]
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in (*_RUN_ENTRIES, *temporaries))


def _mark_run(run_dir: Path) -> None:
    from bertclf import __version__

    write_text_atomic(run_dir / RUN_MARKER_FILE, json.dumps(
        {"created_by": f"bertclf {__version__}",
         "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}) + "\n")


def mark_latest(run_dir: Path) -> None:
    """Points the output folder's LATEST file at a run that finished."""
    write_text_atomic(run_dir.parent / LATEST_FILE, run_dir.name + "\n")


def state_root() -> Path:
    """Where bertclf keeps small per-user state: `$BERTCLF_STATE`, else `$XDG_STATE_HOME/bertclf`,
    else `~/.local/state/bertclf` (not the cache: clearing a cache must not lose it)."""
    explicit = os.environ.get("BERTCLF_STATE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state") / "bertclf"


def record_last_run(run_dir: Path) -> None:
    """Remembers the run `bertclf train` (or `bertclf.train`) just finished, wherever its
    output_dir put it, so `evaluate`/`predict`/`report` from any folder find it. Sweep trials
    and the members of `--seeds` do not write it. Best effort: a read-only home is no error."""
    try:
        write_text_atomic(state_root() / LAST_RUN_FILE, json.dumps({"run": str(Path(run_dir).resolve())}) + "\n")
    except OSError:
        pass


def last_run() -> Optional[Path]:
    """The run recorded by `record_last_run`, if it is still there and finished."""
    try:
        recorded = Path(json.loads((state_root() / LAST_RUN_FILE).read_text(encoding="utf-8"))["run"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return recorded if is_finished(recorded) else None


def resolve_run(run: str | Path | None, output_dir: str | Path = "runs") -> Path:
    """Finds a finished run: the given folder; else the newest one in `output_dir`; else, when
    `output_dir` has no finished run, the last run trained (wherever its config wrote it).

    Raises:
        RunError: No run given and none found, or the run has no exported model.
    """
    if run is None:
        pointer = Path(output_dir) / LATEST_FILE
        recorded = None if pointer.is_file() else last_run()
        if recorded is not None:
            print(f"Using the last run trained, {recorded} ({output_dir}/ has no finished run)",
                  file=sys.stderr, flush=True)
            return recorded
        if not pointer.is_file():
            raise RunError(f"no finished run in {output_dir}/ and none trained here before; train one with "
                           f"`bertclf train CONFIG` or name a run folder")
        run_dir = Path(output_dir) / pointer.read_text(encoding="utf-8").strip()
    else:
        run_dir = Path(run)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run folder")
    if not is_finished(run_dir):
        if (run_dir / CHECKPOINT_DIR / TRAINING_STATE_FILE).is_file():
            raise RunError(f"{run_dir}: has no exported {MODEL_DIR}/; the run did not finish. Resume it with: "
                           f"bertclf train --resume {run_dir}")
        raise RunError(f"{run_dir}: has no exported {MODEL_DIR}/; the run did not finish and saved no epoch. "
                       f"Train it again before evaluating or predicting")
    return run_dir


def is_finished(run_dir: Path) -> bool:
    """Whether a training run finished: the one definition every command uses.

    `model/` is renamed into place last, after metrics, history, evaluations and
    plots (training.finish.publish), so its presence says all of them are written.
    """
    return (Path(run_dir) / MODEL_DIR / "saved_model.pb").is_file()


def remove_stale_staging(run_dir: Path) -> list[str]:
    """Deletes the staged model folders (`.model.*.tmp`, `files.staging_dir`'s names) that an
    interrupted finish left; nothing else. Returns the names removed."""
    removed = []
    for path in sorted(Path(run_dir).glob(f".{MODEL_DIR}.*.tmp")):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
            removed.append(path.name)
    return removed


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
    if is_finished(run_dir):
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
