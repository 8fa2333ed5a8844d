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
    result = {
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
    if num_classes == 2 and present.all():
        # Ranking quality of the positive class (index 1), threshold-free; what matters
        # for imbalanced binary tasks, where accuracy can look good by predicting the majority.
        positive = labels == 1
        result["roc_auc"] = roc_auc(positive, probabilities[:, 1])
        result["pr_auc"] = average_precision(positive, probabilities[:, 1])
    return result


def roc_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random positive outranks a random negative (ties count half)."""
    ranks = _average_ranks(scores)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as a step sum over distinct thresholds (like scikit-learn's)."""
    order = np.argsort(-scores, kind="mergesort")
    ordered_scores, hits = scores[order], positive[order].astype(np.float64)
    last_of_each_threshold = np.r_[np.nonzero(np.diff(ordered_scores))[0], len(ordered_scores) - 1]
    true_positives = np.cumsum(hits)[last_of_each_threshold]
    predicted_positives = last_of_each_threshold + 1
    precision = true_positives / predicted_positives
    recall = true_positives / hits.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks
