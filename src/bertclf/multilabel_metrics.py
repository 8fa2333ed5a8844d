"""Multi-label metrics from probabilities, in NumPy: F1 four ways, per label, and thresholds.

Beside `bertclf.metrics` (one label per text). Labels are a 0/1 matrix [texts, labels],
probabilities the model's sigmoid outputs of the same shape, and a label is predicted where its
probability is at least its threshold (one for all labels, or one per label).

* micro F1: every (text, label) decision pooled; dominated by frequent labels.
* macro F1: the mean of the labels' F1; every learnable label counts the same (a label with no
  positive and no predicted positive in a split scores 0, as scikit-learn's zero_division=0,
  and is counted in `labels_without_positives`).
* weighted F1: the labels' F1 weighted by their support; samples F1: the mean over texts of
  each text's F1 (a text with no true and no predicted label scores 1, as it is right).
* subset accuracy: the share of texts whose whole label set is right; Hamming loss: the share
  of wrong (text, label) decisions.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from bertclf.metrics import average_precision, choose_threshold, roc_auc

# A label with fewer validation positives keeps the default threshold instead of a tuned one.
MIN_POSITIVES_TO_TUNE = 5


def label_matrix(label_sets: Sequence[Sequence[int]], num_labels: int) -> np.ndarray:
    """Per text its label indices -> a 0/1 int8 matrix [texts, labels]."""
    matrix = np.zeros((len(label_sets), num_labels), dtype=np.int8)
    for row, labels in enumerate(label_sets):
        matrix[row, list(labels)] = 1
    return matrix


def predicted_labels(probabilities: np.ndarray, thresholds: Union[float, Sequence[float]]) -> np.ndarray:
    """0/1 decisions: probability >= the label's threshold, compared in float32 as the export does."""
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=np.float32), np.shape(probabilities)[1:])
    return (np.asarray(probabilities, dtype=np.float32) >= thresholds).astype(np.int8)


def multilabel_metrics(truth: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str],
                       thresholds: Union[float, Sequence[float]] = 0.5) -> dict:
    """Every summary the evaluation JSON carries at its top level, and per-label details.

    Returns:
        A JSON-ready dict: `examples`, `loss` (mean binary cross-entropy), `micro_f1`,
        `macro_f1`, `weighted_f1`, `samples_f1`, micro and macro precision and recall,
        `subset_accuracy`, `hamming_loss`, `labels_without_positives`, and `per_label`
        (precision, recall, F1, support, threshold, and ROC-AUC and average precision where
        the label has both positives and negatives).
    """
    truth = np.asarray(truth, dtype=np.int8)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = predicted_labels(probabilities, thresholds)
    per_threshold = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), truth.shape[1:])
    tp = (truth & predicted).sum(axis=0).astype(np.float64)
    fp = ((1 - truth) & predicted).sum(axis=0).astype(np.float64)
    fn = (truth & (1 - predicted)).sum(axis=0).astype(np.float64)
    support = truth.sum(axis=0)
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    loss = -np.mean(truth * np.log(clipped) + (1 - truth) * np.log(1 - clipped)) if truth.size else float("nan")
    text_tp = (truth & predicted).sum(axis=1)
    text_total = truth.sum(axis=1) + predicted.sum(axis=1)
    samples_f1 = np.where(text_total > 0, _ratio(2.0 * text_tp, text_total.astype(np.float64)), 1.0)
    per_label = {}
    for j, name in enumerate(class_names):
        entry = {"precision": float(precision[j]), "recall": float(recall[j]), "f1": float(f1[j]),
                 "support": int(support[j]), "threshold": float(per_threshold[j])}
        if 0 < support[j] < len(truth):
            positive = truth[:, j].astype(bool)
            entry["roc_auc"] = roc_auc(positive, probabilities[:, j])
            entry["average_precision"] = average_precision(positive, probabilities[:, j])
        per_label[name] = entry
    micro_tp, micro_fp, micro_fn = tp.sum(), fp.sum(), fn.sum()
    return {
        "examples": int(len(truth)),
        "loss": float(loss),
        "micro_f1": float(_ratio(2 * micro_tp, 2 * micro_tp + micro_fp + micro_fn)),
        "macro_f1": float(f1.mean()) if len(f1) else float("nan"),
        "weighted_f1": float((f1 * support).sum() / support.sum()) if support.sum() else float("nan"),
        "samples_f1": float(samples_f1.mean()) if len(truth) else float("nan"),
        "micro_precision": float(_ratio(micro_tp, micro_tp + micro_fp)),
        "micro_recall": float(_ratio(micro_tp, micro_tp + micro_fn)),
        "macro_precision": float(precision.mean()) if len(precision) else float("nan"),
        "macro_recall": float(recall.mean()) if len(recall) else float("nan"),
        "subset_accuracy": float((predicted == truth).all(axis=1).mean()) if len(truth) else float("nan"),
        "hamming_loss": float((predicted != truth).mean()) if truth.size else float("nan"),
        "labels_without_positives": int((support == 0).sum()),
        "per_label": per_label,
    }


