"""Fine-tuning: config in, finished run folder out."""

from __future__ import annotations

import collections
import csv
import dataclasses
import io
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from bertclf import artifacts
from bertclf.config import Config, TrainConfig, dump_config
from bertclf.data import LabelledData, Split, load_data
from bertclf.data_check import add_split_token_lengths
from bertclf.encoders import load_preprocessor, prepare_encoder, with_native_weights
from bertclf.errors import ConfigError, Interrupted, RunError, TrainingDiverged
from bertclf.metrics import classification_metrics
from bertclf.registry import resolve_spec
from bertclf.runtime import apply_precision, setup_tensorflow

# The exported string-input model must reproduce the in-memory model's probabilities.
EXPORT_TOLERANCE = 1e-5
_EXPORT_CHECK_TEXTS = 32


@dataclasses.dataclass
class TrainResult:
    """Where the run went and what it measured."""

    run_dir: Path
    metrics: dict


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
    seed = config.experiment.seed
    spec = resolve_spec(config.model)
    _say("Reading data...")
    data = load_data(config.data, seed)
    _say(_describe(data))
    num_classes = len(data.class_names)
    class_weight = resolve_class_weight(config.train, data)
    _check_monitor(config.train.monitor, num_classes)
    tf = setup_tensorflow(config.runtime, seed)
    hardware, precision = apply_precision(tf, config.runtime.precision)
    _say(f"Device: {hardware.describe()}; precision {precision.precision} ({precision.reason})")
    encoder = prepare_encoder(spec, config.model, data.train.texts, seed)
    if precision.precision != "float32":
        encoder = with_native_weights(encoder)
    preprocessor = load_preprocessor(encoder.preprocess_handle)
    seq_length, batch_size = config.model.seq_length, config.train.batch_size
    truncation, bucketing = config.data.truncation, config.data.bucketing
    add_split_token_lengths(data, preprocessor, seq_length, truncation)
    for warning in data.report["warnings"]:
        _say(f"warning: {warning}")

    from bertclf import checkpoints
    from bertclf.callbacks import StopGuard, ValidationMetrics
    from bertclf.model import build_classifier, export_serving_model, probabilities
    from bertclf.pipeline import encode_split, predict_logits, steps_per_epoch, training_dataset

    run_dir, state = _open_run_dir(config, run_dir, resume, overwrite, data.class_names)
    _say(f"Run folder: {run_dir}")
    if state is None:
        artifacts.write_text_atomic(run_dir / artifacts.CONFIG_FILE, dump_config(config))
        artifacts.write_json_atomic(run_dir / artifacts.LABELS_FILE, data.class_names)
    artifacts.write_json_atomic(run_dir / artifacts.DATA_REPORT_FILE, data.report)

    def encode(split: Split):
        return encode_split(split, preprocessor, seq_length, truncation)

    def predict(split: Split) -> np.ndarray:
        logits = predict_logits(classifier, encode(split), batch_size, bucketing)
        return probabilities(tf.constant(logits), num_classes).numpy()

    train_ids = encode(data.train)
    classifier = build_classifier(encoder, num_classes, config.model)
    steps = steps_per_epoch(len(data.train), batch_size)
    epochs = config.train.epochs
    classifier.compile(optimizer=build_optimizer(config.train, steps * epochs), jit_compile=config.runtime.jit_compile,
                       **loss_and_metrics(num_classes))
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
        try:
            classifier.fit(training_dataset(train_ids, batch_size, num_classes, seed, first_epoch, epochs, bucketing),
                           epochs=epochs, initial_epoch=first_epoch, steps_per_epoch=steps,
                           callbacks=[guard, validation, saver], class_weight=class_weight,
                           verbose=1 if config.runtime.progress and sys.stderr.isatty() else 2)
        except KeyboardInterrupt:  # a second Ctrl-C
            raise Interrupted(_resume_hint(run_dir, saver.epochs_completed, "interrupted")) from None
        if guard.interrupted:
            raise Interrupted(_resume_hint(run_dir, saver.epochs_completed, "interrupted"))
    if guard.diverged_at is not None:
        epoch, step = guard.diverged_at
        raise TrainingDiverged(
            f"training diverged: the loss became NaN/inf in epoch {epoch}, step {step}; lower "
            f"train.learning_rate (now {config.train.learning_rate:g}), e.g. --set "
            f"train.learning_rate={config.train.learning_rate / 10:g}. "
            + _resume_hint(run_dir, saver.epochs_completed, "The run stopped"))
    final_state = saver.state()
    _write_history(run_dir, saver.history)
    best_epoch = checkpoints.restore_best_weights(classifier, final_state, run_dir)

    metrics = {"epochs": len(saver.history.get("loss", [])), "encoder": encoder.spec.name,
               "monitor": config.train.monitor, "best_epoch": best_epoch,
               "stopped_early": validation.stopped_early,
               "optimizer_steps": final_state.get("optimizer_steps", 0),
               "class_weight": class_weight,
               "train_examples": len(data.train),
               "runtime": {"device": hardware.describe(), "precision": precision.precision,
                           "precision_reason": precision.reason},
               # fit() wall time over all sessions of the run, per-epoch validation included;
               # excludes data reading, tokenizing and export.
               "timing": {"fit_seconds": final_state.get("fit_seconds", 0.0)},
               # Scored by the callback with exactly the weights that are exported (or, if no
               # epoch had a finite score, with the final weights).
               "validation": validation.best_metrics or classification_metrics(
                   data.validation.labels, predict(data.validation), data.class_names)}
    if data.test is not None:
        metrics["test"] = classification_metrics(data.test.labels, predict(data.test), data.class_names)

    _say("Exporting the model...")
    staging = artifacts.staging_dir(run_dir / artifacts.MODEL_DIR)
    export_serving_model(staging, preprocessor, classifier, seq_length, data.class_names, truncation,
                         pairs=data.train.pairs is not None)
    check = data.validation.subset(range(min(_EXPORT_CHECK_TEXTS, len(data.validation))))
    metrics["export_check"] = _check_export(staging, predict(check), check)
    artifacts.publish_dir(staging, run_dir / artifacts.MODEL_DIR)
    artifacts.write_json_atomic(run_dir / artifacts.METRICS_FILE, metrics)
    checkpoints.remove(run_dir)
    artifacts.mark_latest(run_dir)
    return TrainResult(run_dir, metrics)


