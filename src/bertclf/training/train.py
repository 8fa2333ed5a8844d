"""Fine-tuning: config in, finished run folder out.

`train` runs named steps in order: read the data (and the task it defines),
start the runtime, load the encoder, open the run folder, fit, summarise,
export, publish. Each step takes what the earlier ones returned, so a step can
be read, and tested, on its own.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from bertclf import artifacts, files
from bertclf.config import Config, dump_config
from bertclf.data import LabelledData, Split, load_data
from bertclf.data_check import add_split_token_lengths
from bertclf.encoders import load_preprocessor, prepare_encoder, with_native_weights
from bertclf.encoders.registry import resolve_spec
from bertclf.errors import Interrupted, TrainingDiverged
from bertclf.metrics import classification_metrics
from bertclf.task import ClassificationTask
from bertclf.training.runtime import apply_precision, setup_tensorflow

# The exported string-input model must reproduce the in-memory model's probabilities.
EXPORT_TOLERANCE = 1e-5
_EXPORT_CHECK_TEXTS = 32


@dataclasses.dataclass
class TrainResult:
    """Where the run went and what it measured."""

    run_dir: Path
    metrics: dict


@dataclasses.dataclass
class _Runtime:
    """The TensorFlow module and what the run computes in, on which device."""

    tf: Any
    hardware: Any
    precision: Any


@dataclasses.dataclass
class _Fitted:
    """What `fit` left: the classifier at its best epoch and the run's training record."""

    classifier: Any
    history: dict
    state: dict
    best_epoch: Optional[int]
    stopped_early: bool
    best_validation: Optional[dict]


def train(config: Config, run_dir: Optional[Path] = None, resume: bool = False,
          overwrite: bool = False) -> TrainResult:
    """Fine-tunes the configured encoder and writes a complete run folder.

    The run folder gets the resolved config, labels and data report first, a
    checkpoint after every epoch, and the exported model, metrics and the
    newest-run pointer only once training and the export check succeed, so a
    failed run never looks finished.

    Args:
        config: The resolved experiment config (on resume: the run's own).
        run_dir: The run folder; None creates `<output_dir>/<name>-<time>/`.
        resume: Continue `run_dir` from its last completed epoch.
        overwrite: Replace an existing `run_dir` (a previous run's folder).

    Raises:
        BertclfError: For bad data, an unusable encoder, divergence, Ctrl-C and the like.
    """
    data, task, class_weight = read_data(config)
    runtime = start_runtime(config)
    encoder, preprocessor = load_encoder(config, data, runtime)
    run_dir, state = open_run(config, data, run_dir, resume, overwrite)
    encode = functools.partial(_encode, preprocessor=preprocessor, config=config)
    fitted = fit(config, data, task, class_weight, encoder, encode, run_dir, state)
    metrics = summarise(config, data, task, class_weight, encoder, runtime, fitted, encode)
    export(config, data, preprocessor, fitted.classifier, task, encode, run_dir, metrics)
    publish(run_dir, metrics, fitted.history)
    return TrainResult(run_dir, metrics)


def read_data(config: Config) -> tuple[LabelledData, ClassificationTask, Optional[dict[int, float]]]:
    """Reads the splits and checks the settings that depend on the classes found.

    Raises:
        BertclfError: Unreadable data, an unknown class in train.class_weight, or a
            monitored metric the task does not define.
    """
    _say("Reading data...")
    data = load_data(config.data, config.experiment.seed)
    _say(_describe(data))
    task = ClassificationTask(len(data.class_names))
    class_weight = task.class_weight(config.train.class_weight, data.class_names, data.train.labels)
    task.check_monitor(config.train.monitor)
    return data, task, class_weight


def start_runtime(config: Config) -> _Runtime:
    """Seeds TensorFlow and applies the precision `runtime.precision` resolves to here."""
    tf = setup_tensorflow(config.runtime, config.experiment.seed)
    hardware, precision = apply_precision(tf, config.runtime.precision)
    _say(f"Device: {hardware.describe()}; precision {precision.precision} ({precision.reason})")
    return _Runtime(tf, hardware, precision)


def load_encoder(config: Config, data: LabelledData, runtime: _Runtime):
    """The encoder (rebuilt natively for reduced precision) and its preprocessor.

    Also adds token-length statistics to the data report, and prints its warnings.
    """
    encoder = prepare_encoder(resolve_spec(config.model), config.model, data.train.texts,
                              config.experiment.seed)
    if runtime.precision.precision != "float32":
        encoder = with_native_weights(encoder)
    preprocessor = load_preprocessor(encoder.preprocess_handle)
    add_split_token_lengths(data, preprocessor, config.model.seq_length, config.data.truncation)
    for warning in data.report["warnings"]:
        _say(f"warning: {warning}")
    return encoder, preprocessor


