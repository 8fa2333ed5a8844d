"""Scoring a finished run's exported model on a split or another folder."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Optional

import yaml

from bertclf import artifacts
from bertclf.config import Config
from bertclf.data import Split, load_data, read_split_folder
from bertclf.errors import DataError, RunError
from bertclf.metrics import classification_metrics
from bertclf.plots import plot_confusion_matrix
from bertclf.predict import Predictor


@dataclasses.dataclass
class Evaluation:
    """What `bertclf evaluate` measured and where it wrote it."""

    name: str
    metrics: dict
    class_names: list[str]
    report_path: Path
    plot_path: Path


def evaluate_run(run_dir: Path, split: str = "test", data_path: Optional[Path] = None) -> Evaluation:
    """Scores the run's SavedModel on its config's `split`, or on a class-folder tree.

    Args:
        run_dir: A finished run folder.
        split: `test` or `validation`, re-derived from the run's own resolved config
            (same seed, so the same examples as at training time).
        data_path: Instead of a split, a folder with one subfolder per class; all
            of its files are scored. Its result is named `data-<folder name>`.

    Raises:
        BertclfError: The run or the data is missing or does not match.
    """
    class_names = artifacts.read_labels(run_dir)
    if data_path is not None:
        examples, _ = read_split_folder(Path(data_path), class_names, None, random.Random(0))
        name = f"data-{Path(data_path).resolve().name}"
    else:
        examples = _config_split(run_dir, split, class_names)
        name = split
    probabilities = Predictor(run_dir).probabilities(examples.texts)
    metrics = classification_metrics(examples.labels, probabilities, class_names)
    metrics["source"] = str(data_path) if data_path is not None else f"config split {split}"
    report_path = run_dir / artifacts.eval_file(name)
    artifacts.write_json_atomic(report_path, metrics)
    plot_path = run_dir / artifacts.PLOTS_DIR / artifacts.confusion_plot_file(name)
    plot_confusion_matrix(metrics["confusion_matrix"], class_names, plot_path,
                          title=f"{run_dir.name}: {name} ({metrics['examples']} examples)")
    return Evaluation(name, metrics, class_names, report_path, plot_path)


def _config_split(run_dir: Path, split: str, class_names: list[str]) -> Split:
    config_path = run_dir / artifacts.CONFIG_FILE
    if not config_path.is_file():
        raise RunError(f"{run_dir}: has no {artifacts.CONFIG_FILE}; pass --data PATH to evaluate on a folder")
    config = Config.model_validate(yaml.safe_load(config_path.read_text(encoding="utf-8")))
    data = load_data(config.data, config.experiment.seed)
    if data.class_names != class_names:
        raise RunError(f"{run_dir}: the data now has classes {data.class_names}, the model was trained "
                       f"on {class_names}")
    chosen = data.test if split == "test" else data.validation
    if chosen is None:
        raise DataError(f"{run_dir}: the run's data has no test split; use --split validation "
                        f"or --data PATH")
    return chosen
