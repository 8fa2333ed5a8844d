"""Classification metrics from probabilities, in NumPy (no TensorFlow needed)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def classification_metrics(labels: Sequence[int], probabilities: np.ndarray,
                           class_names: Sequence[str]) -> dict:
    """Loss, accuracy, per-class precision/recall/F1, macro F1 and the confusion matrix.

    Args:
        labels: True class indices, shape [n].
        probabilities: Predicted probabilities, shape [n, num_classes].
        class_names: Index -> name.

    Returns:
        A JSON-ready dict. `confusion_matrix[i][j]` counts true class i predicted as j.
    """
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    num_classes = len(class_names)
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    true_positive = np.diag(confusion).astype(np.float64)
    predicted_count = confusion.sum(axis=0)
    support = confusion.sum(axis=1)
    precision = np.divide(true_positive, predicted_count, out=np.zeros(num_classes), where=predicted_count > 0)
    recall = np.divide(true_positive, support, out=np.zeros(num_classes), where=support > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros(num_classes), where=denominator > 0)
    picked = probabilities[np.arange(len(labels)), labels]
    loss = float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0)))) if len(labels) else float("nan")
    present = support > 0
    return {
        "examples": int(len(labels)),
        "loss": loss,
        "accuracy": float((predicted == labels).mean()) if len(labels) else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]),
                   "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": confusion.tolist(),
    }
