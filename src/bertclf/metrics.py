"""Classification metrics from probabilities, in NumPy (no TensorFlow needed)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def predicted_classes(probabilities: np.ndarray, threshold: Optional[float] = None) -> np.ndarray:
    """The class each row predicts: the positive (second) class of a binary task when its
    probability is at least `threshold`, else the most probable class.

    The exported model applies the same rule in TensorFlow, in float32 (see serving.export).
    """
    probabilities = np.asarray(probabilities)
    if threshold is not None and probabilities.shape[1] == 2:
        return (probabilities[:, 1].astype(np.float32) >= np.float32(threshold)).astype(np.int64)
    return probabilities.argmax(axis=1)


def classification_metrics(labels: Sequence[int], probabilities: np.ndarray,
                           class_names: Sequence[str], threshold: Optional[float] = None) -> dict:
    """Loss, accuracy, per-class precision/recall/F1, macro F1 and the confusion matrix.

    Args:
        labels: True class indices, shape [n].
        probabilities: Predicted probabilities, shape [n, num_classes].
        class_names: Index -> name.
        threshold: For a binary task, the positive-class probability from which the
            positive class is predicted (see `predicted_classes`); None takes the argmax.

    Returns:
        A JSON-ready dict. `confusion_matrix[i][j]` counts true class i predicted as j.
    """
    labels = np.asarray(labels, dtype=np.int64)
    predicted = predicted_classes(probabilities, threshold)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    num_classes = len(class_names)
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
    if threshold is not None and num_classes == 2:
        result["threshold"] = float(threshold)
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


def choose_threshold(positive: np.ndarray, scores: np.ndarray, precision: Optional[float] = None,
                     recall: Optional[float] = None) -> tuple[float, dict]:
    """The positive-class threshold for a validation set: the F1-optimal one, or a target's.

    Candidates are the distinct scores (predicting positive from a score up); the one
    returned lies halfway between the chosen score and the next lower one, so that it
    does not sit on a validation example.

    Args:
        positive: Whether each example is of the positive class, shape [n].
        scores: Positive-class probabilities, shape [n].
        precision: Aim for at least this precision, with the most recall.
        recall: Aim for at least this recall, with the most precision.

    Returns:
        The threshold and its validation precision, recall and F1 (`met`: whether the
        target was reachable; if not, the F1-optimal threshold is returned).
    """
    positive = np.asarray(positive, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    distinct = np.unique(scores)[::-1]  # high to low
    ordered = np.sort(scores)[::-1]
    predicted = np.searchsorted(-ordered, -distinct, side="right")  # count of scores >= each candidate
    hits = np.cumsum(positive[np.argsort(-scores, kind="mergesort")])[predicted - 1]
    candidate_precision = hits / predicted
    candidate_recall = hits / max(int(positive.sum()), 1)
    total = candidate_precision + candidate_recall
    f1 = np.divide(2 * candidate_precision * candidate_recall, total, out=np.zeros_like(total), where=total > 0)
    met = True
    if precision is not None and (candidate_precision >= precision).any():
        best = int(np.nonzero(candidate_precision >= precision)[0][-1])  # lowest such threshold
    elif recall is not None and (candidate_recall >= recall).any():
        best = int(np.nonzero(candidate_recall >= recall)[0][0])  # highest such threshold
    else:
        met = precision is None and recall is None
        best = int(np.argmax(f1))  # first maximum: the highest threshold among ties
    below = distinct[best + 1] if best + 1 < len(distinct) else 0.0
    threshold = float((distinct[best] + below) / 2)
    return threshold, {"precision": float(candidate_precision[best]), "recall": float(candidate_recall[best]),
                       "f1": float(f1[best]), "met": met}