def _open_run_dir(config: Config, run_dir: Optional[Path], resume: bool, overwrite: bool,
                  class_names: list[str]) -> tuple[Path, Optional[dict]]:
    """The run folder to write, and its training state when resuming one that has some."""
    from bertclf import checkpoints

    if resume:
        if (run_dir / artifacts.MODEL_DIR).is_dir():
            raise RunError(f"{run_dir}: this run already finished; nothing to resume")
        if artifacts.read_labels(run_dir) != class_names:
            raise RunError(f"{run_dir}: the data now has classes {class_names}, the run started with "
                           f"{artifacts.read_labels(run_dir)}; start a new run")
        return run_dir, checkpoints.read_state(run_dir)
    if run_dir is None:
        return artifacts.create_run_dir(config.experiment.output_dir, config.experiment.name), None
    return artifacts.claim_run_dir(run_dir, overwrite), None


def _resume_hint(run_dir: Path, epochs_completed: int, what: str) -> str:
    if not epochs_completed:
        return f"{what} before the first epoch ended; nothing to resume (start again)"
    saved = "epoch 1 is" if epochs_completed == 1 else f"epochs 1-{epochs_completed} are"
    return f"{what}; {saved} saved. Resume with: bertclf train --resume {run_dir}"


def build_optimizer(train: TrainConfig, total_steps: int):
    """AdamW (decoupled weight decay) with linear warmup, then linear decay to zero.

    This is `official.nlp.optimization.create_optimizer`'s recipe, built from its
    parts because `create_optimizer` fixes the weight decay at 0.01.
    """
    import tf_keras
    from official.nlp import optimization

    schedule = tf_keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=train.learning_rate, decay_steps=total_steps, end_learning_rate=0.0)
    warmup_steps = int(train.warmup_fraction * total_steps)
    if warmup_steps:
        schedule = optimization.WarmUp(initial_learning_rate=train.learning_rate,
                                       decay_schedule_fn=schedule, warmup_steps=warmup_steps)
    return optimization.AdamWeightDecay(
        learning_rate=schedule, weight_decay_rate=train.weight_decay, beta_1=0.9, beta_2=0.999,
        epsilon=1e-6, exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"])


def resolve_class_weight(train: TrainConfig, data: LabelledData) -> Optional[dict[int, float]]:
    """`train.class_weight` as Keras wants it: class index -> loss weight, or None.

    `balanced` weighs each class by n / (classes * count), so every class carries
    the same total weight.

    Raises:
        ConfigError: A class named in the mapping does not exist.
    """
    if train.class_weight == "none":
        return None
    counts = collections.Counter(data.train.labels)
    if train.class_weight == "balanced":
        total, classes = len(data.train), len(data.class_names)
        return {i: total / (classes * counts[i]) for i in range(classes) if counts[i]}
    unknown = [name for name in train.class_weight if name not in data.class_names]
    if unknown:
        raise ConfigError(f"train.class_weight: no class {unknown[0]!r}; classes are "
                          f"{', '.join(data.class_names)}")
    return {i: float(train.class_weight.get(name, 1.0)) for i, name in enumerate(data.class_names)}


def _check_monitor(monitor: str, num_classes: int) -> None:
    if monitor in ("val_roc_auc", "val_pr_auc") and num_classes != 2:
        raise ConfigError(f"train.monitor: {monitor} is defined for two classes, this data has "
                          f"{num_classes}; use val_macro_f1, val_accuracy or val_loss")


def loss_and_metrics(num_classes: int) -> dict:
    """`compile` arguments: one-logit binary or K-logit cross-entropy, and accuracy."""
    import tf_keras

    if num_classes == 2:
        return {"loss": tf_keras.losses.BinaryCrossentropy(from_logits=True),
                # On a logit, 0 is the 0.5-probability threshold.
                "metrics": [tf_keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)]}
    return {"loss": tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "metrics": [tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}


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
    from bertclf.plots import plot_history

    artifacts.write_json_atomic(run_dir / artifacts.HISTORY_JSON_FILE, history)
    keys = list(history)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["epoch", *keys])
    for epoch in range(len(history.get("loss", []))):
        writer.writerow([epoch + 1, *(history[k][epoch] for k in keys)])
    artifacts.write_text_atomic(run_dir / artifacts.HISTORY_CSV_FILE, buffer.getvalue())
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
