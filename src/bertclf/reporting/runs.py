"""`bertclf runs list` and `runs compare`: what a folder of runs holds, read from the run folders' files.

No TensorFlow: everything comes from `config.yaml`, `metrics.json` and, for a run
that did not finish, `checkpoints/training_state.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import yaml

from bertclf import artifacts
from bertclf.errors import RunError

FINISHED, INTERRUPTED, FAILED, PRUNED = "finished", "interrupted", "failed", "pruned"
# The scores `compare` sets side by side, per split (those a run has: micro F1, exact label sets
# and Hamming loss are multi-label runs').
_COMPARED = ("accuracy", "micro_f1", "macro_f1", "subset_accuracy", "hamming_loss", "loss", "roc_auc", "pr_auc")


def is_pretraining(run_dir: Path) -> bool:
    """True for a `bertclf pretrain` folder (it writes its data record before its first step)."""
    return any(path.is_file() for path in (
        run_dir / artifacts.PRETRAIN_DATA_FILE, run_dir / artifacts.PRETRAIN_METRICS_FILE,
        run_dir / artifacts.CHECKPOINT_DIR / artifacts.PRETRAIN_STATE_FILE))


def run_status(run_dir: Path) -> str:
    """`finished` (exported and scored), `interrupted` (resumable: an epoch was saved), `pruned`
    (a sweep's trial stopped by its pruner) or `failed`.

    A run still training looks interrupted (after its first epoch) or failed (before). For a
    pretraining folder: finished once its encoder is written, interrupted with a checkpoint.
    """
    if is_pretraining(run_dir):
        if (run_dir / artifacts.PRETRAIN_METRICS_FILE).is_file():
            return FINISHED
        if (run_dir / artifacts.CHECKPOINT_DIR / artifacts.PRETRAIN_STATE_FILE).is_file():
            return INTERRUPTED
        return FAILED
    if artifacts.is_finished(run_dir):
        return FINISHED
    if (_read_json(run_dir / artifacts.TRIAL_FILE) or {}).get("state") == PRUNED:
        return PRUNED  # a sweep's trial its pruner stopped after an epoch: final, not resumable
    if (run_dir / artifacts.CHECKPOINT_DIR / artifacts.TRAINING_STATE_FILE).is_file():
        return INTERRUPTED
    return FAILED


def describe_run(run_dir: Path) -> dict[str, Any]:
    """One row of `runs list`: name, kind (train or pretrain), encoder, data, epochs, scores, fit time, status."""
    config = _read_yaml(run_dir / artifacts.CONFIG_FILE)
    metrics = _read_json(run_dir / artifacts.METRICS_FILE) or {}
    state = _read_json(run_dir / artifacts.CHECKPOINT_DIR / artifacts.TRAINING_STATE_FILE) or {}
    monitor = metrics.get("monitor") or config.get("train", {}).get("monitor", "val_loss")
    validation = metrics.get("validation") or (state.get("validation") or {}).get("best_metrics") or {}
    test = metrics.get("test") or {}
    return {
        "run": run_dir.name,
        "kind": "pretrain" if is_pretraining(run_dir) else "train",
        "experiment": config.get("experiment", {}).get("name"),
        "encoder": config.get("model", {}).get("encoder"),
        "data": _data_name(config.get("data", {})),
        "epochs": metrics.get("epochs", state.get("epochs_completed", 0)),
        "monitor": monitor,
        "best_validation": validation.get(monitor.removeprefix("val_")),
        "test_accuracy": test.get("accuracy"),
        "test_macro_f1": test.get("macro_f1"),
        "test_micro_f1": test.get("micro_f1"),  # multi-label runs: their headline instead of accuracy
        "fit_seconds": (metrics.get("timing") or {}).get("fit_seconds", state.get("fit_seconds")),
        "status": run_status(run_dir),
    }


def list_runs(directory: Path) -> list[dict[str, Any]]:
    """Every run folder in `directory` (a folder holding a config.yaml), oldest first.

    Raises:
        RunError: `directory` does not exist.
    """
    if not directory.is_dir():
        raise RunError(f"{directory}: no such folder of runs")
    folders = sorted(path for path in directory.iterdir() if (path / artifacts.CONFIG_FILE).is_file())
    return [describe_run(folder) for folder in folders]


def compare_runs(first: Path, second: Path) -> dict[str, list]:
    """The config keys whose values differ, and each split's scores side by side.

    Returns:
        `{"config": [[key, a, b], ...], "metrics": [[split.metric, a, b, b - a], ...]}`.

    Raises:
        RunError: Either folder is not a run.
    """
    for run_dir in (first, second):
        if not (run_dir / artifacts.CONFIG_FILE).is_file():
            raise RunError(f"{run_dir}: not a run folder (no {artifacts.CONFIG_FILE})")
    from bertclf.config.loading import flatten_dotted

    configs = [flatten_dotted(_read_yaml(run_dir / artifacts.CONFIG_FILE)) for run_dir in (first, second)]
    differing = [[key, configs[0].get(key), configs[1].get(key)] for key in sorted(set(configs[0]) | set(configs[1]))
                 if configs[0].get(key) != configs[1].get(key) and key != "experiment.output_dir"]
    scores = [_read_json(run_dir / artifacts.METRICS_FILE) or {} for run_dir in (first, second)]
    rows = []
    for split in ("validation", "test"):
        for metric in _COMPARED:
            a, b = ((s.get(split) or {}).get(metric) for s in scores)
            if a is not None or b is not None:
                rows.append([f"{split}.{metric}", a, b, b - a if a is not None and b is not None else None])
    fit = [(s.get("timing") or {}).get("fit_seconds") for s in scores]
    if any(value is not None for value in fit):
        rows.append(["fit_seconds", fit[0], fit[1], fit[1] - fit[0] if None not in fit else None])
    return {"config": differing, "metrics": rows}


def _data_name(data: dict) -> Optional[str]:
    for key in ("path", "train_path", "archive_url"):
        if data.get(key):
            return Path(str(data[key])).name
    return None


def _read_yaml(path: Path) -> dict:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