def open_run(config: Config, data: LabelledData, run_dir: Optional[Path], resume: bool,
             overwrite: bool) -> tuple[Path, Optional[dict]]:
    """The run folder to write, with its config, labels and data report; its state if resumed.

    Raises:
        RunError: Resuming a finished run or one trained on other classes; a
            --run-dir that holds another run without --overwrite.
    """
    from bertclf.training import checkpoints

    state = None
    if resume:
        artifacts.require_unfinished(run_dir)
        artifacts.require_same_classes(run_dir, data.class_names)
        state = checkpoints.read_state(run_dir)
    elif run_dir is None:
        run_dir = artifacts.create_run_dir(config.experiment.output_dir, config.experiment.name)
    else:
        run_dir = artifacts.claim_run_dir(run_dir, overwrite)
    _say(f"Run folder: {run_dir}")
    if not resume:
        files.write_text_atomic(run_dir / artifacts.CONFIG_FILE, dump_config(config))
        files.write_json_atomic(run_dir / artifacts.LABELS_FILE, data.class_names)
    files.write_json_atomic(run_dir / artifacts.DATA_REPORT_FILE, data.report)
    return run_dir, state


def fit(config: Config, data: LabelledData, task: ClassificationTask, class_weight: Optional[dict],
        encoder, encode: Callable, run_dir: Path, state: Optional[dict]) -> _Fitted:
    """Builds and trains the classifier, checkpointing every epoch; restores the best epoch.

    Raises:
        Interrupted: Ctrl-C or SIGTERM (the last completed epoch is saved).
        TrainingDiverged: The loss became NaN or infinite.
    """
    from bertclf.model import build_classifier
    from bertclf.task import build_optimizer
    from bertclf.training import checkpoints
    from bertclf.training.callbacks import StopGuard, ValidationMetrics
    from bertclf.training.pipeline import steps_per_epoch, training_dataset

    import tf_keras

    batch_size, bucketing, epochs = config.train.batch_size, config.data.bucketing, config.train.epochs
    # Seeded again: preparing the encoder may have drawn random numbers (building a tiny encoder
    # does, loading it from the cache does not), and the classifier's initial weights and
    # dropout must not depend on what the cache held.
    tf_keras.utils.set_random_seed(config.experiment.seed)
    classifier = build_classifier(encoder, task.num_classes, config.model)
    steps = steps_per_epoch(len(data.train), batch_size)
    classifier.compile(optimizer=build_optimizer(config.train, steps * epochs),
                       jit_compile=config.runtime.jit_compile, **task.compile_arguments())
    guard = StopGuard(steps)
    validation = ValidationMetrics(encode(data.validation), data.class_names, config.train.monitor, batch_size,
                                   bucketing, config.train.early_stopping_patience, guard)
    saver = checkpoints.RunCheckpoint(run_dir, validation, guard, state)
    first_epoch = 0
    if state is not None:
        checkpoints.restore(classifier, state, run_dir)
        validation.load_state(state["validation"])
        first_epoch = state["epochs_completed"]
        _say(f"Resuming after epoch {first_epoch} (optimizer step {state['optimizer_steps']}).")
    if first_epoch < epochs and not validation.stopped_early:
        _say(f"Training {encoder.spec.name} for {epochs - first_epoch} epoch(s) of {steps} steps...")
        batches = training_dataset(encode(data.train), batch_size, task, config.experiment.seed, first_epoch,
                                   epochs, bucketing)
        try:
            classifier.fit(batches, epochs=epochs, initial_epoch=first_epoch, steps_per_epoch=steps,
                           callbacks=[guard, validation, saver], class_weight=class_weight,
                           verbose=1 if config.runtime.progress and sys.stderr.isatty() else 2)
        except KeyboardInterrupt:  # a second Ctrl-C
            raise Interrupted(_resume_hint(run_dir, saver.epochs_completed, "interrupted")) from None
        if guard.interrupted:
            raise Interrupted(_resume_hint(run_dir, saver.epochs_completed, "interrupted"))
    if guard.diverged_at is not None:
        epoch, step = guard.diverged_at
        rate = config.train.learning_rate
        raise TrainingDiverged(
            f"training diverged: the loss became NaN/inf in epoch {epoch}, step {step}; lower "
            f"train.learning_rate (now {rate:g}), e.g. --set train.learning_rate={rate / 10:g}. "
            + _resume_hint(run_dir, saver.epochs_completed, "The run stopped"))
    final_state = saver.state()
    best_epoch = checkpoints.restore_best_weights(classifier, final_state, run_dir)
    return _Fitted(classifier, saver.history, final_state, best_epoch, validation.stopped_early,
                   validation.best_metrics)


