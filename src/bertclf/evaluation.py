"""Scoring a finished run's exported model on a split or another folder."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Optional

import yaml

from bertclf import artifacts, files
from bertclf.config import Config
from bertclf.data import Split, load_data, read_eval_source
from bertclf.errors import DataError, RunError
from bertclf.length_metrics import by_length, headline_scores, reading_record
from bertclf.metrics import classification_metrics
from bertclf.task import task_for


# What moves with the decision threshold (loss and the AUCs do not).
_THRESHOLD_DEPENDENT = ("accuracy", "macro_f1", "per_class", "confusion_matrix")


@dataclasses.dataclass
class Evaluation:
    """What `bertclf evaluate` measured and where it wrote it."""

    name: str
    metrics: dict
    class_names: list[str]
    report_path: Path
    plot_path: Path


def evaluate_run(run_dir: Path, split: str = "test", data_path: Optional[Path] = None,
                 full: bool = False, runtime: str = "auto", long_text: Optional[str] = None,
                 aggregation: Optional[str] = None) -> Evaluation:
    """Scores the run's model on its config's `split`, or on a class-folder tree.

    Args:
        run_dir: A finished run folder.
        split: `test` or `validation`, re-derived from the run's own resolved config
            (same seed, so the same examples as at training time).
        data_path: Instead of a split, a folder with one subfolder per class, or a
            file in the run's table format; all of it is scored. Its result is
            named `data-<folder or file name>`.
        full: Score every example of the split, ignoring `data.max_eval_examples`
            (the result is named `<split>-full`).
        runtime: `serving.predictions.open_predictor`'s choice: auto (the ONNX export when the
            run has one, else the SavedModel), onnx, int8 (its result's name ends in `-int8`)
            or tensorflow. The record says which one scored.
        long_text: Read texts longer than the sequence length otherwise than the run does:
            `truncate` or `windows` (None: as the run does). The result's name ends in
            `-windows` or `-truncate` when it differs from the run's.
        aggregation: With windows, aggregate them otherwise than the run does (mean, max,
            weighted; the name then ends in `-<aggregation>`). A windowed score also records
            what the other aggregations would have given (`long_text.aggregations`).

    Raises:
        BertclfError: The run or the data is missing or does not match.
    """
    class_names = artifacts.read_labels(run_dir)
    config = _run_config(run_dir)
    left_out: dict[str, int] = {}
    if data_path is not None:
        examples = read_eval_source(Path(data_path), config.data, class_names)
        name = f"data-{Path(data_path).resolve().stem}"
    else:
        if full:
            config.data.max_eval_examples = None
        examples, left_out = _config_split(run_dir, config, split, class_names)
        name = f"{split}-full" if full else split
    from bertclf.serving.predictions import open_predictor, run_long_text

    own = run_long_text(run_dir)
    predictor = open_predictor(run_dir, runtime, long_text, aggregation, keep_windows=True)
    if predictor.runtime == "int8":  # never in place of the float32 model's scores
        name += "-int8"
    if predictor.long_text != own["long_text"]:  # never in place of the run's own reading
        name += f"-{predictor.long_text}"
    if predictor.long_text == "windows" and predictor.aggregation != own["window_aggregation"]:
        name += f"-{predictor.aggregation}"
    started = time.perf_counter()
    probabilities = predictor.probabilities(examples.texts, examples.pairs, progress=f"Scoring {name}")
    seconds = time.perf_counter() - started
    source = str(data_path) if data_path is not None else f"config split {split}"
    task = task_for(config.data.multi_label, len(class_names))
    record = task.evaluation_record(examples, probabilities, class_names, predictor.threshold, source, left_out)
    record["timing"] = {"seconds": seconds, "texts_per_second": len(examples) / seconds if seconds else None}
    record["runtime"] = predictor.runtime
    record["long_text"] = _long_text_record(predictor, config, task, examples, class_names)
    if predictor.text_tokens is not None:
        record["by_length"] = by_length(predictor.text_tokens, examples.labels, probabilities, class_names,
                                        predictor.threshold, config.model.seq_length, task.multi_label)
    return write_evaluation(run_dir, name, record, class_names)


def _long_text_record(predictor, config: Config, task, examples: Split, class_names: list[str]) -> dict:
    """How long texts were read; with windows, how many, and every aggregation's headline score."""
    if predictor.long_text != "windows" or not predictor.window_outputs:
        return reading_record(config, predictor.long_text, predictor.aggregation, None)
    import numpy as np

    from bertclf.encoders.windows import AGGREGATIONS, aggregate

    window_probabilities, documents, tokens = (np.concatenate(part) for part in zip(*predictor.window_outputs))
    headline = "micro_f1" if task.multi_label else "accuracy"
    record = {**reading_record(config, "windows", predictor.aggregation, int(len(documents))), "aggregations": {}}
    for how in AGGREGATIONS:
        probabilities = aggregate(window_probabilities, documents, len(examples), how, tokens, task.multi_label)
        scores = headline_scores(list(examples.labels), probabilities, class_names, predictor.threshold,
                                 task.multi_label)
        record["aggregations"][how] = scores[headline]
    return record


def evaluation_record(examples: Split, probabilities, class_names: list[str], threshold: Optional[float],
                      source: str) -> dict:
    """What `eval-<name>.json` holds: metrics at the model's decision threshold, for a binary
    task whose threshold is not 0.5 also those at 0.5 (`at_0.5`), and the report's curves,
    calibration and example lists (`analysis`), so `bertclf report` needs no model."""
    from bertclf.reporting.analysis import analyse

    metrics = classification_metrics(examples.labels, probabilities, class_names, threshold)
    if threshold is not None and threshold != 0.5:
        at_default = classification_metrics(examples.labels, probabilities, class_names, 0.5)
        metrics["at_0.5"] = {key: at_default[key] for key in _THRESHOLD_DEPENDENT}
    metrics["source"] = source
    metrics["analysis"] = analyse(examples.labels, probabilities, class_names, examples.texts, threshold,
                                  examples.pairs)
    return metrics


def write_evaluation(run_dir: Path, name: str, record: dict, class_names: list[str]) -> Evaluation:
    """Writes an evaluation record as `eval-<name>.json`, and its plot: the confusion matrix, or
    for label sets (`multi_label_evaluation_record`) the per-label scores."""
    report_path = run_dir / artifacts.eval_file(name)
    files.write_json_atomic(report_path, record)
    title = f"{run_dir.name}: {name} ({record['examples']} examples)"
    if record.get("task") == "multi_label":
        from bertclf.reporting.multilabel_plots import plot_label_scores

        plot_path = run_dir / artifacts.PLOTS_DIR / artifacts.label_scores_plot_file(name)
        plot_label_scores(record["per_label"], plot_path, title)
    else:
        from bertclf.reporting.plots import plot_confusion_matrix

        plot_path = run_dir / artifacts.PLOTS_DIR / artifacts.confusion_plot_file(name)
        plot_confusion_matrix(record["confusion_matrix"], class_names, plot_path, title=title)
    return Evaluation(name, record, class_names, report_path, plot_path)


def _run_config(run_dir: Path) -> Config:
    config_path = run_dir / artifacts.CONFIG_FILE
    if not config_path.is_file():
        raise RunError(f"{run_dir}: has no {artifacts.CONFIG_FILE}; the run folder is incomplete")
    return Config.model_validate(yaml.safe_load(config_path.read_text(encoding="utf-8")))


def _config_split(run_dir: Path, config: Config, split: str, class_names: list[str]) -> tuple[Split, dict]:
    """The split as training derived it, and the positives it has of labels the model left out."""
    data = load_data(config.data, config.experiment.seed)
    artifacts.require_same_classes(run_dir, data.class_names)
    chosen = data.test if split == "test" else data.validation
    if chosen is None:
        raise DataError(f"{run_dir}: the run's data has no test split; use --split validation "
                        f"or --data PATH")
    left_out = {label: counts.get(split, 0) for label, counts in data.report.get("left_out_labels", {}).items()}
    return chosen, left_out
