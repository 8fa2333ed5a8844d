"""Keras callbacks: full validation metrics each epoch, and keeping the best epoch."""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import tf_keras

from bertclf.metrics import classification_metrics
from bertclf.model import probabilities

# Metrics where larger is better; everything else (losses) is minimised.
_MAXIMISED = {"val_accuracy", "val_macro_f1", "val_roc_auc", "val_pr_auc"}


class ValidationMetrics(tf_keras.callbacks.Callback):
    """Scores the validation set after each epoch and remembers the best epoch's weights.

    One pass over the validation data gives loss, accuracy, macro F1 and, for
    binary tasks, ROC-AUC and PR-AUC, computed exactly as `bertclf evaluate`
    computes them. They go into the epoch's logs (so into the history, the
    progress line and any later callback) as `val_*`.
    """

    def __init__(self, dataset, labels: Sequence[int], class_names: Sequence[str], monitor: str):
        super().__init__()
        self.dataset = dataset
        self.labels = list(labels)
        self.class_names = list(class_names)
        self.monitor = monitor
        self.best_epoch: Optional[int] = None
        self.best_score: Optional[float] = None
        self.best_weights: Optional[list[np.ndarray]] = None
        self.best_metrics: Optional[dict] = None

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        logs = logs if logs is not None else {}
        logits = self.model.predict(self.dataset, verbose=0)
        scores = classification_metrics(self.labels, probabilities(logits, len(self.class_names)).numpy(),
                                         self.class_names)
        for key in ("loss", "accuracy", "macro_f1", "roc_auc", "pr_auc"):
            if key in scores:
                logs[f"val_{key}"] = scores[key]
        score = logs.get(self.monitor)
        if score is None or math.isnan(score):
            return
        if self.best_score is None or (score > self.best_score if self.monitor in _MAXIMISED
                                       else score < self.best_score):
            self.best_epoch, self.best_score = epoch + 1, float(score)
            self.best_weights = self.model.get_weights()
            self.best_metrics = scores

    def restore_best(self) -> None:
        """Puts the best epoch's weights back into the model."""
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
