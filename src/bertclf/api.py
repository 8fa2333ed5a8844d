"""The Python API: what the CLI does, for notebooks and scripts.

    import bertclf
    run = bertclf.train("configs/smoke.yaml", overrides={"train.epochs": 1})
    clf = bertclf.load(run)
    clf.predict_proba(["a charming film"])
    bertclf.evaluate(run)

User mistakes raise `BertclfError` subclasses carrying the CLI's one-line
messages (never `sys.exit`). TensorFlow is imported on the first call that needs
it, not by `import bertclf`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from bertclf.config import Config, config_from_mapping, read_config_mapping
from bertclf.data.in_memory import is_data_frame, texts_from, write_examples
from bertclf.errors import ConfigError, DataError

# In-memory data is written here (inside the config's output_dir), named by its content, so
# the run's saved config points at files that reproduce it.
IN_MEMORY_DATA_DIR = "in-memory-data"


@dataclasses.dataclass
class Run:
    """A finished training run: its folder and what `metrics.json` holds."""

    path: Path
    metrics: dict

    def __fspath__(self) -> str:
        return str(self.path)


class Classifier:
    """A run's exported model, loaded once (`bertclf.load`)."""

    def __init__(self, run_dir: Path, runtime: str = "auto"):
        from bertclf.serving.predictions import open_predictor

        self._predictor = open_predictor(Path(run_dir), runtime)
        self.path = Path(run_dir)

    @property
    def runtime(self) -> str:
        """What computes the predictions: `onnx`, `int8` (ONNX Runtime) or `tensorflow`."""
        return self._predictor.runtime

    @property
    def classes(self) -> list[str]:
        """Class names, in the order of `predict_proba`'s columns."""
        return list(self._predictor.class_names)

    @property
    def threshold(self):
        """A binary model's decision threshold on P(second class), if it was tuned or set; for a
        multi-label model, one threshold per label (in `classes` order)."""
        return self._predictor.threshold

    @property
    def multi_label(self) -> bool:
        """Whether each text gets a set of labels (one sigmoid per label) rather than one class."""
        return self._predictor.multi_label

    def predict_proba(self, texts: Any, pairs: Optional[Sequence[str]] = None) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(classes)); rows sum to 1 (a multi-label
        model's need not: each column is its own label's probability).

        Args:
            texts: A list of strings, a pandas Series, or a DataFrame holding the run's text
                column (and, for a pair model, its second-text column, used when `pairs` is None).
                A missing text (None, NaN) is the empty text, as in a CSV file.
            pairs: A pair model's second texts, in the same forms.

        Raises:
            DataError: A pair model got no `pairs`; a DataFrame without the run's columns.
        """
        if is_data_frame(texts):
            frame, columns = texts, self._columns()
            missing = [c for c in (columns["text_column"],) if c not in frame.columns]
            if missing:
                raise DataError(f"texts: a DataFrame without the run's text column {missing[0]!r} (its columns: "
                                f"{', '.join(map(str, frame.columns))}); pass that column, or a list of texts")
            texts = frame[columns["text_column"]]
            if pairs is None and columns["text_pair_column"] in frame.columns:
                pairs = frame[columns["text_pair_column"]]
        return self._predictor.probabilities(texts_from(texts, "texts"),
                                             None if pairs is None else texts_from(pairs, "pairs"))

    def _columns(self) -> dict:
        from bertclf.artifacts import read_run_data_columns

        return read_run_data_columns(self.path)

    def predict(self, texts: Any, pairs: Optional[Sequence[str]] = None) -> list:
        """Class names, decided as `bertclf predict` decides them (the model's own threshold); for
        a multi-label model, a list of label names per text (those at or above their thresholds,
        in `classes` order; maybe empty). `texts` and `pairs` take the forms `predict_proba` takes."""
        decided = self._predictor.decide(self.predict_proba(texts, pairs))
        if self.multi_label:
            return [[self.classes[j] for j in np.flatnonzero(row)] for row in decided]
        return [self.classes[i] for i in decided]


def train(config: Union[str, os.PathLike, Mapping[str, Any], Config],
          overrides: Optional[Mapping[str, Any]] = None, *, train_data: Any = None,
          validation_data: Any = None, test_data: Any = None,
          run_dir: Optional[Union[str, os.PathLike]] = None, overwrite: bool = False) -> Run:
    """Fine-tunes an encoder as `bertclf train` does and returns the finished run.

    Args:
        config: A YAML file, the same sections as a dict, or a `Config`.
        overrides: Dotted keys to values, applied last (`{"train.epochs": 1}`).
        train_data: In-memory training examples instead of the config's files: a
            pandas DataFrame with the columns `data.text_column` and
            `data.label_column` (default `text`, `label`), or a list of (text, label)
            pairs; with `data.multi_label`, each label is a list of names
            (`("we need water", ["water"])`). The config then needs no data paths.
        validation_data: Likewise; default: `data.validation_split` of `train_data`.
        test_data: Likewise; default: no test split.
        run_dir: Write the run here instead of `<output_dir>/<name>-<time>/`.
        overwrite: Let `run_dir` replace an earlier run.

    Raises:
        BertclfError: A mistake in the config or the data (the CLI's messages).
    """
    _check_keras()
    resolved = _resolve_config(config, overrides, {"train": train_data, "validation": validation_data,
                                                   "test": test_data})
    from bertclf.training.train import train as run_training

    result = run_training(resolved, run_dir=Path(run_dir) if run_dir is not None else None, overwrite=overwrite)
    if result.run_dir is not None:
        from bertclf.artifacts import record_last_run

        record_last_run(result.run_dir)
    return Run(result.run_dir, result.metrics)


def load(run: Union[str, os.PathLike, Run], runtime: str = "auto") -> Classifier:
    """Loads a finished run's exported model for prediction.

    Args:
        run: A finished run folder (or a `Run`).
        runtime: auto (the run's ONNX export when it has one, else its SavedModel), onnx,
            int8 (the export's int8 model) or tensorflow. ONNX imports no TensorFlow.

    Raises:
        RunError: The folder is not a finished run, or has no export for `runtime`.
    """
    _check_keras()  # sets what TensorFlow will need; imports nothing (the ONNX runtime needs none)
    from bertclf.artifacts import resolve_run

    return Classifier(resolve_run(Path(run)), runtime)


def export(run: Union[str, os.PathLike, Run], format: str = "onnx", quantize: Optional[str] = None) -> dict:
    """Exports a finished run as `bertclf export` does: ONNX with its tokenizer, checked against the run.

    Args:
        run: A finished run folder (or a `Run`).
        format: `onnx`, the one format there is.
        quantize: None, or `int8` to add the int8 model.

    Returns:
        The export's record (`RUN/export/onnx/bertclf.json`: labels, tokens, checks, file sizes).

    Raises:
        BertclfError: The run is unfinished, or a check fails (nothing is written then).
    """
    from bertclf.artifacts import resolve_run
    from bertclf.serving.export_command import export_run

    _check_keras()
    return export_run(resolve_run(Path(run)), format, quantize)


def evaluate(run: Union[str, os.PathLike, Run], split: str = "test", full: bool = False,
             data: Optional[Union[str, os.PathLike]] = None, runtime: str = "auto",
             long_text: Optional[str] = None, aggregation: Optional[str] = None) -> dict:
    """Scores a run as `bertclf evaluate` does and returns its metrics (also written to the run).

    Args:
        run: A finished run folder (or a `Run`).
        split: `test` or `validation`, re-derived from the run's config.
        full: Every example of the split, ignoring `data.max_eval_examples`.
        data: Instead, a folder of class subfolders or a file in the run's format.
        runtime: What scores (`load`'s choices); the result records it.
        long_text: `truncate` or `windows` to read long texts otherwise than the run does
            (None: as it does); `aggregation` (mean, max, weighted) to aggregate windows otherwise.

    Raises:
        BertclfError: The run or the data is missing or does not match.
    """
    _check_keras()
    from bertclf.artifacts import resolve_run
    from bertclf.evaluation import evaluate_run

    run_dir = resolve_run(Path(run))

    if split not in ("test", "validation"):
        raise ConfigError(f"split: {split!r} is not one of test, validation")
    return evaluate_run(run_dir, split, Path(data) if data is not None else None, full, runtime, long_text,
                        aggregation).metrics


def sweep(config: Union[str, os.PathLike], space: Union[str, os.PathLike], *, trials: Optional[int] = None,
          timeout: Optional[Union[str, float]] = None, storage: Optional[str] = None, study: Optional[str] = None,
          sampler: str = "tpe", pruner: str = "median", overrides: Optional[Mapping[str, Any]] = None) -> dict:
    """Searches config settings as `bertclf sweep` does; returns the study's summary.

    Args:
        config: The experiment config (YAML) every trial starts from.
        space: The search space (YAML): dotted config keys mapped to distributions.
        trials: Finished trials the study needs, over every process sharing it
            (default 10; a grid: its size).
        timeout: Start no new trial after this long (`2h`, `90m`, or seconds).
        storage: An Optuna storage URL (default: SQLite in the study's folder).
        study: The study's name (default: `experiment.name`).
        sampler: `tpe`, `grid` or `random`.
        pruner: `median`, `hyperband` or `none`.
        overrides: Dotted keys to values applied to every trial before its values, as
            `train` takes them: `{"train.epochs": 1}`.

    Returns:
        The summary (as the sweep folder's sweep.json): trials, best trial, files written.

    Raises:
        BertclfError: A bad config, space or option (before any trial), Ctrl-C, or
            three trials failing in a row.
    """
    _check_keras()
    from bertclf.durations import parse_duration
    from bertclf.sweep.runner import SweepOptions, run_sweep

    try:
        seconds = parse_duration(timeout) if timeout is not None else None
    except ValueError as error:
        raise ConfigError(f"--timeout: {error}") from None
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError("overrides: expected a dict of dotted keys to values, e.g. {'train.epochs': 1} "
                          "(as bertclf.train takes them)")
    options = SweepOptions(trials=trials, timeout_seconds=seconds, storage=storage, study=study,
                           sampler=sampler, pruner=pruner)
    # As --set items; JSON is YAML, so every value keeps its type ("1e-3" stays a string).
    items = [f"{key}={json.dumps(value)}" for key, value in (overrides or {}).items()]
    return run_sweep(Path(config), Path(space), items, options).summary


def sweep_report(study: str, storage: Optional[str] = None, runs_dir: Union[str, os.PathLike] = "runs") -> dict:
    """Writes a study's results again (best.yaml, sweep.json, the sweep page) and returns its summary.

    Args:
        study: The sweep's folder, or the study's name (in `runs_dir`, or in `storage`).
        storage: The study's storage URL, when it is not the folder's SQLite file.
        runs_dir: Where a study named without a folder is looked for.

    Raises:
        ConfigError: No such study.
    """
    from bertclf.sweep.results import open_report, write_results

    found, folder, url = open_report(study, storage, Path(runs_dir))
    return write_results(found, folder, url)


def _resolve_config(config: Any, overrides: Optional[Mapping[str, Any]], data: dict[str, Any]) -> Config:
    if isinstance(config, Config):
        raw, source, base = config.model_dump(mode="json"), "config", Path.cwd()
    elif isinstance(config, Mapping):
        raw, source, base = dict(config), "config", Path.cwd()
    elif isinstance(config, (str, os.PathLike)):
        raw, source, base = read_config_mapping(config), str(config), Path(config).resolve().parent
    else:
        raise ConfigError(f"config: expected a YAML file, a dict or a Config, got {type(config).__name__}")
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError("overrides: expected a dict of dotted keys to values, e.g. {'train.epochs': 1}")
    if data["train"] is None:
        if data["validation"] is not None or data["test"] is not None:
            raise ConfigError("validation_data/test_data: give train_data too (or use the config's files)")
        return config_from_mapping(raw, source, base, dict(overrides or {}))
    section = dict(raw.get("data") or {})
    text_column, label_column = section.get("text_column", "text"), section.get("label_column", "label")
    pair_column = section.get("text_pair_column")  # sentence pairs: kept, or the model would read one text
    output_dir = Path(str((raw.get("experiment") or {}).get("output_dir", "runs"))).expanduser()
    folder = (output_dir if output_dir.is_absolute() else base / output_dir) / IN_MEMORY_DATA_DIR
    for key in ("path", "archive_url", "archive_subdir", "train_path", "validation_path", "test_path",
                "classes", "train_dir", "validation_dir", "test_dir"):
        section.pop(key, None)
    section["format"] = "jsonl"
    multi_label = bool(section.get("multi_label") or dict(overrides or {}).get("data.multi_label"))
    if multi_label:  # in memory, each row's labels are a list of names: JSON lists in the file
        if section.get("label_columns") is not None:
            raise ConfigError("train_data: in memory, each row's labels are a list of names; remove "
                              "data.label_columns (it names 0/1 columns of files)")
        section.pop("label_separator", None)
        section.pop("label_values", None)
    for split, examples in data.items():
        if examples is not None:
            section[f"{split}_path"] = str(write_examples(examples, split, text_column, label_column, pair_column,
                                                           folder, multi_label))
    return config_from_mapping({**raw, "data": section}, source, base, dict(overrides or {}))


def _check_keras() -> None:
    """Keras 2 for what follows (`use_keras2`); TensorFlow imported before with Keras 3 as tf.keras
    cannot load TF Hub encoders."""
    from bertclf.runtime.tf_setup import use_keras2

    use_keras2()
    if "tensorflow" not in sys.modules or "tf_keras" in sys.modules:
        return
    keras = sys.modules.get("keras")
    if str(getattr(keras, "__version__", "")).startswith("3"):
        raise ConfigError("TensorFlow was imported before bertclf with Keras 3 as tf.keras, which TF Hub "
                          "encoders cannot use; restart, then import bertclf before tensorflow (or set "
                          "TF_USE_LEGACY_KERAS=1 first)")
