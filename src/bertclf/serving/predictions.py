"""What every runtime's predictor shares: from probabilities to labels, and which runtime a run uses.

A run is used through a predictor (`probabilities(texts, pairs)` plus the run's class
names, threshold(s) and task kind). `serving.predict.Predictor` runs the SavedModel
with TensorFlow; `serving.onnx_predict.OnnxPredictor` runs the ONNX export with ONNX
Runtime and imports no TensorFlow. `open_predictor` picks one: the ONNX export in
float32 when the run has one, else the SavedModel; int8 only when asked, so a score
never changes without a word. This module imports no TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from bertclf import artifacts
from bertclf.encoders.windows import AGGREGATIONS
from bertclf.errors import ConfigError, DataError, RunError
from bertclf.metrics import predicted_classes

# Texts per model call: enough to vectorise well, small enough for any machine's memory.
BATCH_SIZE = 64
RUNTIMES = ("auto", "onnx", "int8", "tensorflow")
LONG_TEXT = ("truncate", "windows")


def check_runtime(runtime: str) -> None:
    """Raises ConfigError for a runtime `open_predictor` does not know (before any file is read)."""
    if runtime not in RUNTIMES:
        raise ConfigError(f"--runtime {runtime}: choose one of {', '.join(RUNTIMES)}")


def open_predictor(run_dir: Path, runtime: str = "auto", long_text: Optional[str] = None,
                   aggregation: Optional[str] = None, keep_windows: bool = False) -> "BasePredictor":
    """The run's predictor for `runtime`: auto (ONNX float32 when exported, else TensorFlow),
    onnx, int8 (the ONNX export's int8 model) or tensorflow.

    `long_text` (truncate or windows) reads texts longer than the model's sequence length
    otherwise than the run does, and `aggregation` (mean, max, weighted) aggregates windows
    otherwise; None keeps the run's model.long_text and model.window_aggregation. With
    `keep_windows`, a windowed reading keeps each batch's window probabilities
    (`window_outputs`), as `evaluate` does to compare aggregations.

    Raises:
        ConfigError: An unknown runtime, long-text reading or aggregation.
        RunError: onnx or int8 asked of a run without that export.
    """
    check_runtime(runtime)
    own = run_long_text(run_dir)
    if long_text is not None and long_text not in LONG_TEXT:
        raise ConfigError(f"--long-text {long_text}: choose one of {', '.join(LONG_TEXT)}")
    if aggregation is not None and aggregation not in AGGREGATIONS:
        raise ConfigError(f"--aggregation {aggregation}: choose one of {', '.join(AGGREGATIONS)}")
    reading = long_text or own["long_text"]
    # The model's own signature reads as the run does; another reading, or windows aggregated
    # otherwise, goes through its `truncate` or `windows` signature.
    other = reading != own["long_text"] or (reading == "windows" and (
        keep_windows or aggregation not in (None, own["window_aggregation"])))
    predictor = _open(run_dir, runtime, reading if other else None)
    predictor.long_text = long_text or own["long_text"]
    predictor.aggregation = aggregation or own["window_aggregation"]
    return predictor


def run_long_text(run_dir: Path) -> dict:
    """The run's model.long_text and model.window_aggregation (defaults for runs from before them)."""
    import yaml

    try:
        model = yaml.safe_load((run_dir / artifacts.CONFIG_FILE).read_text(encoding="utf-8"))["model"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        model = {}
    return {"long_text": model.get("long_text", "truncate"),
            "window_aggregation": model.get("window_aggregation", "mean")}


def _open(run_dir: Path, runtime: str, long_text: Optional[str]) -> "BasePredictor":
    folder = run_dir / artifacts.EXPORT_DIR / artifacts.ONNX_SUBDIR
    exported = (folder / artifacts.ONNX_MODEL_FILE).is_file() and (folder / artifacts.ONNX_META_FILE).is_file()
    if runtime == "auto":
        runtime = "onnx" if exported else "tensorflow"
    if runtime == "tensorflow":
        from bertclf.serving.predict import Predictor

        return Predictor(run_dir, long_text)
    wanted = folder / (artifacts.ONNX_INT8_FILE if runtime == "int8" else artifacts.ONNX_MODEL_FILE)
    if not exported or not wanted.is_file():
        flag = " --quantize int8" if runtime == "int8" else ""
        raise RunError(f"--runtime {runtime}: {run_dir} has no {wanted.relative_to(run_dir)}; make it with "
                       f"`bertclf export {run_dir} --format onnx{flag}`")
    from bertclf.serving.onnx_predict import OnnxPredictor

    return OnnxPredictor(run_dir, int8=runtime == "int8", long_text=long_text)


class BasePredictor:
    """A run's model behind one interface; subclasses set the attributes and `probabilities`.

    Attributes:
        run_dir: The run folder.
        class_names: Index -> class (or label) name.
        threshold: A binary model's threshold, a multi-label model's thresholds (a list), or None.
        multi_label: Whether the model predicts a set of labels per text.
        runtime: `tensorflow`, `onnx` or `int8`.
    """

    run_dir: Path
    class_names: list[str]
    threshold: object = None
    multi_label: bool = False
    runtime: str = "tensorflow"
    long_text: str = "truncate"  # how texts longer than the sequence length are read (model.long_text)
    aggregation: str = "mean"  # how windows aggregate (model.window_aggregation)
    # After `probabilities`: each text's token count had it not been cut (None: the model does not
    # say), and with windows, per batch (window probabilities, their texts, their tokens).
    text_tokens: Optional[np.ndarray] = None
    window_outputs: Optional[list] = None

    @property
    def takes_pairs(self) -> bool:
        """Whether the model classifies text pairs."""
        raise NotImplementedError

    def probabilities(self, texts: Sequence[str], pairs: Optional[Sequence[str]] = None,
                      batch_size: int = BATCH_SIZE, progress: Optional[str] = "Scoring") -> np.ndarray:
        """Class (or label) probabilities, shape [len(texts), num_classes]."""
        raise NotImplementedError

    def decide(self, probabilities: np.ndarray, threshold=None) -> list:
        """Per text, the class index (or for label sets, a bool per label) at the run's threshold(s)."""
        decide_at = threshold if threshold is not None else self.threshold
        if self.multi_label:
            from bertclf.multilabel_metrics import predicted_labels

            return list(predicted_labels(probabilities, decide_at))
        return list(predicted_classes(probabilities, decide_at))

    def predict(self, texts: Sequence[str], top_k: int = 1, pairs: Optional[Sequence[str]] = None,
                batch_size: int = BATCH_SIZE, threshold: Optional[float] = None,
                progress: str = "Predicting") -> list[dict]:
        """Per text: the label (at the model's threshold), its probability, the top-k and all probabilities.

        A multi-label model gives `labels` instead of `label` and `probability`: the labels at
        or above their thresholds, most probable first (maybe none); `top` and
        `probabilities` as for one label per text, each probability its own label's.

        Args:
            texts: The texts. For a pair model without `pairs`, each is `first<TAB>second`.
            top_k: How many of the most probable classes `top` lists.
            pairs: The second texts of a pair model.
            batch_size: Texts per model call.
            threshold: A two-class model's decision threshold instead of its own; for a
                multi-label model, every label's.
            progress: The label of the progress bar or lines (long inputs only).

        Raises:
            ConfigError: A threshold for a model of more than two classes, or outside (0, 1).
            DataError: A pair model's input without its second text.
        """
        if threshold is not None:
            if len(self.class_names) != 2 and not self.multi_label:
                raise ConfigError(f"--threshold: only for two-class models; this one has "
                                  f"{len(self.class_names)} classes and predicts the most probable")
            if not 0.0 < threshold < 1.0:
                raise ConfigError(f"--threshold {threshold}: give a probability between 0 and 1")
        if self.takes_pairs and pairs is None:
            split = [text.split("\t", 1) for text in texts]
            for number, parts in enumerate(split, start=1):
                if len(parts) != 2:
                    raise DataError(f"input {number}: this model classifies text pairs; separate the two "
                                    f"texts with a tab")
            texts, pairs = [parts[0] for parts in split], [parts[1] for parts in split]
        results = []
        probabilities = self.probabilities(texts, pairs, batch_size=batch_size, progress=progress)
        decide_at = threshold if threshold is not None else self.threshold
        if self.multi_label:
            from bertclf.multilabel_metrics import predicted_labels

            for text, row, chosen in zip(texts, probabilities, predicted_labels(probabilities, decide_at)):
                order = np.argsort(-row)
                results.append({
                    "text": text,
                    "labels": [self.class_names[i] for i in order if chosen[i]],
                    "top": [{"label": self.class_names[i], "probability": float(row[i])}
                            for i in order[: max(1, top_k)]],
                    "probabilities": {name: float(p) for name, p in zip(self.class_names, row)},
                })
            return results
        for text, row, chosen in zip(texts, probabilities, predicted_classes(probabilities, decide_at)):
            order = np.argsort(-row)[: max(1, top_k)]
            results.append({
                "text": text,
                "label": self.class_names[chosen],
                "probability": float(row[chosen]),
                "top": [{"label": self.class_names[i], "probability": float(row[i])} for i in order],
                "probabilities": {name: float(p) for name, p in zip(self.class_names, row)},
            })
        return results