def summarise(config: Config, data: LabelledData, task: ClassificationTask, class_weight: Optional[dict],
              encoder, runtime: _Runtime, fitted: _Fitted, encode: Callable) -> dict:
    """metrics.json's content: the run's record, validation (and test) scores of the exported weights."""
    def score(split: Split) -> dict:
        return classification_metrics(split.labels, _probabilities(fitted.classifier, task, encode(split), config),
                                      data.class_names)

    metrics = {"epochs": len(fitted.history.get("loss", [])), "encoder": encoder.spec.name,
               "monitor": config.train.monitor, "best_epoch": fitted.best_epoch,
               "stopped_early": fitted.stopped_early,
               "optimizer_steps": fitted.state.get("optimizer_steps", 0),
               "class_weight": class_weight,
               "train_examples": len(data.train),
               "runtime": {"device": runtime.hardware.describe(), "precision": runtime.precision.precision,
                           "precision_reason": runtime.precision.reason},
               # fit() wall time over all sessions of the run, per-epoch validation included;
               # excludes data reading, tokenizing and export.
               "timing": {"fit_seconds": fitted.state.get("fit_seconds", 0.0)},
               # Scored by the callback with exactly the weights that are exported (or, if no
               # epoch had a finite score, with the final weights).
               "validation": fitted.best_validation or score(data.validation)}
    if data.test is not None:
        metrics["test"] = score(data.test)
    return metrics


def export(config: Config, data: LabelledData, preprocessor, classifier, task: ClassificationTask,
           encode: Callable, run_dir: Path, metrics: dict) -> None:
    """Writes the string-input SavedModel, history and plots; checks the export against the classifier.

    Adds `export_check` to `metrics`.
    """
    from bertclf.serving.export import export_serving_model

    _say("Exporting the model...")
    staging = files.staging_dir(run_dir / artifacts.MODEL_DIR)
    export_serving_model(staging, preprocessor, classifier, config.model.seq_length, data.class_names,
                         config.data.truncation, pairs=data.train.pairs is not None)
    check = data.validation.subset(range(min(_EXPORT_CHECK_TEXTS, len(data.validation))))
    metrics["export_check"] = _check_export(staging, _probabilities(classifier, task, encode(check), config), check)
    files.publish_dir(staging, run_dir / artifacts.MODEL_DIR)


def publish(run_dir: Path, metrics: dict, history: dict[str, list[float]]) -> None:
    """Marks the run finished: history, metrics, checkpoints gone, the newest-run pointer."""
    from bertclf.training import checkpoints

    _write_history(run_dir, history)
    files.write_json_atomic(run_dir / artifacts.METRICS_FILE, metrics)
    checkpoints.remove(run_dir)
    artifacts.mark_latest(run_dir)


def _encode(split: Split, preprocessor, config: Config):
    from bertclf.training.pipeline import encode_split

    return encode_split(split, preprocessor, config.model.seq_length, config.data.truncation)


def _probabilities(classifier, task: ClassificationTask, encoded, config: Config) -> np.ndarray:
    from bertclf.training.pipeline import predict_logits

    logits = predict_logits(classifier, encoded, config.train.batch_size, config.data.bucketing)
    return task.probabilities(logits).numpy()


def _resume_hint(run_dir: Path, epochs_completed: int, what: str) -> str:
    if not epochs_completed:
        return f"{what} before the first epoch ended; nothing to resume (start again)"
    saved = "epoch 1 is" if epochs_completed == 1 else f"epochs 1-{epochs_completed} are"
    return f"{what}; {saved} saved. Resume with: bertclf train --resume {run_dir}"


def _check_export(model_dir: Path, expected: np.ndarray, examples: Split) -> dict:
    import tensorflow as tf

    served = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    inputs = {"texts": tf.constant(examples.texts)}
    if examples.pairs is not None:
        inputs["text_pairs"] = tf.constant(examples.pairs)
    got = served(**inputs)["probabilities"].numpy()
    difference = float(np.abs(got - expected).max())
    if difference > EXPORT_TOLERANCE:
        raise RuntimeError(f"exported model differs from the trained one by {difference:.2e} "
                           f"(tolerance {EXPORT_TOLERANCE:.0e}); this is a bug in bertclf")
    return {"texts": len(examples), "max_abs_difference": difference}


def _write_history(run_dir: Path, history: dict[str, list[float]]) -> None:
    from bertclf.reporting.plots import plot_history

    files.write_json_atomic(run_dir / artifacts.HISTORY_JSON_FILE, history)
    keys = list(history)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["epoch", *keys])
    for epoch in range(len(history.get("loss", []))):
        writer.writerow([epoch + 1, *(history[k][epoch] for k in keys)])
    files.write_text_atomic(run_dir / artifacts.HISTORY_CSV_FILE, buffer.getvalue())
    plot_history(history, run_dir / artifacts.PLOTS_DIR / artifacts.HISTORY_PLOT_FILE)


def _describe(data: LabelledData) -> str:
    parts = []
    for name, split in (("train", data.train), ("validation", data.validation), ("test", data.test)):
        if split is not None:
            counts = data.report["splits"][name]["label_counts"]
            parts.append(f"{name} {len(split)} ({', '.join(f'{k} {v}' for k, v in counts.items())})")
    return "Data: " + "; ".join(parts)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
