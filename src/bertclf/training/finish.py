"""Finishing a run: the exported model, checked, then the files that make the run finished.

The order is the contract (`artifacts.is_finished`): the SavedModel is written
into a staging folder and checked against the in-memory classifier; then
history, evaluations, plots and metrics.json are written; `model/` is renamed
into place last. A crash, Ctrl-C or SIGTERM anywhere before that rename leaves
a run that every command calls unfinished and `train --resume` completes.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from bertclf import artifacts, files
from bertclf.config import Config
from bertclf.data import LabelledData
from bertclf.task import ClassificationTask
from bertclf.length_metrics import by_length, reading_record
from bertclf.training.phases import PhaseTimer

# The exported string-input model must reproduce the in-memory model's probabilities, to within
# the rounding of the precision it computes in: a batch padded to another length sums its
# products in another order, which float32 hides and a 16-bit format does not (MiniLM in
# bfloat16, imdb_small's shipped-config test at 32 tokens: 2.3e-4). A wrong weight or
# tokenizer moves probabilities far more.
EXPORT_TOLERANCES = {"float32": 1e-5, "mixed_float16": 2e-3, "mixed_bfloat16": 5e-3}
_EXPORT_CHECK_TEXTS = 32


def export(config: Config, data: LabelledData, preprocessor, classifier, task: ClassificationTask,
           encode: Callable, run_dir: Path, metrics: dict, timer: PhaseTimer, probabilities: Callable) -> Path:
    """Writes the string-input SavedModel into a staging folder and checks it against the classifier.

    `probabilities(classifier, task, encoded, config)` scores with the in-memory classifier;
    `encode` is the run's `pipeline.SplitEncoder`. Adds `export_check` to `metrics`. Returns
    the staging folder, which `publish` moves into place as `model/` once everything else of
    the run is written.
    """
    from bertclf.encoders.tokenization import leading_tokens
    from bertclf.encoders.windows import Windowing
    from bertclf.serving.export import check_export, export_serving_model

    print("Exporting the model...", file=sys.stderr, flush=True)
    staging = files.staging_dir(run_dir / artifacts.MODEL_DIR)
    record = metrics.get("threshold", {})
    threshold = record.get("values", record.get("value"))  # per label (multi-label), or one
    with timer.phase("export"):
        export_serving_model(staging, preprocessor, classifier, config.model.seq_length, data.class_names,
                             config.data.truncation, pairs=data.train.pairs is not None, threshold=threshold,
                             task=task, windows=Windowing.of(config.model, leading_tokens(preprocessor)),
                             long_text=config.model.long_text)
    with timer.phase("export_check"):
        # Rows of the packed validation split: no tokenizer pass (see `_train`).
        check = encode.subset(data.validation, range(min(_EXPORT_CHECK_TEXTS, len(data.validation))))
        expected = probabilities(classifier, task, encode(check), config)
        metrics["export_check"] = check_export(staging, expected, check,
                                                EXPORT_TOLERANCES[metrics["runtime"]["precision"]],
                                                threshold, data.class_names, task)
    return staging


def publish(run_dir: Path, staged_model: Path, metrics: dict, history: dict[str, list[float]],
            evaluations: dict[str, dict], class_names: list[str], timer: Optional[PhaseTimer] = None,
            curve: Optional[dict] = None) -> None:
    """Marks the run finished: history, evaluations, plots and metrics first, then `model/`, last.

    A run is finished when it has `model/` (`artifacts.is_finished`), and `model/` is
    renamed into place only once everything else is written: a crash or a stop
    anywhere before leaves a run that is not finished, that `--resume` completes
    from its checkpoints. Then the checkpoints go and the newest-run pointer is set.
    With a timer, `metrics["timing"]` gets the run's phases, up to writing metrics.json.
    """
    from bertclf.evaluation import write_evaluation
    from bertclf.reporting.plots import write_history
    from bertclf.training import checkpoints

    with timer.phase("reports") if timer else contextlib.nullcontext():
        write_history(run_dir, history, curve)
        for name, record in evaluations.items():
            write_evaluation(run_dir, name, record, class_names)
    if timer is not None:
        metrics["timing"].update(timer.record())
    files.write_json_atomic(run_dir / artifacts.METRICS_FILE, metrics)
    files.publish_dir(staged_model, run_dir / artifacts.MODEL_DIR)
    checkpoints.remove(run_dir)
    artifacts.mark_latest(run_dir)


def summarise(config: Config, data: LabelledData, task: ClassificationTask, class_weight: Optional[dict],
              encoder, runtime, fitted, encode: Callable,
              timer: PhaseTimer) -> tuple[dict, dict[str, dict]]:
    """metrics.json's content, and the evaluation records of the validation and test splits.

    Both are scored with exactly the exported weights, at the decision threshold
    `train.threshold` resolves to on validation (binary tasks).
    """
    probabilities = {"validation": fitted.validation_probabilities}
    if probabilities["validation"] is None:
        with timer.phase("validation"):
            probabilities["validation"] = probabilities_of(fitted.classifier, task, encode(data.validation), config,
                                                         "Scoring validation")
    if data.test is not None:
        with timer.phase("test_scoring"):
            probabilities["test"] = probabilities_of(fitted.classifier, task, encode(data.test), config, "Scoring test")
    threshold, threshold_record = task.decision_threshold(config.train.threshold, data.validation.labels,
                                                          probabilities["validation"])
    if threshold_record and not threshold_record.get("validation", {}).get("met", True):
        _say(f"warning: no threshold reaches train.threshold's target on validation; using the one "
             f"with the best validation F1 ({threshold:.3f})")
    left_out = data.report.get("left_out_labels", {})
    with timer.phase("reports"):
        evaluations = {name: task.evaluation_record(getattr(data, name), scores, data.class_names, threshold,
                                                    f"config split {name}",
                                                    {label: counts.get(name, 0) for label, counts in left_out.items()})
                       for name, scores in probabilities.items()}
        for name, record in evaluations.items():
            encoded = encode(getattr(data, name))
            record["long_text"] = reading_record(config, config.model.long_text, config.model.window_aggregation,
                                                 None if encoded.documents is None else len(encoded.documents))
            record["by_length"] = by_length(encoded.full_lengths, getattr(data, name).labels, probabilities[name],
                                            data.class_names, threshold, config.model.seq_length, task.multi_label)
    metrics = {"epochs": len(fitted.history.get("loss", [])), "encoder": encoder.spec.name,
               "monitor": config.train.monitor, "best_epoch": fitted.best_epoch,
               "stopped_early": fitted.stopped_early,
               "optimizer_steps": fitted.state.get("optimizer_steps", 0),
               "class_weight": class_weight,
               "train_examples": len(data.train),
               # What an epoch trained on: texts, or their windows (train.windows: all reads every
               # window, random one per text); the steps count these rows, not the texts.
               "training_reads": {"windows": config.train.windows,
                                  "rows_per_epoch": encode.training(data.train).training_examples},
               "batch_size": config.train.batch_size,  # global: shared by all replicas
               "runtime": runtime.record(),
               # fit() wall time over all sessions of the run, per-epoch validation included;
               # excludes data reading, tokenizing and export.
               "timing": {"fit_seconds": fitted.state.get("fit_seconds", 0.0)}}
    if threshold_record is not None:
        metrics["threshold"] = threshold_record
    for name, record in evaluations.items():
        metrics[name] = {key: value for key, value in record.items() if key not in ("analysis", "source")}
    return metrics, evaluations


def probabilities_of(classifier, task: ClassificationTask, encoded, config: Config,
                   progress: Optional[str] = None) -> np.ndarray:
    from bertclf.training.pipeline import predict_logits

    logits = predict_logits(classifier, encoded, config.train.batch_size, config.data.bucketing, progress)
    return encoded.text_probabilities(task.probabilities(logits).numpy(), task.multi_label)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
