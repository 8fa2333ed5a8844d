"""What a report shows beyond the headline metrics, computed once from probabilities.

`analyse` turns one split's labels, probabilities and texts into JSON-ready curve
data (ROC, precision-recall), a reliability table with the expected calibration
error, and the examples worth reading (the most confident mistakes, the least
confident predictions). `evaluate` stores it beside the metrics, so a report is
drawn without loading the model. NumPy only.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from bertclf.metrics import predicted_classes

CALIBRATION_BINS = 10
EXAMPLES_SHOWN = 10
_CURVE_POINTS = 200  # enough for a smooth line; the full curve of 25,000 examples is ~1 MB of JSON
_TEXT_CHARS = 1000


def analyse(labels: Sequence[int], probabilities: np.ndarray, class_names: Sequence[str],
            texts: Sequence[str], threshold: Optional[float] = None,
            pairs: Optional[Sequence[str]] = None) -> dict:
    """Curves, calibration and examples for one scored split.

    Args:
        labels: True class indices, shape [n].
        probabilities: Predicted probabilities, shape [n, num_classes].
        class_names: Index -> name.
        texts: The examples' texts (and `pairs`, their second texts), for the example lists.
        threshold: The binary decision threshold the predictions use (None: argmax).

    Returns:
        `calibration` always; `roc` and `pr` for binary tasks with both classes present;
        `confident_mistakes` and `least_confident`, up to EXAMPLES_SHOWN each.
    """
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = predicted_classes(probabilities, threshold)
    result = {"calibration": calibration(labels, probabilities)}
    if probabilities.shape[1] == 2 and 0 < (labels == 1).sum() < len(labels):
        result["roc"], result["pr"] = binary_curves(labels == 1, probabilities[:, 1])
    confidence = probabilities[np.arange(len(labels)), predicted]
    if probabilities.shape[1] == 2:
        # Binary: how far the positive probability is from the line that decides.
        margin = np.abs(probabilities[:, 1] - (0.5 if threshold is None else threshold))
    else:
        margin = confidence - np.sort(probabilities, axis=1)[:, -2]

    def described(indices) -> list[dict]:
        return [{"text": _shown_text(texts[i], pairs[i] if pairs is not None else None),
                 "true": class_names[labels[i]], "predicted": class_names[predicted[i]],
                 "confidence": float(confidence[i]),
                 "probabilities": {name: float(p) for name, p in zip(class_names, probabilities[i])}}
                for i in indices]

    wrong = np.nonzero(predicted != labels)[0]
    result["confident_mistakes"] = described(wrong[np.argsort(-confidence[wrong], kind="stable")][:EXAMPLES_SHOWN])
    result["least_confident"] = described(np.argsort(margin, kind="stable")[:EXAMPLES_SHOWN])
    return result


def calibration(labels: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS) -> dict:
    """Reliability of the probabilities, in equal-width bins; independent of the decision threshold.

    Binary tasks: P(positive) against the share of positives in each bin. More
    classes: the top class's probability against how often it is right.

    Returns:
        `kind` (`positive` or `top_class`); per bin its range, count, mean probability
        (`confidence`) and observed frequency (`accuracy`); `ece`, the expected
        calibration error (count-weighted mean |frequency - probability|, Guo et al. 2017).
    """
    if probabilities.shape[1] == 2:
        kind, score, hit = "positive", probabilities[:, 1], labels == 1
    else:
        top = probabilities.argmax(axis=1)
        kind, score, hit = "top_class", probabilities[np.arange(len(labels)), top], top == labels
    which = np.clip(np.floor(score * bins).astype(np.int64), 0, bins - 1)
    rows, gap = [], 0.0
    for b in range(bins):
        members = which == b
        count = int(members.sum())
        row = {"low": b / bins, "high": (b + 1) / bins, "count": count,
               "confidence": float(score[members].mean()) if count else None,
               "accuracy": float(hit[members].mean()) if count else None}
        if count:
            gap += count * abs(row["accuracy"] - row["confidence"])
        rows.append(row)
    return {"kind": kind, "bins": rows, "ece": gap / len(labels) if len(labels) else float("nan")}


def binary_curves(positive: np.ndarray, scores: np.ndarray) -> tuple[dict, dict]:
    """ROC (false/true positive rate) and precision-recall points, one per distinct threshold,
    thinned to at most _CURVE_POINTS, from the highest threshold down."""
    order = np.argsort(-scores, kind="mergesort")
    ordered, hits = scores[order], positive[order].astype(np.float64)
    last = np.r_[np.nonzero(np.diff(ordered))[0], len(ordered) - 1]
    true_positives = np.cumsum(hits)[last]
    false_positives = (last + 1) - true_positives
    tpr = true_positives / hits.sum()
    fpr = false_positives / (len(hits) - hits.sum())
    precision = true_positives / (last + 1)
    keep = _thin(len(last))
    roc = {"fpr": [0.0] + fpr[keep].tolist(), "tpr": [0.0] + tpr[keep].tolist(),
           "thresholds": ordered[last][keep].tolist()}
    pr = {"recall": tpr[keep].tolist(), "precision": precision[keep].tolist(),
          "thresholds": ordered[last][keep].tolist(), "positive_share": float(hits.mean())}
    return roc, pr


def _thin(count: int) -> np.ndarray:
    if count <= _CURVE_POINTS:
        return np.arange(count)
    return np.unique(np.r_[np.linspace(0, count - 1, _CURVE_POINTS).round().astype(int), count - 1])


def _shown_text(text: str, pair: Optional[str]) -> str:
    shown = text if pair is None else f"{text} ‖ {pair}"
    return shown if len(shown) <= _TEXT_CHARS else shown[: _TEXT_CHARS - 1] + "…"