def tune_thresholds(truth: np.ndarray, probabilities: np.ndarray, default: float = 0.5,
                    min_positives: int = MIN_POSITIVES_TO_TUNE) -> tuple[list[float], list[Optional[str]]]:
    """One threshold per label, each the best validation F1 of that label (`choose_threshold`).

    A label with fewer than `min_positives` validation positives keeps `default`: a threshold
    fitted to a handful of examples generalises worse than the neutral one.

    Returns:
        The thresholds and, per label, None or why it kept the default.
    """
    truth = np.asarray(truth, dtype=bool)
    thresholds, reasons = [], []
    for j in range(truth.shape[1]):
        positives = int(truth[:, j].sum())
        if positives < min_positives:
            thresholds.append(float(default))
            reasons.append(f"{positives} validation positive(s), fewer than {min_positives}: kept {default:g}")
            continue
        value, _ = choose_threshold(truth[:, j], np.asarray(probabilities)[:, j])
        thresholds.append(float(value))
        reasons.append(None)
    return thresholds, reasons


def tune_micro_thresholds(truth: np.ndarray, probabilities: np.ndarray,
                          min_positives: int = MIN_POSITIVES_TO_TUNE, sweeps: int = 2) -> tuple[list[float], dict]:
    """Per-label thresholds for the best micro F1 of a validation split.

    Micro F1 pools every (text, label) decision, so the best single threshold for all labels is
    the binary F1-optimal threshold of the flattened matrix (`choose_threshold`, exact). From it,
    coordinate ascent: each label's threshold in turn becomes the one that maximises the pooled
    micro F1 with the others held (exact over that label's distinct scores), `sweeps` times over.
    A label with fewer than `min_positives` validation positives keeps the shared threshold:
    moving it would fit a handful of texts. Unlike `tune_thresholds` (each label's own F1),
    a rare label is not given a low threshold whose false positives cost more than they find.

    Returns:
        The thresholds, and the record: the shared threshold and the validation micro F1 at it
        and at the tuned thresholds (never lower: each step keeps the current value on a tie).
    """
    truth = np.asarray(truth, dtype=bool)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    shared, _ = choose_threshold(truth.ravel(), probabilities.ravel())
    thresholds = np.full(truth.shape[1], float(shared))
    predicted = probabilities >= thresholds
    tp = (predicted & truth).sum(axis=0).astype(np.float64)
    fp = (predicted & ~truth).sum(axis=0).astype(np.float64)
    positives = truth.sum(axis=0).astype(np.float64)

    def micro(tp_sum, fp_sum):  # 2TP / (2TP + FP + FN), FN = positives - TP; 0 with nothing at all
        return 2 * tp_sum / np.maximum(tp_sum + fp_sum + positives.sum(), 1.0)

    start = float(micro(tp.sum(), fp.sum()))
    for _ in range(sweeps):
        for j in np.flatnonzero(positives >= min_positives):
            order = np.argsort(-probabilities[:, j], kind="mergesort")
            scores, hits = probabilities[order, j], truth[order, j]
            # Predicting the k highest scores, k = 0..n; only k at a change of score is reachable.
            cum_tp = np.concatenate([[0.0], np.cumsum(hits)])
            cum_fp = np.concatenate([[0.0], np.cumsum(~hits)])
            reachable = np.ones(len(scores) + 1, dtype=bool)
            reachable[1:-1] = scores[:-1] > scores[1:]
            values = np.where(reachable, micro(tp.sum() - tp[j] + cum_tp, fp.sum() - fp[j] + cum_fp), -1.0)
            current = micro(tp.sum(), fp.sum())
            k = int(np.argmax(values))
            if values[k] <= current:
                continue
            if k == 0:
                thresholds[j] = float(np.nextafter(np.float32(max(scores[0], 1.0)), np.float32(np.inf)))
            else:
                thresholds[j] = float((scores[k - 1] + (scores[k] if k < len(scores) else 0.0)) / 2)
            tp[j], fp[j] = cum_tp[k], cum_fp[k]
    return thresholds.tolist(), {"shared": float(shared), "validation_micro_f1_shared": float(start),
                                 "validation_micro_f1": float(micro(tp.sum(), fp.sum()))}


def _ratio(numerator, denominator):
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
